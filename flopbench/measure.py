"""Measured ceilings: what this machine actually reaches, beside the peaks it is said to have.

- compute, per dtype: the best of a short sweep of large square GEMMs (flopbench's own matmul workload);
- bandwidth: the better of a STREAM copy and triad over arrays at least 4x the last-level cache (CPU) or
  far larger than the L2 (GPU), bytes counted as STREAM counts them (each array read or written once).

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
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from flopbench.errors import first_line
from flopbench.schema import Device, Peak, validation_text
from flopbench.timing import Budget
from flopbench.workloads import Workload, make_workload

CPU_SIZES = (512, 1024, 2048, 4096)
GPU_SIZES = (2048, 4096, 8192, 16384)
SLOW_CALL_S = 0.5  # stop growing a dtype's GEMM once one call takes this long
CEILING_BUDGET = Budget(min_time_s=0.1, max_time_s=1.0, warmup_s=0.05, min_samples=3)


CACHE_VERSION = 2


class CacheEntry(BaseModel):
    """One machine's measured ceilings, with what identifies the machine they were measured on."""

    model_config = ConfigDict(extra="allow")
    identity: dict[str, Any]  # hardware and software (machine_identity); never the host name
    measured_at: str  # ISO 8601, UTC
    ceilings: dict[str, Peak]
    disturbed: str | None = None  # why the machine was not quiet while they were measured; such entries are refused


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
    keys = (("vendor", "family", "model", "stepping", "flags_sha256", "logical_cpus", "physical_cores")
            if device.type == "cpu" else ("uuid", "compute_capability", "multiprocessors", "memory_bytes"))
    hardware.update({key: facts.get(key) for key in keys})
    software = {key: value for key, value in environment().items()
                if key in ("torch", "blas", "onednn", "cpu_capability", "cuda", "cudnn")}
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
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("entries"),
                                                                                              dict):
        warn(f"{path}: not a flopbench {CACHE_VERSION} ceilings cache (an older flopbench, or damaged); it is"
             f" ignored and replaced when ceilings are next measured")
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


def ceiling_workloads(device: Device) -> dict[str, list[Workload]]:
    """Per ceiling key, the workloads to try, smallest first."""
    sizes = GPU_SIZES if device.type == "cuda" else CPU_SIZES
    dtypes = [k for k in ("float64", "float32", "bfloat16", "float16") if k in device.peaks] or ["float32"]
    plan = {dtype: [make_workload("matmul", {"m": s, "n": s, "k": s}, dtype=dtype) for s in sizes]
            for dtype in dtypes}
    if device.type == "cuda" and "tf32" in device.peaks:
        plan["tf32"] = plan["float32"]
    # Two array sizes and two kernels: memory bandwidth on a shared machine varies from moment to moment,
    # and the ceiling is the best it reaches.
    numel = stream_numel(device)
    plan["bandwidth"] = [make_workload("elementwise", {"kind": kind, "numel": n})
                         for n in (numel, 2 * numel) for kind in ("copy", "triad")]
    return plan


def stream_numel(device: Device) -> int:
    """float32 elements per array: llc_bytes of them make an array 4x the last-level cache (at least
    64 MiB) on a CPU; 1 GiB arrays on a GPU, far past any L2."""
    if device.type == "cuda":
        return 256 * 2**20
    return max(device.facts.get("llc_bytes") or 0, 16 * 2**20)


def measure_ceilings(device: Device, time_workload: Callable[[Workload, bool], tuple[float, float, float]],
                     on_step: Callable[[str], None] = lambda text: None) -> dict[str, Peak]:
    """Measure every ceiling. `time_workload(workload, tf32)` returns (median seconds per call, FLOP/s, bytes/s):
    the GEMMs' ceiling is their FLOP/s, the stream kernels' their bytes/s."""
    ceilings: dict[str, Peak] = {}
    for key, workloads in ceiling_workloads(device).items():
        best, best_name = 0.0, ""
        for workload in workloads:
            on_step(f"ceiling {key}: {workload.name}")
            try:
                seconds, flops_per_s, bytes_per_s = time_workload(workload, key == "tf32")
                rate = bytes_per_s if key == "bandwidth" else flops_per_s
            except (RuntimeError, MemoryError) as exc:  # out of memory or unsupported: the sweep ends here
                on_step(f"ceiling {key}: {workload.name} failed ({first_line(exc, 80)})")
                break
            if rate > best:
                best, best_name = rate, workload.name
            if seconds > SLOW_CALL_S and key != "bandwidth":
                break
        if best > 0:
            what = "STREAM copy and triad" if key == "bandwidth" else "square GEMMs"
            ceilings[key] = Peak(best, "measured", f"best of {what}: {best_name}")
    return ceilings


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
