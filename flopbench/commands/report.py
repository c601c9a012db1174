"""flopbench report: a self-contained report of result files (Markdown and HTML)."""

from __future__ import annotations

import argparse
from pathlib import Path

from flopbench.commands.plot import default_out

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
    parser.add_argument("--out", type=Path, help="directory (default: beside the first file, named after it)")
    parser.add_argument("--format", choices=["png", "svg"], default="png", help="format of the figures")


def main(args: argparse.Namespace) -> int:
    from flopbench.commands.common import warn
    from flopbench.reading.report import write_report

    md, page = write_report(args.results, args.out or default_out(args.results), args.format, on_note=warn)
    print(f"{md}\n{page}")
    return 0
