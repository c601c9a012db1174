"""flopbench export: results as a pytest-benchmark JSON file, or as CSV."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

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
    parser.add_argument("--format", choices=["pytest-benchmark", "csv"], required=True)
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")


def main(args: argparse.Namespace) -> int:
    if args.output.exists():
        raise FlopbenchError(f"{args.output} exists; choose another -o FILE")
    if args.format == "csv":
        from flopbench.commands.common import load_frame
        from flopbench.results import export_csv

        export_csv(load_frame(args.results), args.output)
        print(args.output)
        return 0
    if len(args.results) != 1:
        raise FlopbenchError("a pytest-benchmark file holds one run (one machine): export one results file at a time")
    from flopbench.interop import to_pytest_benchmark
    from flopbench.results import read_run

    document, notes = to_pytest_benchmark(read_run(args.results[0]))
    for note in notes:
        print(f"flopbench: {note}", file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=1, default=str))
    print(f"{args.output}: {len(document['benchmarks'])} benchmarks")
    return 0
