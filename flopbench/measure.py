"""Measured ceilings: what this machine actually reaches, beside the peaks it is said to have.

- compute, per dtype: the best of a short sweep of large square GEMMs (flopbench's own matmul workload);
- bandwidth: the better of a STREAM copy and triad over arrays at least 4x the last-level cache (CPU) or
  far larger than the L2 (GPU), bytes counted as STREAM counts them (each array read or written once).

Ceilings are cached per machine (host, device, threads, torch version) with their date, and reused by
later runs until re-measured. The cache lives in $FLOPBENCH_CACHE_DIR, default ~/.cache/flopbench.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path

from flopbench.schema import Device, Peak
from flopbench.timing import Budget
from flopbench.workloads import Workload, make_workload

CPU_SIZES = (512, 1024, 2048, 4096)
GPU_SIZES = (2048, 4096, 8192, 16384)
SLOW_CALL_S = 0.5  # stop growing a dtype's GEMM once one call takes this long
CEILING_BUDGET = Budget(min_time_s=0.1, max_time_s=1.0, warmup_s=0.05, min_samples=3)


def cache_dir() -> Path:
    return Path(os.environ.get("FLOPBENCH_CACHE_DIR") or Path.home() / ".cache" / "flopbench")


def machine_key(device: Device, threads: int) -> str:
    import torch
    return f"{platform.node()}|{device.torch_device}|{device.name}|threads={threads}|torch={torch.__version__}"


def load_cached(device: Device, threads: int) -> tuple[dict[str, Peak], str] | None:
    """The cached ceilings of this machine and when they were measured, or None."""
    try:
        entry = json.loads((cache_dir() / "ceilings.json").read_text()).get(machine_key(device, threads))
    except (OSError, json.JSONDecodeError):
        return None
    if not entry:
        return None
    return {k: Peak(**v) for k, v in entry["ceilings"].items()}, entry["measured_at"]


def save(device: Device, threads: int, ceilings: dict[str, Peak], measured_at: str) -> Path:
    path = cache_dir() / "ceilings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        data = {}
    data[machine_key(device, threads)] = {"measured_at": measured_at,
                                          "ceilings": {k: vars(v) for k, v in ceilings.items()}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
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
                on_step(f"ceiling {key}: {workload.name} failed ({str(exc).splitlines()[0][:80]})")
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
