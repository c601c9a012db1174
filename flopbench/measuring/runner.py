"""The runner: for each workload, check its output, admit it, time it in rounds with the probes around each
measurement, and hand its record on. A workload that cannot run is recorded with its status, cause and reason, and the
run goes on.

The runner orchestrates; each part is its own module, small enough to read at once and tested alone:
- schedule: rounds, the rotated order, inputs kept between rounds;
- admission: memory, dtype support, the predicted cost against --max-call-s and --time-budget (a `Skip` with a typed
  cause);
- probes and policy: the probes entered around each measurement (interference, GPU state, energy) and the busy-machine
  policy (--on-busy) the timer runs under;
- summary: rounds -> the record's timing, trust and energy (pure);
- records: the one record builder, with the placement from flopbench.machine.roofline and the op's own figures.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flopbench.errors import first_line
from flopbench.machine.device import Device, Nvml, available_memory
from flopbench.machine.roofline import Roofline
from flopbench.measuring import records
from flopbench.measuring.admission import Admission, Cause, Skip, memory_estimate, memory_skip
from flopbench.measuring.energy import MIN_INTERVALS, Reading, make_meter
from flopbench.measuring.memory import keep_freed_memory, release
from flopbench.measuring.policy import BusyPolicy, Measured, Measurer
from flopbench.measuring.probes import CompileProbe, EnergyProbe, GpuStateProbe, InterferenceProbe
from flopbench.measuring.schedule import KeptInputs, Schedule, Step
from flopbench.measuring.summary import energy_part, summarize
from flopbench.measuring.timing import Budget, CallTooSlow, CpuTimer, CudaTimer, Evictor, Measurement, TorchCuda
from flopbench.results.schema import (
    ImplFigures,
    LedgerPart,
    MemoryPart,
    OutcomePart,
    Record,
    Round,
    RunSettings,
    WorkloadPart,
)
from flopbench.results.trust import precision, unstable
from flopbench.workloads import Counts, Workload
from flopbench.workloads.impls import IMPLS

# At least this long, energy is metered over back-to-back calls when the timer flushes between them (cold caches).
ENERGY_WINDOW_S = 0.1


@contextlib.contextmanager
def torch_settings(device_type: str, threads: int, tf32: bool, matmul_precision: str | None = None) -> Iterator[None]:
    """Torch's thread count, TF32 flags and float32 matmul precision (where given) as a run needs them, restored
    afterwards (the caller's world as found). On a CPU, freed memory is kept for the next call from then on, for the
    rest of the process (flopbench.measuring.memory)."""
    import torch

    if device_type == "cpu":
        keep_freed_memory()
    saved = (torch.get_num_threads(), torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    precision = torch.get_float32_matmul_precision()
    torch.set_num_threads(threads)
    if device_type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    if matmul_precision is not None:  # after the TF32 flags: on CUDA, `high` is TF32 for matmuls
        torch.set_float32_matmul_precision(matmul_precision)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.set_float32_matmul_precision(precision)
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[1], saved[2]


def make_timer(device: Device, settings: RunSettings) -> Any:
    """The run's timer: CUDA events (or graphs) on a GPU, perf_counter blocks on a CPU; with cold caches, each timed
    call follows an eviction of the caches (the L2 flush on a GPU, a buffer twice the last-level cache on a CPU)."""
    cold = settings.cache == "cold"
    if device.type == "cuda":
        return CudaTimer(TorchCuda(device.torch_device), Budget.of(settings), use_graph=settings.cuda_graph, cold=cold)
    evict = Evictor(int(device.facts.get("llc_bytes") or 0)) if cold else None
    return CpuTimer(Budget.of(settings), evict=evict)


@dataclass(kw_only=True)
class RoundsTaken:
    """What the rounds of one measured thing took: their samples, energy, GPU state, recompilations."""

    rounds: list[Round] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)  # energy over each round's measurement window
    gpu: dict[str, Any] = field(default_factory=dict)
    recompiles: int = 0  # graphs it compiled again while timed


@dataclass
class _State(RoundsTaken):
    """A workload while its rounds are measured."""

    workload: Workload
    started: float
    where: Any  # flopbench.results.schema.WherePart
    outcome: Skip | None = None  # why it ends without (more) rounds
    check: tuple[float | None, float | None] = (None, None)  # output check: (error, tolerance)
    impl: dict[str, Any] = field(default_factory=dict)  # flopbench.results.schema.ImplFigures' fields
    compiled: bool = False  # a compiled implementation: compiled once, before its rounds
    predicted_call_s: float | None = None
    footprint: Any = None  # one call's memory (flopbench.measuring.footprint), or why it was not measured

    @property
    def ended(self) -> bool:
        return self.outcome is not None


class Runner:
    """Runs workloads in rounds; `on_record` receives each record the moment it is complete. The caller holds
    torch_settings() around the run.

    `monitor` (flopbench.measuring.interference.Monitor) watches the machine around each measurement; without one,
    nothing is judged. In a distributed run, collectives need every rank in step: `agree` turns one rank's failure into
    every rank's before a collective is entered, and `collective_timer` times them in lockstep.
    """

    def __init__(
        self,
        device: Device,
        roofline: Roofline,
        settings: RunSettings,
        on_record: Callable[[Record], None],
        *,
        world_size: int = 1,
        timer: Any = None,
        monitor: Any = None,
        meter: Any = None,
        clock: Callable[[], float] = time.perf_counter,
        agree: Callable[[str | None], str | None] | None = None,
        collective_timer: Any = None,
    ):
        import torch

        self.torch, self.device, self.roofline, self.settings = torch, device, roofline, settings
        self.on_record, self.world_size, self.clock = on_record, world_size, clock
        self.agree = agree or (lambda failure: failure)
        self.collective_timer = collective_timer
        self.monitor = monitor
        nvml = Nvml(device.index or 0) if device.type == "cuda" else None
        # Energy around each measurement window (flopbench.measuring.energy): NVML on CUDA, RAPL on a CPU, or the reason
        # why not.
        self.meter = meter if meter is not None else make_meter(device.type, nvml)
        probes: list[Any] = [InterferenceProbe(monitor)] if monitor is not None else []
        probes += [GpuStateProbe(nvml)] if nvml is not None and nvml.available else []
        # A cold timer flushes the caches before every call: metered around its samples, a short kernel would be
        # charged the flushes' energy. Its energy is metered apart then, over back-to-back calls (_energy_window).
        self.energy_apart = settings.cache == "cold"
        probes += [] if self.energy_apart else [EnergyProbe(self.meter)]
        probes.append(CompileProbe())
        policy = BusyPolicy(settings.on_busy)
        self.measurer = Measurer(timer or make_timer(device, settings), probes, policy, monitor, clock)
        self.admission = Admission(device, roofline, settings, clock, clock())
        self.kept = KeptInputs(lambda: available_memory(device), self._release)
        self.keep_inputs = True  # a workload's inputs kept between its rounds where memory allows (a pair: never)
        self.stale: dict[str, str] = {}  # ceiling key -> why it is stale
        # A workload's full-size inputs: made for it here, or shared with the other side of a pair whose inputs are the
        # same (flopbench.measuring.paired.SharedInputs: its placement in memory then the same for both sides).
        self.inputs: Callable[[Workload], tuple[dict[str, Any], Any]] = lambda w: w.inputs_for(device.torch_device)
        self.make: Callable[[Workload], Callable[[], Any]] = lambda w: w.build(device.torch_device)  # its callable

    @property
    def notes(self) -> list[str]:
        """What the run decided along the way (stopped retrying, ...), once each."""
        return self.measurer.notes

    # -- the schedule --

    def run(self, workloads: Iterable[Workload], before: Callable[[Workload], None] = lambda w: None) -> None:
        """Every workload once per round, the order rotated, and with a target precision more rounds for those not
        yet within it (flopbench.measuring.schedule.Schedule); records leave at each workload's last step (or at once
        when the run is interrupted, with the rounds they have)."""
        workloads = list(workloads)
        states: dict[int, _State] = {}
        schedule = self.schedule([w.identity for w in workloads], lambda index: states[index])
        try:
            for step, index in schedule:
                workload = workloads[index]
                before(workload)
                state = states.get(index) or states.setdefault(index, self.prepare(workload))
                self._round(state, step)
                if schedule.ends(step, index):
                    self.kept.drop(workload.identity)
                    self.on_record(self.finish(states.pop(index)))
        except KeyboardInterrupt:
            for state in states.values():  # what was measured is kept, with the rounds it has
                self.kept.drop(state.workload.identity)
                if state.rounds or state.ended:
                    self.on_record(self.finish(state, interrupted=True))
            raise
        for state in states.values():  # asked for another round when the time ran out
            self.kept.drop(state.workload.identity)
            self.on_record(self.finish(state))

    def schedule(self, identities: list[str], state: Callable[[int], RoundsTaken]) -> Schedule:
        """The run's rounds: the planned ones, then (with a target precision) more for the workloads whose figure is
        not yet known to within it (flopbench.results.trust.precision), up to max_rounds, within the time budget."""
        settings = self.settings
        target = settings.target_precision

        def more(index: int) -> bool:
            taken = state(index)
            if getattr(taken, "ended", False) or not taken.rounds:
                return False
            return unstable(precision([r.time_s for r in taken.rounds]), target or 0.0)

        return Schedule(
            identities,
            settings.rounds,
            settings.max_rounds,
            more if target else None,
            lambda: not self.admission.budget_spent(),
        )

    def run_one(self, workload: Workload) -> Record:
        """One workload, all its rounds, now (ceiling measurement, tests)."""
        state = self.prepare(workload)
        for r in range(self.settings.rounds):
            self._round(state, Step(r, 0, r == self.settings.rounds - 1))
        self.kept.drop(workload.identity)
        return self.finish(state)

    def run_callable(self, fn: Callable[[], Any], what: WorkloadPart, counts: Counts, key: str) -> Record:
        """A user's function (flopbench.measure), measured in rounds as a workload is, with the probes around each,
        and placed by the counts it declares; there is nothing to check its output against. A call over
        --max-call-s, or one that raises, ends it with the reason, as a workload's would."""
        started, taken = self.clock(), RoundsTaken()
        outcome: Skip | None = None
        for r in range(self.settings.rounds):
            try:
                measured = self.measurer.measure(fn, self.settings.max_call_s)
            except CallTooSlow as exc:
                outcome = Skip(Cause.MAX_CALL, f"one call took {exc.seconds:.3g} s, over --max-call-s {exc.cap_s:g}")
                break
            except Exception as exc:  # the user's function raised: its error, in one line, on the record
                outcome = Skip(Cause.RUN_ERROR, first_line(exc))
                break
            self.keep_round(taken, Step(r, 0, r == self.settings.rounds - 1), measured)
        return self.callable_record(taken, what, counts, key, outcome, started)

    def callable_record(
        self, taken: RoundsTaken, what: WorkloadPart, counts: Counts, key: str, outcome: Skip | None, started: float
    ) -> Record:
        """The record of a user's function from the rounds `taken` (or why it has none): flopbench.measure's, and
        each side's of a paired comparison of two functions (flopbench.measuring.api.measure_pair)."""
        where = records.where_part(self.device, self.world_size, self.settings.tf32)
        where = where.model_copy(update={"wall_s": self.clock() - started})
        parts: list[Any] = [what, records.counts_part(counts), where]
        if not taken.rounds:
            skip = outcome or Skip(Cause.RUN_ERROR, "no round was measured")
            ended = OutcomePart(status=skip.status, reason=skip.reason, cause=skip.cause.value)
            return records.build(*parts, outcome=ended)
        planned = max(self.settings.rounds, len(taken.rounds))
        summary = summarize(taken.rounds, taken.measurements, planned, outcome.reason if outcome else "")
        derived = records.derive(counts, key, summary.time_s, self.roofline, cache=self.settings.cache)
        reason = getattr(self.meter, "reason", "")
        energy = energy_part(taken.readings, summary.time_s, counts.total_flops, counts.bytes, reason)
        return records.build(
            *parts,
            summary.timing,
            *derived.parts,
            energy,
            summary.trust,
            outcome=OutcomePart(status="ok"),
            warnings=[*summary.warnings, *derived.warnings],
        )

    # -- the steps --

    def prepare(self, workload: Workload) -> _State:
        where = records.where_part(self.device, self.world_size, self.settings.tf32)
        state = _State(workload, self.clock(), where)
        state.predicted_call_s = self.admission.predicted_call_s(workload)
        state.outcome = self.admission.plan(workload, state.predicted_call_s)
        if state.outcome is None:
            with self.torch.no_grad():
                state.outcome = self._check(state) if not IMPLS[workload.impl].compiled else self._compile(state)
            if state.outcome is None and workload.spec.sdpa and not IMPLS[workload.impl].compiled:
                state.impl["attention_backend"] = self._attention_backend(workload)
        elif state.outcome.cause is not Cause.UNSUPPORTED:  # checked before it is skipped for its cost, as always
            with self.torch.no_grad():
                state.outcome = self._check(state) or state.outcome
        return state

    def _check(self, state: _State) -> Skip | None:
        """Memory, then the output check: a failure on any rank is every rank's before a collective."""
        from flopbench.workloads.check import AgreedFailure, check_output

        workload = state.workload
        collective = workload.spec.collective
        step = self.agree if collective else (lambda failure: failure)
        too_big = memory_skip(workload, self.device, available_memory(self.device))
        if too_big and self.kept.drop_all():  # the inputs kept for other workloads give way: they can be rebuilt
            return self._check(state)
        if reason := step(too_big.reason if too_big else None):
            return Skip(Cause.MEMORY, reason)
        failure: str | None = None
        try:
            check = check_output(
                workload, self.device.torch_device, tf32=self.settings.tf32, agree=self.agree if collective else None
            )
        except AgreedFailure as exc:  # every rank knows already: record it without another round
            return Skip(Cause.CHECK_ERROR, f"output check could not run: {exc}")
        except Exception as exc:  # a kernel this device or dtype does not support, out of memory, ...
            check, failure = None, f"output check could not run: {first_line(exc)}"
        if check is not None:
            state.check = (check.error if math.isfinite(check.error) else None, check.tolerance)
            failure = None if check.ok else check.describe()
        if reason := step(failure):
            if check is None and workload.impl != "eager":  # torch cannot run this implementation here: its reason
                return Skip(
                    Cause.UNSUPPORTED, f"{workload.impl}: {reason.removeprefix('output check could not run: ')}"
                )
            return Skip(Cause.CHECK_FAILED if check is not None else Cause.CHECK_ERROR, reason)
        return None

    def _compile(self, state: _State) -> Skip | None:
        """A compiled implementation: built at full size, its first call (which compiles) timed apart as compile_s,
        its output checked, and the compiled callable kept for every round (compiling again would cost as much)."""
        from flopbench.workloads.check import compare
        from flopbench.workloads.impls import first_call

        workload = state.workload
        if reason := (memory_skip(workload, self.device, available_memory(self.device)) or None):
            return reason
        try:
            p, tensors = self.inputs(workload)
            fn = IMPLS[workload.impl].callable(workload.spec, p, tensors, returning=workload.returning)
            compiled = first_call(fn, self.clock, self._sync)
        except Exception as exc:  # torch cannot compile or run it here: skipped, with its reason in one line
            return Skip(Cause.UNSUPPORTED, f"{workload.impl}: {first_line(exc)}")
        state.impl.update(compile_s=compiled.first_call_s, compile_cache=compiled.cache)
        state.compiled = True
        self.kept.keep(workload.identity, fn, workload.counts.bytes)
        if isinstance(compiled.output, self.torch.Tensor):
            check = compare(workload, p, tensors, compiled.output, self.torch.device(self.device.torch_device))
        else:  # a training step returns nothing: its forward pass, compiled at the check's small size
            return self._check(state)
        state.check = (check.error if math.isfinite(check.error) else None, check.tolerance)
        return None if check.ok else Skip(Cause.CHECK_FAILED, check.describe())

    def _attention_backend(self, workload: Workload) -> str | None:
        """Which SDPA kernel this attention workload runs (its small version, under its implementation)."""
        from flopbench.workloads.impls import sdpa_backend

        try:
            p, tensors = workload.inputs_for(self.device.torch_device, small=True)
            with self.torch.no_grad():
                return sdpa_backend(IMPLS[workload.impl].callable(workload.spec, p, tensors, timed=False))
        except Exception:  # noqa: BLE001 - which kernel ran is a detail; its absence costs the record nothing
            return None

    def _energy_window(self, fn: Callable[[], Any], call_s: float) -> Any:
        """Energy over back-to-back calls, nothing flushed between: ENERGY_WINDOW_S at least, and enough updates of
        the meter's counter to be read from it (flopbench.measuring.energy). Its average power times the call's time is
        the record's energy per call."""
        if getattr(self.meter, "reason", ""):
            return None  # no meter: the record says why
        window = max(ENERGY_WINDOW_S, MIN_INTERVALS * getattr(self.meter, "interval_s", 0.0))
        calls = max(1, math.ceil(window / call_s)) if call_s > 0 else 1
        with self.torch.no_grad():
            self._sync()
            token = self.meter.start()
            for _ in range(calls):
                fn()
            self._sync()
            return self.meter.stop(token)

    def _ledger(self, workload: Workload, placement: Any, time_s: float, gpu: dict[str, Any]) -> LedgerPart | None:
        """Where the FLOP/s went (flopbench.measuring.ledger), for a placed record."""
        from flopbench.measuring.ledger import ledger_part

        return ledger_part(workload, placement, self.roofline, self.device, time_s, self.torch.get_num_threads(), gpu)

    def footprint(self, fn: Callable[[], Any]) -> Any:
        """One more call, outside the timed samples, with its memory measured (flopbench.measuring.footprint); what a
        failure to measure it was, in words (the record's memory_source then says why)."""
        from flopbench.measuring.footprint import measure_footprint

        try:
            with self.torch.no_grad():
                return measure_footprint(fn, self.device.type, self.device.torch_device)
        except Exception as exc:  # noqa: BLE001 - the memory is a detail: its absence costs the timing nothing
            return f"not measured: {first_line(exc)}"

    def _sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device.torch_device)

    def _round(self, state: _State, step: Step) -> None:
        """One round of one workload: built (or its kept inputs), measured under the policy, its round kept."""
        if state.ended or (step.round > 0 and self.admission.budget_spent()):
            return  # ended, or the budget is spent: the figure rests on the rounds it has
        workload = state.workload
        fn = self.built(state, step)
        if fn is None:
            return
        collective = workload.spec.collective
        timer = self.collective_timer if collective and self.collective_timer else None
        measured = None
        try:
            with self.torch.no_grad():  # a collective's calls are planned by every rank together: no cap
                measured = self.measurer.measure(fn, self.settings.max_call_s, lockstep=collective, timer=timer)
        except CallTooSlow as exc:
            state.outcome = self.admission.too_slow(workload, exc.seconds, measured=True)
        except Exception as exc:
            state.outcome = Skip(Cause.RUN_ERROR, first_line(exc))
        if measured is not None and self.energy_apart and not collective:
            measured.observed.energy = self._energy_window(fn, measured.measurement.median_s)
        if measured is not None and state.footprint is None and not collective:
            state.footprint = self.footprint(fn)
        del fn
        if measured is None:
            self.kept.drop(workload.identity)
            return
        if self.kept.get(workload.identity) is None:
            self._release()
        self.keep_round(state, step, measured)

    def built(self, state: _State, step: Step) -> Callable[[], Any] | None:
        """The workload's callable: kept from an earlier round, or built now (and kept when it may be)."""
        workload = state.workload
        kept = self.kept.get(workload.identity)
        if kept is not None:
            return kept
        fn, failure = None, None
        try:
            with self.torch.no_grad():
                fn = self.make(workload)
        except Exception as exc:
            failure = first_line(exc)
        if reason := (self.agree if workload.spec.collective else (lambda f: f))(failure):
            state.outcome = Skip(Cause.BUILD_ERROR, reason)
            return None
        assert fn is not None
        keep = self.keep_inputs and not workload.spec.collective and not step.last
        if keep and self.kept.may_keep(workload.counts.bytes):
            self.kept.keep(workload.identity, fn, workload.counts.bytes)
        return fn

    @staticmethod
    def keep_round(state: RoundsTaken, step: Step, measured: Measured, pairs: list[int] | None = None) -> None:
        """Keep one round's measurement (`pairs`: each sample's pair id in a paired run, flopbench.measuring.paired)."""
        m, observed = measured.measurement, measured.observed
        if observed.gpu_after:
            state.gpu = {"before": observed.gpu_before, "after": observed.gpu_after}
        state.measurements.append(m)
        energy = observed.energy
        state.rounds.append(
            Round(
                round=step.round,
                position=step.position,
                time_s=m.median_s,
                samples_s=list(m.samples_s),
                calls_per_sample=m.calls_per_sample,
                page_faults_per_call=m.page_faults_per_call,
                waited_s=measured.waited_s,
                interference=observed.interference,
                attempts=measured.attempts,
                joules=energy.joules if energy else None,
                window_s=energy.seconds if energy else None,
                pairs=pairs,
            )
        )
        if energy is not None:
            state.readings.append(energy)
        state.recompiles += observed.recompiles

    def finish(self, state: _State, interrupted: bool = False) -> Record:
        """The workload's record: its figures from its rounds, or why it has none."""
        workload, skip = state.workload, state.outcome
        state.impl.setdefault("call_form", workload.call_form)
        where = state.where.model_copy(update={"wall_s": self.clock() - state.started})
        error, tolerance = state.check
        outcome = OutcomePart(
            status="ok", check_error=error, check_tolerance=tolerance, predicted_call_s=state.predicted_call_s
        )
        parts = [records.workload_part(workload), records.counts_part(workload.counts), where]
        parts.append(workload.spec.record_fields(workload.p, workload.dtype))
        if not state.rounds:
            parts.append(ImplFigures(**state.impl))
            if skip is None:  # interrupted before its first round
                skip = Skip(Cause.INTERRUPTED, "the run was interrupted before it was measured")
            ended = outcome.model_copy(update={"status": skip.status, "reason": skip.reason, "cause": skip.cause.value})
            return records.build(*parts, outcome=ended.model_copy(update={"one_call_s": skip.one_call_s}))
        return self._measured(state, parts, outcome, interrupted)

    def _measured(self, state: _State, parts: list[Any], outcome: OutcomePart, interrupted: bool) -> Record:
        workload, settings = state.workload, self.settings
        ended = (
            "the run was interrupted"
            if interrupted
            else f"then {state.outcome.status}, {state.outcome.reason}"
            if state.outcome is not None
            else "the --time-budget was spent"
        )
        summary = summarize(state.rounds, state.measurements, settings.rounds, ended, state.gpu)
        counts, op = workload.counts, workload.spec
        derived = records.derive(
            counts,
            self.admission.key(workload),
            summary.time_s,
            self.roofline,
            op=op,
            world_size=self.world_size,
            working_set=op.working_set(workload.p, workload.dtype, workload.impl),
            cache=settings.cache,
            params=workload.p,
            dtype=workload.dtype,
        )
        warnings = [*summary.warnings, *derived.warnings]
        placement = derived.parts[0] if op.placed else None
        losses = self._ledger(workload, placement, summary.time_s, state.gpu)
        if placement is not None and (stale := self.roofline.stale(placement)):  # type: ignore[arg-type]
            warnings.append(stale[1])
            self.stale.setdefault(stale[0], f"{workload.name}: {stale[1]}")
        reason = getattr(self.meter, "reason", "")
        energy = energy_part(state.readings, summary.time_s, counts.total_flops, counts.bytes, reason)
        profile = self._profile(workload) if settings.per_layer else None
        if isinstance(profile, str):
            warnings.append(profile)
            profile = None
        impl = self._impl_figures(state, warnings, self.device.type)
        return records.build(
            *parts,
            summary.timing,
            *derived.parts,
            impl,
            energy,
            summary.trust,
            memory_part(state.footprint, warnings, memory_estimate(state.workload)),
            losses,
            profile,
            outcome=outcome,
            warnings=warnings,
        )

    @staticmethod
    def _impl_figures(state: _State, warnings: list[str], device_type: str) -> ImplFigures:
        """compile_s and its cache, the recompilations while timed (warned), the attention backend (warned when a GPU
        fell back to the math kernel: its time is then the unfused path's, not attention's on that GPU)."""
        figures = dict(state.impl)
        impl = IMPLS[state.workload.impl]
        if device_type == "cuda" and figures.get("attention_backend") == "math" and not impl.holds_sdpa:
            warnings.append(
                f"SDPA math kernel: it ran unfused in {state.workload.dtype}: no fused kernel takes this dtype or"
                " these heads here (float32, or grouped-query heads); the bfloat16 entries time the fused kernels"
            )
        if state.compiled:
            recompiles = state.recompiles
            figures["recompiles"] = recompiles
            if recompiles:
                warnings.append(
                    f"recompiled: {state.workload.impl} compiled again {recompiles} time{'s' * (recompiles > 1)} while"
                    " it was timed"
                    " (a guard failed: a shape, a dtype or a global changed); those calls include compilation"
                )
        return ImplFigures(**figures)

    def _profile(self, workload: Workload) -> Any:
        """Where the time goes inside the workload (models; run --per-layer). A profile that fails costs the record
        nothing but a warning (returned as text): its timing stands."""
        key, device = self.admission.key(workload), self.device.torch_device
        try:
            return workload.spec.profile(workload.p, workload.dtype, device, self.roofline, key)
        except Exception as exc:  # noqa: BLE001 - any failure of the profiler is reported, never fatal
            return f"--per-layer: the profile failed: {first_line(exc)}"

    def _release(self) -> None:
        # The workload's tensors died with its closure (reference counting); hand the cached blocks back so that a
        # sweep of growing sizes does not fragment the CUDA allocator, and the memory a CPU workload's calls freed
        # (kept for its next call while it was timed: flopbench.measuring.memory) goes back to the OS.
        if self.device.type == "cuda":
            self.torch.cuda.empty_cache()
        else:
            release()


def memory_part(footprint: Any, warnings: list[str], admitted_bytes: int | None = None) -> MemoryPart:
    """The record's memory fields from a Footprint (its note, if any, added to `warnings`; against the bytes the
    workload was admitted on, where given), or why there are none."""
    from flopbench.measuring.footprint import Footprint

    if not isinstance(footprint, Footprint):
        return MemoryPart(memory_source=footprint or None)
    if note := footprint.note(admitted_bytes):
        warnings.append(note)
    return MemoryPart(
        peak_memory_bytes=footprint.peak_bytes, output_bytes=footprint.output_bytes, memory_source=footprint.source
    )
