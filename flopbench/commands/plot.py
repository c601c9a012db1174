"""flopbench plot: every registered figure (flopbench.reading.plots.FIGURES) a results file has data for."""

from __future__ import annotations

import argparse
from pathlib import Path

from flopbench.commands.common import add_figure_format_argument, add_out_argument

NAME = "plot"
HELP = "draw the figures of result files: roofline, FLOPs against latency, losses, sweeps, ..."
DESCRIPTION = (
    "Draw, for each run, every figure it has data for: the roofline (achieved FLOP/s against intensity under the"
    " device's roofs), FLOPs against latency, where the FLOP/s went, memory, sweeps, generation, utilization,"
    " the latency predictors, energy and implementations (docs/guide.md shows each)."
)
# Imported whole before the command runs (see cli.interrupts_deferred).
IMPORTS = ("numpy", "pandas", "matplotlib.figure")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS", help="results files (.jsonl)")
    add_out_argument(parser, "directory for the figures (default: results/<the run's name>)")
    add_figure_format_argument(parser)


def main(args: argparse.Namespace) -> int:
    from flopbench.commands.common import default_out, figure_format, load_views
    from flopbench.outputs import output_dir
    from flopbench.reading.plots import draw_figures, save

    views = [view for view in load_views(args.results) if view.records]
    if not views:
        print(f"flopbench: {', '.join(map(str, args.results))} holds no records; nothing to draw")
        return 0
    out = output_dir(args.out or default_out(args.results), "--out")
    written: list[Path] = []
    for view in views:
        prefix = f"{view.path.stem}_" if len(args.results) > 1 else ""
        figures = save(draw_figures(view), out, figure_format(args), prefix)
        if not figures:
            print(f"flopbench: {view.path} has no measured workload to draw")
        written += figures.values()
    for path in written:
        print(path)
    return 0
