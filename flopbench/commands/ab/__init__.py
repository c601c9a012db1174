"""flopbench ab: an A/B comparison on one machine, its two sides measured alternately so that the machine's drift
cancels: in one process (two implementations, dtypes, thread counts, cache states or TF32 settings), or in whole
processes alternating (two Python environments). It writes one ordinary results file per side, paired by their pair
keys and pair ids, and prints the paired comparison (flopbench.reading.comparison).

The command in its parts: here its options and the axis; inprocess (both sides in this process), processes (two
Pythons alternating); the comparison is `flopbench compare`'s."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from flopbench.commands.ab.axis import (
    AXES,
    DEFAULT_MAX_ROUNDS,
    DEFAULT_MAX_TIME_S,
    DEFAULT_PROCESS_PAIRS,
    DEFAULT_ROUNDS,
    Axis,
    add_axis_options,
    axis_of,
)
from flopbench.commands.common import add_device_arguments, add_format_argument, add_out_argument, positive
from flopbench.commands.compare import share
from flopbench.errors import FlopbenchError

NAME = "ab"
HELP = "A/B on one machine, the two sides alternating (ABBA): paired intervals that the machine's drift cannot fool"
DESCRIPTION = (
    "Measure the suites twice, once per side, the sides alternating close in time so that each pair shares the"
    " machine's state: in one process ("
    + ", ".join(f"--{kind.name}" for kind in AXES.values() if kind.in_process)
    + ": each A,B) in blocks ABBA within each round, or two Python environments (--python A --python B) in whole"
    " processes ABBA. The workloads whose"
    " comparison is not yet precise enough for the threshold get more rounds, within --max-rounds and --max-time."
    " Writes one results file per side and prints the paired comparison. Ctrl-C stops cleanly; --resume DIR"
    " continues."
)
IMPORTS = ("numpy", "pandas", "torch", "scipy.stats")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "suites", nargs="+", metavar="SUITE", help="suite files or shipped suite names, or one workload: OP key=value"
    )
    add_axis_options(parser)
    add_device_arguments(parser, threads=False)
    parser.add_argument("--only", metavar="REGEX", help="only the workloads whose name matches")
    parser.add_argument("--large", action="store_true", help="also the suite entries marked large = true")
    parser.add_argument("--quick", action="store_true", help="a short timing budget per workload")
    parser.add_argument("--min-time", type=positive("--min-time", maximum=3600), metavar="S", help="as in run")
    parser.add_argument(
        "--rounds",
        type=positive("--rounds", maximum=100, integer=True),
        help=f"rounds every workload gets, the order rotated (default {DEFAULT_ROUNDS}); with --python, processes per"
        f" side (default {DEFAULT_PROCESS_PAIRS})",
    )
    parser.add_argument(
        "--max-rounds",
        type=positive("--max-rounds", maximum=1000, integer=True),
        help=f"then more rounds (or processes) for the workloads whose comparison cannot yet be told within the"
        f" threshold, up to this many each (default {DEFAULT_MAX_ROUNDS}; --max-rounds equal to --rounds: none)",
    )
    parser.add_argument(
        "--max-time",
        type=positive("--max-time", maximum=7 * 86400),
        metavar="S",
        help=f"no more rounds are added after this many seconds (default {DEFAULT_MAX_TIME_S:.0f})",
    )
    parser.add_argument(
        "--pairs",
        type=positive("--pairs", maximum=1000, integer=True),
        default=10,
        help="ABBA pairs of blocks per workload and round, at most (default 10; fewer when both sides' budgets are"
        " met sooner)",
    )
    parser.add_argument("--on-busy", choices=["warn", "wait", "retry"], default="retry", help="as in run")
    parser.add_argument("--max-call-s", type=positive("--max-call-s", maximum=86400), metavar="S", help="as in run")
    parser.add_argument("--no-measure", action="store_true", help="do not measure ceilings (no roofline then)")
    add_out_argument(parser, "the directory of the two results files (default: results/ab_<time>_<host>_<axis>)")
    parser.add_argument("--resume", type=Path, metavar="DIR", help="continue the A/B run in DIR")
    parser.add_argument("--threshold", type=share("--threshold"), metavar="SHARE", help="as in compare (default 5%%)")
    parser.add_argument(
        "--fail-slower", type=share("--fail-slower"), metavar="SHARE", help="as in compare: a gate on side B"
    )
    add_format_argument(parser)


def out_dir(args: argparse.Namespace, axis: Axis) -> Path:
    """Where the two files go: --resume's directory, --out, or results/ab_<time>_<host>_<axis>."""
    import re
    import socket

    if args.resume:
        return Path(args.resume)
    if args.out:
        return Path(args.out)
    from flopbench.outputs import file_name_part

    slug = file_name_part(re.sub(r"[^A-Za-z0-9.]+", "-", f"{axis.name}-{axis.slug()}").strip("-"), "the A/B axis")
    host = file_name_part(socket.gethostname(), "the host name")
    return Path("results") / f"ab_{time.strftime('%Y%m%d-%H%M%S')}_{host}_{slug}"


def main(args: argparse.Namespace) -> int:
    from flopbench.commands.ab.inprocess import run_inprocess
    from flopbench.commands.ab.processes import run_processes

    axis = axis_of(args)
    if args.resume and args.out:
        raise FlopbenchError("--resume DIR continues the A/B run in DIR; give --resume or --out, not both")
    if args.resume and not any((args.resume / name).exists() for name in ("A.jsonl", "processes")):
        raise FlopbenchError(f"--resume {args.resume}: no A/B run there; give the directory flopbench ab wrote")
    if args.threshold is not None and args.fail_slower is not None and args.threshold != args.fail_slower:
        raise FlopbenchError("--threshold and --fail-slower would judge the same table by two limits; give one")
    directory = out_dir(args, axis)
    run = run_inprocess if axis.in_process else run_processes
    paths, interrupted = run(args, axis, directory)
    return conclude(args, axis, paths, interrupted)


def conclude(args: argparse.Namespace, axis: Axis, paths: tuple[Path, Path], interrupted: bool) -> int:
    """The paired comparison of what was measured, the gate, and how to continue an interrupted run."""
    import sys

    from flopbench.commands.compare import show
    from flopbench.console import info
    from flopbench.results.files import resume_command

    status = 0
    if all(path.is_file() for path in paths):
        try:
            status = show(list(paths), args.format, args.threshold, args.fail_slower)
        except FlopbenchError as exc:  # nothing measured on both sides yet: the files stand
            print(f"flopbench: {exc}", file=sys.stderr)
        info(f"flopbench: side A ({axis.values[0]}): {paths[0]}; side B ({axis.values[1]}): {paths[1]}")
        info(f"flopbench: compare them again with: flopbench compare {paths[0]} {paths[1]}")
    if interrupted:
        print(
            f"flopbench: interrupted; what was measured is in {paths[0].parent}; continue with"
            f" {resume_command(sys.argv, paths[0].parent)}",
            file=sys.stderr,
        )
        return 130
    return status
