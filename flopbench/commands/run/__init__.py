"""flopbench run: time suites on a device and write one results file (JSON Lines) for the run.

The command in its parts: here its options; select (which workloads, and the run's settings), output (the results
file), session (the run itself, single-device or distributed), progress, table (what it prints), notes (its footer and
trust notes)."""

from __future__ import annotations

import argparse
from pathlib import Path

from flopbench.commands.common import add_device_arguments, add_format_argument, add_out_argument, positive
from flopbench.commands.compare import share
from flopbench.commands.options import (
    DEFAULT_MAX_ROUNDS,
    DEFAULT_ROUNDS,
    DEFAULT_TARGET_PRECISION,
    run_settings,
    selection_of,
)
from flopbench.commands.run.session import run_distributed, run_session
from flopbench.errors import FlopbenchError

DEFAULT_ON_BUSY = "retry"  # see docs/methodology.md: the best figures within the time budget on a shared VM

NAME = "run"
HELP = "time suites on a device: achieved FLOP/s, utilization, roofline placement"
DESCRIPTION = (
    "Build, check and time every workload of the suites on one device, and write a results file (JSON Lines,"
    " one record per workload, flushed as it is measured). Ctrl-C stops cleanly; --resume FILE continues."
)
# Imported whole before the command runs (see cli.interrupts_deferred).
IMPORTS = ("numpy", "torch")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "suites",
        nargs="+",
        metavar="SUITE",
        help="suite files or shipped suite names, or one workload: OP key=value ... (e.g. matmul m=4096 n=4096"
        " k=4096 dtype=bfloat16), as `flopbench count` takes it",
    )
    add_device_arguments(parser)
    parser.add_argument("--dtype", help="run every workload in these dtypes instead, e.g. float32,bfloat16")
    parser.add_argument(
        "--impl",
        help="run every workload under these implementations instead, e.g. eager,compile,sdpa-flash (each where its op"
        " runs under it: flopbench.workloads.impls)",
    )
    parser.add_argument("--only", metavar="REGEX", help="run only the workloads whose name matches")
    add_out_argument(parser, "results file (default: results/<time>_<host>_<device>_<suites>.jsonl)")
    parser.add_argument(
        "--resume", type=Path, metavar="FILE", help="append to FILE, skipping the workloads it already holds"
    )
    parser.add_argument(
        "--min-time",
        type=positive("--min-time", maximum=3600),
        metavar="S",
        help=(
            "seconds of timed samples per workload and round, at least (default 0.2; 0.05 with --quick); a noisy"
            " one samples up to 5x that"
        ),
    )
    parser.add_argument("--quick", action="store_true", help="a short timing budget per workload")
    parser.add_argument(
        "--tf32",
        action="store_true",
        help="allow TF32 for float32 matmuls and convolutions on CUDA (judged against the TF32 peak)",
    )
    parser.add_argument(
        "--cuda-graph",
        action="store_true",
        help="time CUDA workloads as graph replays (no launch overhead; for tiny kernels)",
    )
    parser.add_argument(
        "--cache",
        choices=["warm", "cold"],
        help="warm: calls back to back, a workload's data left in the caches (placed against the level that holds"
        " it); cold: the caches evicted before every timed call, as a layer runs inside a network (placed against"
        " DRAM). Default: warm on a CPU, cold on a GPU (the L2 flushed, as triton's do_bench does)",
    )
    trust = parser.add_argument_group("trust on a shared machine")
    trust.add_argument(
        "--rounds",
        type=positive("--rounds", maximum=100, integer=True),
        help=f"measure every workload once per round, the order rotated; its figure is the median over rounds."
        f" Given, exactly this many (unless --target-precision); by default {DEFAULT_ROUNDS}, then more (up to"
        f" --max-rounds) for a workload whose figure is not yet within ±{DEFAULT_TARGET_PRECISION:.0%}",
    )
    trust.add_argument(
        "--target-precision",
        type=share("--target-precision"),
        metavar="SHARE",
        help="after its rounds, measure a workload in more rounds until its figure is known to within this share"
        f" (the half-width of its 95%% interval from its rounds), up to --max-rounds (default"
        f" {DEFAULT_TARGET_PRECISION:.0%} when --rounds is not given)",
    )
    trust.add_argument(
        "--max-rounds",
        type=positive("--max-rounds", maximum=1000, integer=True),
        help=f"the most rounds a workload gets for its precision (default {DEFAULT_MAX_ROUNDS})",
    )
    trust.add_argument(
        "--on-busy",
        choices=["warn", "wait", "retry"],
        default=DEFAULT_ON_BUSY,
        help="a measurement disturbed by other work on the machine is flagged (warn), waited out"
        " first (wait, at most 10 s each) or measured again (retry, at most twice; default)",
    )
    trust.add_argument(
        "--max-call-s",
        type=positive("--max-call-s", maximum=86400),
        metavar="S",
        help="skip a workload whose single call takes longer (predicted from the roofline, or its"
        " first call), and stop growing its sweep (default 2 s on a CPU, 1 s on a GPU)",
    )
    trust.add_argument(
        "--time-budget",
        type=positive("--time-budget", maximum=30 * 86400),
        metavar="S",
        help="seconds the run may take measuring; workloads that would not fit are skipped",
    )
    parser.add_argument(
        "--no-measure",
        action="store_true",
        help="do not measure ceilings even when no bandwidth is known (no roofline then)",
    )
    parser.add_argument(
        "--train",
        action="store_true",
        help="time model workloads as training steps (forward and backward): training FLOP/s and MFU",
    )
    parser.add_argument(
        "--per-layer",
        action="store_true",
        help="profile model workloads layer by layer after timing them (torch.profiler): each layer's measured time"
        " beside its FLOPs, and what the model's time has beyond them",
    )
    parser.add_argument("--large", action="store_true", help="also run the suite entries marked large = true")
    parser.add_argument(
        "--report", action="store_true", help="when the run ends, write its figures and report beside the results file"
    )
    add_format_argument(
        parser,
        "the summary on stdout: table (fits the terminal; whole in a pipe), markdown, json or csv (raw numbers);"
        " progress goes to stderr",
    )
    distributed = parser.add_argument_group("many devices (launch with torchrun)")
    distributed.add_argument(
        "--distributed",
        action="store_true",
        help="every rank runs the suites on its own device at once; rank 0 writes all records",
    )
    distributed.add_argument(
        "--backend", choices=["gloo", "nccl"], help="torch.distributed backend (default: nccl on CUDA, gloo on CPUs)"
    )
    distributed.add_argument(
        "--dist-timeout",
        type=positive("--dist-timeout", maximum=86400),
        default=300.0,
        metavar="S",
        help="seconds to wait for the other ranks before giving up with an error (default 300)",
    )


def main(args: argparse.Namespace) -> int:
    from flopbench.workloads.selection import select

    workloads, suites = select(selection_of(args))
    settings = run_settings(args)
    if args.resume and args.out:
        raise FlopbenchError("--resume FILE appends to FILE; give --resume or --out, not both")
    if args.resume and not args.resume.is_file():
        raise FlopbenchError(f"--resume {args.resume}: no such file")
    if args.distributed:
        return run_distributed(args, workloads, suites, settings)
    return run_session(args, workloads, suites, settings)
