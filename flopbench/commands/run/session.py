"""One run, single-device or one rank of a distributed one: the machine resolved and watched, the file opened, the
workloads measured and written as they come, and what the run tells at its end."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from flopbench.commands.common import resolve_machine, warn
from flopbench.commands.progress import Progress
from flopbench.commands.run.notes import trust_notes
from flopbench.commands.run.output import Output, open_lead_output
from flopbench.commands.run.table import generation_summary, line, summary
from flopbench.console import info
from flopbench.errors import FlopbenchError, first_line
from flopbench.units import count

if TYPE_CHECKING:
    from flopbench.machine.resolve import Machine
    from flopbench.measuring.distributed import Context
    from flopbench.measuring.session import Session, Watch
    from flopbench.results.schema import Record, RunSettings
    from flopbench.workloads import Workload
    from flopbench.workloads.suite import Suite


def run_session(
    args: argparse.Namespace,
    workloads: list[Workload],
    suites: list[Suite],
    settings: RunSettings,
    context: Context | None = None,
) -> int:
    """Measure `workloads` on this process's device and write them (rank 0 writes every rank's records)."""
    from flopbench.measuring.session import Session

    machine = resolve_machine(args, measure_if_needed=not args.no_measure, max_call_s=args.max_call_s, measures=True)
    session = Session(machine, settings, args.cache)
    lead = context is None or context.rank == 0
    with session.running() as watch:
        output = open_lead_output(args, machine, suites, session.settings, watch.quiet_check, context)
        here = [w for w in workloads if w.runs_on(machine.device.type)]
        todo = [w for w in here if not output or w.identity not in output.done]
        if output is not None:
            announce(session.settings, machine, output, todo, len(workloads) - len(here), watch, context)
        runner, interrupted = measure(session, todo, output, context)
    if not lead or output is None:
        return 0
    return conclude(args, session, output, runner, len(todo), interrupted)


def announce(
    settings: RunSettings,
    machine: Machine,
    output: Output,
    todo: list[Workload],
    elsewhere: int,
    watch: Watch,
    context: Context | None,
) -> None:
    ranks_text = f" on {context.world_size} ranks ({context.backend})" if context else ""
    more = (
        f" (up to {settings.max_rounds} for those not yet within ±{settings.target_precision:.0%})"
        if settings.target_precision
        else ""
    )
    info(
        f"flopbench: {len(todo)} workloads x {count(settings.rounds, 'round')}{more} on"
        f" {machine.device.label}, {count(machine.threads, 'thread')}{ranks_text} -> {output.path}"
        + (f" ({elsewhere} are for other devices)" if elsewhere else "")
    )
    if watch.at_start.busy:
        print(f"flopbench: warning: at the start, {'; '.join(watch.at_start.reasons)}", file=sys.stderr)


def measure(session: Session, todo: list[Workload], output: Output | None, context: Context | None) -> tuple[Any, bool]:
    """Run the workloads, writing each record as it comes, and the footer; (the runner, whether Ctrl-C stopped it)."""
    from flopbench.measuring.session import footer
    from flopbench.results.files import ResultsWriteError, resume_command

    started = time.perf_counter()
    interrupted = False
    progress = Progress(todo, session) if context is None else None

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
            runner = session.runner(write)
            with progress or contextlib.nullcontext():
                try:
                    runner.run(todo, before=progress.step if progress else lambda w: None)
                except KeyboardInterrupt:
                    interrupted = True
        else:
            from flopbench.measuring.distributed import emit_to_rank0

            runner = session.runner(emit_to_rank0(context, write), context=context)
            _run_ranks(context, runner, todo, output)
        if output and output.writer:
            output.writer.mark(footer(output.records, [runner], time.perf_counter() - started, interrupted))
    except ResultsWriteError as exc:
        raise FlopbenchError(f"{exc}; continue with: {resume_command(sys.argv, exc.path)}") from None
    finally:
        if output and output.writer:
            output.writer.close()
    return runner, interrupted


def _run_ranks(context: Context, runner: Any, todo: list[Workload], output: Output | None) -> None:
    from flopbench.measuring.distributed import run_ranks

    try:
        run_ranks(context, runner, todo)
    except RuntimeError as exc:  # a rank died or stopped answering: the others give up, with a reason
        kept = f"; what was measured is in {output.path}" if output else ""
        raise FlopbenchError(f"the distributed run stopped on rank {context.rank}: {first_line(exc)}{kept}") from None


def conclude(
    args: argparse.Namespace, session: Session, output: Output, runner: Any, todo: int, interrupted: bool
) -> int:
    """What a finished (or interrupted) run tells: the table, the trust notes, the report; the exit status."""
    from flopbench.results.files import resume_command

    assert output.path is not None
    if output.records:
        session.learn(output.records)
        summary(output.records, session.machine, output.path, args.format)
        generation_summary(output.path, args.format)
        for note in trust_notes(output.records, runner):
            if note.startswith("warning: "):
                print(f"flopbench: {note}", file=sys.stderr)
            else:
                info(f"flopbench: {note}")
    if args.report and output.records:
        from flopbench.reading.report import write_report

        md, page = write_report([output.path], output.path.with_name(output.path.stem), on_note=warn)
        info(f"Report: {page} (and {md}, figures beside it)")
    if interrupted:
        print(
            f"flopbench: interrupted after {len(output.records)} of {todo} workloads; what was measured is in"
            f" {output.path}; continue with {resume_command(sys.argv, output.path)}",
            file=sys.stderr,
        )
        return 130
    return 0


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
