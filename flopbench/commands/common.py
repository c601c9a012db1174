"""What the commands share: option checking, choosing the device and thread count, user-given peaks, and the machine
they judge against (its measured ceilings cached per machine, measured when asked or when a roofline would otherwise
have no bandwidth)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from flopbench.console import warn
from flopbench.errors import FlopbenchError, did_you_mean
from flopbench.formulas import PEAK_KEYS

if TYPE_CHECKING:
    from flopbench.machine.resolve import Machine


def positive(option: str, maximum: float = math.inf, integer: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number > 0 (and <= maximum), else a one-line usage error naming the option."""

    def parse(text: str) -> float:
        kind = "whole number" if integer else "number"
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} {text!r}: expected a {kind}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{option} {text!r}: expected a finite {kind} greater than 0")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"{option} {text!r}: at most {maximum:g}")
        return value

    return parse


def load_frame(paths):
    """load_results() for a command: what the readers repaired or skipped is printed as warnings."""
    from flopbench.results.files import load_results

    return load_results(paths, on_note=warn)


def load_views(paths):
    """A view of each results file for a command (flopbench.reading.view): what the readers repaired or skipped is
    printed as warnings."""
    from flopbench.reading.view import load_views as load

    return load(paths, on_note=warn)


TABLE_HELP = "table (fits the terminal; whole in a pipe), markdown, json or csv (raw numbers)"

# One meaning per flag, in every command:
# -o/--out  where the command writes: the one file it writes (run, export, calibrate), or the directory of the files it
#           writes (plot, report, compare). By default everything goes under ./results: a run's file, and the
#           figures and report of RESULTS in results/<its name>/ (never beside a file elsewhere: results/reference/
#           holds committed runs).
# --format  how a table is printed: table, markdown, json, csv.
# --figure-format  png or svg, for the figures a command writes.
RESULTS_DIR = Path("results")


def default_out(paths: list[Path], suffix: str = "") -> Path:
    """Where plot and report write by default: results/<the run's name>, or results/combined for several runs."""
    return RESULTS_DIR / (paths[0].stem + suffix if len(paths) == 1 else f"combined{suffix}")


def add_out_argument(parser: argparse.ArgumentParser, what: str, required: bool = False) -> None:
    parser.add_argument("-o", "--out", type=Path, required=required, metavar="PATH", help=what)


def add_figure_format_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--figure-format", choices=["png", "svg"], default="png", help="the figures' format (png)")
    parser.add_argument(  # the flag's old name, before --format meant tables only
        "--format", dest="figure_format_old", choices=["png", "svg"], help=argparse.SUPPRESS
    )


def figure_format(args: argparse.Namespace) -> str:
    if args.figure_format_old:
        warn(f"--format {args.figure_format_old} is now --figure-format {args.figure_format_old}")
        return str(args.figure_format_old)
    return str(args.figure_format)


def add_format_argument(parser: argparse.ArgumentParser, help: str = TABLE_HELP) -> None:
    """--format of a command that prints tables (flopbench.console.TABLE_FORMATS)."""
    from flopbench.console import TABLE_FORMATS

    parser.add_argument("--format", choices=TABLE_FORMATS, default="table", help=help)


def add_device_arguments(parser: argparse.ArgumentParser, threads: bool = True) -> None:
    """--device, --threads (unless the command has its own), the peaks and --measure."""
    parser.add_argument(
        "--device",
        default="auto",
        help="cpu, cuda, cuda:N, or auto (the default: CUDA when there is one, else the CPU)",
    )
    if threads:
        parser.add_argument(
            "--threads",
            type=positive("--threads", maximum=4096, integer=True),
            help="torch threads (default: every CPU this process may use)",
        )
    parser.add_argument(
        "--peak",
        action="append",
        default=[],
        metavar="DTYPE=FLOPS",
        help=f"use this peak, e.g. --peak bfloat16=989e12 (keys: {', '.join(PEAK_KEYS)}); recorded as user-given",
    )
    parser.add_argument(
        "--bandwidth",
        type=positive("--bandwidth"),
        metavar="BYTES_PER_S",
        help="use this peak memory bandwidth, e.g. 3.35e12; recorded as user-given",
    )
    parser.add_argument(
        "--measure",
        action="store_true",
        help="measure the machine now (its clock, compute ceilings per kernel, a bandwidth per memory level, the"
        " per-call floor) and cache it for this machine",
    )


def parse_peaks(items: list[str]) -> dict[str, float]:
    peaks = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise FlopbenchError(f"--peak {item!r}: expected DTYPE=FLOPS, e.g. --peak float32=19.5e12")
        if key not in PEAK_KEYS:
            raise FlopbenchError(
                f"--peak {item!r}: unknown key '{key}'{did_you_mean(key, PEAK_KEYS)};"
                f" expected one of {', '.join(PEAK_KEYS)}"
            )
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise FlopbenchError(f"--peak {item!r}: '{text}' is not a finite positive number of FLOP/s, e.g. 19.5e12")
        peaks[key] = value
    return peaks


def resolve_machine(
    args: argparse.Namespace, *, measure_if_needed: bool, max_call_s: float | None = None, measures: bool = False
) -> Machine:
    """The machine of a command's --device, --threads, --peak, --bandwidth and --measure (flopbench.machine.resolve),
    its ceilings measured by the runner where they must be. A command that `measures` (run, ab) has the sustained
    clock measured where none is known, even with --no-measure, so that its peaks are flopbench.measure's and the
    pytest plugin's."""
    import functools

    from flopbench.machine.resolve import resolve
    from flopbench.measuring.ceilings import measure_now

    return resolve(
        args.device,
        args.threads,
        peaks=parse_peaks(args.peak),
        bandwidth=args.bandwidth,
        measure=functools.partial(measure_now, max_call_s=max_call_s),
        remeasure=args.measure,
        measure_if_needed=measure_if_needed,
        measure_clock=measures,
    )
