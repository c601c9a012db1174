"""The runner: for each workload, build it, check its output, time it, derive the metrics, and append the
record to the results file at once. A workload that cannot run is recorded with its status and reason,
and the run goes on.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flopbench.device import Device, Nvml, Peak, available_memory, throttle_warnings
from flopbench.timing import Budget, CpuTimer, CudaTimer, Measurement, TorchCuda
from flopbench.workloads import Counts, Workload
from flopbench.workloads.check import AgreedFailure, tf32_applies

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


def make_timer(settings: Settings):
    if settings.device.type == "cuda":
        return CudaTimer(TorchCuda(settings.device.torch_device), settings.budget, use_graph=settings.cuda_graph)
    return CpuTimer(settings.budget)


def peak_key(workload: Workload, settings: Settings) -> str:
    """Which peak judges this workload: its dtype's, or TF32's for float32 contractions with TF32 on."""
    import torch
    return "tf32" if tf32_applies(workload, torch.device(settings.device.torch_device), settings.tf32) else workload.dtype


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


def derive(workload: Workload, measurement: Measurement, settings: Settings) -> dict[str, Any]:
    """Achieved rates, utilization and roofline placement of one measurement of a workload."""
    if workload.family == "comm":
        return collective_rates(workload, measurement, settings.world_size)
    return placement(workload.counts, peak_key(workload, settings), workload.family, measurement, settings)


def collective_rates(workload: Workload, measurement: Measurement, world_size: int) -> dict[str, Any]:
    """nccl-tests' algorithm and bus bandwidth: S / time, and that times the ring's traffic factor."""
    from flopbench.workloads.comm import BUS_FACTOR
    time_s = measurement.median_s
    algbw = workload.counts.bytes / time_s
    factor = BUS_FACTOR[workload.op](world_size)
    return {"time_s": time_s, "time_iqr_s": measurement.iqr_s, "time_min_s": measurement.min_s,
            "time_mean_s": measurement.mean_s, "time_cv": measurement.cv, "flops_per_s": 0.0, "bytes_per_s": algbw,
            "message_bytes": workload.counts.bytes, "algbw_bytes_per_s": algbw, "bus_factor": factor,
            "busbw_bytes_per_s": algbw * factor, "peak_key": None, "peak_flops_per_s": None, "peak_source": None,
            "utilization": None, "roofline_flops_per_s": None, "roofline_efficiency": None, "bound": None,
            "warnings": measurement.warnings()}


def placement(counts: Counts, key: str, family: str, measurement: Measurement, settings: Settings) -> dict[str, Any]:
    """Achieved rates, utilization against the `key` peak, and roofline placement (none without bytes)."""
    time_s = measurement.median_s
    flops_per_s = counts.total_flops / time_s
    bytes_per_s = counts.bytes / time_s if counts.bytes else None
    peak = settings.device.peak(key)
    ceiling = settings.ceilings.get(key)
    compute, bandwidth = roofs(key, settings)
    out: dict[str, Any] = {
        "time_s": time_s, "time_iqr_s": measurement.iqr_s, "time_min_s": measurement.min_s,
        "time_mean_s": measurement.mean_s, "time_cv": measurement.cv,
        "flops_per_s": flops_per_s, "bytes_per_s": bytes_per_s,
        "peak_key": key, "peak_flops_per_s": peak.value, "peak_source": peak.source, "peak_detail": peak.detail,
        "utilization": flops_per_s / peak.value if peak.known else None,
        "ceiling_flops_per_s": ceiling.value if ceiling else None,
        "ceiling_utilization": flops_per_s / ceiling.value if ceiling else None,
        "bandwidth_bytes_per_s": bandwidth.value, "bandwidth_source": bandwidth.source,
        "roofline_flops_per_s": None, "roofline_efficiency": None, "ridge_intensity": None, "bound": None,
    }
    if family == "model":
        # Model FLOP utilization: the contractions only, forward (and backward when training), over the peak.
        out["mfu"] = counts.flops / time_s / peak.value if peak.known else None
    warnings = measurement.warnings()
    if compute.known and bandwidth.known and counts.bytes:
        ridge = compute.value / bandwidth.value
        bound = "memory" if counts.intensity < ridge else "compute"
        roof = min(compute.value, counts.intensity * bandwidth.value)
        # Memory-bound efficiency is achieved bandwidth over the roof's bandwidth: the same ratio as
        # FLOP/s over the slanted roof, and defined for kernels without arithmetic (copy).
        efficiency = bytes_per_s / bandwidth.value if bound == "memory" else flops_per_s / roof
        out.update(roofline_flops_per_s=roof, roofline_efficiency=efficiency, ridge_intensity=ridge, bound=bound)
        if bound == "memory" and efficiency > ABOVE_PEAK:
            warnings.append(f"achieved {bytes_per_s / 1e9:.3g} GB/s, above the {bandwidth.source} bandwidth"
                            f" ({bandwidth.value / 1e9:.3g} GB/s): the working set stays in a cache")
    elif counts.bytes:
        missing = "bandwidth" if not bandwidth.known else f"{key} peak"
        warnings.append(f"no roofline: the {missing} is unknown (flopbench peak --measure, or --peak/--bandwidth)")
    if peak.known and flops_per_s > ABOVE_PEAK * peak.value:
        warnings.append(f"achieved {flops_per_s / 1e12:.3g} TFLOP/s is above the {peak.source} {key} peak"
                        f" ({peak.value / 1e12:.3g} TFLOP/s): the peak table is wrong for this device")
    out["warnings"] = warnings
    return out


def workload_fields(workload: Workload) -> dict[str, Any]:
    counts = workload.counts
    return {"name": workload.name, "group": workload.group, "swept": list(workload.swept), "op": workload.op,
            "family": workload.family, "params": workload.params_json,
            "dtype": workload.dtype, "identity": workload.identity, "flops": counts.flops, "macs": counts.macs,
            "elementwise_flops": counts.elementwise_flops, "total_flops": counts.total_flops,
            "bytes": counts.bytes, "intensity": counts.intensity}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


class Runner:
    """Runs workloads one by one; `on_record` receives each record the moment it exists.

    In a distributed run, collectives (family "comm") need every rank in step: `agree` turns one rank's failure
    into every rank's before a collective is entered, and `collective_timer` times them in lockstep.
    """

    def __init__(self, settings: Settings, on_record: Callable[[dict[str, Any]], None], timer=None,
                 agree: Callable[[str | None], str | None] | None = None, collective_timer=None):
        import torch
        self.torch = torch
        self.settings = settings
        self.on_record = on_record
        self.timer = timer or make_timer(settings)
        self.agree = agree or (lambda failure: failure)
        self.collective_timer = collective_timer
        self.nvml = Nvml(settings.device.index or 0) if settings.device.type == "cuda" else None
        torch.set_num_threads(settings.threads)
        if settings.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = settings.tf32
            torch.backends.cudnn.allow_tf32 = settings.tf32

    def run(self, workloads: Iterable[Workload], before: Callable[[Workload], None] = lambda w: None) -> None:
        for workload in workloads:
            before(workload)
            self.on_record(self.run_one(workload))

    def run_one(self, workload: Workload) -> dict[str, Any]:
        started = time.perf_counter()
        device = self.settings.device
        record = {**workload_fields(workload), "device": device.torch_device, "device_label": device.label,
                  "device_name": device.name, "rank": 0, "world_size": self.settings.world_size,
                  "host": socket.gethostname(), "status": "ok", "reason": None, "warnings": [],
                  "tf32": self.settings.tf32, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        try:
            with self.torch.no_grad():
                record.update(self._measure(workload))
        except _Outcome as outcome:
            record.update(status=outcome.status, reason=outcome.reason, **outcome.fields)
        finally:
            self._release()
        record["wall_s"] = time.perf_counter() - started
        return record

    def _measure(self, workload: Workload) -> dict[str, Any]:
        settings = self.settings
        collective = workload.family == "comm"
        # Every rank must enter a collective or none: each step that may fail on one rank is agreed upon.
        step = self.agree if collective else (lambda failure: failure)
        free = available_memory(settings.device)
        too_big = (f"needs {workload.counts.bytes / 2**30:.3g} GiB for inputs and outputs; {free / 2**30:.3g} GiB is"
                   f" free on {settings.device.torch_device}") if free is not None and \
            workload.counts.bytes > MEMORY_HEADROOM * free else None
        if reason := step(too_big):
            raise _Outcome("skipped", reason)
        fields: dict[str, Any] = {}
        try:
            check = workload.check(settings.device.torch_device, tf32=settings.tf32,
                                   agree=self.agree if collective else None)
            failure = None
        except AgreedFailure as exc:  # every rank knows already: record it without another round
            raise _Outcome("failed", f"output check could not run: {exc}") from None
        except Exception as exc:  # a kernel this device or dtype does not support, out of memory, ...
            check, failure = None, f"output check could not run: {_first_line(exc)}"
        if check is not None:
            fields.update(check_error=check.error, check_tolerance=check.tolerance)
            failure = None if check.ok else check.describe()
        if reason := step(failure):
            raise _Outcome("failed", reason, fields)
        try:
            fn, failure = workload.build(settings.device.torch_device), None
        except Exception as exc:
            fn, failure = None, _first_line(exc)
        if reason := step(failure):
            raise _Outcome("failed", reason, fields)
        timer = self.collective_timer if collective and self.collective_timer else self.timer
        try:
            before = self.nvml.snapshot() if self.nvml else {}
            measurement = timer.measure(fn)
            after = self.nvml.snapshot() if self.nvml else {}
        except Exception as exc:
            raise _Outcome("failed", _first_line(exc), fields) from None
        fields.update(samples_s=list(measurement.samples_s), calls_per_sample=measurement.calls_per_sample,
                      timer=measurement.timer, timer_resolution_s=measurement.resolution_s,
                      timed_s=measurement.timed_s)
        fields.update(derive(workload, measurement, settings))
        if after:
            fields["gpu"] = {"before": before, "after": after}
            fields["warnings"] += throttle_warnings(after)
        return fields

    def _release(self) -> None:
        # The workload's tensors died with its closure (reference counting); hand the cached blocks back
        # so that a sweep of growing sizes does not fragment the CUDA allocator.
        if self.settings.device.type == "cuda":
            self.torch.cuda.empty_cache()


class _Outcome(Exception):
    """A workload that ends without a measurement: skipped or failed, with the reason."""

    def __init__(self, status: str, reason: str, fields: dict[str, Any] | None = None):
        super().__init__(reason)
        self.status, self.reason, self.fields = status, reason, fields or {}
