"""The roofline: one typed model of a device's roofs, and the only place a workload is placed under them.

A device has compute roofs, one per peak key (float32, bfloat16, tf32, ...), and bandwidth roofs, one per memory
level, ordered from the smallest level out (L1, L2, L3, DRAM on a CPU; L2, DRAM on a GPU). Every roof holds the
device's peak (spec, derived, user or unknown: flopbench.machine.device) beside the measured ceiling, if any
(flopbench.measuring.ceilings), each with its provenance.

Which source judges a workload is decided once, by `judge`: a value the user gave wins; otherwise the higher of the
peak and the measured ceiling (a machine that measurably reaches more than its peak shows the peak too low), and
whichever is known where only one is. Utilization stays against the peak, as it is labelled.

A workload is placed against the roof of the level its data lives in: its working set (the distinct bytes one call
touches) in the smallest level that holds it, or main memory when the caches are evicted before every call
(`cache="cold"`). Three regimes: compute-bound (right of that level's ridge), memory-bound (left of it), and
overhead-bound: a call so short that the measured per-call floor (an empty call through the same timer) is most of
it. The DRAM placement is kept beside it.

Nothing else in flopbench divides by a bandwidth or a peak to place a workload: the runner, the predictors and every
view ask this module (tests/test_architecture.py keeps it so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated, Literal

from flopbench.fields import D, F, Part, Peak
from flopbench.units import si

if TYPE_CHECKING:
    from flopbench.machine.device import Device

ABOVE_PEAK = 1.02  # tolerance before "faster than the roof" is called out
STALE_CEILING = 1.05  # a record that beats a measured ceiling by more than 5% says the ceiling is stale
OVERHEAD_SHARE = 0.5  # a call whose per-call floor is more than half of its time is overhead-bound
MEMORY = "DRAM"  # the name of the last level: main memory (DRAM, HBM, GDDR)
# Which value of a roof a prediction reads: the rule (judge), the peak first, or the measured ceiling first.
Source = Literal["judge", "peak", "measured"]
# Why a figure can beat its peak, by the peak's source (a measured ceiling going stale is STALE_CEILING's).
ABOVE_PEAK_WHY = {
    "spec": "the datasheet table is wrong for this device",
    "derived": "one of the factors it was derived from is low for this machine (most often a clock read as the"
    " base clock, with boost above it; see the peak's detail in `flopbench peak`)",
    "user": "the peak given with --peak is too low",
}


class RatesPart(Part):
    """Achieved rates: counts over the figure."""

    core_flops_per_s: float | None = F("FLOP/s", "core_flops / time_s", None, ge=0)
    total_flops_per_s: float | None = F("FLOP/s", "total_flops / time_s: achieved FLOP/s", None, ge=0)
    bytes_per_s: float | None = F("B/s", "bytes / time_s; null without bytes", None, ge=0)


class Placement(RatesPart):
    """Against the device (flopbench.machine.roofline): utilization of the peak, and the place on the roofline of the
    memory level the working set lives in, with the DRAM placement beside it."""

    peak_key: str | None = F(
        "", "the peak that judges it: its dtype's, or tf32 for float32 contractions with TF32", None
    )
    peak_flops_per_s: float | None = F("FLOP/s", "that peak; null when unknown", None, gt=0)
    peak_source: str | None = F("", "spec, derived, measured, user or unknown", None)
    peak_detail: str | None = F("", "where the peak comes from, in words", None)
    utilization: float | None = F("1", "total_flops_per_s / peak_flops_per_s", None, ge=0)
    ceiling_flops_per_s: float | None = F("FLOP/s", "the measured ceiling of the peak key, where measured", None, gt=0)
    ceiling_utilization: float | None = F("1", "total_flops_per_s / ceiling_flops_per_s", None, ge=0)
    working_set_bytes: int | None = F(
        "B", "the distinct bytes one call touches (its compulsory bytes, or more where the op says so)", None, ge=0
    )
    level: str | None = F(
        "", "the memory level whose roof judges it: the smallest that holds its working set (L2, L3, DRAM)", None
    )
    bandwidth_bytes_per_s: float | None = F("B/s", "that level's bandwidth roof", None, gt=0)
    bandwidth_source: str | None = F("", "where that bandwidth roof comes from", None)
    roofline_flops_per_s: float | None = F(
        "FLOP/s",
        "attainable under that level's roof: min(compute roof, intensity x bandwidth); 0 for work without arithmetic",
        None,
        ge=0,
    )
    roofline_efficiency: float | None = F(
        "1", "total_flops_per_s / roofline_flops_per_s; bytes_per_s / bandwidth for memory-bound work", None, ge=0
    )
    ridge_intensity: float | None = F("FLOP/B", "compute roof / that level's bandwidth roof", None, gt=0)
    bound: Literal["memory", "compute", "overhead"] | None = F(
        "",
        "memory if intensity < ridge_intensity, else compute; overhead when the per-call floor is more than half of"
        " the time",
        None,
    )
    overhead_s: float | None = F("s", "the per-call floor the overhead regime was judged against", None, ge=0)
    dram_bandwidth_bytes_per_s: float | None = F("B/s", "the DRAM bandwidth roof", None, gt=0)
    dram_roofline_flops_per_s: float | None = F("FLOP/s", "attainable under the DRAM roof", None, ge=0)
    dram_roofline_efficiency: float | None = F("1", "the same efficiency against the DRAM roof", None, ge=0)
    dram_bound: Literal["memory", "compute"] | None = F("", "memory or compute against the DRAM roof", None)


def judge(peak: Peak | None, ceiling: Peak | None) -> Peak:
    """The roof that judges a workload, from a device's peak and a measured ceiling: the one rule, written once."""
    if peak is not None and peak.known and peak.source == "user":
        return peak
    known = [p for p in (peak, ceiling) if p is not None and p.known]
    if not known:
        return peak or ceiling or Peak(None, "unknown", "neither a peak nor a measured ceiling is known")
    return max(known, key=lambda p: p.value or 0.0)


@dataclass(frozen=True)
class ComputeRoof:
    """One peak key's compute roof: the device's peak beside the measured ceiling."""

    key: Annotated[str, D("", "the peak key: a dtype, or tf32")]
    peak: Annotated[Peak, D("FLOP/s", "the device's peak (spec, derived, user or unknown)")]
    ceiling: Annotated[Peak | None, D("FLOP/s", "the measured ceiling, where measured")] = None

    @property
    def roof(self) -> Peak:
        return judge(self.peak, self.ceiling)


@dataclass(frozen=True)
class Level:
    """One memory level's bandwidth roof, and the working sets it holds."""

    name: Annotated[str, D("", "L1, L2, L3 or DRAM (main memory)")]
    capacity_bytes: Annotated[
        int | None, D("B", "the largest working set it holds (private caches: all threads' share); null: no limit")
    ]
    peak: Annotated[Peak, D("B/s", "the datasheet or derived bandwidth (unknown for caches)")]
    ceiling: Annotated[Peak | None, D("B/s", "the measured bandwidth, where measured")] = None
    note: Annotated[str, D("", "what to keep in mind: why it was not measured, where its size comes from")] = ""
    plateau_bytes: Annotated[
        int | None,
        D(
            "B",
            "the largest working set the sweep saw at 3/4 of this level's ceiling or more: the level holds working sets"
            " up to it (null: its capacity)",
        ),
    ] = None

    @property
    def roof(self) -> Peak:
        return judge(self.peak, self.ceiling)

    def holds(self, working_set: float) -> bool:
        limit = self.plateau_bytes or self.capacity_bytes
        return limit is None or working_set <= limit


@dataclass(frozen=True)
class SweepPoint:
    """One working set of the bandwidth sweep (flopbench peak --measure): the best of its rounds."""

    working_set_bytes: Annotated[int, D("B", "bytes one call touches (a copy: source and destination)")]
    bytes_per_s: Annotated[float, D("B/s", "achieved bandwidth, reads and writes counted")]
    call_s: Annotated[float, D("s", "seconds per call")]


@dataclass(frozen=True)
class Roofline:
    """A device's roofs: compute per peak key, bandwidth per memory level (the last one main memory), the per-call
    floor, and the sweep the levels were read from."""

    compute: Annotated[dict[str, ComputeRoof], D("", "compute roofs per peak key")]
    levels: Annotated[tuple[Level, ...], D("", "bandwidth roofs from the smallest level out; the last is DRAM")]
    overhead_s: Annotated[
        float | None, D("s", "the per-call floor: an empty call through the run's timer (null: not measured)")
    ] = None
    sweep: Annotated[tuple[SweepPoint, ...], D("", "the working-set sweep the levels were read from")] = ()
    notes: Annotated[tuple[str, ...], D("", "what to keep in mind about these roofs")] = ()

    # -- building --

    @classmethod
    def build(
        cls,
        device: Device,
        ceilings: Mapping[str, Peak] | None = None,
        levels: tuple[Level, ...] = (),
        overhead_s: float | None = None,
        sweep: tuple[SweepPoint, ...] = (),
        threads: int | None = None,
    ) -> Roofline:
        """The roofs of `device` with the measured ceilings (per peak key, and `bandwidth` for DRAM) and the
        measured cache levels; a cache the device reports but nobody measured is a level without a roof (its size
        still tells which working sets stay in a cache)."""
        ceilings = dict(ceilings or {})
        keys = list(dict.fromkeys([*device.peaks, *(k for k in ceilings if k != "bandwidth")]))
        compute = {k: ComputeRoof(k, device.peak(k), ceilings.get(k)) for k in keys}
        memory = Level(MEMORY, None, device.bandwidth, ceilings.get("bandwidth"))
        measured = {level.name: level for level in levels if level.name != MEMORY}
        caches = [measured.pop(level.name, level) for level in cache_sizes(device, threads)]
        caches += measured.values()
        caches.sort(key=lambda level: level.capacity_bytes or 0)
        return cls(compute, (*caches, memory), overhead_s, tuple(sweep))

    def shared_with(self, other: Roofline) -> Roofline:
        """These roofs as far as `other` measured them too: a cache level whose roof either does not know gives way
        to the next level out (its roof dropped, its size kept), and the per-call floor counts only where both have
        one. Two machines' predictions are then made from like roofs: an older run with a DRAM roof alone is not
        set against another's L2 (flopbench.reading.comparison: the roofs' ratio)."""
        known = {level.name for level in other.caches if level.roof.known}
        unknown = Peak(None, "unknown", "not measured on both machines")
        caches = tuple(
            level if level.name in known or not level.roof.known else replace(level, peak=unknown, ceiling=None)
            for level in self.caches
        )
        floor = self.overhead_s if other.overhead_s else None
        return replace(self, levels=(*caches, self.memory), overhead_s=floor)

    def with_ceilings(self, ceilings: Mapping[str, Peak]) -> Roofline:
        compute = dict(self.compute)
        for key, ceiling in ceilings.items():
            if key == "bandwidth":
                continue
            old = compute.get(key)
            peak = old.peak if old else Peak(None, "unknown", f"no {key} peak known")
            compute[key] = ComputeRoof(key, peak, ceiling)
        levels = self.levels
        if "bandwidth" in ceilings:
            levels = (*levels[:-1], replace(levels[-1], ceiling=ceilings["bandwidth"]))
        return replace(self, compute=compute, levels=levels)

    # -- reading --

    def roof(self, key: str) -> ComputeRoof:
        return self.compute.get(key) or ComputeRoof(
            key, Peak(None, "unknown", f"no {key} peak known; pass --peak {key}=FLOPS"), None
        )

    @property
    def memory(self) -> Level:
        return self.levels[-1]

    @property
    def caches(self) -> tuple[Level, ...]:
        return self.levels[:-1]

    def level_for(self, working_set: float | None, cache: str = "warm") -> Level:
        """The level a call's data lives in: the smallest measured level that holds its working set; main memory
        when the caches are evicted before every call (cold) or the working set is unknown."""
        if cache == "cold" or working_set is None:
            return self.memory
        for level in self.caches:
            if level.roof.known and level.holds(working_set):
                return level
        return self.memory

    def least_time_s(self, total_flops: float, traffic: float, key: str, source: Source = "judge") -> float | None:
        """The least time a call can take on the DRAM roofline: FLOPs over the compute roof or bytes over the
        bandwidth roof, whichever is longer (None when neither roof is known). source: which value of each roof:
        `judge` (the rule), `peak` (the device's peaks, the measured value where no peak is known) or `measured` (the
        measured ceilings, the peak where none was measured), as the predictors ask."""
        compute = _pick(self.roof(key).peak, self.roof(key).ceiling, source)
        bandwidth = _pick(self.memory.peak, self.memory.ceiling, source)
        return _longest(total_flops, traffic, compute, bandwidth)

    def cache_time_s(
        self, total_flops: float, traffic: float, working_set: float | None, key: str, source: Source = "measured"
    ) -> float | None:
        """The least time on the cache-aware roofline: the roof of the level the working set lives in, and never
        under the per-call floor."""
        level = self.level_for(working_set)
        compute = _pick(self.roof(key).peak, self.roof(key).ceiling, source)
        seconds = _longest(total_flops, traffic, compute, _pick(level.peak, level.ceiling, source))
        return max(seconds or 0.0, self.overhead_s or 0.0) or None

    def bound(self, total_flops: float, traffic: float, key: str, source: Source = "judge") -> str | None:
        """memory or compute on the DRAM roofline (None without both roofs)."""
        compute = _pick(self.roof(key).peak, self.roof(key).ceiling, source)
        bandwidth = _pick(self.memory.peak, self.memory.ceiling, source)
        if not (compute.value and bandwidth.value):
            return None
        return "memory" if traffic / bandwidth.value > total_flops / compute.value else "compute"

    def attainable(self, intensity: float, key: str, level: Level | None = None) -> float | None:
        """Attainable FLOP/s at an arithmetic intensity under one level's roof (DRAM by default)."""
        compute, bandwidth = self.roof(key).roof, (level or self.memory).roof
        if not compute.value:
            return None
        return min(compute.value, intensity * bandwidth.value) if bandwidth.value else compute.value

    # -- placing --

    def place(
        self,
        total_flops: int,
        core_flops: int,
        traffic: int,
        key: str,
        time_s: float,
        working_set: int | None = None,
        cache: str = "warm",
    ) -> Placed:
        """Achieved rates, utilization against the `key` peak, and the placement under the level the working set
        lives in (and under DRAM), with what a reader must know about them."""
        return _place(self, total_flops, core_flops, traffic, key, time_s, working_set, cache)

    def stale(self, placement: Placement) -> tuple[str, str] | None:
        """(ceiling key, why) when a placed record beats a measured ceiling of the roof it was judged by by more
        than STALE_CEILING: the ceiling was measured while the machine was slower, or by a slower kernel."""
        if placement.bound == "compute" and placement.peak_key:
            ceiling = self.roof(placement.peak_key).ceiling
            key, achieved, unit = placement.peak_key, placement.total_flops_per_s or 0.0, "FLOP/s"
        elif placement.bound == "memory" and placement.level == MEMORY and not self.cached(placement.working_set_bytes):
            ceiling = self.memory.ceiling
            key, achieved, unit = "bandwidth", placement.bytes_per_s or 0.0, "B/s"
        else:
            return None
        if ceiling is None or not ceiling.value or achieved <= STALE_CEILING * ceiling.value:
            return None
        return key, (
            f"stale ceiling: reached {si(achieved, unit)}, {achieved / ceiling.value - 1:.0%} above the cached {key}"
            f" ceiling"
            f" ({si(ceiling.value, unit)}): it is stale; refresh it with flopbench peak --measure"
        )

    def calls_time_s(self, calls: Iterable[tuple[float, float]], key: str) -> tuple[float, float] | None:
        """The layer-wise roofline of a model's calls, each (FLOPs, bytes) on the DRAM roof on its own: (their total
        seconds, the seconds of the memory-bound ones). None without a compute roof and a bandwidth."""
        compute, bandwidth = self.roof(key).roof.value, self.memory.roof.value
        if not (compute and bandwidth):
            return None
        total = memory = 0.0
        for flops, traffic in calls:
            compute_s, traffic_s = flops / compute, traffic / bandwidth
            total += max(compute_s, traffic_s)
            memory += traffic_s if traffic_s > compute_s else 0.0
        return total, memory

    def cached(self, working_set: float | None) -> bool:
        """Whether a working set may stay (partly) in a cache: within STREAM's 4x of the largest cache."""
        largest = max((level.capacity_bytes or 0 for level in self.caches), default=0)
        return working_set is not None and working_set <= 4 * largest

    def describe(self, key: str) -> str:
        """'float32 332 GFLOP/s (derived: ...)' for a caption."""
        return f"{key} {self.roof(key).roof.describe()}"


def ridge(compute: Peak, bandwidth: Peak) -> float | None:
    """The ridge point of a compute roof over a bandwidth roof: the intensity (FLOP/byte) where they meet."""
    return compute.value / bandwidth.value if compute.value and bandwidth.value else None


def _pick(peak: Peak, ceiling: Peak | None, source: Source) -> Peak:
    """One roof's value by source: the rule (judge), the peak first, or the measured ceiling first."""
    measured = ceiling if ceiling is not None and ceiling.known else None
    if source == "judge":
        return judge(peak, ceiling)
    if source == "peak":
        return peak if peak.known else measured or peak
    if source == "measured":
        return measured or peak
    raise ValueError(f"unknown roof source {source!r}: judge, peak or measured")


def _longest(total_flops: float, traffic: float, compute: Peak, bandwidth: Peak) -> float | None:
    times = []
    if compute.value and total_flops:
        times.append(total_flops / compute.value)
    if bandwidth.value and traffic:
        times.append(traffic / bandwidth.value)
    return max(times) if times else None


def cache_sizes(device: Device, threads: int | None = None) -> list[Level]:
    """The device's data caches as levels without a roof, each holding what `threads` threads reach of it: the
    instances of a private cache they run on (one per thread, up to the instances there are), a shared one whole."""
    levels = []
    if not any(device.facts.get(f"l{n}_bytes") for n in (1, 2, 3)) and device.facts.get("llc_bytes"):
        size = int(device.facts["llc_bytes"])  # files before schema 4 name only the last-level cache
        unknown = Peak(None, "unknown", "the last-level cache is not measured")
        return [Level("LLC", size, unknown, None, f"{si(size, 'B')}, the last-level cache, from the OS")]
    for n in (1, 2, 3):
        fact = device.facts.get(f"l{n}_bytes")
        if not isinstance(fact, int) or fact <= 0:
            continue
        size = fact
        instances = int(device.facts.get(f"l{n}_instances") or 1)
        reach = min(instances, threads) if threads else instances
        shared = "shared" if instances == 1 else f"{reach} of {instances} instances"
        unknown = Peak(None, "unknown", f"L{n} is not measured (flopbench peak --measure)")
        note = f"{si(size, 'B')} per instance ({shared}), from the OS"
        levels.append(Level(f"L{n}", size * reach, unknown, None, note))
    return levels


def level_time_s(traffic: float, placement: Placement) -> float | None:
    """The least time a call's bytes take at the roof of the level its placement judged them against (None: that
    level has no roof)."""
    bandwidth = placement.bandwidth_bytes_per_s
    if not bandwidth:
        return None
    return traffic / bandwidth if traffic else 0.0


@dataclass(frozen=True)
class Placed:
    """A workload's placement (a typed record part) and the warnings that go with it."""

    placement: Placement
    warnings: tuple[str, ...] = ()


def _place(
    roofline: Roofline,
    total_flops: int,
    core_flops: int,
    traffic: int,
    key: str,
    time_s: float,
    working_set: int | None,
    cache: str,
) -> Placed:
    compute = roofline.roof(key)
    peak, roof = compute.peak, compute.roof
    total_per_s = total_flops / time_s
    bytes_per_s = traffic / time_s if traffic else None
    intensity = total_flops / traffic if traffic else None
    working_set = working_set if working_set is not None else traffic
    level = roofline.level_for(working_set, cache)
    dram = _under(roof, roofline.memory, intensity, total_per_s, bytes_per_s)
    at_level = dram if level is roofline.memory else _under(roof, level, intensity, total_per_s, bytes_per_s)
    overhead = bool(roofline.overhead_s and roofline.overhead_s > OVERHEAD_SHARE * time_s)
    ceiling = compute.ceiling.value if compute.ceiling else None
    placement = Placement(
        core_flops_per_s=core_flops / time_s,
        total_flops_per_s=total_per_s,
        bytes_per_s=bytes_per_s,
        peak_key=key,
        peak_flops_per_s=peak.value,
        peak_source=peak.source,
        peak_detail=peak.detail,
        utilization=total_per_s / peak.value if peak.value else None,
        ceiling_flops_per_s=ceiling,
        ceiling_utilization=total_per_s / ceiling if ceiling else None,
        working_set_bytes=working_set,
        overhead_s=roofline.overhead_s,
        level=level.name if at_level else None,
        bandwidth_bytes_per_s=level.roof.value if at_level else None,
        bandwidth_source=level.roof.source if at_level else None,
        roofline_flops_per_s=at_level.roofline_flops_per_s if at_level else None,
        roofline_efficiency=at_level.efficiency if at_level else None,
        ridge_intensity=at_level.ridge if at_level else None,
        bound=("overhead" if overhead else at_level.bound) if at_level else None,
        dram_bandwidth_bytes_per_s=roofline.memory.roof.value if dram else None,
        dram_roofline_flops_per_s=dram.roofline_flops_per_s if dram else None,
        dram_roofline_efficiency=dram.efficiency if dram else None,
        dram_bound=dram.bound if dram else None,
    )
    return Placed(placement, tuple(_warnings(roofline, placement, level, at_level, traffic)))


def _warnings(
    roofline: Roofline, placement: Placement, level: Level, at_level: _Under | None, traffic: int
) -> list[str]:
    """What a reader of a placement must know: above its own level's roof (and why), no roofline, above the peak."""
    warnings: list[str] = []
    key, achieved = placement.peak_key or "", placement.total_flops_per_s or 0.0
    peak = roofline.roof(key).peak
    if at_level and at_level.bound == "memory" and at_level.efficiency > ABOVE_PEAK:
        warnings.append(
            f"above its roof: achieved {si(placement.bytes_per_s, 'B/s')}, above the {level.roof.source} {level.name}"
            f" bandwidth"
            f" ({si(level.roof.value, 'B/s')}): {_why_above(roofline, level, placement.working_set_bytes or 0)}"
        )
    elif not at_level and traffic:
        missing = "bandwidth" if not roofline.memory.roof.known else f"{key} peak"
        warnings.append(f"no roofline: the {missing} is unknown (flopbench peak --measure, or --peak/--bandwidth)")
    if peak.value and achieved > ABOVE_PEAK * peak.value:
        warnings.append(
            f"above the peak: achieved {achieved / 1e12:.3g} TFLOP/s is above the {peak.source} {key} peak"
            f" ({peak.value / 1e12:.3g} TFLOP/s): {ABOVE_PEAK_WHY.get(peak.source, 'the peak is too low')}"
            f" (set the right one with --peak {key}=FLOPS)"
        )
    return warnings


def _why_above(roofline: Roofline, level: Level, working_set: int) -> str:
    if level is not roofline.memory:
        return f"its {si(working_set, 'B')} working set ran faster than {level.name}'s measured roof"
    holding = next((c for c in roofline.caches if c.holds(working_set)), None)
    if holding is not None:
        return (
            f"the working set stays in a cache: its {si(working_set, 'B')} fit in {holding.name}"
            f" ({si(holding.capacity_bytes, 'B')}), whose roof is not measured (flopbench peak --measure)"
        )
    if roofline.cached(working_set):
        return f"the working set stays in a cache in part: its {si(working_set, 'B')} are within 4x of the caches"
    return "the DRAM ceiling is low (measured on a slower machine, or by a slower kernel)"


@dataclass(frozen=True)
class _Under:
    """A placement under one level's roof."""

    roofline_flops_per_s: float  # attainable: min(compute roof, intensity x bandwidth)
    efficiency: float
    ridge: float  # compute roof / bandwidth
    bound: Literal["memory", "compute"]


def _under(
    compute: Peak, level: Level, intensity: float | None, total_per_s: float, bytes_per_s: float | None
) -> _Under | None:
    """The placement under one level's roof: attainable FLOP/s, efficiency, ridge and bound (None without roofs)."""
    bandwidth = level.roof
    if not (compute.value and bandwidth.value and intensity is not None and bytes_per_s):
        return None
    ridge = compute.value / bandwidth.value
    bound: Literal["memory", "compute"] = "memory" if intensity < ridge else "compute"
    roof = min(compute.value, intensity * bandwidth.value)
    # Memory-bound efficiency is achieved bandwidth over the roof's bandwidth: the same ratio as FLOP/s over the
    # slanted roof, and defined for kernels without arithmetic (copy).
    efficiency = bytes_per_s / bandwidth.value if bound == "memory" else total_per_s / roof
    return _Under(roof, efficiency, ridge, bound)
