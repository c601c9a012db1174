"""The machine a run is judged against, resolved in one place: the device described (with the user's peaks), its
threads, and its roofs from the ceilings cache, measured now when asked or needed. `flopbench run`, `peak`, the
distributed ranks and the pytest plugin all take their Machine from `resolve`.

Measuring the ceilings needs the runner (flopbench.measuring.ceilings.measure_now), which stands above this package:
the caller passes it in, so that this package never imports the measuring half.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flopbench.console import info, warn
from flopbench.fields import Peak
from flopbench.machine import cache
from flopbench.machine.cache import CacheEntry
from flopbench.machine.clock import Clock
from flopbench.machine.device import Device, clock_unknown, describe, unseen_gpu
from flopbench.machine.roofline import Level, Roofline, SweepPoint
from flopbench.units import count

# Measures this machine's ceilings now: (device, threads) -> a cache entry (flopbench.measuring.ceilings.measure_now).
Measure = Callable[[Device, int], CacheEntry]


def usable_cpus() -> int:
    """Every CPU this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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
    levels: tuple[Level, ...] = ()  # measured cache levels (flopbench.measuring.ceilings), beside DRAM
    overhead_s: float | None = None  # the measured per-call floor
    sweep: tuple[SweepPoint, ...] = ()  # the working-set sweep the levels were read from
    kernels: dict[str, list[Any]] = field(default_factory=dict)  # per key, each compute kernel's best (KernelRate)

    @functools.cached_property
    def roofline(self) -> Roofline:
        return Roofline.build(self.device, self.ceilings, self.levels, self.overhead_s, self.sweep, self.threads)

    @classmethod
    def of(cls, device: Device, threads: int, entry: CacheEntry | None) -> Machine:
        """The machine with a cache entry's ceilings, levels, floor, kernels and canaries (none: its peaks alone)."""
        if entry is None:
            return cls(device, threads, {}, None)
        return cls(
            device,
            threads,
            entry.ceilings,
            entry.measured_at,
            entry.canary_s,
            entry.disturbed,
            entry.run_canary_s,
            tuple(entry.levels),
            entry.overhead_s,
            tuple(entry.sweep),
            dict(entry.kernels),
        )


def resolve(
    device: str = "auto",
    threads: int | None = None,
    *,
    peaks: Mapping[str, float] | None = None,
    bandwidth: float | None = None,
    measure: Measure | None = None,
    remeasure: bool = False,
    measure_if_needed: bool = False,
    measure_clock: bool = False,
) -> Machine:
    """The device (with the user's --peak and --bandwidth), its threads and its roofs. The ceilings are the cached
    ones, or measured now with `measure` when `remeasure` asks, when no bandwidth is known from any source
    (`measure_if_needed`), or when the cached ones were measured on a busy machine (they are refused). A CPU without a
    clock range gets its derived peaks from the measured sustained clock (flopbench.machine.clock), cached with the
    ceilings. Without `measure`, no ceiling is measured: the cached ones or none; with `measure_clock` the sustained
    clock still is, where none is cached (about a second, then cached), so that flopbench.measure, the pytest plugin
    and `flopbench run` (its --no-measure too) judge by one peak."""
    usable = default_threads()
    threads = threads or usable
    if threads > usable:
        warn(
            f"--threads {threads} is more than the {usable} CPUs this process may use; threads beyond them share"
            f" cores, and the peak counts only the cores"
        )
    if device == "auto" and (unseen := unseen_gpu()):
        warn(unseen)
    user = dict(peaks or {})

    def described(clock: Clock | None = None) -> Device:
        return describe(device, threads, clock).with_user_values(user, bandwidth)

    found = described()
    cached = cache.load_cached(found, threads, warn=warn)
    action, note = cache.ceiling_decision(
        cached,
        measure=remeasure and measure is not None,
        measure_if_needed=measure_if_needed and measure is not None,
        bandwidth_known=found.bandwidth.known,
    )
    if note:
        warn(note)
    if action == "use" and cached:
        return Machine.of(_clocked(found, cached, described), threads, cached)
    if action == "measure" and measure is not None:
        refused = cached if cached and cached.disturbed else None
        return _measured(found, threads, refused, measure, described)
    if clock_unknown(found) and (measure_clock or (cached is not None and cached.clock_hz)):
        return Machine.of(_clock_alone(found, threads, cached, described), threads, None)
    return Machine.of(found, threads, None)


def _clock_alone(found: Device, threads: int, cached: CacheEntry | None, described: Callable[..., Device]) -> Device:
    """The device with the sustained clock: the cached one, or measured now and cached alone (an entry without
    ceilings, which a run that measures them fills)."""
    if cached is not None and (cached.clock_hz or cached.clock_how):
        return _clocked(found, cached, described)
    import datetime as dt

    from flopbench.machine import clock as clocks

    clock = clocks.measure(threads, cache.cache_dir(), found.facts.get("nominal_frequency_hz"))
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    entry = cached or CacheEntry(identity=cache.machine_identity(found, threads), measured_at=now, ceilings={})
    cache.save(entry.model_copy(update={"clock_hz": clock.hz, "clock_how": clock.how}))
    return described(clock)


def _measured(
    found: Device, threads: int, refused: CacheEntry | None, measure: Measure, described: Callable[..., Device]
) -> Machine:
    """Measure the clock (where the OS gives no clock range) and the ceilings now, cache them, and say so."""
    info(
        f"flopbench: measuring the compute and bandwidth ceilings of {found.label} with {count(threads, 'thread')}"
        f" (once; cached in {cache.cache_dir()})"
    )
    clock = None
    if clock_unknown(found):
        from flopbench.machine import clock as clocks

        info("  the sustained clock (no clock range from the OS)")
        clock = clocks.measure(threads, cache.cache_dir(), found.facts.get("nominal_frequency_hz"))
        found = described(clock)
    entry = cache.merged(refused, measure(found, threads))
    if clock is not None:
        entry = entry.model_copy(update={"clock_hz": clock.hz, "clock_how": clock.how})
    cache.save(entry)
    if entry.disturbed:
        again = (
            "measured again by the next run"
            if entry.disturbed_runs < cache.REFUSE_DISTURBED
            else "kept: it was busy the last time too"
        )
        warn(
            f"the machine was busy while its ceilings were measured ({entry.disturbed}); they are used for this"
            f" run, flagged, and {again}"
        )
    return Machine.of(found, threads, entry)


def _clocked(found: Device, entry: CacheEntry, described: Callable[..., Device]) -> Device:
    """The device described again with the sustained clock a cache entry holds (as it was without one)."""
    if not (entry.clock_hz or entry.clock_how) or not clock_unknown(found):
        return found
    return described(Clock(entry.clock_hz, entry.clock_how or ""))
