"""Timers: how long one call of a workload takes, with the raw samples kept.

A sample is one timed block of `calls_per_sample` back-to-back calls; its per-call time is the block's
duration divided by the calls. Statistics are derived from the samples (the median is the figure quoted).

- CpuTimer: time.perf_counter around blocks whose size grows until the clock's own cost is negligible
  (as torch.utils.benchmark's blocked_autorange), until a minimum time has passed and the spread is small.
- CudaTimer: CUDA events around each sample, the L2 cache flushed between samples outside the timed
  window, one synchronization per batch of samples; optionally the calls captured in a CUDA graph so that
  launch overhead does not dominate tiny kernels.

Both take their clock (CPU) or their CUDA operations (CUDA) as arguments, so the logic is tested on fakes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from flopbench.measuring.memory import fault_warning, page_faults, took_memory

if TYPE_CHECKING:
    from flopbench.results.schema import RunSettings

NOISY_REL_IQR = 0.10  # warn when IQR / median exceeds this
MIN_RESOLUTIONS = 20  # warn when a sample lasts fewer timer resolutions than this


@dataclass(frozen=True)
class Measurement:
    """Per-call times of every sample, and what is derived from them."""

    samples_s: tuple[float, ...]
    calls_per_sample: int
    timer: str  # "perf_counter", "cuda_events", "cuda_graph"
    resolution_s: float
    notes: tuple[str, ...] = ()  # what the timer itself noticed (e.g. throttling, warm L2)
    page_faults_per_call: float | None = (
        None  # this process's page faults per timed call (CPU; flopbench.measuring.memory)
    )

    @cached_property
    def _array(self) -> np.ndarray:
        return np.asarray(self.samples_s, dtype=float)

    @cached_property
    def median_s(self) -> float:
        return float(np.median(self._array))

    @cached_property
    def iqr_s(self) -> float:
        q1, q3 = np.percentile(self._array, [25, 75])
        return float(q3 - q1)

    @property
    def min_s(self) -> float:
        return float(self._array.min())

    @property
    def mean_s(self) -> float:
        return float(self._array.mean())

    @property
    def cv(self) -> float:
        """Coefficient of variation: standard deviation / mean."""
        return float(self._array.std(ddof=1) / self.mean_s) if len(self._array) > 1 else 0.0

    @property
    def rel_iqr(self) -> float:
        return self.iqr_s / self.median_s if self.median_s > 0 else math.inf

    @property
    def timed_s(self) -> float:
        """Total time inside timed samples."""
        return float(self._array.sum()) * self.calls_per_sample

    def warnings(self) -> list[str]:
        found = list(self.notes)
        if faults := fault_warning(self.page_faults_per_call):
            found.append(faults)
        if self.rel_iqr > NOISY_REL_IQR:
            found.append(f"noisy: IQR is {self.rel_iqr:.0%} of the median ({len(self.samples_s)} samples)")
        sample_s = self.median_s * self.calls_per_sample
        if sample_s < MIN_RESOLUTIONS * self.resolution_s:
            found.append(
                f"timer resolution: a sample lasts {sample_s:.2e} s, under {MIN_RESOLUTIONS}x the timer resolution"
                f" ({self.resolution_s:.1e} s)"
            )
        return found


# A CPU warm-up goes on until WARMUP_CLEAN_CALLS calls in a row took under FAULT_NOTE_BYTES of page faults each
# (memory.took_memory), up to WARMUP_FAULT_CAP warm-up times (as many as a CUDA warm-up may take to steady). On the
# 2-vCPU Zen 3 VM a 64 MiB layer norm faulted on its first two or three calls of a round, 3.5x the time of the rest,
# and so on ~10 of ~70 timed calls in a make bench.
WARMUP_FAULT_CAP = 10
WARMUP_CLEAN_CALLS = 3  # one clean call between faulting ones was seen: a heap's layout alternating
# A first call over the cap but under this many times it may be paying one-time costs (page faults on fresh outputs,
# JIT compilation): the second call decides. Over it, the first decides: a slow dtype costs at most ~5x the cap.
FIRST_CALL_GRACE = 4.0


def over_cap(first_s: float, cap_s: float | None, again: Callable[[], float]) -> None:
    """Raise CallTooSlow if a workload's calls exceed the cap; `again` times one more call."""
    if cap_s is None or first_s <= cap_s:
        return
    seconds = first_s if first_s > FIRST_CALL_GRACE * cap_s else again()
    if seconds > cap_s:
        raise CallTooSlow(seconds, cap_s)


class CallTooSlow(Exception):
    """A (warm-up) call took longer than the cap: the workload is not measured."""

    def __init__(self, seconds: float, cap_s: float):
        super().__init__(f"one call took {seconds:.3g} s, over the {cap_s:.3g} s cap")
        self.seconds, self.cap_s = seconds, cap_s


@dataclass
class Budget:
    """How long to measure: at least min_time_s of samples and min_samples of them, more until the spread
    is under target_rel_iqr, never past max_time_s (then at least 3 samples). The defaults are `flopbench run`'s
    per round (its ROUND_CAP: docs/methodology.md, section 2)."""

    min_time_s: float = 0.2
    max_time_s: float = 1.0
    warmup_s: float = 0.025
    min_samples: int = 5
    target_rel_iqr: float = 0.05
    max_samples: int = 10_000

    @classmethod
    def of(cls, settings: RunSettings) -> Budget:
        """The budget a run's settings give (each workload and round)."""
        return cls(
            min_time_s=settings.min_time_s,
            max_time_s=settings.max_time_s,
            warmup_s=settings.warmup_s,
            min_samples=settings.min_samples,
            target_rel_iqr=settings.target_rel_iqr if settings.target_rel_iqr is not None else cls.target_rel_iqr,
            max_samples=settings.max_samples,
        )

    def done(self, samples: list[float], sampled_s: float) -> bool:
        n = len(samples)
        if n >= self.max_samples or (sampled_s >= self.max_time_s and n >= 3):
            return True
        if sampled_s < self.min_time_s or n < self.min_samples:
            return False
        q1, median, q3 = np.percentile(samples, [25, 50, 75])
        return (q3 - q1) <= self.target_rel_iqr * median


def _calls_for(target_s: float, per_call_s: float) -> int:
    """Calls that make a block last target_s (the epsilon keeps 10.000000001 from becoming 11)."""
    return max(1, math.ceil(target_s / per_call_s * (1 - 1e-9))) if per_call_s > 0 else 1


def measure_clock(clock: Callable[[], float], reads: int = 2000) -> float:
    """The smallest nonzero step of the clock (its resolution), or its cost per read if larger."""
    deltas = []
    for _ in range(reads):
        a = clock()
        b = clock()
        if b > a:
            deltas.append(b - a)
    return float(np.median(deltas)) if deltas else 1e-9


class Evictor:
    """Cold caches on a CPU: writes a buffer of twice the last-level cache, so that what a call touched before is gone
    from every cache level (its lines evicted by the buffer's) before the next timed call."""

    def __init__(self, llc_bytes: int):
        import torch

        self.bytes = 2 * max(llc_bytes, 8 * 2**20)
        self._buffer = torch.empty(self.bytes // 4, dtype=torch.float32)
        self._value = 0.0

    def __call__(self) -> None:
        self._value += 1.0
        self._buffer.fill_(self._value)  # a write of every line: the buffer's lines replace the workload's


class CpuTimer:
    """Blocks of back-to-back calls (warm caches); with `evict`, one call per sample and the caches evicted before each,
    outside the timed window (cold caches: a layer as it runs inside a network)."""

    name = "perf_counter"

    def __init__(
        self,
        budget: Budget | None = None,
        clock: Callable[[], float] = time.perf_counter,
        resolution_s: float | None = None,
        faults: Callable[[], int] | None = None,
        evict: Callable[[], None] | None = None,
    ):
        self.budget = budget or Budget()
        self.clock = clock
        self.faults = faults or page_faults  # the process's page faults so far, read around the timed samples
        self.resolution_s = resolution_s if resolution_s is not None else measure_clock(clock)
        self.evict = evict

    def _block(self, fn: Callable[[], Any], calls: int) -> float:
        clock = self.clock
        start = clock()
        for _ in range(calls):
            fn()
        return clock() - start

    def warm(self, fn: Callable[[], Any], max_call_s: float | None = None) -> float:
        """Warm-up (caches, allocator, lazy initialization), which also estimates one call's time (returned). A first
        call over the cap ends it: the workload would blow the run's time budget. It goes on past the warm-up time
        until WARMUP_CLEAN_CALLS calls in a row took no memory from the OS (a heap growing to the workload's size:
        flopbench.measuring.memory), for at most WARMUP_FAULT_CAP warm-up times."""
        budget = self.budget
        faults = self.faults()
        first = self._block(fn, 1)
        over_cap(first, max_call_s, lambda: self._block(fn, 1))
        calls, spent = 1, first
        clean = 0 if took_memory(self.faults() - faults) else 1  # calls in a row that took no memory from the OS
        while spent < budget.warmup_s or (clean < WARMUP_CLEAN_CALLS and spent < WARMUP_FAULT_CAP * budget.warmup_s):
            faults = self.faults()
            spent += self._block(fn, 1)
            calls += 1
            clean = 0 if took_memory(self.faults() - faults) else clean + 1
        return spent / calls

    def block_calls(self, per_call_s: float, samples: int = 20) -> int:
        """Calls per sample: the clock's cost (about one resolution) under 1e-4 of a block, and a block about
        1/`samples` of the minimum time: long enough to average out scheduler noise, short enough to give a spread
        from that many samples (a paired run asks for its pairs). Cold caches: one call per sample, after an
        eviction."""
        if self.evict is not None:
            return 1
        return _calls_for(max(1e4 * self.resolution_s, self.budget.min_time_s / samples), per_call_s)

    def sample(self, fn: Callable[[], Any], calls: int) -> float:
        """One sample's per-call time (cold: after an eviction of the caches, outside the timed window)."""
        if self.evict is not None:
            self.evict()
        return self._block(fn, calls) / calls

    def measure(self, fn: Callable[[], Any], max_call_s: float | None = None) -> Measurement:
        budget = self.budget
        per_call = self.warm(fn, max_call_s)
        if self.evict is not None:
            return self._cold(fn)
        number = self.block_calls(per_call)
        samples: list[float] = []
        sampled = 0.0
        faults = self.faults()
        while not budget.done(samples, sampled):
            block = self._block(fn, number)
            samples.append(block / number)
            sampled += block
        faults = self.faults() - faults
        return Measurement(
            tuple(samples), number, self.name, self.resolution_s, page_faults_per_call=faults / (len(samples) * number)
        )

    def _cold(self, fn: Callable[[], Any]) -> Measurement:
        """One call per sample, the caches evicted before each (not timed). The budget counts wall time too: an
        eviction costs milliseconds, so a short call stops at max_time_s of wall time, with its samples."""
        assert self.evict is not None
        budget, sampled = self.budget, 0.0
        samples: list[float] = []
        started, faults, evictions = self.clock(), self.faults(), 0
        while not budget.done(samples, sampled):
            if len(samples) >= max(3, budget.min_samples) and self.clock() - started > budget.max_time_s:
                break
            before = self.faults()
            self.evict()
            evictions += self.faults() - before
            sample = self._block(fn, 1)
            samples.append(sample)
            sampled += sample
        faults = self.faults() - faults - evictions
        notes = ("cold: the caches were evicted before each timed call",)
        return Measurement(tuple(samples), 1, self.name, self.resolution_s, notes, faults / len(samples))


# --- CUDA ------------------------------------------------------------------------------------


class CudaOps(Protocol):
    """What CudaTimer needs from CUDA: real in TorchCuda, fake in the tests."""

    def event(self) -> Any: ...  # .record(), .elapsed_time(end) in milliseconds
    def synchronize(self) -> None: ...
    def flush_l2(self) -> None: ...
    def graph(self, fn: Callable[[], Any] | None, calls: int, flush: bool) -> Callable[[], None]: ...


class TorchCuda:
    """CudaOps on a real device. The L2 flush reads a buffer twice the L2 size (at least 64 MiB) into a sum: reading
    evicts the workload's lines (its dirty ones written back then, inside the flush) and leaves only clean lines
    behind, where a flush that writes (zero_()) would leave dirty lines to be written back in the next timed call."""

    EVENT_RESOLUTION_S = 0.5e-6  # CUDA documents event timing "with a resolution of around 0.5 microseconds"

    def __init__(self, device):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        props = torch.cuda.get_device_properties(self.device)
        l2 = getattr(props, "L2_cache_size", 0) or 50 * 2**20
        self.flush_bytes = max(2 * l2, 64 * 2**20)
        self._flush = torch.ones(self.flush_bytes // 4, dtype=torch.int32, device=self.device)
        self._sink = torch.zeros((), dtype=torch.int32, device=self.device)

    def event(self):
        return self.torch.cuda.Event(enable_timing=True)

    def synchronize(self) -> None:
        self.torch.cuda.synchronize(self.device)

    def flush_l2(self) -> None:
        self.torch.sum(self._flush, 0, dtype=self.torch.int32, out=self._sink)  # reads every line, writes one value

    def graph(self, fn, calls, flush):
        """A replay of `calls` calls captured in a CUDA graph, each after an L2 flush when `flush` (flushes alone when
        `fn` is None: the part CudaTimer subtracts)."""
        torch = self.torch
        parts = ([self.flush_l2] if flush else []) + ([fn] if fn is not None else [])
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):  # warm-up on a side stream, as CUDA graph capture requires
            for _ in range(3):
                for part in parts:
                    part()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(calls):
                for part in parts:
                    part()
        return graph.replay


# At most this many samples per measurement on a GPU: a 10 us kernel would otherwise fill the budget's 10,000 (about
# 1.4 MB a record); a thousand give its median to well under 1% and stay small in a results file.
MAX_CUDA_SAMPLES = 1000


@dataclass
class CudaTimer:
    """Samples of `calls` back-to-back calls between two CUDA events; cold (the default), the L2 flushed before each.

    A flush before the start event also keeps the GPU busy while the CPU queues the timed calls, so a sample does not
    include the gap of a slow launch. Kernels shorter than 20 event resolutions are called several times per sample
    (the L2 is then warm after the first) or, with use_graph, replayed from a CUDA graph: cold, a graph of flush and
    call pairs, less a graph of the flushes alone replayed beside it, so every call meets a flushed L2 (a graph of
    calls alone would time the L2: a working set under the L2's size reads above the memory's roof); warm, a graph
    of the calls alone. At most MAX_CUDA_SAMPLES samples per measurement.
    """

    ops: CudaOps
    budget: Budget = field(default_factory=Budget)
    use_graph: bool = False
    cold: bool = True  # the L2 flushed before each sample (warm: calls back to back, nothing flushed)
    resolution_s: float = TorchCuda.EVENT_RESOLUTION_S
    batch: int = 10  # samples queued between synchronizations
    clock: Callable[[], float] = time.perf_counter  # wall clock, for the warm-up and budget only

    @property
    def name(self) -> str:
        return "cuda_graph" if self.use_graph else "cuda_events"

    def _samples(self, run: Callable[[], Any], count: int, flush: bool | None = None) -> list[float]:
        """Queue `count` samples (each after a flush: when cold, unless `flush` says), synchronize once, return each
        sample's seconds."""
        pairs = []
        for _ in range(count):
            if self.cold if flush is None else flush:
                self.ops.flush_l2()
            start, end = self.ops.event(), self.ops.event()
            start.record()
            run()
            end.record()
            pairs.append((start, end))
        self.ops.synchronize()
        return [start.elapsed_time(end) / 1e3 for start, end in pairs]

    def _warmup(self, fn: Callable[[], Any], max_call_s: float | None = None) -> float:
        """Run single calls until their time is steady (two windows of 5 agree within 5%) and the warm-up
        time has passed, or 10 warm-up times have passed. Returns one call's time. The very first call is timed
        alone: over the cap, nothing more runs."""
        budget = self.budget
        began = self.clock()
        times: list[float] = self._samples(fn, 1)
        over_cap(times[0], max_call_s, lambda: self._samples(fn, 1)[0])
        while True:
            times += self._samples(fn, 5)
            elapsed = self.clock() - began
            steady = len(times) >= 10 and abs(np.median(times[-5:]) / np.median(times[-10:-5]) - 1) < 0.05
            if (steady and elapsed >= budget.warmup_s) or elapsed >= 10 * budget.warmup_s:
                return float(np.median(times[-5:]))

    def warm(self, fn: Callable[[], Any], max_call_s: float | None = None) -> float:
        return self._warmup(fn, max_call_s)

    def block_calls(self, per_call_s: float, samples: int = 0) -> int:
        """Calls per sample: enough for a sample to last MIN_RESOLUTIONS event resolutions (whatever the samples:
        more calls would warm the L2 a cold sample wants flushed)."""
        return _calls_for(MIN_RESOLUTIONS * self.resolution_s, per_call_s)

    def sample(self, fn: Callable[[], Any], calls: int) -> float:
        """One sample's per-call time, between two events (after an L2 flush, when cold)."""
        run = fn if calls == 1 else lambda: [fn() for _ in range(calls)]
        return self._samples(run, 1)[0] / calls

    def measure(self, fn: Callable[[], Any], max_call_s: float | None = None) -> Measurement:
        per_call = self._warmup(fn, max_call_s)
        calls = self.block_calls(per_call)
        budget = Budget(**{**vars(self.budget), "max_samples": min(self.budget.max_samples, MAX_CUDA_SAMPLES)})
        if self.use_graph:
            return self._graphed(fn, max(calls, 10), budget)
        notes: list[str] = []
        run: Callable[[], Any] = fn
        if calls > 1:
            run = lambda: [fn() for _ in range(calls)]  # noqa: E731
            if self.cold:
                notes.append(
                    f"{calls} calls per sample: the L2 is flushed before the first only; "
                    f"--cuda-graph times tiny kernels without launch gaps, each call after a flush"
                )
        samples: list[float] = []
        sampled = 0.0
        while not budget.done(samples, sampled):
            block = self._samples(run, self.batch)
            samples += [b / calls for b in block]
            sampled += sum(block)
        return Measurement(tuple(samples), calls, self.name, self.resolution_s, tuple(notes))

    def _graphed(self, fn: Callable[[], Any], calls: int, budget: Budget) -> Measurement:
        """Graph replays of `calls` calls; cold, of flush and call pairs, each sample less the median replay of the
        flushes alone in the same batch."""
        run = self.ops.graph(fn, calls, self.cold)
        flushes = self.ops.graph(None, calls, True) if self.cold else None
        samples: list[float] = []
        sampled, dropped = 0.0, 0
        while not budget.done(samples, sampled) and dropped <= budget.max_samples:
            block = self._samples(run, self.batch, flush=False)  # the graphs flush inside
            alone = float(np.median(self._samples(flushes, self.batch, flush=False))) if flushes else 0.0
            kept = [(b - alone) / calls for b in block if b > alone]
            dropped += len(block) - len(kept)
            samples += kept
            sampled += sum(kept) * calls
        if not samples:
            raise RuntimeError("under a CUDA graph the calls took no measurable time beside the L2 flushes alone")
        notes = (f"{dropped} graph samples no longer than the flushes alone: dropped",) if dropped else ()
        return Measurement(tuple(samples), calls, self.name, self.resolution_s, notes)
