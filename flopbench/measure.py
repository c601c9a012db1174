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
- the sustained clock, where the OS gives no clock range (flopbench.clock): the derived CPU peaks use it.

Ceilings are cached per machine, keyed on what identifies its hardware and software (machine_identity), with their
date, and reused by later runs until re-measured. The cache lives in $FLOPBENCH_CACHE_DIR, default
~/.cache/flopbench.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from flopbench.errors import first_line
from flopbench.roofline import Level, SweepPoint, cache_sizes
from flopbench.schema import Device, Peak, RunSettings, validation_text
from flopbench.workloads import Workload, make_workload

CPU_SIZES = (512, 1024, 2048, 4096)
GPU_SIZES = (2048, 4096, 8192, 16384)
GROW_CALL_S = 1.0  # a dtype's GEMM sweep does not grow to a size whose call is predicted to take longer
# How each ceiling workload is timed: a short budget, one round (measure_ceilings runs its own rounds).
CEILING_SETTINGS = RunSettings(min_time_s=0.1, max_time_s=1.0, warmup_s=0.05, min_samples=3, on_busy="warn")


# 3: the canary's copy is sized from the last-level cache, so a version 2 quiet canary reference is another canary's
# 4: the cache levels, the per-call floor and the measured clock are part of an entry
CACHE_VERSION = 4


class CacheEntry(BaseModel):
    """One machine's measured ceilings, with what identifies the machine they were measured on."""

    model_config = ConfigDict(extra="allow")
    identity: dict[str, Any]  # hardware and software (machine_identity); never the host name
    measured_at: str  # ISO 8601, UTC
    ceilings: dict[str, Peak]
    disturbed: str | None = None  # why the machine was not quiet while they were measured; such entries are refused
    canary_s: float | None = None  # the interference canary's time on this machine, quiet (its reference)
    run_canary_s: float | None = None  # the median canary between workloads of the quietest run on this machine
    disturbed_runs: int = 0  # measurements in a row that were disturbed: after REFUSE_DISTURBED, kept (flagged)
    levels: list[Level] = []  # bandwidth per cache level, measured or said why not (flopbench.roofline.Level)
    sweep: list[SweepPoint] = []  # the working-set sweep the levels were read from
    overhead_s: float | None = None  # the per-call floor through the run's timer
    clock_hz: float | None = None  # the sustained clock (flopbench.clock), where it was measured
    clock_how: str | None = None  # how it was found, or why it was not


REFUSE_DISTURBED = 2  # a disturbed entry is measured again until this many measurements in a row were disturbed


def ceiling_decision(
    cached: CacheEntry | None, *, measure: bool, measure_if_needed: bool, bandwidth_known: bool
) -> tuple[str, str | None]:
    """("use" | "measure" | "none", a warning or None): use the cached ceilings, measure them now, or run without.
    A cached entry measured on a busy machine is refused (measured again) until REFUSE_DISTURBED measurements in a
    row were disturbed; then the machine seems always that busy, and the entry is used, flagged."""
    if measure:
        return "measure", None
    if cached is not None and cached.disturbed:
        if measure_if_needed and cached.disturbed_runs < REFUSE_DISTURBED:
            return "measure", (
                f"the cached ceilings of this machine were measured while it was busy"
                f" ({cached.disturbed}); they are refused and measured again"
            )
        return "use", (
            f"the cached ceilings were measured while the machine was busy ({cached.disturbed}) in"
            f" {cached.disturbed_runs} measurement(s) in a row: they are used, flagged (flopbench peak"
            f" --measure on a quiet machine refreshes them)"
        )
    if cached is not None:
        return "use", None
    if measure_if_needed and not bandwidth_known:
        return "measure", None
    return "none", None


def merged(old: CacheEntry | None, new: CacheEntry) -> CacheEntry:
    """A re-measurement of a refused entry keeps, per ceiling, the best the machine has reached in either."""
    if old is None:
        return new
    ceilings = dict(new.ceilings)
    for key, peak in old.ceilings.items():
        if key not in ceilings or (peak.value or 0) > (ceilings[key].value or 0):
            ceilings[key] = peak
    runs = old.disturbed_runs + 1 if new.disturbed else 0
    canaries = [c for c in (new.canary_s, old.canary_s) if c]
    run_canaries = [c for c in (new.run_canary_s, old.run_canary_s) if c]
    return new.model_copy(
        update={
            "ceilings": ceilings,
            "disturbed_runs": runs,
            "canary_s": min(canaries) if canaries else None,
            "run_canary_s": min(run_canaries) if run_canaries else None,
        }
    )


def cache_dir() -> Path:
    return Path(os.environ.get("FLOPBENCH_CACHE_DIR") or Path.home() / ".cache" / "flopbench")


def cache_path() -> Path:
    return cache_dir() / "ceilings.json"


def machine_identity(device: Device, threads: int) -> dict[str, Any]:
    """What makes ceilings comparable: the hardware (CPU vendor, family, model, stepping and ISA flags, or the GPU
    and its UUID; cores and threads) and the software that runs the kernels (torch, BLAS, oneDNN, the ISA
    PyTorch's kernels use, CUDA). A host name says none of it: one image's name covers many machines."""
    from flopbench.environment import environment

    facts = device.facts
    hardware: dict[str, Any] = {"type": device.type, "name": device.name}
    keys = (
        ("vendor", "family", "model", "stepping", "flags_sha256", "logical_cpus", "physical_cores")
        if device.type == "cpu"
        else ("uuid", "compute_capability", "multiprocessors", "memory_bytes")
    )
    hardware.update({key: facts.get(key) for key in keys})
    software = {
        key: value
        for key, value in environment().items()
        if key in ("torch", "blas", "onednn", "cpu_capability", "cuda", "cudnn")
    }
    software["onednn_max_cpu_isa"] = os.environ.get("ONEDNN_MAX_CPU_ISA")  # a cap on oneDNN's kernels changes them
    return {**hardware, "threads": threads, **software}


def cache_key(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_cache(warn: Callable[[str], None]) -> dict[str, Any]:
    path = cache_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        warn(f"{path}: unreadable ({first_line(exc, 80)}); it is ignored and ceilings are measured again")
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("entries"), dict):
        warn(
            f"{path}: not a flopbench {CACHE_VERSION} ceilings cache (an older flopbench, or damaged); it is"
            f" ignored and replaced when ceilings are next measured"
        )
        return {}
    return data["entries"]


def load_cached(device: Device, threads: int, warn: Callable[[str], None] = lambda text: None) -> CacheEntry | None:
    """The cached ceilings of this machine, or None (not measured yet, or the entry is damaged)."""
    raw = _read_cache(warn).get(cache_key(machine_identity(device, threads)))
    if raw is None:
        return None
    try:
        return CacheEntry.model_validate(raw)
    except ValidationError as exc:
        warn(f"{cache_path()}: the entry of this machine is damaged ({validation_text(exc)}); measuring again")
        return None


def save(entry: CacheEntry) -> Path:
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = _read_cache(lambda text: None)
    entries[cache_key(entry.identity)] = entry.model_dump(mode="json")
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"version": CACHE_VERSION, "entries": entries}, indent=1))
    tmp.replace(path)  # atomic: a crash never leaves half a cache
    return path


def learn_canary(device: Device, threads: int, field: str, seconds: float) -> bool:
    """Keep `seconds` as the machine's cached canary_s (its quiet canary) or run_canary_s (its quietest run's median
    canary) when it is faster than the cached one, or there is none. Returns whether the cache changed; a machine with
    no cached entry has nothing to change."""
    entry = load_cached(device, threads)
    if entry is None:
        return False
    cached = getattr(entry, field)
    if cached is not None and cached <= seconds:
        return False
    save(entry.model_copy(update={field: seconds}))
    return True


def ceiling_workloads(device: Device) -> dict[str, list[Workload]]:
    """Per ceiling key, the workloads to try, smallest first."""
    sizes = GPU_SIZES if device.type == "cuda" else CPU_SIZES
    dtypes = [k for k in ("float64", "float32", "bfloat16", "float16") if k in device.peaks] or ["float32"]
    plan: dict[str, list[Workload]] = {
        dtype: [make_workload("matmul", {"m": s, "n": s, "k": s}, dtype=dtype) for s in sizes] for dtype in dtypes
    }
    if device.type == "cuda" and "tf32" in device.peaks:
        plan["tf32"] = plan["float32"]
    # Two array sizes and two kernels: memory bandwidth on a shared machine varies from moment to moment,
    # and the ceiling is the best it reaches.
    numel = stream_numel(device)
    streams = (numel, 2 * numel) if 3 * 2 * numel * 4 <= _stream_memory(device) else (numel,)
    plan["bandwidth"] = [
        make_workload("elementwise", {"kind": kind, "numel": n}) for n in streams for kind in ("copy", "triad")
    ]
    return plan


def _stream_memory(device: Device) -> float:
    """Bytes the three arrays of a triad may take: a quarter of the memory free now."""
    from flopbench.device import available_memory

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


def measure_ceilings(
    device: Device,
    time_workload: Callable[[Workload, bool], Timed],
    on_step: Callable[[str], None] = lambda text: None,
    max_call_s: float | None = None,
    rounds: int = 2,
) -> tuple[dict[str, Peak], str | None]:
    """Measure every ceiling: (ceilings, why the machine was disturbed while they were measured, or None).

    Round 1 sweeps each key's sizes, smallest first; the sweep stops growing before a size whose predicted call
    (the last call's time scaled by the FLOPs) exceeds GROW_CALL_S or max_call_s, so a slow dtype never runs the
    call that would blow the budget. Later rounds measure each key's best size again; the best of all is kept, so a
    moment of interference cannot set the ceiling."""
    plan = ceiling_workloads(device)
    best: dict[str, tuple[Timed, Workload]] = {}
    disturbed: list[str] = []
    grow_s = min(GROW_CALL_S, max_call_s) if max_call_s else GROW_CALL_S

    def measure(key: str, workload: Workload) -> Timed | None:
        on_step(f"ceiling {key}: {workload.name}")
        try:
            timed = time_workload(workload, key == "tf32")
        except (RuntimeError, MemoryError) as exc:  # out of memory or unsupported: the sweep ends here
            on_step(f"ceiling {key}: {workload.name} failed ({first_line(exc, 80)})")
            return None
        disturbed.extend(f"{workload.name}: {reason}" for reason in timed.disturbed)
        if key not in best or timed.rate(key) > best[key][0].rate(key):
            best[key] = (timed, workload)
        return timed

    for key, workloads in plan.items():
        for index, workload in enumerate(workloads):
            timed = measure(key, workload)
            if timed is None:
                break
            following = workloads[index + 1] if index + 1 < len(workloads) else None
            if (
                key != "bandwidth"
                and following is not None
                and timed.time_s * following.counts.total_flops / workload.counts.total_flops > grow_s
            ):
                break
    for _ in range(1, rounds):
        for key, (_, workload) in list(best.items()):
            measure(key, workload)
    ceilings = {}
    for key, (timed, workload) in best.items():
        if timed.rate(key) > 0:
            what = "STREAM copy and triad" if key == "bandwidth" else "square GEMMs"
            ceilings[key] = Peak(timed.rate(key), "measured", f"best of {what} in {rounds} rounds: {workload.name}")
    reason = "; ".join(dict.fromkeys(disturbed)) or None
    return ceilings, reason


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# --- the working-set sweep: a bandwidth per cache level -------------------------------------------------------------

SWEEP_SMALLEST = 4 * 2**10  # bytes: well inside any L1
SWEEP_TRAFFIC = 256 * 2**20  # bytes each point moves, about (ERT holds the traffic per point constant)
SWEEP_ROUNDS = 3  # each point is the best of this many
OVERHEAD_SHARE = 1 / 3  # a level whose calls are under 3x the per-call floor is the floor's, not the cache's
# A level holds the working sets the sweep still moved at this share of its ceiling: at its edge a cache holds the
# working set with everything else that lives there (on a 32 MiB-L3 Zen 3 VM, a 16 MiB copy ran at 99.5 GB/s, a
# 32 MiB one at 44.5 GB/s, against an L3 ceiling of 112 GB/s and DRAM's 38).
PLATEAU_SHARE = 0.75


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
    """Each cache level's ceiling from the sweep: the best point inside its range, from twice the level below to
    half its own size (the edges straddle two levels), or the whole range where that holds no point."""
    levels, below = [], 0
    for cache in cache_sizes(device, threads):
        size = cache.capacity_bytes or 0
        inside = [p for p in points if 2 * below < p.working_set_bytes <= size / 2]
        inside = inside or [p for p in points if below < p.working_set_bytes <= size]
        below = size
        if not inside:
            levels.append(Level(cache.name, size, cache.peak, None, f"{cache.note}; no sweep point inside it"))
            continue
        best = max(inside, key=lambda p: p.bytes_per_s)
        if overhead_s and best.call_s * OVERHEAD_SHARE < overhead_s:
            note = (
                f"{cache.note}; not measured: a call on a working set this small takes {best.call_s * 1e6:.2g} us,"
                f" and the per-call floor is {overhead_s * 1e6:.2g} us of it (the figure would be the overhead's)"
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
