"""Paired A/B measurement (flopbench ab): two sides of one workload measured alternately, close in time, so that each
pair shares the machine's state of the moment and the drift between moments cancels in their ratio.

Within each round the two sides run in short blocks in ABBA order (A B, B A, A B, ...): each block is one sample of
one side, and the two blocks of a pair (A then B, or B then A) are the pair. One untimed call follows each switch of
side (a side's settings entered, its caches and threads warm again), and the order alternates so that whatever one
side leaves behind for the next (a warm cache, a thread pool's state) falls on each side equally: a round ends only
after a whole ABBA (an even number of pairs), and rounds alternate which side starts, so that an effect of coming
first cancels within every round. Each round builds its own inputs (flopbench.measuring.runner.Runner.keep_inputs
off): a round is one build, the unit that repeats (flopbench.reading.intervals.paired).

PairedTimer times a pair of callables on any timer that offers warm / block_calls / sample (CpuTimer, CudaTimer);
PairRunner runs a list of workload pairs in rounds with two Runners, one per side, and emits two ordinary records per
pair, joined by their pair key and each sample's pair id (flopbench.results.schema.Round.pairs).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flopbench.errors import first_line
from flopbench.measuring.admission import Cause, Skip
from flopbench.measuring.policy import Measured
from flopbench.measuring.schedule import Schedule
from flopbench.measuring.timing import CallTooSlow, Measurement

if TYPE_CHECKING:
    from flopbench.measuring.policy import Measurer
    from flopbench.measuring.runner import Runner
    from flopbench.results.schema import Device, Record
    from flopbench.workloads import Workload

DEFAULT_PAIRS = 10  # pairs per workload and round, at most


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Side:
    """One side of a pair: its callable, and what enters its settings (threads, TF32) before each of its blocks, untimed
    (warm or cold caches are its timer's: PairedTimer takes one per side)."""

    fn: Callable[[], Any]
    enter: Callable[[], None] = _nothing


@dataclass(frozen=True)
class PairedMeasurement:
    """Both sides' samples; pairs[i] is the pair id of sample i of each side."""

    a: Measurement
    b: Measurement
    pairs: tuple[int, ...]

    @property
    def median_s(self) -> float:
        return self.a.median_s


class PairedTimer:
    """ABBA blocks of two sides on the timers `timers` (one per side: the same one, or two whose settings differ,
    e.g. warm and cold caches), until both sides' budgets are met or `max_pairs` pairs are taken (at least 2)."""

    def __init__(self, timers: tuple[Any, Any], max_pairs: int = DEFAULT_PAIRS):
        self.timers, self.max_pairs = timers, max(2, max_pairs + max_pairs % 2)  # whole ABBAs: an even count
        self.first_pair = 0  # the id of the next pair: ids are unique across a workload's rounds
        self.rounds = 0  # rounds measured: the next one starts with B when it is odd

    def measure(self, a: Side, b: Side, max_call_s: float | None = None) -> PairedMeasurement:
        sides = (a, b)
        per_call = []
        for side, timer in zip(sides, self.timers):
            side.enter()
            per_call.append(timer.warm(side.fn, max_call_s))
        calls = [timer.block_calls(p, self.max_pairs) for timer, p in zip(self.timers, per_call)]
        if max(per_call) < 2 * min(per_call):  # sides about as fast (an A/A): blocks of one length, so that a block's
            calls = [max(calls)] * 2  # own overhead (a thread pool waking) falls on both alike
        samples: tuple[list[float], list[float]] = ([], [])
        sampled = [0.0, 0.0]
        pairs: list[int] = []
        start = self.rounds % 2
        while len(pairs) < self.max_pairs and not (len(pairs) % 2 == 0 and pairs and self._done(samples, sampled)):
            order = (0, 1) if (len(pairs) + start) % 2 == 0 else (1, 0)
            for i in order:
                side, timer = sides[i], self.timers[i]
                side.enter()
                side.fn()  # one untimed call after each switch
                seconds = timer.sample(side.fn, calls[i])
                samples[i].append(seconds)
                sampled[i] += seconds * calls[i]
            pairs.append(self.first_pair + len(pairs))
        self.first_pair += len(pairs)
        self.rounds += 1
        a_m, b_m = (
            Measurement(tuple(samples[i]), calls[i], self.timers[i].name, self.timers[i].resolution_s) for i in (0, 1)
        )
        return PairedMeasurement(a_m, b_m, tuple(pairs))

    def _done(self, samples: tuple[list[float], list[float]], sampled: list[float]) -> bool:
        return all(timer.budget.done(s, t) for timer, s, t in zip(self.timers, samples, sampled))


class SharedInputs:
    """One set of inputs for both sides of a pair where their inputs are the same (the same op, parameters, dtype and
    layout: an A/A, two thread counts, two cache states, two implementations that take the inputs as they are). Two
    builds of one workload differ by where their tensors landed in memory: on the 2-vCPU Zen 4 VM, an A/A with each
    side's own inputs read 0.966x, 1.001x and 1.038x for one GEMM over three builds, and within 1% when they shared
    them. Sides whose inputs differ (two dtypes, a layout) each have their own."""

    def __init__(self, device: str):
        self.device = device
        self.kept: dict[tuple[Any, ...], tuple[dict[str, Any], Any]] = {}

    @staticmethod
    def key(workload: Workload) -> tuple[Any, ...]:
        from flopbench.workloads.impls import IMPLS

        prepare = getattr(type(IMPLS[workload.impl]), "prepare", None)
        return (workload.op, json.dumps(workload.params_json, sort_keys=True, default=str), workload.dtype, prepare)

    def __call__(self, workload: Workload) -> tuple[dict[str, Any], Any]:
        key = self.key(workload)
        if key not in self.kept:
            self.kept[key] = workload.inputs_for(self.device)
        return self.kept[key]

    def drop(self) -> None:
        self.kept.clear()


@dataclass
class _Pair:
    key: str  # what joins the two records (flopbench.results.schema.WorkloadPart.pair_key)
    states: tuple[Any, Any]  # each side's runner state (flopbench.measuring.runner._State)
    timer: PairedTimer


class PairRunner:
    """Runs workload pairs in rounds (the order rotated, as Runner.run does), each side prepared, built and recorded by
    its own Runner (`runners`: its device, roofline and settings), each round measured as a pair by `measurer` (whose
    probes watch both sides' window together). `enter`: each side's settings (threads, TF32), entered before each of
    its blocks. `on_pair` receives the pair's two records (A's, B's) when its last round is measured.

    With `more`, a pair gets further rounds after its planned ones, up to `max_rounds`, while `time_left()`, for as
    long as `more(A's rounds, B's rounds)` asks (flopbench ab: until its comparison is as precise as the gate needs;
    flopbench.measuring.schedule.Schedule). Every round builds its own inputs: a round is one build."""

    def __init__(
        self,
        runners: tuple[Runner, Runner],
        measurer: Measurer,
        timers: tuple[Any, Any],
        on_pair: Callable[[Record, Record], None],
        *,
        rounds: int,
        max_pairs: int = DEFAULT_PAIRS,
        enter: tuple[Callable[[], None], Callable[[], None]] = (_nothing, _nothing),
        max_rounds: int | None = None,
        more: Callable[[list[Any], list[Any]], bool] | None = None,
        time_left: Callable[[], bool] = lambda: True,
    ):
        self.runners, self.measurer, self.timers, self.on_pair = runners, measurer, timers, on_pair
        self.rounds, self.max_pairs, self.enter = rounds, max_pairs, enter
        self.max_rounds, self.more, self.time_left = max_rounds, more, time_left
        self.shared = SharedInputs(runners[0].device.torch_device)
        for runner in runners:
            runner.inputs = self.shared
            runner.make = self._make
            runner.keep_inputs = False

    def _make(self, workload: Workload) -> Callable[[], Any]:
        from flopbench.workloads.impls import IMPLS

        return IMPLS[workload.impl].callable(workload.spec, *self.shared(workload), returning=workload.returning)

    def run(
        self, pairs: Iterable[tuple[Workload, Workload, str]], before: Callable[[Workload], None] = lambda w: None
    ) -> None:
        pairs = list(pairs)
        taken: dict[int, _Pair] = {}

        def more(index: int) -> bool:
            states = taken[index].states
            if self.more is None or any(state.ended for state in states):
                return False
            return self.more(states[0].rounds, states[1].rounds)

        schedule = Schedule(
            [key for _, _, key in pairs], self.rounds, self.max_rounds, more if self.more else None, self.time_left
        )
        try:
            for step, index in schedule:
                a, b, key = pairs[index]
                before(a)
                pair = taken.get(index) or taken.setdefault(index, self._prepare(a, b, key))
                self._round(pair, step)
                if schedule.ends(step, index):
                    self._emit(taken.pop(index))
        except KeyboardInterrupt:
            for pair in taken.values():  # what was measured is kept, with the rounds it has
                if any(state.rounds or state.ended for state in pair.states):
                    self._emit(pair, interrupted=True)
            raise
        for pair in list(taken.values()):  # asked for another round when the time ran out
            self._emit(pair)

    def _prepare(self, a: Workload, b: Workload, key: str) -> _Pair:
        states = []
        for runner, enter, workload in zip(self.runners, self.enter, (a, b)):
            enter()
            states.append(runner.prepare(workload))
        return _Pair(key, (states[0], states[1]), PairedTimer(self.timers, self.max_pairs))

    def _round(self, pair: _Pair, step: Any) -> None:
        try:
            self._measure(pair, step)
        finally:  # the inputs are shared within a pair's round (and its preparation): then its kept callables hold them
            self.shared.drop()

    def _measure(self, pair: _Pair, step: Any) -> None:
        states = pair.states
        if any(state.ended for state in states):
            return
        fns: list[Callable[[], Any]] = []
        for runner, enter, state in zip(self.runners, self.enter, states):
            enter()
            fn = runner.built(state, step)
            if fn is None:  # it could not be built: its state says why
                return
            fns.append(fn)
        sides = (Side(fns[0], self.enter[0]), Side(fns[1], self.enter[1]))
        cap = self.runners[0].settings.max_call_s
        try:
            measured = self.measurer.measure_pair(pair.timer, sides, cap)
        except CallTooSlow as exc:
            for runner, state in zip(self.runners, states):
                state.outcome = runner.admission.too_slow(state.workload, exc.seconds, measured=True)
            return
        except Exception as exc:  # noqa: BLE001 - either side's error ends the pair, with its reason
            for state in states:
                state.outcome = Skip(Cause.RUN_ERROR, first_line(exc))
            return
        finally:
            del fns
        paired: Any = measured.measurement
        for runner, state, m in zip(self.runners, states, (paired.a, paired.b)):
            one = Measured(m, measured.observed, measured.attempts, measured.waited_s)
            runner.keep_round(state, step, one, pairs=list(paired.pairs))

    def _emit(self, pair: _Pair, interrupted: bool = False) -> None:
        states = pair.states
        for mine, other, side in ((states[0], states[1], "B"), (states[1], states[0], "A")):
            if not mine.rounds and mine.outcome is None and other.outcome is not None:
                mine.outcome = Skip(
                    other.outcome.cause, f"not measured: its side {side} was not ({other.outcome.reason})"
                )
        made = []
        for runner, state in zip(self.runners, states):
            runner.kept.drop(state.workload.identity)
            made.append(runner.finish(state, interrupted=interrupted).model_copy(update={"pair_key": pair.key}))
        self.on_pair(made[0], made[1])


# --- whole processes alternating (flopbench ab --python) --------------------------------------------------------------


# The warnings a merged record's figures carry anew, from all its rounds: each process's own, from one round, go.
RECOMPUTED = (
    "noisy:",
    "timer resolution:",
    "fewer rounds:",
    "unstable:",
    "page faults:",
    "above its roof:",
    "above the",
)


def merge_rounds(
    taken: list[tuple[int, Record]],
    workload: Workload,
    roofline: Any,
    settings: Any,
    device: Device,
    threads: int | None,
) -> Record:
    """One side's record of a workload from the one-round records its processes wrote (`taken`: (pair id, record) in
    the order measured): every round kept, renumbered, its samples tagged with its pair id; the figures summarised,
    placed, their ledger and energy made again from all of them, as a run of that many rounds would have them
    (flopbench.measuring.summary, .records, .ledger). Records without a figure (skipped, failed) add no round; with no
    round at all, the first record stands."""
    from flopbench.machine.roofline import Placement
    from flopbench.measuring import records
    from flopbench.measuring.admission import peak_key
    from flopbench.measuring.energy import Reading
    from flopbench.measuring.ledger import ledger_part
    from flopbench.measuring.summary import energy_part, summarize

    measured = [(pair, r) for pair, r in taken if r.status == "ok" and r.rounds]
    if not measured:
        return taken[0][1]
    rounds, measurements, readings, warnings = [], [], [], []
    for index, (pair, record) in enumerate(measured):
        for r in record.rounds:
            rounds.append(
                r.model_copy(update={"round": index, "position": r.position, "pairs": [pair] * len(r.samples_s)})
            )
            measurements.append(
                Measurement(
                    tuple(r.samples_s),
                    r.calls_per_sample,
                    record.timer or "perf_counter",
                    record.timer_resolution_s or 0.0,
                    page_faults_per_call=r.page_faults_per_call,
                )
            )
            readings.append(
                Reading(r.joules, r.window_s or 0.0, record.energy_source or "unknown", record.energy_note or "")
            )
        warnings += [w for w in record.warnings if w not in warnings and not w.startswith(RECOMPUTED)]
    summary = summarize(rounds, measurements, len(taken))
    op, counts = workload.spec, workload.counts
    derived = records.derive(
        counts,
        peak_key(workload, device.type, bool(settings and settings.tf32)),
        summary.time_s,
        roofline,
        op=op,
        working_set=op.working_set(workload.p, workload.dtype, workload.impl),
        cache=settings.cache if settings else "warm",
        params=workload.p,
        dtype=workload.dtype,
    )
    placement = derived.parts[0] if op.placed and isinstance(derived.parts[0], Placement) else None
    losses = ledger_part(workload, placement, roofline, device, summary.time_s, threads)
    energy = energy_part(readings, summary.time_s, counts.total_flops, counts.bytes, measured[0][1].energy_note or "")
    return records.rebuilt(
        measured[0][1],
        summary.timing,
        summary.trust,
        *derived.parts,
        losses,
        energy,
        warnings=[*summary.warnings, *derived.warnings, *warnings],
    )
