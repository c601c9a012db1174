"""flopbench ab in one process: each workload of the suites on both sides (two implementations, dtypes, thread counts,
cache states or TF32 settings), every round in ABBA blocks (flopbench.measuring.paired), each side's records written
to its own results file as each pair is done."""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flopbench.commands.ab.axis import DEFAULT_MAX_ROUNDS, DEFAULT_MAX_TIME_S, DEFAULT_ROUNDS
from flopbench.commands.common import resolve_machine
from flopbench.commands.run.progress import Progress
from flopbench.commands.run.select import run_settings, select, with_dtypes, with_impls
from flopbench.commands.run.session import watch_machine
from flopbench.console import info
from flopbench.errors import FlopbenchError

if TYPE_CHECKING:
    from flopbench.commands.ab.axis import Axis
    from flopbench.machine.resolve import Machine
    from flopbench.results.files import ResultsWriter
    from flopbench.results.schema import Record, RunSettings
    from flopbench.workloads import Workload


def base_args(args: argparse.Namespace, **more: Any) -> argparse.Namespace:
    """`flopbench run`'s options as this A/B run sets them (its selection before the axis is applied)."""
    values = {
        "dtype": None,
        "impl": None,
        "train": False,
        "tf32": False,
        "cuda_graph": False,
        "per_layer": False,
        "time_budget": None,
        "cache": None,
        "rounds": args.rounds,
        **more,
    }
    return argparse.Namespace(**{**vars(args), **values})


def side_workloads(workloads: list[Workload], axis: Axis, value: str) -> dict[str, Workload]:
    """Each suite workload as this side runs it, by its pair key (its identity in the suite: the same on both sides).
    Two implementations are compared on the call their users write: a function that returns its output, on both sides
    (a compiled function does; eager's call into a preallocated output would favour it)."""
    import dataclasses

    found: dict[str, Workload] = {}
    for w in workloads:
        if axis.name == "impl":
            made = [dataclasses.replace(x, returning=True) for x in with_impls([w], [value], f"{value}")]
        elif axis.name == "dtype":
            made = with_dtypes([w], [value], f"{value}")
        else:
            made = [w]
        if made:
            found[w.identity] = made[0]
    return found


def pairs_of(workloads: list[Workload], axis: Axis) -> list[tuple[Workload, Workload, str]]:
    a, b = (side_workloads(workloads, axis, value) for value in axis.values)
    pairs = [(a[key], b[key], key) for key in a if key in b]
    if not pairs:
        raise FlopbenchError(
            f"no workload of the suites runs on both sides ({axis.name} {axis.values[0]} and {axis.values[1]})"
        )
    return pairs


def side_settings(settings: RunSettings, axis: Axis, value: str, device_type: str) -> RunSettings:
    update: dict[str, Any] = {"cache": settings.cache}
    if axis.name == "cache":
        update["cache"] = value
    elif axis.name == "tf32":
        if device_type != "cuda":
            raise FlopbenchError("--tf32 off,on: TF32 is a CUDA setting; this run is on the CPU")
        update["tf32"] = value == "on"
    elif axis.name in ("impl", "dtype"):
        update[axis.name] = value
    return settings.model_copy(update=update)


def machines(args: argparse.Namespace, axis: Axis) -> tuple[Machine, Machine]:
    """The machine as each side sees it: two thread counts are two rooflines (each with its own ceilings)."""
    if axis.name != "threads":
        machine = resolve_machine(args, measure_if_needed=not args.no_measure, max_call_s=args.max_call_s)
        return machine, machine
    found = []
    for value in axis.values:
        found.append(
            resolve_machine(
                argparse.Namespace(**{**vars(args), "threads": int(value)}),
                measure_if_needed=not args.no_measure,
                max_call_s=args.max_call_s,
            )
        )
    return found[0], found[1]


def run_inprocess(args: argparse.Namespace, axis: Axis, directory: Path) -> tuple[tuple[Path, Path], bool]:
    """Both sides in this process; ((A's file, B's file), whether Ctrl-C stopped it)."""
    from flopbench.measuring.admission import DEFAULT_MAX_CALL_S
    from flopbench.measuring.runner import torch_settings

    base = base_args(args, rounds=args.rounds or DEFAULT_ROUNDS)
    max_rounds = max(base.rounds, args.max_rounds or DEFAULT_MAX_ROUNDS)
    workloads, suites = select(base)
    pairs = pairs_of(workloads, axis)
    sides = machines(args, axis)
    device_type = sides[0].device.type
    settings = run_settings(base)
    cap = args.max_call_s or DEFAULT_MAX_CALL_S.get(device_type)
    cache = "cold" if device_type == "cuda" else "warm"
    settings = settings.model_copy(update={"max_call_s": cap, "cache": cache, "max_rounds": max_rounds})
    per_side = (
        side_settings(settings, axis, axis.values[0], device_type),
        side_settings(settings, axis, axis.values[1], device_type),
    )
    with torch_settings(device_type, max(m.threads for m in sides), per_side[0].tf32):
        watch = watch_machine(sides[0])
        writers, done = open_sides(args, axis, directory, sides, suites, per_side, watch.quiet_check)
        todo = [p for p in pairs if p[2] not in done]
        info(
            f"flopbench: {len(todo)} workloads x {base.rounds} rounds (up to {max_rounds} for those not yet precise"
            f" enough for {threshold(args):.0%}), {axis.name} {axis.values[0]} (A) against"
            f" {axis.values[1]} (B), alternating ABBA on {sides[0].device.label} -> {directory}"
            + (" (A/A: the same side twice, to see the noise)" if axis.same else "")
            + (
                "; both sides time the call as its users write it, a function that returns its output"
                if axis.name == "impl"
                else ""
            )
        )
        interrupted = measure_pairs(args, axis, sides, per_side, todo, writers, watch)
    return (writers[0].path, writers[1].path), interrupted


def open_sides(
    args: argparse.Namespace,
    axis: Axis,
    directory: Path,
    sides: tuple[Machine, Machine],
    suites: list[Any],
    settings: tuple[RunSettings, RunSettings],
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
    for index, (machine, side_settings_, value) in enumerate(zip(sides, settings, axis.values)):
        pairing = Pairing(
            session=session,
            side="AB"[index],
            axis=axis.name,
            value=value,
            other=axis.values[1 - index],
            how="interleaved",
        )
        header = make_header(
            machine, suites=suites, settings=side_settings_, source="flopbench ab", quiet_check=quiet_check
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
    sides: tuple[Machine, Machine],
    settings: tuple[RunSettings, RunSettings],
    todo: list[tuple[Workload, Workload, str]],
    writers: tuple[ResultsWriter, ResultsWriter],
    watch: Any,
) -> bool:
    """Run the pairs, each pair's two records written as it is done, and a footer in each file; whether Ctrl-C
    stopped it."""
    from flopbench.commands.ab.precision import Precision
    from flopbench.commands.run.notes import footer
    from flopbench.measuring.paired import PairRunner
    from flopbench.results.files import ResultsWriteError

    written: tuple[list[Record], list[Record]] = ([], [])
    progress = Progress([a for a, _, _ in todo], settings[0], sides[0])

    def write(a: Record, b: Record) -> None:
        for writer, kept, record in zip(writers, written, (a, b)):
            writer.record(record)
            kept.append(record)
        progress.done(pair_line(a, b, axis))

    started, interrupted = time.perf_counter(), False
    runners = tuple(_runner(machine, s, watch) for machine, s in zip(sides, settings))
    measurer, timers = _measurer(sides[0], settings[0], watch), tuple(r.measurer.timer for r in runners)
    precision = Precision(threshold(args), settings[0].rounds, len(todo), args.max_time or DEFAULT_MAX_TIME_S)
    pair_runner = PairRunner(
        (runners[0], runners[1]),
        measurer,
        (timers[0], timers[1]),
        write,
        rounds=settings[0].rounds,
        max_pairs=args.pairs,
        enter=_enters(axis, sides),
        max_rounds=settings[0].max_rounds,
        more=precision.more,
        time_left=precision.time_left,
    )
    try:
        with progress:
            try:
                pair_runner.run(todo, before=progress.step)
            except KeyboardInterrupt:
                interrupted = True
        for writer, kept, runner in zip(writers, written, runners):
            writer.mark(footer(kept, runner, time.perf_counter() - started, interrupted))
    except ResultsWriteError as exc:
        raise FlopbenchError(f"{exc}; continue with --resume {writers[0].path.parent}") from None
    finally:
        for writer in writers:
            writer.close()
    return interrupted


def _runner(machine: Machine, settings: RunSettings, watch: Any) -> Any:
    from flopbench.measuring.energy import NoMeter
    from flopbench.measuring.runner import Runner

    meter = NoMeter("a paired run: each window holds both sides' calls, so neither side's energy is known")
    return Runner(machine.device, machine.roofline, settings, lambda record: None, monitor=watch.monitor, meter=meter)


def _measurer(machine: Machine, settings: RunSettings, watch: Any) -> Any:
    """The pairs' measurer: the machine watched around each pair's window, under the run's busy policy (no energy)."""
    from flopbench.measuring.policy import BusyPolicy, Measurer
    from flopbench.measuring.probes import CompileProbe, InterferenceProbe, Probe

    probes: list[Probe] = [InterferenceProbe(watch.monitor), CompileProbe()]
    return Measurer(None, probes, BusyPolicy(settings.on_busy), watch.monitor)


def _enters(axis: Axis, sides: tuple[Machine, Machine]) -> tuple[Any, Any]:
    """What switches to each side's settings: its thread count, or its TF32 flags; nothing for the other axes."""
    import torch

    def threads(n: int):
        return lambda: torch.set_num_threads(n)

    def tf32(on: bool):
        def enter() -> None:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = on

        return enter

    if axis.name == "threads":
        return threads(sides[0].threads), threads(sides[1].threads)
    if axis.name == "tf32":
        return tf32(axis.values[0] == "on"), tf32(axis.values[1] == "on")
    return _nothing, _nothing


def _nothing() -> None:
    return None


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
