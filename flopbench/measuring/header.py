"""The one constructor of a results header, which every way of measuring shares (`flopbench run`, distributed ranks,
the pytest plugin), and what a resumed run would change about the file's run."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flopbench.results.schema import DistributedInfo, Header, RunSettings, SuiteRef

if TYPE_CHECKING:
    from flopbench.machine.resolve import Machine


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
    from flopbench.machine.environment import environment
    from flopbench.measuring.memory import allocator
    from flopbench.version import __version__

    return Header(
        run_id=uuid.uuid4().hex[:12],
        started_at=now_iso(),
        source=source,
        **environment(),
        flopbench_version=__version__,
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
