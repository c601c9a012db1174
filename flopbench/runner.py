"""The runner: for each workload, build it, check its output, time it, derive the metrics, and hand the typed record
(flopbench.schema.Record) on at once. A workload that cannot run is recorded with its status and reason, and the
run goes on. What a workload's figures mean (roofline placement, MFU, bus bandwidth) is the workload's op's own
business (Op.derive); the runner only times and records.
"""

from __future__ import annotations

import contextlib
import math
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flopbench.device import Nvml, available_memory, throttle_warnings
from flopbench.errors import first_line
from flopbench.schema import Device, Peak, Record
from flopbench.timing import Budget, CpuTimer, CudaTimer, Measurement, TorchCuda
from flopbench.workloads import Counts, Workload

MEMORY_HEADROOM = 0.8  # skip a workload whose inputs and outputs need more than this share of free memory
ABOVE_PEAK = 1.02  # tolerance before "faster than the peak" is called out


@dataclass
class Settings:
    device: Device
    threads: int
    budget: Budget = field(default_factory=Budget)
    tf32: bool = False
    cuda_graph: bool = False
    ceilings: dict[str, Peak] = field(default_factory=dict)  # measured; shown beside the peaks
    world_size: int = 1  # ranks of a distributed run (collectives' bus bandwidth depends on it)


@contextlib.contextmanager
def torch_settings(device_type: str, threads: int, tf32: bool) -> Iterator[None]:
    """Torch's thread count and TF32 flags as a run needs them, restored afterwards (the caller's world as found)."""
    import torch
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
    return {"samples_s": list(measurement.samples_s), "calls_per_sample": measurement.calls_per_sample,
            "timer": measurement.timer, "timer_resolution_s": measurement.resolution_s,
            "timed_s": measurement.timed_s, "time_s": measurement.median_s, "time_iqr_s": measurement.iqr_s,
            "time_min_s": measurement.min_s, "time_mean_s": measurement.mean_s, "time_cv": measurement.cv}


def derive(workload: Workload, measurement: Measurement, settings: Settings) -> dict[str, Any]:
    """The timing statistics of a measurement, and what the workload's op derives from its median."""
    out = timing_fields(measurement)
    judged = workload.spec.derive(workload.counts, Judge(settings, peak_key(workload, settings), measurement.median_s))
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
        "core_flops_per_s": counts.flops / time_s, "total_flops_per_s": total_per_s, "bytes_per_s": bytes_per_s,
        "peak_key": key, "peak_flops_per_s": peak.value, "peak_source": peak.source, "peak_detail": peak.detail,
        "utilization": total_per_s / peak.value if peak.value else None,
        "ceiling_flops_per_s": ceiling.value if ceiling else None,
        "ceiling_utilization": total_per_s / ceiling.value if ceiling and ceiling.value else None,
        "bandwidth_bytes_per_s": bandwidth.value, "bandwidth_source": bandwidth.source,
        "roofline_flops_per_s": None, "roofline_efficiency": None, "ridge_intensity": None, "bound": None,
    }
    warnings = []
    if compute.value and bandwidth.value and counts.bytes and counts.intensity is not None and bytes_per_s:
        ridge = compute.value / bandwidth.value
        bound = "memory" if counts.intensity < ridge else "compute"
        roof = min(compute.value, counts.intensity * bandwidth.value)
        # Memory-bound efficiency is achieved bandwidth over the roof's bandwidth: the same ratio as FLOP/s over the
        # slanted roof, and defined for kernels without arithmetic (copy).
        efficiency = bytes_per_s / bandwidth.value if bound == "memory" else total_per_s / roof
        out.update(roofline_flops_per_s=roof, roofline_efficiency=efficiency, ridge_intensity=ridge,
                   bound=bound)
        if bound == "memory" and efficiency > ABOVE_PEAK:
            warnings.append(f"achieved {bytes_per_s / 1e9:.3g} GB/s, above the {bandwidth.source} bandwidth"
                            f" ({bandwidth.value / 1e9:.3g} GB/s): the working set stays in a cache")
    elif counts.bytes:
        missing = "bandwidth" if not bandwidth.known else f"{key} peak"
        warnings.append(f"no roofline: the {missing} is unknown (flopbench peak --measure, or --peak/--bandwidth)")
    if peak.value and total_per_s > ABOVE_PEAK * peak.value:
        warnings.append(f"achieved {total_per_s / 1e12:.3g} TFLOP/s is above the {peak.source} {key} peak"
                        f" ({peak.value / 1e12:.3g} TFLOP/s): the peak table is wrong for this device")
    out["warnings"] = warnings
    return out


def workload_fields(workload: Workload) -> dict[str, Any]:
    """What a workload is and costs, as record fields."""
    counts = workload.counts
    return {"name": workload.name, "group": workload.group, "swept": list(workload.swept), "op": workload.op,
            "family": workload.family, "params": workload.params_json, "dtype": workload.dtype,
            "identity": workload.identity, "core_flops": counts.flops, "macs": counts.macs,
            "elementwise_flops": counts.elementwise_flops, "total_flops": counts.total_flops, "bytes": counts.bytes,
            "intensity": counts.intensity, **workload.spec.record_fields(workload.p, workload.dtype)}


class Runner:
    """Runs workloads one by one; `on_record` receives each record the moment it exists. The caller holds
    torch_settings() around the run.

    In a distributed run, collectives need every rank in step: `agree` turns one rank's failure into every rank's
    before a collective is entered, and `collective_timer` times them in lockstep.
    """

    def __init__(self, settings: Settings, on_record: Callable[[Record], None], timer: Any = None,
                 agree: Callable[[str | None], str | None] | None = None, collective_timer: Any = None):
        import torch
        self.torch = torch
        self.settings = settings
        self.on_record = on_record
        self.timer = timer or make_timer(settings)
        self.agree = agree or (lambda failure: failure)
        self.collective_timer = collective_timer
        self.nvml = Nvml(settings.device.index or 0) if settings.device.type == "cuda" else None

    def run(self, workloads: Iterable[Workload], before: Callable[[Workload], None] = lambda w: None) -> None:
        for workload in workloads:
            before(workload)
            self.on_record(self.run_one(workload))

    def run_one(self, workload: Workload) -> Record:
        started = time.perf_counter()
        device = self.settings.device
        fields: dict[str, Any] = {
            **workload_fields(workload), "device": device.torch_device, "device_label": device.label,
            "device_name": device.name, "rank": 0, "world_size": self.settings.world_size,
            "host": socket.gethostname(), "status": "ok", "reason": None, "warnings": [], "tf32": self.settings.tf32,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        try:
            with self.torch.no_grad():
                fields.update(self._measure(workload))
        except _Outcome as outcome:
            fields.update(status=outcome.status, reason=outcome.reason, **outcome.fields)
        finally:
            self._release()
        fields["wall_s"] = time.perf_counter() - started
        return Record(**fields)

    def _measure(self, workload: Workload) -> dict[str, Any]:
        settings = self.settings
        collective = workload.spec.collective
        # Every rank must enter a collective or none: each step that may fail on one rank is agreed upon.
        step = self.agree if collective else (lambda failure: failure)
        free = available_memory(settings.device)
        too_big = (f"needs {workload.counts.bytes / 2**30:.3g} GiB for inputs and outputs; {free / 2**30:.3g} GiB is"
                   f" free on {settings.device.torch_device}") if free is not None and \
            workload.counts.bytes > MEMORY_HEADROOM * free else None
        if reason := step(too_big):
            raise _Outcome("skipped", reason)
        fields: dict[str, Any] = {}
        from flopbench.workloads.check import AgreedFailure, check_output
        try:
            check = check_output(workload, settings.device.torch_device, tf32=settings.tf32,
                                 agree=self.agree if collective else None)
            failure = None
        except AgreedFailure as exc:  # every rank knows already: record it without another round
            raise _Outcome("failed", f"output check could not run: {exc}") from None
        except Exception as exc:  # a kernel this device or dtype does not support, out of memory, ...
            check, failure = None, f"output check could not run: {first_line(exc)}"
        if check is not None:
            fields.update(check_error=check.error if math.isfinite(check.error) else None,
                          check_tolerance=check.tolerance)
            failure = None if check.ok else check.describe()
        if reason := step(failure):
            raise _Outcome("failed", reason, fields)
        try:
            fn, failure = workload.build(settings.device.torch_device), None
        except Exception as exc:
            fn, failure = None, first_line(exc)
        if reason := step(failure):
            raise _Outcome("failed", reason, fields)
        timer = self.collective_timer if collective and self.collective_timer else self.timer
        try:
            before = self.nvml.snapshot() if self.nvml else {}
            measurement = timer.measure(fn)
            after = self.nvml.snapshot() if self.nvml else {}
        except Exception as exc:
            raise _Outcome("failed", first_line(exc), fields) from None
        fields.update(derive(workload, measurement, settings))
        if after:
            fields["gpu"] = {"before": before, "after": after}
            fields["warnings"] += throttle_warnings(after)
        return fields

    def _release(self) -> None:
        # The workload's tensors died with its closure (reference counting); hand the cached blocks back so that a
        # sweep of growing sizes does not fragment the CUDA allocator.
        if self.settings.device.type == "cuda":
            self.torch.cuda.empty_cache()


class _Outcome(Exception):
    """A workload that ends without a measurement: skipped or failed, with the reason."""

    def __init__(self, status: str, reason: str, fields: dict[str, Any] | None = None):
        super().__init__(reason)
        self.status, self.reason, self.fields = status, reason, fields or {}
