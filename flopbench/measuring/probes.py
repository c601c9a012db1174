"""Probes: what is read around one measurement window, each a context manager entered around the timer's call.

The runner keeps its probes in one list and enters them all around every measurement (pyperf's hooks): the
interference monitor (the OS and a canary: flopbench.measuring.interference), the GPU's state (NVML clocks, temperature,
throttling: flopbench.machine.device.Nvml) and the energy meter (flopbench.measuring.energy). Each fills its part of the
window's `Observed`; a probe whose window ended in an exception records nothing. Page faults are counted by the CPU
timer itself, around its timed samples only (flopbench.measuring.timing), not around the whole window that holds the
warm-up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from flopbench.measuring.energy import Reading
from flopbench.results.schema import Interference


@dataclass
class Observed:
    """What the probes saw around one measurement window."""

    interference: Interference | None = None
    gpu_before: dict[str, Any] = field(default_factory=dict)
    gpu_after: dict[str, Any] = field(default_factory=dict)
    energy: Reading | None = None
    recompiles: int = 0  # graphs dynamo compiled inside the window: a compiled workload recompiling while timed


class Probe(Protocol):
    def watch(self, observed: Observed) -> contextlib.AbstractContextManager[None]:
        """Enter before the window, leave after it, writing what was seen into `observed`."""


class InterferenceProbe:
    """The machine's other work and the canary around the window (flopbench.measuring.interference.Monitor)."""

    def __init__(self, monitor: Any):
        self.monitor = monitor

    @contextlib.contextmanager
    def watch(self, observed: Observed) -> Iterator[None]:
        window = self.monitor.begin()
        yield
        observed.interference = self.monitor.end(window)


class GpuStateProbe:
    """NVML's clocks, temperature, power and throttling before and after the window."""

    def __init__(self, nvml: Any):
        self.nvml = nvml

    @contextlib.contextmanager
    def watch(self, observed: Observed) -> Iterator[None]:
        observed.gpu_before = self.nvml.snapshot()
        yield
        observed.gpu_after = self.nvml.snapshot()


class EnergyProbe:
    """The device's energy over the window (NVML, RAPL, or the reason there is none)."""

    def __init__(self, meter: Any):
        self.meter = meter

    @contextlib.contextmanager
    def watch(self, observed: Observed) -> Iterator[None]:
        token = self.meter.start()
        yield
        observed.energy = self.meter.stop(token)


class CompileProbe:
    """Graphs compiled inside the window (dynamo's counter): only the measured workload runs there, so any is its own
    recompilation, and its calls then include compilation."""

    @contextlib.contextmanager
    def watch(self, observed: Observed) -> Iterator[None]:
        from flopbench.workloads.impls import graphs

        before = graphs()
        yield
        observed.recompiles = graphs() - before


@contextlib.contextmanager
def watching(probes: list[Any]) -> Iterator[Observed]:
    """Every probe entered around the block, in order (and left in reverse): the canary runs first and last, so the
    other probes' own reads fall inside its window, never inside the timed samples."""
    observed = Observed()
    with contextlib.ExitStack() as stack:
        for probe in probes:
            stack.enter_context(probe.watch(observed))
        yield observed
