"""flopbench export: results as a pytest-benchmark JSON file, or as CSV."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flopbench.commands.common import add_out_argument
from flopbench.errors import FlopbenchError

NAME = "export"
HELP = "write results as a pytest-benchmark JSON file (for pytest-benchmark compare) or as CSV"
DESCRIPTION = (
    "Write a flopbench run as a pytest-benchmark JSON file, which `pytest-benchmark compare` reads (stats"
    " from the raw samples; the flopbench record in each benchmark's extra_info), or runs as one CSV table."
)
# Imported whole before the command runs (see cli.interrupts_deferred).
IMPORTS = ("numpy", "pandas")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS")
    parser.add_argument(
        "--to",
        choices=["pytest-benchmark", "csv"],
        help="a pytest-benchmark JSON file, or a CSV table (one row per record)",
    )
    parser.add_argument("--format", dest="to_old", choices=["pytest-benchmark", "csv"], help=argparse.SUPPRESS)
    add_out_argument(parser, "the file to write", required=True)
    parser.add_argument("--output", dest="out", type=Path, help=argparse.SUPPRESS)  # the flag's old name


def main(args: argparse.Namespace) -> int:
    from flopbench.commands.common import warn
    from flopbench.outputs import output_file, write_text

    if args.to_old:
        warn(f"--format {args.to_old} is now --to {args.to_old} (--format is for tables)")
    kind = args.to or args.to_old
    if kind is None:
        raise FlopbenchError("export needs --to pytest-benchmark or --to csv")
    if kind == "csv":
        from flopbench.commands.common import load_frame
        from flopbench.results.files import export_csv

        frame = load_frame(args.results)
        export_csv(frame, output_file(args.out, "-o"))
        print(args.out)
        return 0
    if len(args.results) != 1:
        raise FlopbenchError("a pytest-benchmark file holds one run (one machine): export one results file at a time")
    from flopbench.results.files import read_run
    from flopbench.results.interop import to_pytest_benchmark

    document, notes = to_pytest_benchmark(read_run(args.results[0]))
    for note in notes:
        print(f"flopbench: {note}", file=sys.stderr)
    write_text(output_file(args.out, "-o"), json.dumps(document, indent=1, default=str), "-o")
    print(f"{args.out}: {len(document['benchmarks'])} benchmarks")
    return 0
