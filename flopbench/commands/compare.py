"""flopbench compare: the same workloads on two or more machines, side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flopbench.console import TABLE_FORMATS
from flopbench.errors import FlopbenchError

NAME = "compare"
HELP = "compare runs: per-workload time and FLOP/s, speedups, geometric means per family, peak ratios"
DESCRIPTION = (
    "Join the records of two or more runs by workload (op, parameters, dtype) and show each one's time and"
    " achieved FLOP/s, the speedup over the first run, the geometric mean speedup per family and overall,"
    " and the ratio of the runs' peaks beside it."
)
# Imported whole before the command runs (see cli.interrupts_deferred).
IMPORTS = ("numpy", "pandas", "matplotlib.figure")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results", nargs="+", type=Path, metavar="RESULTS", help="results files; the first is the baseline"
    )
    parser.add_argument("--out", type=Path, help="also write compare.csv, compare_summary.csv and comparison.png here")
    parser.add_argument(
        "--format",
        choices=TABLE_FORMATS,
        default="table",
        help="table (fits the terminal; whole in a pipe), markdown, json or csv (raw numbers)",
    )


def main(args: argparse.Namespace) -> int:
    from flopbench.analysis import compare
    from flopbench.commands.common import load_views

    if len(args.results) < 2:
        raise FlopbenchError("compare needs at least two results files: the baseline, then the others")
    views = [view for view in load_views(args.results) if view.records]
    runs = {view.header.run_id for view in views}
    if len(runs) < 2:
        raise FlopbenchError(f"compare needs records from at least two different runs; these files hold {len(runs)}")
    result = compare(views)
    table, summary = result.table, result.summary
    if table.empty:
        raise FlopbenchError(
            "the runs have no measured workload in common (same op, parameters and dtype);"
            " run the same suite on each machine"
        )
    for warning in result.warnings:
        print(f"flopbench: warning: {warning}", file=sys.stderr)
    if args.format == "csv":
        table.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(
            f'{{"runs": {result.runs.to_json(orient="records")}, "workloads": {table.to_json(orient="records")},'
            f' "summary": {summary.to_json(orient="records")}}}'
        )
    else:
        print_tables(result, args.format)
    if args.out:
        from flopbench.outputs import output_dir
        from flopbench.plots import SAVE_DPI, comparison

        output_dir(args.out, "--out")
        table.to_csv(args.out / "compare.csv", index=False)
        summary.to_csv(args.out / "compare_summary.csv", index=False)
        fig = comparison(result)
        fig.savefig(args.out / "comparison.png", bbox_inches="tight", dpi=SAVE_DPI)
        print(f"wrote {args.out / 'compare.csv'}, {args.out / 'compare_summary.csv'}, {args.out / 'comparison.png'}")
    return 0


def print_tables(result, fmt: str = "table") -> None:
    from flopbench.console import print_table
    from flopbench.units import seconds, si

    table, summary = result.table, result.summary
    print_table(
        "Runs",
        ["run", "device", "host", "threads", "torch", "file"],
        result.runs[["run", "device", "host", "threads", "torch", "file"]].values.tolist(),
        fmt=fmt,
    )
    labels = list(result.runs["run"])
    columns = ["workload", "dtype"] + [f"time {lab}" for lab in labels] + [f"FLOP/s {lab}" for lab in labels]
    columns += [f"speedup {lab}" for lab in labels[1:]] + [f"peak ratio {lab}" for lab in labels[1:]]
    energy = any(c.startswith("energy_ratio[") for c in table.columns)
    if energy:
        columns += [f"FLOP/J {lab}" for lab in labels] + [f"FLOP/J ratio {lab}" for lab in labels[1:]]

    def joules(r) -> list[str]:
        if not energy:
            return []
        rates = [r[f"flops_per_joule[{lab}]"] for lab in labels]
        ratios = [r[f"energy_ratio[{lab}]"] for lab in labels[1:]]
        return [si(v, "FLOP/J") if v == v else "-" for v in rates] + [f"{v:.3g}x" if v == v else "-" for v in ratios]

    rows = []
    for _, r in table.sort_values(["family", "name"]).iterrows():
        rows.append(
            [r["name"], r["dtype"]]
            + [seconds(r[f"time_s[{lab}]"]) for lab in labels]
            + [si(r[f"total_flops_per_s[{lab}]"], "FLOP/s") for lab in labels]
            + [f"{r[f'speedup[{lab}]']:.3g}x" for lab in labels[1:]]
            + [
                f"{r[f'peak_ratio[{lab}]']:.3g}x" if r[f"peak_ratio[{lab}]"] == r[f"peak_ratio[{lab}]"] else "-"
                for lab in labels[1:]
            ]
            + joules(r)
        )
    print_table(
        f"Per workload (baseline: run {labels[0]}; speedup = time {labels[0]} / time)",
        columns,
        rows,
        numeric=columns[2:],
        fmt=fmt,
    )
    print_table(
        "Geometric mean speedup against the ratio of peaks",
        ["run", "family", "workloads", "geomean speedup", "peak ratio", *(["geomean FLOP/J ratio"] if energy else [])],
        (
            [
                r["run"],
                r["family"],
                r["workloads"],
                f"{r['geomean_speedup']:.3g}x",
                f"{r['peak_ratio']:.3g}x" if r["peak_ratio"] == r["peak_ratio"] else "-",
                *(
                    [
                        f"{r['geomean_energy_ratio']:.3g}x"
                        if r["geomean_energy_ratio"] == r["geomean_energy_ratio"]
                        else "-"
                    ]
                    if energy
                    else []
                ),
            ]
            for _, r in summary.iterrows()
        ),
        numeric=["workloads", "geomean speedup", "peak ratio", "geomean FLOP/J ratio"],
        caption="A speedup under the peak ratio is extra peak that does not turn into speed (memory-bound or"
        " overhead-bound work); over it, the baseline was further from its peak.",
        fmt=fmt,
    )
