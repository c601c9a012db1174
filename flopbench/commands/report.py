"""flopbench report: a self-contained report of result files (Markdown and HTML)."""

from __future__ import annotations

import argparse
from pathlib import Path

from flopbench.commands.common import add_figure_format_argument, add_out_argument

NAME = "report"
HELP = "write a report (Markdown and HTML): device and peaks, tables per family, figures, the FLOPs study"
DESCRIPTION = (
    "Write report.md (figures beside it) and report.html (self-contained): the device and its peaks with"
    " provenance, a table per family, the figures, and how far FLOPs predict latency on this run."
)
# Imported whole before the command runs (see cli.interrupts_deferred).
IMPORTS = ("numpy", "pandas", "matplotlib.figure")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS", help="results files (.jsonl)")
    add_out_argument(parser, "directory for report.md, report.html and the figures (default: results/<the run's name>)")
    add_figure_format_argument(parser)


def main(args: argparse.Namespace) -> int:
    from flopbench.commands.common import default_out, figure_format, warn
    from flopbench.reading.report import write_report

    md, page = write_report(args.results, args.out or default_out(args.results), figure_format(args), on_note=warn)
    print(f"{md}\n{page}")
    return 0
