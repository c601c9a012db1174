"""Energy per call, where the hardware tells it: NVML's energy counter on NVIDIA GPUs, RAPL on CPUs.

A meter is read around each measurement window (the runner's timer call): its joules over the window's seconds are
the average power while the workload ran back to back, and a call's energy is that power times the call's median
time. The figure is the device's whole draw during the window, idle power included (what a user pays for), never a
difference against an idle baseline.

- NVIDIA: `nvmlDeviceGetTotalEnergyConsumption` (millijoules since the driver loaded), read before and after. The
  counter advances in steps; the meter measures its update interval once, and a window shorter than 10 of them is
  not trusted to it: power is then sampled (`nvmlDeviceGetPowerUsage`) on a thread every interval and integrated.
  GPUs without the counter (before Volta) are sampled the same way.
- CPUs: RAPL through /sys/class/powercap (intel-rapl:N package zones; AMD exposes the same tree), the packages this
  process may run on summed, a wrap of the counter (max_energy_range_uj) undone. A package counts every process on
  the socket: the record says so.
- Otherwise: no energy, with the reason (a VM without powercap, a counter only root may read).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

POWERCAP = Path("/sys/class/powercap")
MIN_INTERVALS = 10  # a window must span this many counter updates to be read from the counter alone
PROBE_S = 0.5  # at most this long to find the counter's update interval


@dataclass(frozen=True)
class Reading:
    """Energy over one measurement window, or why there is none."""

    joules: float | None
    seconds: float
    source: str  # "nvml energy counter", "nvml power samples", "rapl package", or "unknown"
    note: str = ""

    @property
    def watts(self) -> float | None:
        return self.joules / self.seconds if self.joules is not None and self.seconds > 0 else None


class Meter(Protocol):
    source: str
    reason: str  # why there is no energy ('' when there is)

    def start(self) -> Any: ...

    def stop(self, token: Any) -> Reading: ...


class NoMeter:
    source = "unknown"

    def __init__(self, reason: str):
        self.reason = reason

    def start(self) -> float:
        return time.perf_counter()

    def stop(self, token: float) -> Reading:
        return Reading(None, time.perf_counter() - token, "unknown", self.reason)


# --- NVIDIA ----------------------------------------------------------------------------------------------------------


class NvmlMeter:
    """The GPU's energy counter, or its power sampled where the counter is missing or too coarse for the window."""

    def __init__(
        self,
        nvml: Any,
        handle: Any,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.nvml, self.handle, self.clock, self.sleep = nvml, handle, clock, sleep
        self.counter = self._energy_mj() is not None
        self.power = self._power_w() is not None
        self.source = "nvml energy counter" if self.counter else "nvml power samples" if self.power else "unknown"
        self.reason = "" if self.counter or self.power else "NVML reports neither energy nor power for this GPU"
        self.interval_s = self._update_interval() if self.counter else 0.02
        self._samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _energy_mj(self) -> float | None:
        try:
            return float(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))
        except Exception:  # not supported on this GPU or driver
            return None

    def _power_w(self) -> float | None:
        try:
            return float(self.nvml.nvmlDeviceGetPowerUsage(self.handle)) / 1e3
        except Exception:
            return None

    def _update_interval(self) -> float:
        """Seconds between the counter's steps: the time between its first two changes, read as fast as NVML
        answers (PROBE_S at most; a counter that did not move twice is taken to update every PROBE_S / 2)."""
        changes: list[float] = []
        last, start = self._energy_mj(), self.clock()
        while len(changes) < 2 and self.clock() - start < PROBE_S:
            value = self._energy_mj()
            if value != last:
                changes.append(self.clock())
                last = value
            else:
                self.sleep(0.001)
        return changes[1] - changes[0] if len(changes) == 2 else PROBE_S / 2

    def _sample(self) -> None:
        while not self._stop.is_set():
            watts = self._power_w()
            if watts is not None:
                self._samples.append((self.clock(), watts))
            self._stop.wait(self.interval_s)

    def start(self) -> tuple[float, float | None]:
        self._samples = []
        if self.power:
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self.clock(), self._energy_mj()

    def stop(self, token: tuple[float, float | None]) -> Reading:
        started, energy_before = token
        energy_after = self._energy_mj()
        seconds = self.clock() - started
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        if energy_before is not None and energy_after is not None and seconds >= MIN_INTERVALS * self.interval_s:
            return Reading((energy_after - energy_before) / 1e3, seconds, "nvml energy counter")
        if len(self._samples) >= 2:
            times = [t for t, _ in self._samples]
            watts = [w for _, w in self._samples]
            joules = sum((b - a) * (wa + wb) / 2 for a, b, wa, wb in zip(times, times[1:], watts, watts[1:]))
            span = times[-1] - times[0]
            note = (
                f"the window ({seconds * 1e3:.0f} ms) is shorter than {MIN_INTERVALS} updates of the energy counter"
                f" ({self.interval_s * 1e3:.0f} ms each): power sampled instead"
                if self.counter
                else "no energy counter on this GPU: power sampled"
            )
            return Reading(joules / span * seconds if span > 0 else None, seconds, "nvml power samples", note)
        return Reading(None, seconds, "unknown", "the window was too short for two power samples")


# --- CPUs: RAPL ---------------------------------------------------------------------------------------------------


class RaplMeter:
    """The package zones of /sys/class/powercap (intel-rapl:N), summed."""

    source = "rapl package"

    def __init__(self, zones: list[Path], clock: Callable[[], float] = time.perf_counter):
        self.zones, self.clock = zones, clock
        self.ranges = [_read_int(z / "max_energy_range_uj") or 0 for z in zones]
        self.reason = ""

    def start(self) -> tuple[float, list[int]]:
        return self.clock(), [_read_int(z / "energy_uj") or 0 for z in self.zones]

    def stop(self, token: tuple[float, list[int]]) -> Reading:
        started, before = token
        after = [_read_int(z / "energy_uj") or 0 for z in self.zones]
        joules = 0.0
        for b, a, wrap in zip(before, after, self.ranges):
            joules += ((a - b) if a >= b else (a + wrap - b)) / 1e6  # the counter wrapped once in the window
        note = "the whole package: every process on the socket, and its idle draw"
        return Reading(joules, self.clock() - started, "rapl package", note)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def rapl_zones(root: Path = POWERCAP) -> tuple[list[Path], str]:
    """The readable package zones, or why there are none."""
    if not root.is_dir():
        return [], f"no {root} (RAPL is not exposed here: a virtual machine usually hides it)"
    zones = sorted(z for z in root.glob("*-rapl:*") if z.name.count(":") == 1)  # packages, not their subzones
    if not zones:
        return [], f"{root} has no RAPL package zone"
    readable = [z for z in zones if _read_int(z / "energy_uj") is not None]
    if not readable:
        return [], f"{zones[0]}/energy_uj is not readable by this user (RAPL is root-only here: see docs)"
    return readable, ""


def make_meter(device_type: str, nvml: Any = None, root: Path = POWERCAP) -> Meter:
    """The meter for a run's device: NVML on CUDA (given the run's flopbench.machine.device.Nvml), RAPL on a CPU."""
    if device_type == "cuda":
        if nvml is None or not getattr(nvml, "available", False):
            return NoMeter("NVML is not available (no driver library, or the GPU is not one NVML knows)")
        meter = NvmlMeter(nvml.nvml, nvml.handle)
        return meter if not meter.reason else NoMeter(meter.reason)
    zones, reason = rapl_zones(root)
    return RaplMeter(zones) if zones else NoMeter(reason)


def per_call(reading: Reading, time_s: float, flops: float, traffic: float) -> dict[str, Any]:
    """Record fields from a window's reading and the call's median time."""
    if reading.watts is None:
        return {"energy_source": "unknown", "energy_note": reading.note or None}
    joules = reading.watts * time_s
    return {
        "energy_source": reading.source,
        "energy_note": reading.note or None,
        "power_w": reading.watts,
        "joules_per_call": joules,
        "flops_per_joule": flops / joules if flops and joules > 0 else None,
        "joules_per_byte": joules / traffic if traffic else None,
    }
