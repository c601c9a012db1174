"""The runner: for each workload, check its output, predict its cost, time it in rounds while watching the machine,
derive the metrics, and hand the typed record (flopbench.schema.Record) on. A workload that cannot run is recorded
with its status and reason, and the run goes on. What a workload's figures mean (roofline placement, MFU, bus
bandwidth) is the workload's op's own business (Op.derive); the runner only times and records.

Rounds. Every workload is measured once per round and the order is rotated from round to round, so a disturbance
of a few seconds moves one round of a few workloads, never a whole figure: a workload's time is the median of its
round medians, and a workload whose rounds disagree by more than UNSTABLE_SPREAD is flagged unstable.

Interference (flopbench.interference). Around each measurement the monitor says whether the machine was disturbed;
--on-busy decides what that costs: `warn` records and flags it, `wait` waits (bounded) for a quiet machine before
measuring, `retry` measures again (bounded) and keeps the least disturbed attempt.

Budgets. Before running, a workload's least possible call time is read off the roofline (its FLOPs over the
compute roof, its bytes over the bandwidth roof; the measured ceilings where there are some). A workload whose call
would exceed --max-call-s is skipped without running, and so is one whose first (warm-up) call does; a sweep stops
growing there. --time-budget skips what would not fit.
"""

from __future__ import annotations

import contextlib
import math
import socket
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flopbench.device import Nvml, available_memory, throttle_warnings
from flopbench.energy import Reading, make_meter, per_call
from flopbench.errors import first_line
from flopbench.memory import keep_freed_memory, release
from flopbench.schema import Attempt, Device, Interference, Peak, Record, Round
from flopbench.timing import Budget, CallTooSlow, CpuTimer, CudaTimer, Measurement, TorchCuda
from flopbench.units import percent
from flopbench.workloads import Counts, Workload

MEMORY_HEADROOM = 0.8  # skip a workload whose inputs and outputs need more than this share of free memory
# A workload's inputs are built once and kept for its later rounds while all kept inputs stay within this share of the
# memory free when the run started; past it they are built again each round. On a 2-vCPU AMD EPYC VM (2026-12-02) the
# default suite's CPU inputs took about 2 s a round to build (the STREAM arrays most): kept, a round costs its sampling.
KEEP_SHARE = 0.25
ABOVE_PEAK = 1.02  # tolerance before "faster than the peak" is called out
# Why a figure can beat its peak, by the peak's source (a device's peaks are these; measured ceilings going stale is
# STALE_CEILING's).
ABOVE_PEAK_WHY = {
    "spec": "the datasheet table is wrong for this device",
    "derived": "one of the factors it was derived from is low for this machine (most often a clock read as the"
    " base clock, with boost above it; see the peak's detail in `flopbench peak`)",
    "user": "the peak given with --peak is too low",
}
UNSTABLE_SPREAD = 0.05  # rounds whose medians span more than 5% of the figure: the figure is unstable
STALE_CEILING = 1.05  # a run that beats a cached ceiling by more than 5% says the cache is stale
MAX_RETRIES = 2  # --on-busy retry: measurements of one round at most 1 + this
WAIT_S = 10.0  # --on-busy wait: seconds to wait for a quiet machine before one measurement
QUIET_SAMPLE_S = 0.5  # how long the machine is watched to decide it is quiet
PERSISTENT = 3  # after this many measurements in a row that stayed disturbed, stop waiting or retrying
DEFAULT_MAX_CALL_S = {"cpu": 2.0, "cuda": 1.0}  # seconds: a single call beyond this is not worth its samples


@dataclass
class Settings:
    device: Device
    threads: int
    budget: Budget = field(default_factory=Budget)
    tf32: bool = False
    cuda_graph: bool = False
    ceilings: dict[str, Peak] = field(default_factory=dict)  # measured; shown beside the peaks
    world_size: int = 1  # ranks of a distributed run (collectives' bus bandwidth depends on it)
    rounds: int = 1
    on_busy: str = "warn"  # warn, wait or retry
    max_call_s: float | None = None
    time_budget_s: float | None = None
    per_layer: bool = False  # models: also profiled layer by layer (flopbench.models.profile)


@contextlib.contextmanager
def torch_settings(device_type: str, threads: int, tf32: bool) -> Iterator[None]:
    """Torch's thread count and TF32 flags as a run needs them, restored afterwards (the caller's world as found).
    On a CPU, freed memory is kept for the next call from then on, for the rest of the process (flopbench.memory)."""
    import torch

    if device_type == "cpu":
        keep_freed_memory()
    saved = (torch.get_num_threads(), torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.set_num_threads(threads)
    if device_type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[1], saved[2]


def make_timer(settings: Settings) -> Any:
    if settings.device.type == "cuda":
        return CudaTimer(TorchCuda(settings.device.torch_device), settings.budget, use_graph=settings.cuda_graph)
    return CpuTimer(settings.budget)


def peak_key(workload: Workload, settings: Settings) -> str:
    """Which peak judges this workload: its dtype's, or TF32's for float32 contractions with TF32 on (CUDA)."""
    return "tf32" if workload.tf32_applies(settings.device.type, settings.tf32) else workload.dtype


def roofs(key: str, settings: Settings) -> tuple[Peak, Peak]:
    """The compute and bandwidth roofs: the peaks where known, else the measured ceilings."""
    device = settings.device
    compute = device.peak(key)
    if not compute.known and key in settings.ceilings:
        compute = settings.ceilings[key]
    bandwidth = device.bandwidth
    if not bandwidth.known and "bandwidth" in settings.ceilings:
        bandwidth = settings.ceilings["bandwidth"]
    return compute, bandwidth


@dataclass
class Judge:
    """What an op's derive() needs to judge one measured time: the device's roofs, for one peak key."""

    settings: Settings
    key: str
    time_s: float

    @property
    def world_size(self) -> int:
        return self.settings.world_size

    def place(self, counts: Counts) -> dict[str, Any]:
        return placement(counts, self.key, self.time_s, self.settings)


def timing_fields(measurement: Measurement) -> dict[str, Any]:
    return {
        "samples_s": list(measurement.samples_s),
        "calls_per_sample": measurement.calls_per_sample,
        "timer": measurement.timer,
        "timer_resolution_s": measurement.resolution_s,
        "timed_s": measurement.timed_s,
        "time_s": measurement.median_s,
        "time_iqr_s": measurement.iqr_s,
        "time_min_s": measurement.min_s,
        "time_mean_s": measurement.mean_s,
        "time_cv": measurement.cv,
        "page_faults_per_call": measurement.page_faults_per_call,
    }


def derive(
    workload: Workload, measurement: Measurement, settings: Settings, time_s: float | None = None
) -> dict[str, Any]:
    """The timing statistics of a measurement, and what the workload's op derives from its figure (the median of the
    samples, or `time_s`: the median of round medians)."""
    out = timing_fields(measurement)
    if time_s is not None:
        out["time_s"] = time_s
    judged = workload.spec.derive(workload.counts, Judge(settings, peak_key(workload, settings), out["time_s"]))
    out.update(judged)
    out["warnings"] = measurement.warnings() + judged.get("warnings", [])
    return out


def placement(counts: Counts, key: str, time_s: float, settings: Settings) -> dict[str, Any]:
    """Achieved rates, utilization against the `key` peak, and roofline placement (none without bytes)."""
    total_per_s = counts.total_flops / time_s
    bytes_per_s = counts.bytes / time_s if counts.bytes else None
    peak = settings.device.peak(key)
    ceiling = settings.ceilings.get(key)
    compute, bandwidth = roofs(key, settings)
    out: dict[str, Any] = {
        "core_flops_per_s": counts.flops / time_s,
        "total_flops_per_s": total_per_s,
        "bytes_per_s": bytes_per_s,
        "peak_key": key,
        "peak_flops_per_s": peak.value,
        "peak_source": peak.source,
        "peak_detail": peak.detail,
        "utilization": total_per_s / peak.value if peak.value else None,
        "ceiling_flops_per_s": ceiling.value if ceiling else None,
        "ceiling_utilization": total_per_s / ceiling.value if ceiling and ceiling.value else None,
        "bandwidth_bytes_per_s": bandwidth.value,
        "bandwidth_source": bandwidth.source,
        "roofline_flops_per_s": None,
        "roofline_efficiency": None,
        "ridge_intensity": None,
        "bound": None,
    }
    warnings = []
    if compute.value and bandwidth.value and counts.bytes and counts.intensity is not None and bytes_per_s:
        ridge = compute.value / bandwidth.value
        bound = "memory" if counts.intensity < ridge else "compute"
        roof = min(compute.value, counts.intensity * bandwidth.value)
        # Memory-bound efficiency is achieved bandwidth over the roof's bandwidth: the same ratio as FLOP/s over the
        # slanted roof, and defined for kernels without arithmetic (copy).
        efficiency = bytes_per_s / bandwidth.value if bound == "memory" else total_per_s / roof
        out.update(roofline_flops_per_s=roof, roofline_efficiency=efficiency, ridge_intensity=ridge, bound=bound)
        if bound == "memory" and efficiency > ABOVE_PEAK:
            warnings.append(
                f"achieved {bytes_per_s / 1e9:.3g} GB/s, above the {bandwidth.source} bandwidth"
                f" ({bandwidth.value / 1e9:.3g} GB/s): the working set stays in a cache"
            )
    elif counts.bytes:
        missing = "bandwidth" if not bandwidth.known else f"{key} peak"
        warnings.append(f"no roofline: the {missing} is unknown (flopbench peak --measure, or --peak/--bandwidth)")
    if peak.value and total_per_s > ABOVE_PEAK * peak.value:
        warnings.append(
            f"achieved {total_per_s / 1e12:.3g} TFLOP/s is above the {peak.source} {key} peak"
            f" ({peak.value / 1e12:.3g} TFLOP/s): {ABOVE_PEAK_WHY[peak.source]}"
            f" (set the right one with --peak {key}=FLOPS)"
        )
    out["warnings"] = warnings
    return out


def workload_fields(workload: Workload) -> dict[str, Any]:
    """What a workload is and costs, as record fields."""
    counts = workload.counts
    return {
        "name": workload.name,
        "group": workload.group,
        "swept": list(workload.swept),
        "op": workload.op,
        "family": workload.family,
        "params": workload.params_json,
        "dtype": workload.dtype,
        "identity": workload.identity,
        "core_flops": counts.flops,
        "macs": counts.macs,
        "elementwise_flops": counts.elementwise_flops,
        "total_flops": counts.total_flops,
        "bytes": counts.bytes,
        "intensity": counts.intensity,
        **workload.spec.record_fields(workload.p, workload.dtype),
    }


# --- budgets -------------------------------------------------------------------------------------------------------


def predicted_call_s(workload: Workload, settings: Settings) -> float | None:
    """The least one call can take: its FLOPs at the compute roof, or its bytes at the bandwidth roof, whichever is
    longer. A measured ceiling is the better roof here (it is what the machine reaches); else the peak. None when no
    roof is known."""
    key = peak_key(workload, settings)
    ceiling = settings.ceilings.get(key)
    compute = ceiling if ceiling and ceiling.value else settings.device.peak(key)
    bandwidth = settings.ceilings.get("bandwidth") or settings.device.bandwidth
    counts = workload.counts
    times = []
    if compute.value and counts.total_flops:
        times.append(counts.total_flops / compute.value)
    if bandwidth.value and counts.bytes and not workload.spec.collective:
        times.append(counts.bytes / bandwidth.value)
    return max(times) if times else None


def round_cost_s(call_s: float | None, budget: Budget) -> float:
    """Seconds one round of a workload takes: its warm-up, then samples until the minimum time and count."""
    call = call_s or 0.0
    return budget.warmup_s + call + max(budget.min_time_s, budget.min_samples * call)


def native(dtype: str, device: Device) -> str:
    """Why a dtype may run far below its peak here, in words (for a skipped workload's reason)."""
    if device.type != "cpu" or dtype not in ("bfloat16", "float16"):
        return ""
    isa = set(str(device.facts.get("isa", "")).split())
    wanted = {"bfloat16": {"avx512_bf16", "amx_bf16"}, "float16": {"avx512_fp16", "amx_fp16"}}[dtype]
    if not isa & wanted:
        return f"this CPU has no native {dtype}"
    import os

    capped = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("ATEN_CPU_CAPABILITY")
    return f"the CPU has native {dtype}, but its kernels are capped here ({capped})" if capped else ""


# float8 runs natively on CUDA from compute capability 8.9 (Ada, Hopper); CPUs with these flags have float8 units.
FLOAT8_CUDA = (8, 9)
FLOAT8_CPU_FLAGS = frozenset({"amx_fp8", "avx10_2"})


def unsupported(workload: Workload, device: Device) -> str:
    """Why a low-precision product cannot be measured honestly here ('' when it can): float8 without float8 units is
    emulated, orders of magnitude below every other dtype, unless a --peak float8 says what to expect of it."""
    if workload.dtype != "float8" or device.peak("float8").known:
        return ""
    if device.type == "cuda":
        capability = str(device.facts.get("compute_capability", "0.0"))
        major, _, minor = capability.partition(".")
        if (int(major or 0), int(minor or 0)) < FLOAT8_CUDA:
            return (
                f"float8 needs compute capability 8.9 or newer (torch._scaled_mm); this GPU has {capability}: run it"
                f" on an Ada or Hopper GPU"
            )
        return ""
    if not set(str(device.facts.get("isa", "")).split()) & FLOAT8_CPU_FLAGS:
        return (
            "this CPU has no native float8: torch._scaled_mm emulates it, orders of magnitude below float32; run"
            " float8 on a CUDA GPU of compute capability 8.9 or newer, or give --peak float8=FLOPS to time the"
            " emulation"
        )
    return ""


def too_slow_reason(workload: Workload, settings: Settings, call_s: float, measured: bool) -> str:
    key = peak_key(workload, settings)
    rate = workload.counts.total_flops / call_s if call_s else 0.0
    how = "its one call took" if measured else "one call would take at least"
    text = f"{how} {call_s:.3g} s, over --max-call-s {settings.max_call_s:g}"
    peak = settings.device.peak(key)
    if rate and workload.counts.total_flops:
        from flopbench.units import si

        share = f", {rate / peak.value * 100:.2g}% of the {peak.source} peak" if peak.value else ""
        why = native(workload.dtype, settings.device)
        text += f": {key} runs at {si(rate, 'FLOP/s')} here{share}" + (f": {why}" if why else "")
    return text


# --- the runner ----------------------------------------------------------------------------------------------------


@dataclass
class _State:
    """A workload while its rounds are measured."""

    workload: Workload
    fields: dict[str, Any]
    started: float
    rounds: list[Round] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    outcome: tuple[str, str, dict[str, Any]] | None = None  # (status, reason, fields) when it ends unmeasured
    gpu: dict[str, Any] = field(default_factory=dict)
    readings: list[Reading] = field(default_factory=list)  # energy over each round's measurement window
    fn: Callable[[], Any] | None = None  # its built inputs, kept between rounds (KEEP_SHARE)

    @property
    def ended(self) -> bool:
        return self.outcome is not None


class Runner:
    """Runs workloads in rounds; `on_record` receives each record the moment it is complete. The caller holds
    torch_settings() around the run.

    `monitor` (flopbench.interference.Monitor) watches the machine around each measurement; without one, nothing is
    judged. In a distributed run, collectives need every rank in step: `agree` turns one rank's failure into every
    rank's before a collective is entered, and `collective_timer` times them in lockstep.
    """

    def __init__(
        self,
        settings: Settings,
        on_record: Callable[[Record], None],
        timer: Any = None,
        agree: Callable[[str | None], str | None] | None = None,
        collective_timer: Any = None,
        monitor: Any = None,
        clock: Callable[[], float] = time.perf_counter,
        meter: Any = None,
    ):
        import torch

        self.torch = torch
        self.settings = settings
        self.on_record = on_record
        self.timer = timer or make_timer(settings)
        self.agree = agree or (lambda failure: failure)
        self.collective_timer = collective_timer
        self.monitor = monitor
        self.clock = clock
        self.nvml = Nvml(settings.device.index or 0) if settings.device.type == "cuda" else None
        # Energy around each measurement window (flopbench.energy): NVML on CUDA, RAPL on a CPU, or the reason why not.
        self.meter = meter if meter is not None else make_meter(settings.device.type, self.nvml)
        self.policy = settings.on_busy
        self.notes: list[str] = []  # what the run decided along the way (stopped retrying, ...), once each
        self.stale: dict[str, str] = {}  # ceiling key -> why it is stale
        self._stayed_busy = 0  # measurements in a row that stayed disturbed despite waiting or retrying
        self._stopped: dict[tuple[str, str], float] = {}  # (sweep group, dtype) -> the FLOPs past which it stopped
        self._run_started = clock()
        self._kept: dict[str, _State] = {}  # workload identity -> its state, while its inputs are kept between rounds
        self._keep_budget: float | None = None  # bytes; set at the first build

    # -- the schedule --

    def run(self, workloads: Iterable[Workload], before: Callable[[Workload], None] = lambda w: None) -> None:
        """Every workload once per round, the order rotated; records leave at each workload's last step (or at once
        when the run is interrupted, with the rounds it has)."""
        workloads = list(workloads)
        rounds = self.settings.rounds
        states: dict[str, _State] = {}
        last_step: dict[str, tuple[int, int] | None] = {w.identity: None for w in workloads}
        schedule = [(r, position, w) for r in range(rounds) for position, w in enumerate(rotated(workloads, r, rounds))]
        for r, position, w in schedule:
            last_step[w.identity] = (r, position)
        try:
            for r, position, w in schedule:
                before(w)
                state = states.get(w.identity)
                if state is None:
                    state = states[w.identity] = self._prepare(w)
                if not state.ended:
                    self._round(state, r, position)
                if last_step[w.identity] == (r, position):
                    self._drop(state)
                    self.on_record(self._finish(state))
                    del states[w.identity]
        except KeyboardInterrupt:
            for state in states.values():  # what was measured is kept, with the rounds it has
                self._drop(state)
                if state.rounds or state.ended:
                    self.on_record(self._finish(state, interrupted=True))
            raise

    def run_one(self, workload: Workload) -> Record:
        """One workload, all its rounds, now (ceiling measurement, distributed steps, tests)."""
        state = self._prepare(workload)
        for r in range(self.settings.rounds):
            if state.ended:
                break
            self._round(state, r, 0)
        self._drop(state)
        return self._finish(state)

    # -- the steps --

    def _prepare(self, workload: Workload) -> _State:
        device = self.settings.device
        fields: dict[str, Any] = {
            **workload_fields(workload),
            "device": device.torch_device,
            "device_label": device.label,
            "device_name": device.name,
            "rank": 0,
            "world_size": self.settings.world_size,
            "host": socket.gethostname(),
            "status": "ok",
            "reason": None,
            "warnings": [],
            "tf32": self.settings.tf32,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        state = _State(workload, fields, self.clock())
        try:
            with self.torch.no_grad():
                self._check(state)
            self._plan(state)
        except _Outcome as outcome:
            state.outcome = (outcome.status, outcome.reason, outcome.fields)
        return state

    def _check(self, state: _State) -> None:
        """Memory, then the output check: a failure on any rank is every rank's before a collective."""
        from flopbench.workloads.check import AgreedFailure, check_output

        settings, workload = self.settings, state.workload
        collective = workload.spec.collective
        step = self.agree if collective else (lambda failure: failure)
        free = available_memory(settings.device)
        too_big = (
            (
                f"needs {workload.counts.bytes / 2**30:.3g} GiB for inputs and outputs; {free / 2**30:.3g} GiB is"
                f" free on {settings.device.torch_device}"
            )
            if free is not None and workload.counts.bytes > MEMORY_HEADROOM * free
            else None
        )
        if too_big and self._kept:  # the inputs kept for other workloads' rounds give way: they can be built again
            for kept in list(self._kept.values()):
                self._drop(kept)
            return self._check(state)
        if reason := step(too_big):
            raise _Outcome("skipped", reason)
        try:
            check = check_output(
                workload, settings.device.torch_device, tf32=settings.tf32, agree=self.agree if collective else None
            )
            failure = None
        except AgreedFailure as exc:  # every rank knows already: record it without another round
            raise _Outcome("failed", f"output check could not run: {exc}") from None
        except Exception as exc:  # a kernel this device or dtype does not support, out of memory, ...
            check, failure = None, f"output check could not run: {first_line(exc)}"
        if check is not None:
            state.fields.update(
                check_error=check.error if math.isfinite(check.error) else None, check_tolerance=check.tolerance
            )
            failure = None if check.ok else check.describe()
        if reason := step(failure):
            raise _Outcome("failed", reason, state.fields)

    def _plan(self, state: _State) -> None:
        """The predicted cost, and the budgets: skipped before running when it cannot fit."""
        settings, workload = self.settings, state.workload
        if reason := unsupported(workload, settings.device):
            raise _Outcome("skipped", reason, state.fields)
        call = predicted_call_s(workload, settings)
        state.fields["predicted_call_s"] = call
        if workload.spec.collective:
            return  # every rank must enter a collective: its budget is not decided alone
        group = (workload.group, workload.dtype)
        if group in self._stopped and workload.counts.total_flops >= self._stopped[group]:
            raise _Outcome(
                "skipped",
                f"the sweep {workload.group} stopped growing: a smaller point already exceeded"
                f" --max-call-s {settings.max_call_s:g}",
                state.fields,
            )
        if settings.max_call_s is not None and call is not None and call > settings.max_call_s:
            self._stop_sweep(workload)
            raise _Outcome("skipped", too_slow_reason(workload, settings, call, measured=False), state.fields)
        if settings.time_budget_s is not None:
            elapsed = self.clock() - self._run_started
            cost = settings.rounds * round_cost_s(call, settings.budget)
            if elapsed + cost > settings.time_budget_s:
                raise _Outcome(
                    "skipped",
                    f"the --time-budget of {settings.time_budget_s:g} s: {elapsed:.0f} s are"
                    f" spent and it needs at least {cost:.2g} s more",
                    state.fields,
                )

    def _stop_sweep(self, workload: Workload) -> None:
        group = (workload.group, workload.dtype)
        if workload.swept and workload.group:
            self._stopped[group] = min(self._stopped.get(group, math.inf), workload.counts.total_flops)

    def _round(self, state: _State, r: int, position: int) -> None:
        """One round: wait or retry as --on-busy says; the least disturbed measurement is kept."""
        settings, workload = self.settings, state.workload
        collective = workload.spec.collective
        if settings.time_budget_s is not None and r > 0 and self.clock() - self._run_started > settings.time_budget_s:
            return  # the budget is spent: the figure rests on the rounds it has
        waited = self._wait_for_quiet() if self.policy == "wait" and self.monitor and not collective else 0.0
        fn, failure = state.fn, None
        if fn is None:
            try:
                with self.torch.no_grad():
                    fn = workload.build(settings.device.torch_device)
            except Exception as exc:
                failure = first_line(exc)
            if reason := (self.agree if collective else (lambda f: f))(failure):
                state.outcome = ("failed", reason, state.fields)
                return
            if not collective and r + 1 < settings.rounds and self._may_keep(workload):
                state.fn = fn
                self._kept[workload.identity] = state
        attempts: list[Attempt] = []
        retries = MAX_RETRIES if self.policy == "retry" and self.monitor and not collective else 0
        timer = self.collective_timer if collective and self.collective_timer else self.timer
        while True:
            try:
                window = self.monitor.begin() if self.monitor is not None else None
                before = self.nvml.snapshot() if self.nvml else {}
                energy = self.meter.start()
                with self.torch.no_grad():  # a collective's calls are planned by every rank together: no cap
                    measurement = timer.measure(fn) if collective else timer.measure(fn, max_call_s=settings.max_call_s)
                reading = self.meter.stop(energy)
                after = self.nvml.snapshot() if self.nvml else {}
                interference = self.monitor.end(window) if self.monitor is not None else None
            except CallTooSlow as exc:
                self._stop_sweep(workload)
                state.outcome = (
                    "skipped",
                    too_slow_reason(workload, settings, exc.seconds, measured=True),
                    {**state.fields, "one_call_s": exc.seconds},
                )
                self._drop(state)
                return
            except Exception as exc:
                state.outcome = ("failed", first_line(exc), state.fields)
                self._drop(state)
                return
            if interference is None or not interference.busy or len(attempts) >= retries:
                break
            attempts.append(Attempt(time_s=measurement.median_s, reasons=interference.reasons))
        del fn
        if state.fn is None:
            self._release()
        self._note_persistence(interference, waited, attempts)
        if after:
            state.gpu = {"before": before, "after": after}
        state.measurements.append(measurement)
        state.rounds.append(
            Round(
                round=r,
                position=position,
                time_s=measurement.median_s,
                samples_s=list(measurement.samples_s),
                calls_per_sample=measurement.calls_per_sample,
                page_faults_per_call=measurement.page_faults_per_call,
                waited_s=waited,
                interference=interference,
                attempts=attempts,
                joules=reading.joules,
                window_s=reading.seconds,
            )
        )
        state.readings.append(reading)

    def _may_keep(self, workload: Workload) -> bool:
        """Whether this workload's inputs may stay built for its later rounds (KEEP_SHARE of the free memory)."""
        if self._keep_budget is None:
            self._keep_budget = KEEP_SHARE * (available_memory(self.settings.device) or 0)
        kept = sum(s.workload.counts.bytes for s in self._kept.values())
        return kept + workload.counts.bytes <= self._keep_budget

    def _drop(self, state: _State) -> None:
        """Its kept inputs go (its last round is over, the run was interrupted, or another workload needs the room)."""
        if self._kept.pop(state.workload.identity, None) is not None:
            state.fn = None
            self._release()

    def _wait_for_quiet(self) -> float:
        """--on-busy wait: watch the machine until it is quiet, at most WAIT_S; seconds waited."""
        if self._stayed_busy >= PERSISTENT:
            return 0.0
        started = self.clock()
        while self.clock() - started < WAIT_S:
            if not self.monitor.sample(QUIET_SAMPLE_S).busy:
                break
        return self.clock() - started

    def _note_persistence(self, interference: Interference | None, waited: float, attempts: list[Attempt]) -> None:
        """A machine that stays busy through waiting and retrying is busy for good: stop paying for it, and say so."""
        if interference is None or self.policy == "warn":
            return
        tried = waited > 0 or attempts
        self._stayed_busy = self._stayed_busy + 1 if interference.busy and tried else 0
        if self._stayed_busy == PERSISTENT:
            what = "waiting for it" if self.policy == "wait" else "measuring again"
            self.notes.append(
                f"the machine stayed busy through {PERSISTENT} measurements in a row despite {what}"
                f" ({'; '.join(interference.reasons)}): the rest is measured once each, flagged"
            )
            self.policy = "warn"

    def _finish(self, state: _State, interrupted: bool = False) -> Record:
        fields = dict(state.fields)
        if state.outcome is not None and not state.rounds:
            status, reason, extra = state.outcome
            fields.update(extra, status=status, reason=reason)
        elif state.rounds:
            fields.update(self._figures(state, interrupted))
        else:  # interrupted before its first round
            fields.update(status="skipped", reason="the run was interrupted before it was measured")
        if self.settings.per_layer and fields.get("status") == "ok":
            fields.update(self._profile(state.workload, fields))
        fields["wall_s"] = self.clock() - state.started
        record = Record(**fields)
        self._check_ceiling(record)
        return record

    def _profile(self, workload: Workload, fields: dict[str, Any]) -> dict[str, Any]:
        """Where the time goes inside the workload (models; run --per-layer). A profile that fails costs the record
        nothing but a warning: its timing stands."""
        peak, bandwidth = fields.get("peak_flops_per_s"), fields.get("bandwidth_bytes_per_s")
        try:
            return workload.spec.profile(workload.p, workload.dtype, self.settings.device.torch_device, peak, bandwidth)
        except Exception as exc:  # noqa: BLE001 - any failure of the profiler is reported, never fatal
            return {"warnings": [*fields.get("warnings", []), f"--per-layer: the profile failed: {first_line(exc)}"]}

    def _figures(self, state: _State, interrupted: bool) -> dict[str, Any]:
        """The record's figures from its rounds: the median of round medians, pooled samples for the spread."""
        settings, workload = self.settings, state.workload
        rounds = state.rounds
        medians = [r.time_s for r in rounds]
        figure = statistics.median(medians)
        first = state.measurements[0]
        faults = [m.page_faults_per_call for m in state.measurements if m.page_faults_per_call is not None]
        pooled = Measurement(
            tuple(s for m in state.measurements for s in m.samples_s),
            first.calls_per_sample,
            first.timer,
            first.resolution_s,
            first.notes,
            statistics.median(faults) if faults else None,
        )
        out = derive(workload, pooled, settings, time_s=figure)
        out["calls_per_sample"] = first.calls_per_sample
        out["timed_s"] = sum(m.timed_s for m in state.measurements)
        out["rounds"] = rounds
        warnings = out["warnings"]
        if len(rounds) > 1:
            spread = (max(medians) - min(medians)) / figure
            out["round_spread"], out["stable"] = spread, spread <= UNSTABLE_SPREAD
            if spread > UNSTABLE_SPREAD:
                warnings.append(
                    f"unstable: its {len(rounds)} rounds span {percent(spread)} of the median (more than"
                    f" {UNSTABLE_SPREAD:.0%})"
                )
        disturbed = [r.interference for r in rounds if r.interference is not None and r.interference.busy]
        if disturbed:
            worst = max(disturbed, key=lambda i: (len(i.reasons), i.other_cpus or 0, i.canary_slowdown or 0))
            out["disturbed"], out["interference"] = True, worst
            share = f" ({len(disturbed)} of {len(rounds)} rounds)" if len(rounds) > 1 else ""
            warnings.extend(f"{reason}{share}" for reason in worst.reasons)
        elif rounds and rounds[0].interference:
            out["interference"] = max(
                (r.interference for r in rounds if r.interference), key=lambda i: i.other_cpus or 0
            )
        if interrupted and len(rounds) < settings.rounds:
            warnings.append(f"{len(rounds)} of {settings.rounds} rounds (the run was interrupted)")
        elif state.outcome is not None:
            warnings.append(f"{len(rounds)} of {settings.rounds} rounds: then {state.outcome[0]}, {state.outcome[1]}")
        elif len(rounds) < settings.rounds:
            warnings.append(f"{len(rounds)} of {settings.rounds} rounds: the --time-budget was spent")
        out.update(self._energy(state, figure))
        if state.gpu:
            out["gpu"] = state.gpu
            warnings += throttle_warnings(state.gpu["after"])
        return out

    def _energy(self, state: _State, time_s: float) -> dict[str, Any]:
        """Energy per call: the rounds' average power (their joules over their windows' seconds) times the median
        call; `unknown` with the reason where no round was metered."""
        metered = [r for r in state.readings if r.joules is not None]
        if not metered:
            note = next((r.note for r in state.readings if r.note), getattr(self.meter, "reason", ""))
            return per_call(Reading(None, 0.0, "unknown", note), time_s, 0, 0)
        combined = Reading(
            sum(r.joules or 0.0 for r in metered),
            sum(r.seconds for r in metered),
            metered[0].source,
            "; ".join(dict.fromkeys(r.note for r in metered if r.note)),
        )
        counts = state.workload.counts
        return per_call(combined, time_s, counts.total_flops, counts.bytes)

    def _check_ceiling(self, record: Record) -> None:
        """A run that beats a cached ceiling by more than 5% on the kind of workload the ceiling measured: the
        ceiling is stale (measured while the machine was slower), and the record and the run say so."""
        from flopbench.units import si

        if record.status != "ok" or not record.time_s:
            return
        from flopbench.measure import CPU_SIZES, GPU_SIZES

        smallest = (GPU_SIZES if self.settings.device.type == "cuda" else CPU_SIZES)[0]
        if (
            record.op == "matmul"
            and record.params.get("batch", 1) == 1
            and record.peak_key
            and min(record.params.get(k, 0) for k in "mnk") >= smallest
        ):  # a GEMM the ceiling's sweep could be
            key, achieved = record.peak_key, record.total_flops_per_s or 0.0
        elif (
            record.op == "elementwise"
            and record.params.get("kind") in ("copy", "triad")
            and record.bytes > 4 * (self.settings.device.facts.get("llc_bytes") or 0)
        ):
            key, achieved = "bandwidth", record.bytes_per_s or 0.0
        else:
            return
        ceiling = self.settings.ceilings.get(key)
        if ceiling is None or not ceiling.value or achieved <= STALE_CEILING * ceiling.value:
            return
        unit = "B/s" if key == "bandwidth" else "FLOP/s"
        above = achieved / ceiling.value - 1
        text = (
            f"the cached {key} ceiling is stale: {record.name} reached {si(achieved, unit)}, {above:.0%} above"
            f" its {si(ceiling.value, unit)}; refresh it with flopbench peak --measure"
        )
        record.warnings.append(text)
        self.stale.setdefault(key, text)

    def _release(self) -> None:
        # The workload's tensors died with its closure (reference counting); hand the cached blocks back so that a
        # sweep of growing sizes does not fragment the CUDA allocator, and the memory a CPU workload's calls freed
        # (kept for its next call while it was timed: flopbench.memory) goes back to the OS.
        if self.settings.device.type == "cuda":
            self.torch.cuda.empty_cache()
        else:
            release()


def rotated(workloads: list[Workload], round_: int, rounds: int) -> list[Workload]:
    """Round r starts r/rounds of the way into the list: each workload sits at another place in every round, and
    neighbours in one round are far apart in the next."""
    if not workloads:
        return []
    shift = round_ * len(workloads) // rounds
    return workloads[shift:] + workloads[:shift]


class _Outcome(Exception):
    """A workload that ends without a measurement: skipped or failed, with the reason."""

    def __init__(self, status: str, reason: str, fields: dict[str, Any] | None = None):
        super().__init__(reason)
        self.status, self.reason, self.fields = status, reason, fields or {}
