"""Result files made by the tests: real records (the runner's own functions) with times the test chooses."""

from __future__ import annotations

from pathlib import Path

from flopbench.machine.roofline import Roofline
from flopbench.measuring import records
from flopbench.measuring.summary import timing_part
from flopbench.measuring.timing import Measurement
from flopbench.results.files import ResultsWriter
from flopbench.results.schema import Device, Header, OutcomePart, Peak, Record, SuiteRef
from flopbench.workloads import Workload, make_workload


def fake_device(name="Test CPU", float32=100e9, bfloat16=400e9, bandwidth=10e9, kind="cpu"):
    peaks = {"float32": Peak(float32, "spec", f"{name} sheet"), "bfloat16": Peak(bfloat16, "spec", f"{name} sheet")}
    return Device(kind, None if kind == "cpu" else 0, name, {}, peaks, Peak(bandwidth, "spec", f"{name} sheet"))


# (op, params, group, swept): a small suite touching every contrast the study knows.
WORKLOADS = [
    ("matmul", dict(m=256, n=256, k=256), "square", ("m=n=k",)),
    ("matmul", dict(m=512, n=512, k=512), "square", ("m=n=k",)),
    ("matmul", dict(m=1024, n=1024, k=1024), "square", ("m=n=k",)),
    ("matmul", dict(m=1024, n=1, k=1024), "gemv", ()),
    ("conv2d", dict(batch=1, in_channels=64, out_channels=64, height=56, width=56, kernel=3, padding=1), "conv", ()),
    ("depthwise_conv2d", dict(batch=1, channels=144, height=56, width=56, kernel=3, padding=1), "dw", ()),
    ("attention", dict(batch=1, heads=8, seq_len=128, head_dim=64), "attention", ("seq_len",)),
    ("attention", dict(batch=1, heads=8, seq_len=1024, head_dim=64), "attention", ("seq_len",)),
    ("elementwise", dict(kind="add", numel=1 << 22), "add", ()),
    ("elementwise", dict(kind="copy", numel=1 << 22), "copy", ()),
]


def workloads():
    from dataclasses import replace

    return [replace(make_workload(op, params), group=group, swept=swept) for op, params, group, swept in WORKLOADS]


def time_at_roofline(workload, device: Device, efficiency: float = 0.5) -> float:
    """The time that puts a workload at `efficiency` of its roofline bound on `device`."""
    c = workload.counts
    compute = device.peak(workload.dtype).value
    roof = min(compute, c.intensity * device.bandwidth.value)
    return c.total_flops / (efficiency * roof) if c.total_flops else c.bytes / (efficiency * device.bandwidth.value)


def write_run(
    path: Path,
    device: Device,
    times: dict[str, float] | None = None,
    threads: int = 2,
    torch_version: str = "2.5.0",
    run_id: str | None = None,
    efficiency: float = 0.5,
    **header_fields,
) -> Path:
    """A results file for `device`; each workload takes times[name], or 50% of its roofline bound."""
    roofline = Roofline.build(device, threads=threads)
    header = Header(
        run_id=run_id or path.stem,
        started_at="2026-01-01T00:00:00+0000",
        host="testhost",
        torch=torch_version,
        threads=threads,
        device=device,
        suites=[SuiteRef(name="fake", path="fake.toml", sha256="0" * 64)],
        command=["flopbench", "run"],
        roofline=roofline,
        **header_fields,
    )
    writer = ResultsWriter.create(path, header)
    for w in workloads():
        seconds = (times or {}).get(w.name) or time_at_roofline(w, device, efficiency)
        writer.record(measured_record(w, seconds, device, roofline))
    writer.close()
    return path


def measured_record(w: Workload, seconds: float, device: Device, roofline: Roofline, samples: int = 5) -> Record:
    """The record the runner's builder makes of `w` measured at `seconds` a call."""
    m = Measurement((seconds,) * samples, 1, "perf_counter", 1e-9)
    derived = records.derive(w.counts, w.dtype, seconds, roofline, op=w.spec)
    where = records.where_part(device).model_copy(update={"host": "testhost", "started_at": None})
    return records.build(
        records.workload_part(w),
        records.counts_part(w.counts),
        where,
        w.spec.record_fields(w.p, w.dtype),
        timing_part(m),
        *derived.parts,
        outcome=OutcomePart(status="ok"),
        warnings=[*m.warnings(), *derived.warnings],
    )
