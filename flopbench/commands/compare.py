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
from flopbench.reading.intervals import THRESHOLD

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
        "results",
        nargs="+",
        type=Path,
        metavar="RESULTS",
        help="results files; the first is the baseline (one file with --against)",
    )
    parser.add_argument(
        "--baseline", metavar="RUN", help="the baseline: a run's letter (A, B, ...) or file (default: A)"
    )
    parser.add_argument(
        "--threshold",
        type=share("--threshold"),
        metavar="SHARE",
        help="a speedup within this either way is the same (default 5%%, or --fail-slower's)",
    )
    parser.add_argument(
        "--confidence", type=share("--confidence"), default=0.95, metavar="SHARE", help="of the intervals (95%%)"
    )
    parser.add_argument(
        "--fail-slower",
        type=share("--fail-slower"),
        metavar="SHARE",
        help="a gate for CI: exit 1 when a workload is slower than the baseline by more than this (e.g. 5%%) with"
        " confidence (Holm-corrected over every workload), 2 when that cannot be told (unsure, or the measurements"
        " could not have detected it), 0 otherwise; a line per workload that decided it",
    )
    parser.add_argument(
        "--best-impl",
        action="store_true",
        help="compare each run's fastest implementation of each workload (op, parameters, dtype) instead",
    )
    parser.add_argument(
        "--against",
        metavar="NAME|all",
        help="where one run stands: compare it with the reference machines shipped with flopbench (flopbench atlas"
        " lists them), per family, with the speedups their roofs predict and a score",
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
    if args.against is not None:
        if len(args.results) != 1:
            raise FlopbenchError(
                f"--against {args.against} compares one run with the atlas; give one results file, not"
                f" {len(args.results)}"
            )
        return against(args.results[0], args.against, args.format, args.out)
    if len(args.results) < 2:
        raise FlopbenchError("compare needs at least two results files: the baseline, then the others")
    return show(
        args.results,
        args.format,
        args.threshold,
        args.fail_slower,
        baseline=baseline_index(args.baseline, args.results),
        level=args.confidence,
        best_impl=args.best_impl,
        out=args.out,
    )


def show(
    paths: list[Path],
    fmt: str,
    threshold: float | None,
    fail_slower: float | None,
    *,
    baseline: int = 0,
    level: float = 0.95,
    best_impl: bool = False,
    out: Path | None = None,
) -> int:
    """Compare the runs of `paths`, print the comparison in `fmt` (and write its files into `out`), and return the
    gate's exit status (flopbench ab prints its paired comparison here too)."""
    from flopbench.commands.common import load_views
    from flopbench.reading.comparison import as_json, compare

    views = [view for view in load_views(paths) if view.records]
    runs = {view.header.run_id for view in views}
    if len(runs) < 2 or len(views) < len(paths):
        raise FlopbenchError(f"compare needs records from at least two different runs; these files hold {len(runs)}")
    if threshold is not None and fail_slower is not None and threshold != fail_slower:
        raise FlopbenchError(
            f"--threshold {threshold:.0%} and --fail-slower {fail_slower:.0%} would judge the same table by"
            " two limits; give one (--fail-slower sets the verdicts' threshold too)"
        )
    result = compare(
        views, baseline=baseline, threshold=fail_slower or threshold or THRESHOLD, level=level, best_impl=best_impl
    )
    if result.table.empty:
        raise FlopbenchError(
            "the runs have no measured workload in common (same op, parameters, dtype and implementation);"
            " run the same suite on each machine, or compare --best-impl"
        )
    for warning in result.warnings:
        print(f"flopbench: warning: {warning}", file=sys.stderr)
    if fmt == "csv":
        result.table.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        print(json.dumps(as_json(result), indent=1))
    else:
        print_tables(result, fmt)
    if out:
        write_files(result, out)
    return gate(result, fail_slower)


def gate(result: Comparison, fail_slower: float | None) -> int:
    """--fail-slower: exit 1 with a line per workload slower with confidence, 2 with a line per workload that leaves the
    answer open, 0 otherwise (Comparison.gate)."""
    if fail_slower is None:
        return 0
    status, lines = result.gate(fail_slower)
    kind = {1: "slower", 2: "inconclusive"}.get(status, "")
    for line in lines:
        print(f"flopbench: {kind}: {line}", file=sys.stderr)
    if status == 2:
        print(
            f"flopbench: the gate cannot tell whether run(s) {', '.join(result.others)} are slower by more than"
            f" {fail_slower:.0%}: "
            + (
                "measure longer (flopbench ab --max-time: rounds go to the rows still open)"
                if result.paired
                else "measure again with more rounds, or pair the runs (flopbench ab): drift between separate runs"
                " hides changes this small"
            ),
            file=sys.stderr,
        )
    elif status == 0:
        from flopbench.console import info

        info(
            f"flopbench: not slower by {fail_slower:.0%}: every workload's and the geometric mean's one-sided"
            f" {result.level:.0%} upper bound on the slowdown is under it"
        )
    return status


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
    memory = any(column.startswith("memory_ratio[") for column in result.table.columns)
    columns = ["workload", "dtype"] + [f"time {label}" for label in labels]
    for label in result.others:
        columns += [f"speedup {label}", f"verdict {label}", f"MDE {label}", f"roof ratio {label}"]
        columns += [f"memory {label}"] if memory else []
    rows = []
    for _, r in result.table.sort_values(["family", "name"]).iterrows():
        name = r["name"] if r["impl"] == "eager" or r["name"].endswith(r["impl"]) else f"{r['name']} ({r['impl']})"
        row = [name, r["dtype"]] + [seconds(r[f"time_s[{label}]"]) for label in labels]
        for label in result.others:
            mde = r[f"mde[{label}]"]
            row += [
                _ratio_text(r, label),
                r[f"verdict[{label}]"],
                (f"{mde:.1%}" if mde < 10 else ">1000%") + ("†" if r[f"drift_limited[{label}]"] else "")
                if mde == mde and mde != float("inf")
                else "-",
                f"{r[f'roof_ratio[{label}]']:.3g}x" if r[f"roof_ratio[{label}]"] == r[f"roof_ratio[{label}]"] else "-",
            ]
            if memory:
                ratio = r[f"memory_ratio[{label}]"]
                row.append(f"{ratio:.3g}x" if ratio == ratio else "-")
        rows.append(row)
    speedup = (
        "speedup: the pairs' estimate (each round's Hodges-Lehmann centre of log time A - log time B, averaged over"
        " the rounds); time: each side's geometric mean of its rounds"
        if result.paired
        else f"speedup = time {base} / time, each the geometric mean of its run's round medians"
    )
    comparisons = len(result.tests())
    print_table(
        f"Per workload (baseline: run {base}; {result.level:.0%} intervals)",
        columns,
        rows,
        numeric=[c for c in columns if c.startswith(("time", "roof ratio", "MDE"))],
        caption=f"{speedup[0].upper()}{speedup[1:]}. "
        + " ".join(result.notes)
        + f" Verdicts against ±{result.threshold:.0%}: faster or slower when the whole interval lies beyond it, same"
        " when it lies inside, unsure when it straddles a bound or when the row decides nothing (marked *: fewer than"
        " 2 values a side, one round, no spread, or one round's samples). MDE: the slowdown the gate"
        f" (--fail-slower {result.threshold:.0%}) fails on 80% of the time, testing at one-sided"
        f" {1 - result.level:.0%} / {comparisons} (Holm's correction over the workloads and geometric means);"
        " † drift-limited: the between-run term dominates, more rounds would not narrow it, pairing the"
        " runs would (flopbench ab). Roof ratio: the speedup the two"
        " devices' roofs predict at the workload's intensity and working set."
        + (" Memory: the peak memory of one call, this run's over the baseline's." if memory else "")
        + _mde_sentence(result),
        fmt=fmt,
        wrap=["workload"],
        optional=[
            "dtype",
            *(f"memory {label}" for label in result.others),
            *(f"roof ratio {label}" for label in result.others),
            *(f"MDE {label}" for label in result.others),
        ],
    )


def _mde_sentence(result: Comparison) -> str:
    """One sentence when the median row could not be shown within the threshold even were it unchanged."""
    import numpy as np

    reach = [r.attainable(result.level) for ratios in result.ratios.values() for r in ratios if r.decides]
    if not reach or float(np.median(reach)) <= result.threshold:
        return ""
    return (
        f" The median row, were it unchanged, could be shown within {float(np.median(reach)):.0%} at best (80% of the"
        f" time), more than the ±{result.threshold:.0%} threshold: "
        + (
            "measure more rounds (flopbench ab --max-time)."
            if result.paired
            else "pair the runs (flopbench ab) to see that small a change."
        )
    )


def _ratio_text(r, label: str) -> str:
    from flopbench.reading.intervals import Ratio

    ratio = Ratio(r[f"speedup[{label}]"], r[f"speedup_low[{label}]"], r[f"speedup_high[{label}]"], "")
    if ratio.value != ratio.value:
        return "-"
    if not r[f"decides[{label}]"]:
        return f"{ratio.value:.3g}x*"
    return ratio.text()


def _families_table(result: Comparison, fmt: str) -> None:
    from flopbench.console import print_table
    from flopbench.reading.comparison import family_text as _family_text

    summary = result.summary
    energy = summary["geomean_energy_ratio"].notna().any()
    rows = []
    for _, r in summary.iterrows():
        row = [
            r["run"],
            r["family"],
            r["workloads"],
            _family_text(r["geomean_speedup"], r["geomean_low"], r["geomean_high"]),
            _spread_text(r["spread_low"], r["spread_high"]),
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
            "spread",
            "roof ratio",
            "peak ratio",
            *(["FLOP/J ratio"] if energy else []),
        ],
        rows,
        numeric=["workloads", "roof ratio", "peak ratio", "FLOP/J ratio"],
        caption="Geometric means over the family's workloads. Their interval is the error of the measurement: the"
        " workloads' own errors (plus the run offset every workload of two separate runs shares), not how much the"
        " workloads differ, which is their spread: the least and greatest workload speedup."
        " Roof ratio: the geometric mean of the roofs' predicted speedups (bandwidth-bound work follows the"
        " bandwidths, compute-bound work the compute roofs); peak ratio: the compute peaks' alone.",
        fmt=fmt,
        optional=["peak ratio", "FLOP/J ratio", "spread"],
    )


def _spread_text(least: float, most: float) -> str:
    if least != least:
        return "-"
    return f"{least:.3g}x" if least == most else f"{least:.3g}-{most:.3g}x"


def against(path: Path, names: str, fmt: str, out: Path | None) -> int:
    """One run against reference machines of the atlas: references x families, its speedup over each with the
    interval of the measurement, the roofs' ratios beside them, the workloads furthest from their roofs in words, and
    its scores against the baseline reference per dtype (JSON: all of it, the notes too)."""
    from flopbench.commands.common import load_views
    from flopbench.console import print_text
    from flopbench.reading.atlas import find, score, standing

    (view,) = load_views([path])
    if not view.records:
        raise FlopbenchError(f"{path}: no records to compare; run a suite first")
    refs = find(names)
    result = standing(view, refs)
    if result.rows.empty:
        raise FlopbenchError(
            f"{path}: no workload in common with {names}; run the default suite (flopbench run default) to compare"
        )
    ranked = score(view, refs if any(r.name == "cpu-amd-epyc-zen3-2vcpu-vm" for r in refs) else None)
    notes = list(dict.fromkeys(result.notes))
    if fmt == "json":
        data = {
            "standing": json.loads(result.rows.to_json(orient="records")),
            "words": result.words,
            "notes": notes,
            "score": None
            if ranked is None
            else {
                "baseline": ranked.baseline,
                "method": ranked.method,
                "notes": ranked.notes,
                "rows": json.loads(ranked.rows.to_json(orient="records")),
            },
        }
        print(json.dumps(data, indent=1))
        return 0
    _standing_matrices(path, result, notes, fmt)
    for text in result.words:
        print_text(text, fmt)
    if ranked is not None:
        _score_table(ranked, fmt)
    if out:
        from flopbench.outputs import output_dir
        from flopbench.reading.plots import draw_standing, save

        output_dir(out, "--out")
        result.rows.to_csv(out / "standing.csv", index=False)
        written = [out / "standing.csv", *save(draw_standing(result, path.stem), out).values()]
        print("wrote " + ", ".join(map(str, written)))
    return 0


def _standing_matrices(path: Path, result, notes: list[str], fmt: str) -> None:
    """References x families: the speedup with its interval under it, then the roofs' predicted ratio; what differs
    between the runs (threads, torch, BLAS) in the first one's caption."""
    from flopbench.console import print_table
    from flopbench.reading.comparison import family_text

    rows = result.rows
    families = list(dict.fromkeys(rows["family"]))
    refs = list(dict.fromkeys(rows["reference"]))
    cells = {(r.reference, r.family): r for r in rows.itertuples()}
    separator = "\n" if fmt == "table" else " "

    def speed(r) -> str:  # the bounds to two figures, under the value: five families fit 80 columns
        if r.low != r.low or fmt != "table":
            return family_text(r.speedup, r.low, r.high)
        return f"{r.speedup:.3g}x{separator}{r.low:.2g}-{r.high:.2g}"

    for title, cell in (
        (f"Where {path.name} stands: its speedup over each reference machine (95% interval)", speed),
        ("What the two machines' roofs predict for the same workloads (their ratio)", lambda r: _times(r.roof_ratio)),
    ):
        print_table(
            title,
            ["reference", *families],
            [[ref, *(cell(cells[ref, f]) if (ref, f) in cells else "-" for f in families)] for ref in refs],
            numeric=families,
            caption=("Matched: " + "; ".join(notes) + ".")
            if cell is speed and notes
            else None
            if cell is speed
            else "Speedup: the geometric mean over the workloads both runs measured of time there / time here; its"
            " interval is the measurement's (the workloads' errors plus the drift between two machines' runs), not"
            " how much the workloads differ. Roofs' ratio: memory-bound work follows the bandwidths of the levels"
            " both machines measured, compute-bound work the compute ceilings.",
            fmt=fmt,
            wrap=["reference"],
        )


def _score_table(ranked, fmt: str) -> None:
    from flopbench.console import print_table

    def bounds(low: float, high: float) -> str:
        return "-" if low != low else f"{low:.0f}-{high:.0f}"

    print_table(
        f"Score against {ranked.baseline}" + (f" ({'; '.join(ranked.notes)})" if ranked.notes else ""),
        ["scope", "score", "95% interval", "spread", "workloads", "note"],
        [
            [
                r.scope,
                f"{r.score:.0f}",
                bounds(r.low, r.high),
                f"{r.spread_low:.0f}-{r.spread_high:.0f}",
                r.workloads,
                f"emulated on {r.emulated}: apart from all" if r.emulated else "",
            ]
            for r in ranked.rows.itertuples()
        ],
        numeric=["score", "workloads"],
        caption=ranked.method,
        fmt=fmt,
        notes="note",
    )


def _times(value: float) -> str:
    return f"{value:.3g}x" if value == value else "-"
