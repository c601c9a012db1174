"""Measured ceilings: what this machine actually reaches, beside the peaks it is said to have.

- compute, per dtype: the best of a short sweep of large square GEMMs (flopbench's own matmul workload);
- bandwidth (DRAM): the better of a STREAM copy and triad over arrays at least 4x the last-level cache (CPU) or
  far larger than the L2 (GPU), bytes counted as STREAM counts them (each array read or written once);
- a bandwidth per cache level: a sweep of torch copies over working sets growing by a factor of 2 from well inside
  L1 to 4x the last-level cache, the total traffic of each point held about constant (ERT's way), each point the
  best of its rounds; a level's ceiling is the best of the points inside its size range (the cache sizes the OS
  reports), away from its edges. A level whose calls are mostly the per-call floor (L1 on a CPU: a torch call
  costs about a microsecond) is left unmeasured, and says so;
- the per-call floor: an empty-sized call (a one-element copy) through the run's timer;
- the sustained clock, where the OS gives no clock range (flopbench.machine.clock): the derived CPU peaks use it.

`measure_now` measures them all, watching the machine; the entry it returns is cached per machine by
flopbench.machine.cache, and flopbench.machine.resolve asks for it when a run needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flopbench.errors import first_line
from flopbench.fields import Peak
from flopbench.machine.cache import CacheEntry, KernelRate, machine_identity, now
from flopbench.machine.roofline import Level, SweepPoint, cache_sizes
from flopbench.results.schema import RunSettings
from flopbench.units import seconds
from flopbench.workloads import Workload, make_workload

if TYPE_CHECKING:
    from flopbench.machine.device import Device

CPU_SIZES = (512, 1024, 2048, 4096)
# A CPU's GEMM sweep starts smaller: a dtype the CPU converts (bfloat16 or float16 without native arithmetic) runs
# at about 1 GFLOP/s, cannot grow past 512, and may be fastest at the small sizes a suite also runs, which would
# otherwise read above a ceiling measured only at 512. The extra sizes cost a fraction of a second per dtype.
CPU_GEMM_SIZES = (128, 256, *CPU_SIZES)
GPU_SIZES = (2048, 4096, 8192, 16384)
GROW_CALL_S = 1.0  # a dtype's GEMM sweep does not grow to a size whose call is predicted to take longer
# The other kernels of a dtype (oneDNN's GEMM, a convolution) stop growing sooner: their rate has levelled off by
# then, and `peak --measure` stays under a minute on 2 cores.
GROW_OTHER_S = 0.25
# How each ceiling workload is timed: a short budget, one round (measure_ceilings runs its own rounds).
CEILING_SETTINGS = RunSettings(min_time_s=0.1, max_time_s=1.0, warmup_s=0.05, min_samples=3, on_busy="warn")


@dataclass(frozen=True)
class Kernel:
    """One compute-bound kernel a ceiling may come from: what it is, the library that runs it, its workloads (a
    sweep, smallest first: it stops growing before a call too long)."""

    name: str  # gemm, gemm-as-1x1-conv, conv3x3
    library: str  # MKL, OpenBLAS, oneDNN, cuBLAS, cuDNN, ATen
    workloads: list[Workload]
    default: bool = False  # torch.matmul's own path: the one most code takes


def _blas(device: Device) -> str:
    if device.type == "cuda":
        return "cuBLAS"
    from flopbench.machine.environment import environment

    blas = str(environment().get("blas") or "BLAS")
    return "MKL" if "mkl" in blas.lower() else "OpenBLAS" if "openblas" in blas.lower() else blas


def _conv_library(device: Device, dtype: str) -> str:
    """Who runs a convolution: cuDNN on CUDA; oneDNN on a CPU for the dtypes it has kernels for, else ATen's own."""
    if device.type == "cuda":
        return "cuDNN"
    import torch

    onednn = torch.backends.mkldnn.is_available() and dtype in ("float32", "bfloat16", "float16")
    return "oneDNN" if onednn else "ATen"


def compute_kernels(device: Device, dtype: str) -> list[Kernel]:
    """The kernels a dtype's ceiling is the best of: the GEMM through torch's default BLAS, on a CPU the same GEMM
    through oneDNN (a 1x1 convolution over an image of s x s positions, s channels in and out: 2 s^3 FLOPs), and a
    large 3x3 convolution (ResNet's 64 channels at 56 x 56; cuDNN or oneDNN)."""
    sizes = GPU_SIZES if device.type == "cuda" else CPU_SIZES
    gemm_sizes = GPU_SIZES if device.type == "cuda" else CPU_GEMM_SIZES
    gemm = [make_workload("matmul", {"m": s, "n": s, "k": s}, dtype=dtype) for s in gemm_sizes]
    kernels = [Kernel("gemm", _blas(device), gemm, default=True)]
    if device.type == "cpu":
        onednn = [
            make_workload(
                "pointwise_conv2d",
                {"batch": 1, "in_channels": s, "out_channels": s, "height": s // 32, "width": 32, "bias": False},
                dtype=dtype,
            )
            for s in sizes
        ]
        kernels.append(Kernel("gemm-as-1x1-conv", _conv_library(device, dtype), onednn))
    batches = (32, 128) if device.type == "cuda" else (8, 32)
    conv = [
        make_workload(
            "conv2d",
            {"batch": b, "in_channels": 64, "out_channels": 64, "height": 56, "width": 56, "kernel": 3, "padding": 1},
            dtype=dtype,
        )
        for b in batches
    ]
    kernels.append(Kernel("conv3x3", _conv_library(device, dtype), conv))
    return kernels


def ceiling_workloads(device: Device) -> dict[str, list[Kernel]]:
    """Per ceiling key, the kernels to try (each its workloads, smallest first)."""
    dtypes = [k for k in ("float64", "float32", "bfloat16", "float16") if k in device.peaks] or ["float32"]
    plan: dict[str, list[Kernel]] = {dtype: compute_kernels(device, dtype) for dtype in dtypes}
    if device.type == "cuda" and "tf32" in device.peaks:
        plan["tf32"] = plan["float32"]
    # Two array sizes and two kernels: memory bandwidth on a shared machine varies from moment to moment,
    # and the ceiling is the best it reaches.
    numel = stream_numel(device)
    streams = (numel, 2 * numel) if 3 * 2 * numel * 4 <= _stream_memory(device) else (numel,)
    stream = [make_workload("elementwise", {"kind": kind, "numel": n}) for n in streams for kind in ("copy", "triad")]
    plan["bandwidth"] = [Kernel("stream", "ATen", stream, default=True)]
    return plan


def _stream_memory(device: Device) -> float:
    """Bytes the three arrays of a triad may take: a quarter of the memory free now."""
    from flopbench.machine.device import available_memory

    free = available_memory(device) or device.facts.get("memory_bytes") or 4 * 2**30
    return free / 4


def stream_numel(device: Device) -> int:
    """float32 elements per array: llc_bytes of them make an array 4x the last-level cache (at least 64 MiB), as
    STREAM asks, but never so many that a triad's three arrays take more than a quarter of the free memory (a VM may
    report its host's whole L3); 1 GiB arrays on a GPU, far past any L2."""
    if device.type == "cuda":
        return 256 * 2**20
    wanted = max(device.facts.get("llc_bytes") or 0, 16 * 2**20)
    return int(min(wanted, _stream_memory(device) / (3 * 4)))


@dataclass
class Timed:
    """One ceiling measurement: what time_workload returns."""

    time_s: float
    flops_per_s: float
    bytes_per_s: float
    disturbed: list[str] = field(default_factory=list)  # why the machine was not quiet, if it was not

    def rate(self, key: str) -> float:
        """The ceiling it gives: bytes/s for the bandwidth, FLOP/s for a GEMM."""
        return self.bytes_per_s if key == "bandwidth" else self.flops_per_s


@dataclass
class Ceilings:
    """What measure_ceilings found: per key the ceiling (the best kernel's rate), every kernel's best, and why the
    machine was not quiet during a kept measurement (None when every kept one was quiet)."""

    ceilings: dict[str, Peak]
    kernels: dict[str, list[KernelRate]]
    disturbed: str | None


def measure_ceilings(
    device: Device,
    time_workload: Callable[[Workload, bool], Timed],
    on_step: Callable[[str], None] = lambda text: None,
    max_call_s: float | None = None,
    rounds: int = 2,
) -> Ceilings:
    """Measure every ceiling: each key's kernels, each kernel's best workload, the best kernel kept.

    Round 1 sweeps each kernel's sizes, smallest first; a sweep stops growing before a size whose predicted call (the
    last call's time scaled by the FLOPs) exceeds GROW_CALL_S or max_call_s, and a kernel whose first call would
    (predicted from the key's best rate so far) is not tried. Later rounds measure each kernel's best size again;
    the best of all is kept, so a moment of interference cannot set a ceiling. Only the kept measurement's
    disturbance counts: a disturbed round that lost to a quiet one changes nothing."""
    grow_s = min(GROW_CALL_S, max_call_s) if max_call_s else GROW_CALL_S
    best: dict[tuple[str, str], tuple[Timed, Workload]] = {}  # (key, kernel) -> its best measurement
    plan = ceiling_workloads(device)

    def measure(key: str, kernel: Kernel, workload: Workload) -> Timed | None:
        on_step(f"ceiling {key}: {kernel.name} ({kernel.library}) {workload.name}")
        try:
            timed = time_workload(workload, key == "tf32")
        except (RuntimeError, MemoryError) as exc:  # out of memory or unsupported: the sweep ends here
            on_step(f"ceiling {key}: {workload.name} failed ({first_line(exc, 80)})")
            return None
        held = best.get((key, kernel.name))
        if held is None or timed.rate(key) > held[0].rate(key):
            best[(key, kernel.name)] = (timed, workload)
        return timed

    for key, kernels in plan.items():
        for kernel in kernels:
            _sweep(key, kernel, measure, grow_s if kernel.default else min(grow_s, GROW_OTHER_S), _best_rate(best, key))
    for _ in range(1, rounds):
        for (key, name), (_, workload) in list(best.items()):
            measure(key, next(k for k in plan[key] if k.name == name), workload)
    return _ceilings(plan, best, rounds)


def _best_rate(best: dict[tuple[str, str], tuple[Timed, Workload]], key: str) -> Callable[[], float]:
    return lambda: max((t.rate(key) for (k, _), (t, _) in best.items() if k == key), default=0.0)


def _sweep(key: str, kernel: Kernel, measure: Callable, grow_s: float, best_rate: Callable[[], float]) -> None:
    """One kernel's sizes, smallest first, stopping before a call predicted over grow_s."""
    for index, workload in enumerate(kernel.workloads):
        rate = best_rate()
        if key != "bandwidth" and index == 0 and rate and workload.counts.total_flops / rate > grow_s:
            return  # even its smallest size would take too long at the best rate this key has reached
        timed = measure(key, kernel, workload)
        if timed is None:
            return
        following = kernel.workloads[index + 1] if index + 1 < len(kernel.workloads) else None
        if (
            key != "bandwidth"
            and following is not None
            and timed.time_s * following.counts.total_flops / workload.counts.total_flops > grow_s
        ):
            return


def _ceilings(plan: dict[str, list[Kernel]], best: dict, rounds: int) -> Ceilings:
    ceilings: dict[str, Peak] = {}
    kernels: dict[str, list[KernelRate]] = {}
    disturbed: list[str] = []
    for key, candidates in plan.items():
        found = [(kernel, *best[(key, kernel.name)]) for kernel in candidates if (key, kernel.name) in best]
        kernels[key] = [
            KernelRate(
                kernel=kernel.name,
                library=kernel.library,
                workload=workload.name,
                flops_per_s=timed.rate(key),
                default=kernel.default,
                disturbed=timed.disturbed,
            )
            for kernel, timed, workload in found
        ]
        if not found:
            continue
        kernel, timed, workload = max(found, key=lambda item: item[1].rate(key))
        if timed.rate(key) <= 0:
            continue
        if key == "bandwidth":
            detail = f"best of STREAM copy and triad in {rounds} rounds: {workload.name}"
        else:
            detail = (
                f"best of {len(found)} kernels in {rounds} rounds: {kernel.name} ({kernel.library}), {workload.name}"
            )
        ceilings[key] = Peak(timed.rate(key), "measured", detail)
        disturbed.extend(f"{workload.name}: {reason}" for reason in timed.disturbed)
    return Ceilings(ceilings, kernels, "; ".join(dict.fromkeys(disturbed)) or None)


# --- the working-set sweep: a bandwidth per cache level -------------------------------------------------------------

SWEEP_SMALLEST = 4 * 2**10  # bytes: well inside any L1
SWEEP_TRAFFIC = 256 * 2**20  # bytes each point moves, about (ERT holds the traffic per point constant)
SWEEP_ROUNDS = 3  # each point is the best of this many
# A level holds the working sets the sweep still moved at this share of its ceiling: at its edge a cache holds the
# working set with everything else that lives there (on a 32 MiB-L3 Zen 3 VM, a 16 MiB copy ran at 99.5 GB/s, a
# 32 MiB one at 44.5 GB/s, against an L3 ceiling of 112 GB/s and DRAM's 38).
PLATEAU_SHARE = 0.75
# A level whose best call spends more than this share of its time in the per-call floor is hidden by it: its
# bandwidth would read a third or more low, the floor's number more than the cache's (L1 on a CPU: a 32 KiB copy takes
# 2.5-2.9 us, 1.2-2.2 of them the floor; the best L2 copies take 7-13 us).
HIDDEN_SHARE = 1 / 3


def sweep_sizes(device: Device, threads: int | None = None) -> list[int]:
    """Working sets (bytes a copy touches, source and destination) from SWEEP_SMALLEST to 4x the last-level cache,
    growing by a factor of 2; on a GPU, from well inside its L2 to 4x it."""
    caches = cache_sizes(device, threads)
    largest = max((level.capacity_bytes or 0 for level in caches), default=0) or 32 * 2**20
    sizes, size = [], SWEEP_SMALLEST
    while size <= 4 * largest:
        sizes.append(size)
        size *= 2
    return sizes


def read_levels(
    device: Device, points: list[SweepPoint], overhead_s: float | None, threads: int | None = None
) -> list[Level]:
    """Each cache level's ceiling from the sweep: the best point inside its range, from twice the level below (the
    lower edge still holds the level below's plateau) up to its own size, or the whole range where that holds no
    point. A level whose best call spends more than HIDDEN_SHARE of its time in the per-call floor is left
    unmeasured: the figure would be the floor's."""
    levels, below = [], 0
    for cache in cache_sizes(device, threads):
        size = cache.capacity_bytes or 0
        inside = [p for p in points if 2 * below < p.working_set_bytes <= size]
        inside = inside or [p for p in points if below < p.working_set_bytes <= size]
        below = size
        if not inside:
            levels.append(Level(cache.name, size, cache.peak, None, f"{cache.note}; no sweep point inside it"))
            continue
        best = max(inside, key=lambda p: p.bytes_per_s)
        if overhead_s and overhead_s > HIDDEN_SHARE * best.call_s:
            note = (
                f"{cache.note}; not measured: a call on a working set this small takes {seconds(best.call_s)},"
                f" and the per-call floor is {seconds(overhead_s)} of it (the figure would be the overhead's)"
            )
            levels.append(Level(cache.name, size, cache.peak, None, note))
            continue
        detail = (
            f"best torch copy of the working-set sweep inside {cache.name} ({len(inside)} point"
            f"{'s' * (len(inside) > 1)}): {best.working_set_bytes // 1024} KiB"
        )
        plateau = [
            p.working_set_bytes
            for p in points
            if p.working_set_bytes <= size and p.bytes_per_s >= PLATEAU_SHARE * best.bytes_per_s
        ]
        ceiling = Peak(best.bytes_per_s, "measured", detail)
        levels.append(Level(cache.name, size, cache.peak, ceiling, cache.note, max(plateau, default=None)))
    return levels


def measure_sweep(
    sizes: list[int], time_copy: Callable[[int, int], float], on_step: Callable[[str], None] = lambda text: None
) -> list[SweepPoint]:
    """Each working set's bandwidth, the best of SWEEP_ROUNDS: `time_copy(working_set, calls)` times that many calls
    of a copy touching `working_set` bytes and returns seconds."""
    points = []
    for size in sizes:
        calls = max(1, SWEEP_TRAFFIC // size)
        seconds = min(time_copy(size, calls) for _ in range(SWEEP_ROUNDS))
        points.append(SweepPoint(size, size * calls / seconds, seconds / calls))
    on_step(f"bandwidth sweep: {len(points)} working sets, {sizes[0] // 1024} KiB to {sizes[-1] // 2**20} MiB")
    return points


# --- measuring them all, watching the machine ---------------------------------------------------------------------


def measure_now(device: Device, threads: int, max_call_s: float | None = None) -> CacheEntry:
    """Measure this machine's ceilings, watching it: an entry measured while it was busy says so."""
    from flopbench.console import info
    from flopbench.machine.resolve import Machine
    from flopbench.measuring.runner import Runner, make_timer, torch_settings
    from flopbench.measuring.session import Session

    machine = Machine.of(device, threads, None)  # its peaks alone: the ceilings are what is being measured
    sessions = {
        tf32: Session(machine, CEILING_SETTINGS.model_copy(update={"max_call_s": max_call_s, "tf32": tf32}), "warm")
        for tf32 in (False, True)
    }
    cap = sessions[False].settings.max_call_s
    with sessions[False].running() as watch:
        sessions[True].watch = watch
        quiet = watch.quiet_check
        runners: dict[bool, Runner] = {}

        def time_workload(workload, tf32):
            runner = runners.get(tf32) or runners.setdefault(tf32, sessions[tf32].runner(lambda record: None))
            with torch_settings(device.type, threads, tf32):
                record = runner.run_one(workload)
            if record.status != "ok" or not record.time_s:
                raise RuntimeError(record.reason)
            reasons = record.interference.reasons if record.interference and record.interference.busy else []
            return Timed(record.time_s, record.total_flops_per_s or 0.0, record.bytes_per_s or 0.0, reasons)

        def step(text: str) -> None:
            info(f"  {text}")

        found = measure_ceilings(device, time_workload, max_call_s=cap, on_step=step)
        copies = CopyTimer(device)
        overhead = make_timer(device, CEILING_SETTINGS).measure(copies.floor).median_s
        sweep = measure_sweep(sweep_sizes(device, threads), copies.time, step)
    return CacheEntry(
        identity=machine_identity(device, threads),
        measured_at=now(),
        ceilings=found.ceilings,
        kernels=found.kernels,
        disturbed=found.disturbed,
        disturbed_runs=1 if found.disturbed else 0,
        canary_s=None if found.disturbed else quiet.get("canary_start_s"),
        levels=read_levels(device, sweep, overhead, threads),
        sweep=sweep,
        overhead_s=overhead,
    )


class CopyTimer:
    """Torch copies on the device, for the working-set sweep and the per-call floor: `time(working_set, calls)`
    seconds for `calls` copies of working_set / 2 bytes (source and destination together touch working_set)."""

    def __init__(self, device: Device):
        import torch

        self.torch, self.device = torch, torch.device(device.torch_device)
        self._tensors: dict[int, tuple[Any, Any]] = {}
        self.tiny = self._pair(8)

    def _pair(self, working_set: int) -> tuple[Any, Any]:
        if working_set not in self._tensors:
            self._tensors.clear()  # one size at a time: the sweep's largest would otherwise all stay allocated
            numel = max(1, working_set // 8)  # float32: source and destination, 4 bytes each per element
            src = self.torch.rand(numel, device=self.device)
            self._tensors[working_set] = (src, self.torch.empty_like(src))
        return self._tensors[working_set]

    def _sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def floor(self) -> None:
        """One call that moves (almost) nothing: the per-call floor, through the run's timer."""
        self.tiny[1].copy_(self.tiny[0])

    def time(self, working_set: int, calls: int) -> float:
        import time

        src, dst = self._pair(working_set)
        dst.copy_(src)  # warm: the pages touched, the caches filled
        self._sync()
        start = time.perf_counter()
        for _ in range(calls):
            dst.copy_(src)
        self._sync()
        return time.perf_counter() - start
