"""flopbench compare: the same workloads on two or more runs, with confidence: a speedup with its interval and a
verdict per workload, geometric means per family, the speedup the roofline predicts beside each, and a gate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from flopbench.commands.common import add_format_argument, add_out_argument
from flopbench.errors import FlopbenchError

if TYPE_CHECKING:
    from flopbench.reading.comparison import Comparison

NAME = "compare"
HELP = "compare runs: speedups with intervals and verdicts, geometric means per family, roof ratios; a CI gate"
DESCRIPTION = (
    "Join the records of two or more runs by workload (op, parameters, dtype, implementation) and show each one's"
    " time, the speedup over the baseline run with its confidence interval (from the round medians) and a verdict"
    " (faster, slower, same, unsure against --threshold), the speedup the two devices' roofs predict beside it, and"
    " geometric means per family with intervals. --fail-slower exits 1 when a workload is slower with confidence."
)
# Imported whole before the command runs (see cli.interrupts_deferred).
IMPORTS = ("numpy", "pandas", "scipy.stats", "matplotlib.figure")


def share(option: str):
    """An argparse type: a share written 5% or 0.05 (a bare number from 1 on is refused: it is ambiguous)."""

    def parse(text: str) -> float:
        try:
            value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} {text!r}: expected a share, e.g. 5% or 0.05") from None
        if not (0 < value < 1) or (not text.endswith("%") and value >= 1):
            raise argparse.ArgumentTypeError(f"{option} {text!r}: expected a share between 0 and 1, e.g. 5% or 0.05")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results", nargs="+", type=Path, metavar="RESULTS", help="results files; the first is the baseline"
    )
    parser.add_argument(
        "--baseline", metavar="RUN", help="the baseline: a run's letter (A, B, ...) or file (default: A)"
    )
    parser.add_argument(
        "--threshold",
        type=share("--threshold"),
        default=0.05,
        metavar="SHARE",
        help="a speedup within this either way is the same (default 5%%)",
    )
    parser.add_argument(
        "--confidence", type=share("--confidence"), default=0.95, metavar="SHARE", help="of the intervals (95%%)"
    )
    parser.add_argument(
        "--fail-slower",
        type=share("--fail-slower"),
        metavar="SHARE",
        help="exit 1, a line per workload, when a workload is slower than the baseline with confidence by more than"
        " this (e.g. 5%%): a gate for CI",
    )
    parser.add_argument(
        "--best-impl",
        action="store_true",
        help="compare each run's fastest implementation of each workload (op, parameters, dtype) instead",
    )
    add_out_argument(parser, "also write compare.csv, compare_summary.csv and the figures into this directory")
    add_format_argument(parser)


def baseline_index(choice: str | None, paths: list[Path]) -> int:
    from flopbench.reading.comparison import labels_for

    if choice is None:
        return 0
    labels = labels_for(len(paths))
    if choice.upper() in labels:
        return labels.index(choice.upper())
    for index, path in enumerate(paths):
        if Path(choice) == path or Path(choice).name == path.name:
            return index
    raise FlopbenchError(
        f"--baseline {choice}: not a run of this comparison; give a letter ({', '.join(labels)}) or one of the files"
    )


def main(args: argparse.Namespace) -> int:
    from flopbench.commands.common import load_views
    from flopbench.reading.comparison import as_json, compare

    if len(args.results) < 2:
        raise FlopbenchError("compare needs at least two results files: the baseline, then the others")
    views = [view for view in load_views(args.results) if view.records]
    runs = {view.header.run_id for view in views}
    if len(runs) < 2 or len(views) < len(args.results):
        raise FlopbenchError(f"compare needs records from at least two different runs; these files hold {len(runs)}")
    result = compare(
        views,
        baseline=baseline_index(args.baseline, args.results),
        threshold=args.threshold,
        level=args.confidence,
        best_impl=args.best_impl,
    )
    if result.table.empty:
        raise FlopbenchError(
            "the runs have no measured workload in common (same op, parameters, dtype and implementation);"
            " run the same suite on each machine, or compare --best-impl"
        )
    for warning in result.warnings:
        print(f"flopbench: warning: {warning}", file=sys.stderr)
    if args.format == "csv":
        result.table.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(json.dumps(as_json(result), indent=1))
    else:
        print_tables(result, args.format)
    if args.out:
        write_files(result, args.out)
    return gate(result, args.fail_slower)


def gate(result: Comparison, fail_slower: float | None) -> int:
    """Exit status 1, a line per offending workload, when --fail-slower finds one; 0 otherwise."""
    if fail_slower is None:
        return 0
    offending = result.slower(fail_slower)
    for line in offending:
        print(f"flopbench: slower: {line}", file=sys.stderr)
    return 1 if offending else 0


def write_files(result: Comparison, out: Path) -> None:
    from flopbench.outputs import output_dir
    from flopbench.reading.plots import draw_comparison, save

    output_dir(out, "--out")
    result.table.to_csv(out / "compare.csv", index=False)
    result.summary.to_csv(out / "compare_summary.csv", index=False)
    written = [out / "compare.csv", out / "compare_summary.csv", *save(draw_comparison(result), out).values()]
    print("wrote " + ", ".join(map(str, written)))


def print_tables(result: Comparison, fmt: str = "table") -> None:
    from flopbench.console import print_table

    print_table(
        "Runs",
        ["run", "device", "host", "threads", "torch", "file"],
        result.runs[["run", "device", "host", "threads", "torch", "file"]].values.tolist(),
        fmt=fmt,
        wrap=["device", "file"],
        optional=["host", "torch"],
    )
    _workloads_table(result, fmt)
    _families_table(result, fmt)
    if len(result.others) > 1:
        matrix = result.matrix()
        print_table(
            f"Geometric mean speedup over run {result.baseline}, machines x families ({result.level:.0%} intervals)",
            ["run", *matrix.columns],
            [[run, *row] for run, row in zip(matrix.index, matrix.values.tolist())],
            fmt=fmt,
        )


def _workloads_table(result: Comparison, fmt: str) -> None:
    from flopbench.console import print_table
    from flopbench.units import seconds

    labels, base = result.labels, result.baseline
    columns = ["workload", "dtype"] + [f"time {label}" for label in labels]
    for label in result.others:
        columns += [f"speedup {label}", f"verdict {label}", f"roof ratio {label}"]
    rows = []
    for _, r in result.table.sort_values(["family", "name"]).iterrows():
        name = r["name"] if r["impl"] == "eager" or r["name"].endswith(r["impl"]) else f"{r['name']} ({r['impl']})"
        row = [name, r["dtype"]] + [seconds(r[f"time_s[{label}]"]) for label in labels]
        for label in result.others:
            row += [
                _ratio_text(r, label),
                r[f"verdict[{label}]"],
                f"{r[f'roof_ratio[{label}]']:.3g}x" if r[f"roof_ratio[{label}]"] == r[f"roof_ratio[{label}]"] else "-",
            ]
        rows.append(row)
    print_table(
        f"Per workload (baseline: run {base}; speedup = time {base} / time, {result.level:.0%} interval)",
        columns,
        rows,
        numeric=[c for c in columns if c.startswith(("time", "roof ratio"))],
        caption=f"Verdicts against ±{result.threshold:.0%}: faster or slower when the whole interval lies beyond it,"
        " same when it lies inside, unsure when it straddles a bound. Time: the geometric mean of the workload's"
        " round medians (the run's own table quotes their median). Intervals: Welch's t on the logarithms of the"
        " round medians (the samples of a one-round record, marked *). Roof ratio: the speedup the two devices'"
        " roofs predict at the workload's intensity and working set.",
        fmt=fmt,
        wrap=["workload"],
        optional=["dtype", *(f"roof ratio {label}" for label in result.others)],
    )


def _ratio_text(r, label: str) -> str:
    from flopbench.reading.comparison import Ratio

    ratio = Ratio(r[f"speedup[{label}]"], r[f"speedup_low[{label}]"], r[f"speedup_high[{label}]"], "")
    if ratio.value != ratio.value:
        return "-"
    return ratio.text() + ("*" if r[f"interval_from[{label}]"] == "samples" else "")


def _families_table(result: Comparison, fmt: str) -> None:
    from flopbench.console import print_table
    from flopbench.reading.comparison import Ratio

    summary = result.summary
    energy = summary["geomean_energy_ratio"].notna().any()
    rows = []
    for _, r in summary.iterrows():
        row = [
            r["run"],
            r["family"],
            r["workloads"],
            Ratio(r["geomean_speedup"], r["geomean_low"], r["geomean_high"], "").text(),
            f"{r['roof_ratio']:.3g}x" if r["roof_ratio"] == r["roof_ratio"] else "-",
            f"{r['peak_ratio']:.3g}x" if r["peak_ratio"] == r["peak_ratio"] else "-",
        ]
        if energy:
            ratio = r["geomean_energy_ratio"]
            row.append(f"{ratio:.3g}x" if ratio == ratio else "-")
        rows.append(row)
    print_table(
        "Geometric mean speedup per family, against the roofs' ratio",
        [
            "run",
            "family",
            "workloads",
            "geomean speedup",
            "roof ratio",
            "peak ratio",
            *(["FLOP/J ratio"] if energy else []),
        ],
        rows,
        numeric=["workloads", "roof ratio", "peak ratio", "FLOP/J ratio"],
        caption="Geometric means over the family's workloads, the interval from the workloads resampled (bootstrap)."
        " Roof ratio: the geometric mean of the roofs' predicted speedups (bandwidth-bound work follows the"
        " bandwidths, compute-bound work the compute roofs); peak ratio: the compute peaks' alone.",
        fmt=fmt,
        optional=["peak ratio", "FLOP/J ratio"],
    )
