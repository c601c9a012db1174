"""flopbench ab in one process: each workload of the suites on both sides (two implementations, dtypes, thread counts,
cache states, ...: the axis's kind says what a side's value changes, flopbench.commands.ab.axis), every round in ABBA
blocks (flopbench.measuring.paired), each side's records written to its own results file as each pair is done."""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flopbench.commands.ab.axis import AXES, DEFAULT_MAX_ROUNDS, DEFAULT_MAX_TIME_S, DEFAULT_ROUNDS
from flopbench.commands.common import resolve_machine
from flopbench.commands.progress import Progress
from flopbench.console import info
from flopbench.errors import FlopbenchError

if TYPE_CHECKING:
    from flopbench.commands.ab.axis import Axis
    from flopbench.machine.resolve import Machine
    from flopbench.measuring.session import Session
    from flopbench.results.files import ResultsWriter
    from flopbench.results.schema import Record, RunSettings
    from flopbench.workloads import Workload


def selection_and_settings(args: argparse.Namespace) -> tuple[Any, RunSettings]:
    """The suites' workloads as both sides start from them (the axis applied after), and the run's settings: the
    options `flopbench run` shares, read at the boundary (flopbench.commands.options)."""
    from flopbench.commands.options import run_settings
    from flopbench.workloads.selection import Selection

    selection = Selection(tuple(args.suites), large=args.large, only=args.only)
    shared = argparse.Namespace(
        **{k: v for k, v in vars(args).items() if k not in {a.dest() for a in AXES.values()}}
    )  # the axis is each side's
    settings = run_settings(shared)
    rounds = args.rounds or DEFAULT_ROUNDS
    most = max(rounds, args.max_rounds or DEFAULT_MAX_ROUNDS)
    return selection, settings.model_copy(update={"rounds": rounds, "max_rounds": most, "target_precision": None})


def side_workloads(workloads: list[Workload], axis: Axis, value: str) -> dict[str, Workload]:
    """Each suite workload as this side runs it, by its pair key (its identity in the suite: the same on both
    sides); a workload the side cannot run is left out."""
    found = {w.identity: axis.workload(w, value) for w in workloads}
    return {key: w for key, w in found.items() if w is not None}


def pairs_of(workloads: list[Workload], axis: Axis) -> list[tuple[Workload, Workload, str]]:
    a, b = (side_workloads(workloads, axis, value) for value in axis.values)
    pairs = [(a[key], b[key], key) for key in a if key in b]
    if not pairs:
        raise FlopbenchError(
            f"no workload of the suites runs on both sides ({axis.name} {axis.values[0]} and {axis.values[1]})"
        )
    return pairs


def side_session(machine: Machine, settings: RunSettings, axis: Axis, value: str) -> Session:
    """One side's session: the run's settings with its value of the axis (its caches, TF32, implementation or dtype);
    the defaults that depend on the device are the session's."""
    from flopbench.measuring.session import Session

    update = axis.settings(value, machine.device.type)
    return Session(machine, settings.model_copy(update=update), update.get("cache"))


def machines(args: argparse.Namespace, axis: Axis) -> tuple[Machine, Machine]:
    """The machine as each side sees it: two thread counts are two rooflines (each with its own ceilings)."""

    def resolve(threads: int | None) -> Machine:
        side = args if threads is None else argparse.Namespace(**{**vars(args), "threads": threads})
        return resolve_machine(side, measure_if_needed=not args.no_measure, max_call_s=args.max_call_s, measures=True)

    counts = [axis.threads(value) for value in axis.values]
    if counts == [None, None]:
        machine = resolve(None)
        return machine, machine
    return resolve(counts[0]), resolve(counts[1])


def run_inprocess(args: argparse.Namespace, axis: Axis, directory: Path) -> tuple[tuple[Path, Path], bool]:
    """Both sides in this process; ((A's file, B's file), whether Ctrl-C stopped it)."""
    from flopbench.workloads.selection import select

    selection, settings = selection_and_settings(args)
    workloads, suites = select(selection)
    pairs = pairs_of(workloads, axis)
    sides = machines(args, axis)
    sessions = (
        side_session(sides[0], settings, axis, axis.values[0]),
        side_session(sides[1], settings, axis, axis.values[1]),
    )
    with sessions[0].running(max(m.threads for m in sides)) as watch:
        sessions[1].watch = watch
        writers, done = open_sides(args, axis, directory, sessions, suites, watch.quiet_check)
        todo = [p for p in pairs if p[2] not in done]
        info(
            f"flopbench: {len(todo)} workloads x {settings.rounds} rounds (up to {settings.max_rounds} for those not"
            f" yet precise enough for {threshold(args):.0%}), {axis.name} {axis.values[0]} (A) against"
            f" {axis.values[1]} (B), alternating ABBA on {sides[0].device.label} -> {directory}"
            + (" (A/A: the same side twice, to see the noise)" if axis.same else "")
            + axis.note
        )
        interrupted = measure_pairs(args, axis, sessions, todo, writers)
    return (writers[0].path, writers[1].path), interrupted


def open_sides(
    args: argparse.Namespace,
    axis: Axis,
    directory: Path,
    sessions: tuple[Session, Session],
    suites: list[Any],
    quiet_check: dict[str, Any],
) -> tuple[tuple[ResultsWriter, ResultsWriter], set[str]]:
    """Both sides' files, new (each header saying which side it is) or resumed (the pairs both hold are done)."""
    from flopbench.measuring.header import make_header
    from flopbench.results.files import ResultsWriter
    from flopbench.results.schema import Pairing

    paths = (directory / "A.jsonl", directory / "B.jsonl")
    if args.resume:
        return resume_sides(paths, axis, suites)
    session = uuid.uuid4().hex[:12]
    writers = []
    for index, (side, value) in enumerate(zip(sessions, axis.values)):
        pairing = Pairing(
            session=session,
            side="AB"[index],
            axis=axis.name,
            value=value,
            other=axis.values[1 - index],
            how="interleaved",
        )
        header = make_header(
            side.machine, suites=suites, settings=side.settings, source="flopbench ab", quiet_check=quiet_check
        )
        writers.append(ResultsWriter.create(paths[index], header.model_copy(update={"pairing": pairing})))
    return (writers[0], writers[1]), set()


def resume_sides(
    paths: tuple[Path, Path], axis: Axis, suites: list[Any]
) -> tuple[tuple[ResultsWriter, ResultsWriter], set[str]]:
    from flopbench.results.files import ResultsWriter

    opened = []
    try:
        for path in paths:
            writer, run, _ = ResultsWriter.resume(path)
            opened.append((writer, run))
            pairing = run.header.pairing
            if (
                pairing is None
                or pairing.axis != axis.name
                or (pairing.value, pairing.other) != (axis.values if pairing.side == "A" else axis.values[::-1])
            ):
                raise FlopbenchError(
                    f"--resume {path.parent}: it holds another A/B run ({pairing.axis if pairing else 'not paired'}"
                    f" {pairing.value if pairing else ''}); resume with the same sides, or start a new one with --out"
                )
            if [s.sha256 for s in run.header.suites] != [s.sha256 for s in suites]:
                names = ", ".join(s.name for s in run.header.suites)
                raise FlopbenchError(
                    f"--resume {path.parent}: it measured other suites ({names}, or another version of them); resume"
                    " with the same suites, or start a new A/B run with --out"
                )
    except BaseException:
        for writer, _ in opened:
            writer.close()
        raise
    keys = [{r.pair_key for r in run.records if r.pair_key} for _, run in opened]
    return (opened[0][0], opened[1][0]), keys[0] & keys[1]


def measure_pairs(
    args: argparse.Namespace,
    axis: Axis,
    sessions: tuple[Session, Session],
    todo: list[tuple[Workload, Workload, str]],
    writers: tuple[ResultsWriter, ResultsWriter],
) -> bool:
    """Run the pairs, each pair's two records written as it is done, and a footer in each file; whether Ctrl-C
    stopped it."""
    from flopbench.commands.ab.precision import Precision
    from flopbench.measuring.session import footer
    from flopbench.results.files import ResultsWriteError

    written: tuple[list[Record], list[Record]] = ([], [])
    progress = Progress([a for a, _, _ in todo], sessions[0])

    def write(a: Record, b: Record) -> None:
        for writer, kept, record in zip(writers, written, (a, b)):
            writer.record(record)
            kept.append(record)
        progress.done(pair_line(a, b, axis))

    started, interrupted = time.perf_counter(), False
    settings = sessions[0].settings
    precision = Precision(threshold(args), settings.rounds, len(todo), args.max_time or DEFAULT_MAX_TIME_S)
    pair_runner = sessions[0].pair_runner(
        sessions[1],
        write,
        max_pairs=args.pairs,
        enter=(axis.enter(sessions[0].machine, axis.values[0]), axis.enter(sessions[1].machine, axis.values[1])),
        more=precision.more,
        time_left=precision.time_left,
    )
    try:
        with progress:
            try:
                pair_runner.run(todo, before=progress.step)
            except KeyboardInterrupt:
                interrupted = True
        for writer, kept, runner in zip(writers, written, pair_runner.runners):
            writer.mark(footer(kept, [runner], time.perf_counter() - started, interrupted))
    except ResultsWriteError as exc:
        raise FlopbenchError(f"{exc}; continue with --resume {writers[0].path.parent}") from None
    finally:
        for writer in writers:
            writer.close()
    return interrupted


def threshold(args: argparse.Namespace) -> float:
    """The threshold the rows must be told within: the gate's, else the verdicts', else 5%."""
    from flopbench.reading.intervals import THRESHOLD

    return args.fail_slower or args.threshold or THRESHOLD


def pair_line(a: Record, b: Record, axis: Axis) -> str:
    """One pair's progress line: both sides' times and the paired speedup with its interval."""
    from flopbench.reading.comparison import pair_values, paired_ratio
    from flopbench.units import seconds

    name = a.name
    if a.status != "ok" or b.status != "ok":
        failed = a if a.status != "ok" else b
        return f"{name}: {failed.status}: {failed.reason}"
    ratio = paired_ratio(pair_values([a]), pair_values([b]))
    times = f"{name}: A {seconds(a.time_s)}, B {seconds(b.time_s)}, speedup"
    return f"{times} {ratio.text()}" if ratio.decides else f"{times} {ratio.value:.3g}x ({ratio.why})"
