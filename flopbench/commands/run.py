"""flopbench run: time suites on a device and write one results file (JSON Lines) for the run."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flopbench.commands.common import add_device_arguments, positive, resolve_machine, warn
from flopbench.console import TABLE_FORMATS, info, quiet
from flopbench.errors import FlopbenchError, did_you_mean, first_line
from flopbench.units import count

if TYPE_CHECKING:
    from flopbench.machine.resolve import Machine
    from flopbench.measuring.distributed import Context
    from flopbench.results.files import ResultsWriter
    from flopbench.results.schema import Footer, Record, RunSettings
    from flopbench.workloads import Workload
    from flopbench.workloads.suite import Suite

# A round samples for at most 5x --min-time (1 s by default): on a noisy 2-vCPU VM (AMD EPYC, 2026-12-02, the
# default suite), the median of a round's first half of samples was a median 2.0% from its whole round's, while its
# rounds spanned a median 28%: a longer round buys precision the drift between rounds has already lost.
ROUND_CAP = 5
DEFAULT_ROUNDS = 3  # see docs/methodology.md: a transient disturbance then moves one round, not the figure
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
    parser.add_argument("suites", nargs="+", metavar="SUITE", help="suite files or shipped suite names")
    add_device_arguments(parser)
    parser.add_argument("--dtype", help="run every workload in these dtypes instead, e.g. float32,bfloat16")
    parser.add_argument(
        "--impl",
        help="run every workload under these implementations instead, e.g. eager,compile,sdpa-flash (each where its op"
        " runs under it: flopbench.workloads.impls)",
    )
    parser.add_argument("--only", metavar="REGEX", help="run only the workloads whose name matches")
    parser.add_argument(
        "--out", type=Path, help="results file (default: results/<time>_<host>_<device>_<suites>.jsonl)"
    )
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
        default=DEFAULT_ROUNDS,
        help=f"measure every workload once per round, the order rotated; its figure is the median"
        f" over rounds, and rounds that disagree flag it unstable (default {DEFAULT_ROUNDS})",
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
    parser.add_argument(
        "--format",
        choices=TABLE_FORMATS,
        default="table",
        help="the summary on stdout: table (fits the terminal; whole in a pipe), markdown, json or csv (raw numbers);"
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


# --- choosing what to run --------------------------------------------------------------------------


def select(args: argparse.Namespace) -> tuple[list[Workload], list[Suite]]:
    from flopbench.workloads import DTYPES
    from flopbench.workloads.suite import load_suite

    suites = [load_suite(s) for s in args.suites]
    workloads = [w for suite in suites for w in suite.workloads if args.large or not w.large]
    if args.train:
        workloads = [_training(w) for w in workloads]
    if args.dtype:
        dtypes = [d.strip() for d in args.dtype.split(",")]
        for d in dtypes:
            if d not in DTYPES:
                raise FlopbenchError(
                    f"--dtype {args.dtype}: unknown dtype '{d}'{did_you_mean(d, DTYPES)};"
                    f" expected a comma-separated list of {', '.join(DTYPES)}"
                )
        workloads = _with_dtypes(workloads, dtypes, args.dtype)
    if args.impl:
        workloads = _with_impls(workloads, [i.strip() for i in args.impl.split(",")], args.impl)
    if args.only:
        try:
            pattern = re.compile(args.only)
        except re.error as exc:
            raise FlopbenchError(f"--only {args.only!r}: not a regular expression ({exc})") from None
        workloads = [w for w in workloads if pattern.search(w.name)]
    unique: dict[str, Workload] = {}
    for w in workloads:
        unique.setdefault(w.identity, w)
    if not unique:
        raise FlopbenchError(f"no workload of {', '.join(args.suites)} matches --only {args.only!r}")
    return list(unique.values()), suites


def _with_dtypes(workloads: list[Workload], dtypes: list[str], option: str) -> list[Workload]:
    """Every workload in every --dtype its op runs in; the others are left out, and the user told which."""
    from flopbench.errors import SpecError
    from flopbench.workloads.base import check_dtype

    kept, left_out = [], []
    for w in workloads:
        for d in dtypes:
            try:
                check_dtype(w.spec, w.p, d)
            except SpecError as exc:
                left_out.append(f"{w.name} in {d} ({exc.message})")
                continue
            kept.append(replace(w, dtype=d, name=f"{_strip_dtype(w.name)}-{d}"))
    if left_out:
        more = f"; and {len(left_out) - 3} more" if len(left_out) > 3 else ""
        warn(f"--dtype {option}: {len(left_out)} left out: " + "; ".join(left_out[:3]) + more)
    return kept


def _with_impls(workloads: list[Workload], impls: list[str], option: str) -> list[Workload]:
    """Every workload under every --impl its op runs under; the others are left out, and the user told which."""
    from flopbench.errors import SpecError
    from flopbench.workloads.base import check_impl
    from flopbench.workloads.impls import IMPLS

    for impl in impls:
        if impl not in IMPLS:
            raise FlopbenchError(
                f"--impl {option}: unknown implementation '{impl}'{did_you_mean(impl, IMPLS)}; expected a"
                f" comma-separated list of {', '.join(IMPLS)}"
            )
    kept, left_out = [], []
    for w in workloads:
        for impl in impls:
            try:
                check_impl(w.spec, impl)
            except SpecError as exc:
                left_out.append(f"{w.name} as {impl} ({exc.message})")
                continue
            name = _strip_impl(w.name) + ("" if impl == "eager" else f"-{impl}")
            kept.append(replace(w, impl=impl, name=name))
    if left_out:
        more = f"; and {len(left_out) - 3} more" if len(left_out) > 3 else ""
        warn(f"--impl {option}: {len(left_out)} left out: " + "; ".join(left_out[:3]) + more)
    return kept


def _strip_impl(name: str) -> str:
    from flopbench.workloads.impls import IMPLS

    for impl in sorted(IMPLS, key=len, reverse=True):
        if name.endswith(f"-{impl}"):
            return name[: -len(impl) - 1]
    return name


def _training(workload: Workload) -> Workload:
    """A model workload as a training step; other workloads are left as they are."""
    from flopbench.workloads import make_workload

    if workload.op != "model" or workload.p["train"]:
        return workload
    trained = make_workload(
        "model",
        {**workload.params_json, "train": True},
        dtype=workload.dtype,
        name=f"{workload.name}-train",
        impl=workload.impl,
    )
    return replace(trained, group=workload.group, swept=workload.swept, devices=workload.devices)


def _strip_dtype(name: str) -> str:
    from flopbench.workloads import DTYPES

    for d in DTYPES:
        if name.endswith(f"-{d}"):
            return name[: -len(d) - 1]
    return name


def default_path(machine: Machine, suites: list[Suite]) -> Path:
    import socket

    slug = re.sub(r"[^a-z0-9]+", "-", f"{machine.device.torch_device} {machine.device.name}".lower()).strip("-")
    names = "+".join(s.name for s in suites)
    return Path("results") / f"{time.strftime('%Y%m%d-%H%M%S')}_{socket.gethostname()}_{slug}_{names}.jsonl"


def run_settings(args: argparse.Namespace) -> RunSettings:
    """The run's one settings object: what the runner reads and the header records."""
    from flopbench.results.schema import RunSettings

    min_time = args.min_time or (0.05 if args.quick else 0.2)
    return RunSettings(
        min_time_s=min_time,
        max_time_s=ROUND_CAP * min_time,
        warmup_s=min(0.025, min_time / 4),
        target_rel_iqr=0.10 if args.quick else 0.05,
        tf32=args.tf32,
        cuda_graph=args.cuda_graph,
        dtype=args.dtype,
        impl=args.impl,
        only=args.only,
        train=args.train,
        large=args.large,
        rounds=args.rounds,
        on_busy=args.on_busy,
        max_call_s=args.max_call_s,
        time_budget_s=args.time_budget,
        per_layer=args.per_layer,
        cache=args.cache or "warm",
    )


# --- reporting as it goes, and at the end ----------------------------------------------------------


def line(record: Record) -> str:
    from flopbench.units import seconds, si

    name = record.name + (f" @ rank {record.rank}" if record.world_size > 1 else "")
    if record.status != "ok":
        return f"{record.status:>7}  {name}: {record.reason}"
    if record.message_bytes is not None:
        return (
            f"     ok  {name}: {seconds(record.time_s)}, {si(record.message_bytes, 'B')}, algorithm"
            f" {si(record.algbw_bytes_per_s, 'B/s')}, bus {si(record.busbw_bytes_per_s, 'B/s')}"
        )
    peak = f"{record.utilization:6.1%} of {record.peak_source} peak" if record.utilization is not None else ""
    bound = f"{record.bound}-bound" if record.bound else ""
    count = len(record.warnings)
    flag = f"  ({count} warning{'s' * (count > 1)})" if count else ""
    return (
        f"     ok  {name}: {seconds(record.time_s)}, {si(record.total_flops_per_s, 'FLOP/s')},"
        f" {si(record.bytes_per_s, 'B/s')}, {peak} {bound}{flag}"
    )


SUMMARY_FIELDS = (
    "name",
    "dtype",
    "rank",
    "status",
    "reason",
    "time_s",
    "time_iqr_s",
    "total_flops_per_s",
    "bytes_per_s",
    "utilization",
    "roofline_efficiency",
    "bound",
    "peak_key",
    "peak_source",
    "disturbed",
    "stable",
    "round_spread",
    "warnings",
)


def summary(records: list[Record], machine: Machine, path: Path, fmt: str = "table") -> None:
    """The run's records on stdout: a table (or markdown), or their key fields as JSON or CSV (raw numbers)."""
    from flopbench.console import console, print_table

    if fmt in ("json", "csv"):
        data = [r.model_dump(mode="json", include=set(SUMMARY_FIELDS)) for r in records]
        if fmt == "json":
            print(json.dumps({"results": str(path), "records": data}, indent=1))
        else:
            import csv

            writer = csv.DictWriter(sys.stdout, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows({**row, "warnings": "; ".join(row["warnings"])} for row in data)
        return
    roofline = machine.roofline
    peaks = ", ".join(roofline.describe(k) for k in sorted({r.peak_key for r in records if r.peak_key}))
    caption = (
        f"time: median of the samples; IQR/median beside it. Peaks: {peaks or 'none'}. Bandwidth roofs: "
        + "; ".join(f"{level.name} {level.roof.describe('B/s')}" for level in roofline.levels if level.roof.known)
        + ". % roofline is against the roof of the level each working set lives in."
    )
    print_table(
        f"{machine.device.label}, {count(machine.threads, 'thread')}",
        ["workload", "dtype", "time", "IQR", "achieved", "bandwidth", "% peak", "% roofline", "bound", "notes"],
        [_summary_row(r) for r in records],
        numeric=["time", "IQR", "achieved", "bandwidth", "% peak", "% roofline"],
        caption=caption,
        fmt=fmt,
        styles={"notes": "yellow"},
    )
    counts = {s: sum(r.status == s for r in records) for s in ("ok", "skipped", "failed")}
    text = f"{counts['ok']} measured, {counts['skipped']} skipped, {counts['failed']} failed. Results: {path}"
    console().print(text) if fmt == "table" else print(text)


def _summary_row(r: Record) -> list[str]:
    from flopbench.units import seconds, si

    def pct(value: float | None) -> str:
        return f"{value:.1%}" if value is not None else "-"

    name = r.name + (f" @{r.rank}" if r.world_size > 1 else "")
    if r.status != "ok" or not r.time_s:
        return [name, r.dtype, "-", "-", "-", "-", "-", "-", "-", f"{r.status}: {r.reason}"]
    spread = f"{(r.time_iqr_s or 0) / r.time_s:.0%}"
    if r.message_bytes is not None:
        notes = f"bus {si(r.busbw_bytes_per_s, 'B/s')}; " + "; ".join(r.warnings)
        return [name, r.dtype, seconds(r.time_s), spread, "-", si(r.algbw_bytes_per_s, "B/s"), "-", "-", "-", notes]
    bound = f"{r.bound} ({r.level})" if r.bound and r.level and r.level != "DRAM" else r.bound or "-"
    return [
        name,
        r.dtype,
        seconds(r.time_s),
        spread,
        si(r.total_flops_per_s, "FLOP/s"),
        si(r.bytes_per_s, "B/s"),
        pct(r.utilization),
        pct(r.roofline_efficiency),
        bound,
        "; ".join(r.warnings),
    ]


# --- the session: one function for single-device and distributed runs ------------------------------


@dataclass
class Output:
    """Where records go: the results file (rank 0 only in a distributed run) and what was written this run."""

    path: Path | None
    writer: ResultsWriter | None
    done: set[str]  # identities already in a resumed file
    records: list[Record]


def open_output(
    args: argparse.Namespace,
    machine: Machine,
    suites: list[Suite],
    settings: RunSettings,
    distributed: Any = None,
    quiet_check: dict[str, Any] | None = None,
) -> Output:
    """Create the results file, or reopen a resumed one after checking that it is the same run."""
    from flopbench.measuring.header import make_header, now_iso, resume_differences
    from flopbench.results.files import ResultsWriter
    from flopbench.results.schema import Resume

    header = make_header(machine, suites=suites, settings=settings, distributed=distributed, quiet_check=quiet_check)
    if args.resume:
        writer, old, repaired = ResultsWriter.resume(args.resume)
        try:
            differences = resume_differences(old.header, header)
            if differences:
                raise FlopbenchError(
                    f"--resume {args.resume}: this run is not the one in the file ("
                    + "; ".join(differences)
                    + "); resume with the same suites and options, or"
                    " start a new file with --out"
                )
            if repaired:
                info(f"flopbench: {repaired}")
            done = {r.identity for r in old.records}
            writer.mark(Resume(at=now_iso(), command=sys.argv, skipped=len(done), repaired=repaired))
        except BaseException:
            writer.close()
            raise
        return Output(args.resume, writer, done, [])
    path = args.out or default_path(machine, suites)
    if distributed is not None:
        path = args.out or path.with_name(f"{path.stem}_x{distributed.world_size}.jsonl")
    return Output(path, ResultsWriter.create(path, header), set(), [])


def main(args: argparse.Namespace) -> int:
    workloads, suites = select(args)
    settings = run_settings(args)
    if args.resume and args.out:
        raise FlopbenchError("--resume FILE appends to FILE; give --resume or --out, not both")
    if args.resume and not args.resume.is_file():
        raise FlopbenchError(f"--resume {args.resume}: no such file")
    if args.distributed:
        return run_distributed(args, workloads, suites, settings)
    return run_session(args, workloads, suites, settings)


@dataclass
class Watch:
    """The machine as the run starts: its monitor, what the header records of the quiet check, the first sample."""

    monitor: Any
    quiet_check: dict[str, Any]
    at_start: Any  # flopbench.results.schema.Interference


def watch_machine(machine: Machine) -> Watch:
    from flopbench.measuring.interference import make_monitor
    from flopbench.measuring.policy import QUIET_SAMPLE_S
    from flopbench.results.schema import dump

    monitor = make_monitor(machine.device, machine.threads, machine.canary_reference_s, machine.canary_run_reference_s)
    quiet = monitor.start_run()
    at_start = monitor.sample(QUIET_SAMPLE_S)
    quiet["interference"] = dump(at_start)
    if machine.ceilings_disturbed:
        quiet["ceilings_disturbed"] = machine.ceilings_disturbed
    return Watch(monitor, quiet, at_start)


def run_session(
    args: argparse.Namespace,
    workloads: list[Workload],
    suites: list[Suite],
    settings: RunSettings,
    context: Context | None = None,
) -> int:
    """Measure `workloads` on this process's device and write them (rank 0 writes every rank's records)."""
    from flopbench.measuring.admission import DEFAULT_MAX_CALL_S
    from flopbench.measuring.runner import torch_settings

    kind = "cuda" if args.device.startswith("cuda") else "cpu" if args.device == "cpu" else None
    machine = resolve_machine(args, measure_if_needed=not args.no_measure, max_call_s=args.max_call_s)
    max_call_s = args.max_call_s or DEFAULT_MAX_CALL_S.get(kind or machine.device.type)
    cache = args.cache or ("cold" if machine.device.type == "cuda" else "warm")
    settings = settings.model_copy(update={"max_call_s": max_call_s, "cache": cache})
    lead = context is None or context.rank == 0
    with torch_settings(machine.device.type, machine.threads, settings.tf32):
        watch = watch_machine(machine)
        output = open_lead_output(args, machine, suites, settings, watch.quiet_check, context)
        here = [w for w in workloads if w.runs_on(machine.device.type)]
        todo = [w for w in here if not output or w.identity not in output.done]
        if output is not None:
            announce(args, machine, output, todo, len(workloads) - len(here), watch, context)
        runner, interrupted = measure(args, machine, settings, todo, output, watch, context)
    if not lead or output is None:
        return 0
    return conclude(args, machine, output, runner, watch, len(todo), interrupted)


def open_lead_output(
    args: argparse.Namespace,
    machine: Machine,
    suites: list[Suite],
    settings: RunSettings,
    quiet_check: dict[str, Any],
    context: Context | None,
) -> Output | None:
    """Rank 0 (or the only process) opens the results file; every rank learns whether it could."""
    import socket

    from flopbench.results.schema import DistributedInfo, RankInfo

    distributed = None
    if context is not None:
        ranks = context.all_gather(
            RankInfo(rank=context.rank, host=socket.gethostname(), threads=machine.threads, device=machine.device)
        )
        distributed = DistributedInfo(world_size=context.world_size, backend=context.backend, ranks=ranks)
    output, failure = None, None
    if context is None or context.rank == 0:
        try:
            output = open_output(args, machine, suites, settings, distributed, quiet_check)
        except FlopbenchError as exc:
            failure = str(exc)
    if context is not None:  # every rank learns whether rank 0 could open the file
        failure = context.all_gather(failure)[0]
    if failure:
        raise FlopbenchError(failure)
    return output


def announce(
    args: argparse.Namespace,
    machine: Machine,
    output: Output,
    todo: list[Workload],
    elsewhere: int,
    watch: Watch,
    context: Context | None,
) -> None:
    ranks_text = f" on {context.world_size} ranks ({context.backend})" if context else ""
    info(
        f"flopbench: {len(todo)} workloads x {args.rounds} round{'s' * (args.rounds > 1)} on"
        f" {machine.device.label}, {count(machine.threads, 'thread')}{ranks_text} -> {output.path}"
        + (f" ({elsewhere} are for other devices)" if elsewhere else "")
    )
    if watch.at_start.busy:
        print(f"flopbench: warning: at the start, {'; '.join(watch.at_start.reasons)}", file=sys.stderr)


def measure(
    args: argparse.Namespace,
    machine: Machine,
    settings: RunSettings,
    todo: list[Workload],
    output: Output | None,
    watch: Watch,
    context: Context | None,
) -> tuple[Any, bool]:
    """Run the workloads, writing each record as it comes, and the footer; (the runner, whether Ctrl-C stopped it)."""
    from flopbench.measuring.runner import Runner
    from flopbench.results.files import ResultsWriteError, resume_command

    started = time.perf_counter()
    interrupted = False
    progress = _Progress(todo, settings, machine) if context is None else None

    def write(record: Record) -> None:
        if output is not None and output.writer is not None:
            output.writer.record(record)
            output.records.append(record)
        if progress is not None:
            progress.done(line(record))
        elif output is not None:
            info(line(record))

    try:
        if context is None:
            runner = Runner(machine.device, machine.roofline, settings, write, monitor=watch.monitor)
            with progress or contextlib.nullcontext():
                try:
                    runner.run(todo, before=progress.step if progress else lambda w: None)
                except KeyboardInterrupt:
                    interrupted = True
        else:
            runner = _distributed_runner(machine, settings, write, watch, context)
            _run_ranks(context, runner, todo, output)
        if output and output.writer:
            output.writer.mark(footer(output.records, runner, time.perf_counter() - started, interrupted))
    except ResultsWriteError as exc:
        raise FlopbenchError(f"{exc}; continue with: {resume_command(sys.argv, exc.path)}") from None
    finally:
        if output and output.writer:
            output.writer.close()
    return runner, interrupted


def _distributed_runner(machine: Machine, settings: RunSettings, write: Any, watch: Watch, context: Context) -> Any:
    from flopbench.measuring.distributed import CollectiveTimer, emit_to_rank0
    from flopbench.measuring.runner import Runner
    from flopbench.measuring.timing import Budget

    return Runner(
        machine.device,
        machine.roofline,
        settings,
        emit_to_rank0(context, write),
        world_size=context.world_size,
        monitor=watch.monitor,
        agree=context.agree,
        collective_timer=CollectiveTimer(context, Budget.of(settings), machine.device.type),
    )


def _run_ranks(context: Context, runner: Any, todo: list[Workload], output: Output | None) -> None:
    from flopbench.measuring.distributed import run_ranks

    try:
        run_ranks(context, runner, todo)
    except RuntimeError as exc:  # a rank died or stopped answering: the others give up, with a reason
        kept = f"; what was measured is in {output.path}" if output else ""
        raise FlopbenchError(f"the distributed run stopped on rank {context.rank}: {first_line(exc)}{kept}") from None


def conclude(
    args: argparse.Namespace, machine: Machine, output: Output, runner: Any, watch: Watch, todo: int, interrupted: bool
) -> int:
    """What a finished (or interrupted) run tells: the table, the trust notes, the report; the exit status."""
    from flopbench.results.files import resume_command

    assert output.path is not None
    if output.records:
        learn_quiet_canary(output.records, machine, watch.monitor)
        summary(output.records, machine, output.path, args.format)
        for note in trust_notes(output.records, runner):
            if note.startswith("warning: "):
                print(f"flopbench: {note}", file=sys.stderr)
            else:
                info(f"flopbench: {note}")
    if args.report and output.records:
        from flopbench.commands.plot import default_out
        from flopbench.reading.report import write_report

        md, page = write_report([output.path], default_out([output.path]), on_note=warn)
        info(f"Report: {page} (and {md}, figures beside it)")
    if interrupted:
        print(
            f"flopbench: interrupted after {len(output.records)} of {todo} workloads; what was measured is in"
            f" {output.path}; continue with {resume_command(sys.argv, output.path)}",
            file=sys.stderr,
        )
        return 130
    return 0


def footer(records: list[Record], runner: Any, wall_s: float, interrupted: bool) -> Footer:
    from flopbench.measuring.header import now_iso
    from flopbench.measuring.interference import run_speed
    from flopbench.results.schema import Footer

    speed = run_speed(records, None)
    return Footer(
        finished_at=now_iso(),
        wall_s=wall_s,
        records=len(records),
        interrupted=interrupted,
        disturbed=sum(r.disturbed for r in records),
        unstable=sum(r.stable is False for r in records),
        skipped_for_time=len(skipped_for_time(records)),
        max_canary_slowdown=speed.max_slowdown if speed else None,
        median_canary_slowdown=speed.median_slowdown if speed else None,
        stale_ceilings=list(runner.stale.values()),
    )


def learn_quiet_canary(records: list[Record], machine: Machine, monitor: Any) -> None:
    """What a run teaches the machine's cache about its canary. Its windows' median canary becomes the quietest run's
    when it is faster (later runs are called slow against it). A run whose canaries ran a median more than RUN_SLOW
    faster than their baseline saw the machine quieter than its cached quiet reference: that reference becomes the
    run's median canary, so later runs judge their windows against it."""
    from flopbench.machine import cache
    from flopbench.measuring.interference import run_speed
    from flopbench.units import seconds

    speed = run_speed(records, monitor.baseline_s)
    if speed is None or speed.median_s is None:
        return
    cache.learn_canary(machine.device, machine.threads, "run_canary_s", speed.median_s)
    if speed.fast and cache.learn_canary(machine.device, machine.threads, "canary_s", speed.median_s):
        info(
            f"flopbench: this machine's cached quiet canary is now this run's median canary,"
            f" {seconds(speed.median_s)} (it was taken on a slower machine)"
        )


def skipped_for_time(records: list[Record]) -> list[Record]:
    """The records skipped for their cost (--max-call-s, --time-budget, a sweep that stopped growing)."""
    from flopbench.measuring.admission import Cause

    causes = {c.value for c in Cause if c.for_time}
    return [r for r in records if r.status == "skipped" and r.cause in causes]


def trust_notes(records: list[Record], runner: Any) -> list[str]:
    """What a reader of the run's figures must know about the machine, in a few sentences."""
    from flopbench.measuring.interference import run_speed

    notes = list(runner.notes)
    disturbed = [r for r in records if r.disturbed]
    unstable = [r for r in records if r.stable is False]
    if disturbed:
        reasons = dict.fromkeys(x for r in disturbed if r.interference for x in r.interference.reasons)
        notes.append(
            f"warning: {len(disturbed)} of {len(records)} records were measured while the machine was"
            f" disturbed ({'; '.join(reasons)})"
        )
    if unstable:
        notes.append(
            f"warning: {len(unstable)} of {len(records)} records are unstable (their rounds disagree by more"
            f" than 5%): " + ", ".join(r.name for r in unstable[:8]) + (" ..." if len(unstable) > 8 else "")
        )
    monitor = getattr(runner, "monitor", None)
    speed = run_speed(records, getattr(monitor, "baseline_s", None), getattr(monitor, "run_reference_s", None))
    if speed is not None and (speed.slow or speed.fast):
        notes.append(f"warning: {speed.sentence()}")
    skipped = skipped_for_time(records)
    if skipped:
        notes.append(
            f"{len(skipped)} workloads were skipped for their cost: "
            + "; ".join(f"{r.name}: {r.reason}" for r in skipped[:4])
            + (" ..." if len(skipped) > 4 else "")
        )
    notes += [f"warning: {text}" for text in runner.stale.values()]
    return notes


def run_distributed(
    args: argparse.Namespace, workloads: list[Workload], suites: list[Suite], settings: RunSettings
) -> int:
    """One rank of `torchrun ... flopbench run --distributed`: its own device, in step with the others."""
    import torch

    from flopbench.machine.device import select_device
    from flopbench.machine.resolve import default_threads
    from flopbench.measuring.distributed import Context

    if args.resume:
        raise FlopbenchError("--resume does not combine with --distributed; start a new distributed run")
    kind = "cuda" if args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    if args.device in ("auto", "cuda"):  # one GPU per rank on each node, by local rank
        args.device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if kind == "cuda" else "cpu"
    if kind == "cuda":
        select_device(args.device)  # this rank's GPU current before NCCL starts on it
    context = Context.init(args.backend, args.dist_timeout, kind)
    try:
        args.threads = args.threads or max(1, default_threads() // context.local_world_size)
        return run_session(args, workloads, suites, settings, context)
    finally:
        context.close()


class _Progress:
    """A live bar with the current workload and the ETA on a terminal (predicted from each workload's roofline cost,
    corrected by how long the run has really taken); one line per record either way."""

    def __init__(self, workloads: list[Workload], settings: RunSettings, machine: Machine):
        from flopbench.measuring.admission import Admission, round_cost_s
        from flopbench.measuring.timing import Budget

        admission = Admission(machine.device, machine.roofline, settings, time.perf_counter, time.perf_counter())
        budget = Budget.of(settings)
        self.cost = {
            w.identity: round_cost_s(admission.predicted_call_s(w), budget) + 0.05 for w in workloads
        }  # + building and checking
        self.total_s = sum(self.cost.values()) * settings.rounds
        self.records = len(workloads)
        self.live = sys.stderr.isatty() and not quiet()
        self.count = 0
        self.current: Workload | None = None

    def __enter__(self) -> _Progress:
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            from flopbench.console import console

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[done]}"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console(stderr=True),
            )
            self.bar.start()
            self.task = self.bar.add_task("", total=self.total_s, done=f"0/{self.records}")
        return self

    def step(self, workload: Workload) -> None:
        """A step of the schedule begins: the previous one is done."""
        if self.live:
            if self.current is not None:
                self.bar.advance(self.task, self.cost[self.current.identity])
            self.bar.update(self.task, description=workload.name)
        self.current = workload

    def done(self, text: str) -> None:
        self.count += 1
        if self.live:
            self.bar.console.print(text)
            self.bar.update(self.task, done=f"{self.count}/{self.records}")
        else:
            info(f"[{self.count}/{self.records}] {text.strip()}")

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.bar.stop()
