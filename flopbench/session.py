"""What every way of measuring shares (`flopbench run`, distributed ranks, the pytest plugin): the machine a run is
judged against (device, threads, measured ceilings) and the one constructor of a results header."""

from __future__ import annotations

import functools
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flopbench.interference import usable_cpus
from flopbench.roofline import Level, Roofline, SweepPoint
from flopbench.schema import Device, DistributedInfo, Header, Peak, RunSettings, SuiteRef


def default_threads() -> int:
    """Every CPU this process may use: a run's threads unless --threads says otherwise."""
    return usable_cpus()


@dataclass
class Machine:
    """What a run is judged against: the device, its threads, and its roofs (peaks and measured ceilings)."""

    device: Device
    threads: int
    ceilings: dict[str, Peak]
    ceilings_measured_at: str | None
    canary_reference_s: float | None = None  # the interference canary on this machine when it was quiet
    ceilings_disturbed: str | None = None  # why the machine was busy while the ceilings were measured
    canary_run_reference_s: float | None = None  # the median canary of the quietest earlier run on this machine
    levels: tuple[Level, ...] = ()  # measured cache levels (flopbench.measure), beside DRAM
    overhead_s: float | None = None  # the measured per-call floor
    sweep: tuple[SweepPoint, ...] = ()  # the working-set sweep the levels were read from
    kernels: dict[str, list[Any]] = field(default_factory=dict)  # per key, each compute kernel's best (KernelRate)

    @functools.cached_property
    def roofline(self) -> Roofline:
        return Roofline.build(self.device, self.ceilings, self.levels, self.overhead_s, self.sweep, self.threads)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def make_header(
    machine: Machine,
    *,
    suites: Sequence[Any] = (),
    settings: RunSettings | None = None,
    source: str = "flopbench run",
    command: Sequence[str] | None = None,
    distributed: DistributedInfo | None = None,
    quiet_check: dict[str, Any] | None = None,
) -> Header:
    """The header of a run on `machine`: the environment (host, OS, Python, torch, BLAS, CUDA), the device with its
    peaks, the ceilings, the suites with their hashes and the settings."""
    from flopbench.environment import environment
    from flopbench.memory import allocator

    return Header(
        run_id=uuid.uuid4().hex[:12],
        started_at=now_iso(),
        source=source,
        **environment(),
        allocator=allocator() if machine.device.type == "cpu" else None,
        threads=machine.threads,
        device=machine.device,
        ceilings=machine.ceilings,
        ceilings_measured_at=machine.ceilings_measured_at,
        roofline=machine.roofline,
        command=list(sys.argv if command is None else command),
        suites=[SuiteRef(name=s.name, path=str(s.path), sha256=s.sha256, description=s.description) for s in suites],
        settings=settings,
        distributed=distributed,
        quiet_check=quiet_check,
    )


def resume_differences(old: Header, new: Header) -> list[str]:
    """What a resumed run would change about the file's run: suites, device, threads, torch, or settings. Each is
    `what: the file has X, this run Y`."""

    def suites(h: Header) -> str:
        return ", ".join(f"{s.name} ({s.sha256[:8]})" for s in h.suites) or "none"

    def device(h: Header) -> str:
        return h.device.label if h.device else "unknown"

    found = []
    for what, get in (
        ("suites", suites),
        ("device", device),
        ("threads", lambda h: h.threads),
        ("torch", lambda h: h.torch),
    ):
        if get(old) != get(new):
            found.append(f"{what}: the file has {get(old)}, this run {get(new)}")
    if old.settings and new.settings:
        was, now = old.settings.model_dump(), new.settings.model_dump()
        for key in sorted(set(was) | set(now)):
            if was.get(key) != now.get(key):
                found.append(f"{key}: the file has {was.get(key)!r}, this run {now.get(key)!r}")
    return found
