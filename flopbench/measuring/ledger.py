"""Where every FLOP/s went: a loss ledger per placed record (docs/methodology.md, "The loss ledger").

A chain of ideal times, each adding one constraint to the one before, ending at the measured time:

    peak        FLOPs / the peak (its source: spec, derived, user)
    clock       ... at the clock the device ran at (CPU: the sustained clock against the one behind the peak; GPU:
                the SM clock read during the measurement against the datasheet's boost clock)
    kernel      ... at the best kernel this machine reaches for the dtype (the measured ceiling)
    memory      ... no faster than the roof of the memory level its working set lives in
    overhead    ... plus the per-call floor (launch, dispatch, Python: a fixed cost each call pays before its work, so
                it adds, where the roofline's placement only asks whether it dominates)
    parallelism ... its compute part spread over the op's own parallel work units on the device's units (tiles or
                rows against cores or SMs: tile and wave quantization), never below the memory and overhead times
                (a memory-bound op whose cores idle is not charged twice: the shared bandwidth already is)
    residual    the measured time: what the kernel itself leaves on the table

Each factor is the ratio of two consecutive ideal times (1: nothing lost there; under 1: a loss; over 1: the step
above was too pessimistic, e.g. a boost clock above the peak's), so the factors multiply exactly to achieved / peak.
A factor that cannot be known here is None, with the reason, and its step's time stays the one before: never a
silent 1.0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flopbench.machine.roofline import level_time_s
from flopbench.results.schema import LedgerPart, LedgerStep
from flopbench.workloads.parallel import Work, wave_efficiency

if TYPE_CHECKING:
    from flopbench.machine.roofline import Placement, Roofline
    from flopbench.results.schema import Device
    from flopbench.workloads.base import Counts, Workload


def device_lanes(device: Device, threads: int | None) -> tuple[int | None, str]:
    """The device's parallel units: a GPU's SMs, a CPU's cores the run may use."""
    facts = device.facts
    if device.type == "cuda":
        sms = facts.get("multiprocessors")
        return (int(sms), f"{sms} SMs") if sms else (None, "the GPU's SM count is unknown")
    cores = facts.get("peak_cores") or threads or facts.get("physical_cores")
    return (int(cores), f"{cores} core{'s' * (int(cores) > 1)}") if cores else (None, "the core count is unknown")


def clock_factor(device: Device, gpu_state: dict[str, Any] | None) -> tuple[float | None, str, str]:
    """(factor, provenance, why): the clock the device ran at over the clock behind its peak."""
    facts = device.facts
    if device.type == "cuda":
        after = (gpu_state or {}).get("after") or {}
        sm, top = after.get("sm_clock_mhz"), after.get("max_sm_clock_mhz")
        rated = facts.get("rates_clock_mhz")  # the clock the datasheet's rates assume, where the table knows it
        if sm and rated:
            return (
                sm / rated,
                "measured",
                f"SM clock {sm} MHz during the measurement, against the {rated} MHz the datasheet's rates assume"
                f" (boost {top or '?'} MHz)",
            )
        if sm and top:
            return sm / top, "measured", f"SM clock {sm} MHz during the measurement, boost {top} MHz"
        return None, "unknown", "no SM clock was read during the measurement (NVML)"
    source = str(facts.get("frequency_source") or "")
    hz = float(facts.get("frequency_hz") or 0.0)
    if source.startswith("sustained clock measured"):
        busy = " (measured while other work shared the CPUs)" if "shared the CPUs" in source else ""
        return 1.0, "measured", f"the peak is derived from the sustained clock measured here, {hz / 1e9:.2f} GHz{busy}"
    if source.startswith("maximum frequency from cpufreq"):
        return (
            None,
            "unknown",
            (
                f"the peak uses the maximum clock cpufreq gives ({hz / 1e9:.2f} GHz); the clock the cores ran at is not"
                " read"
            ),
        )
    return (
        None,
        "unknown",
        (
            f"the peak rests on a nominal clock ({source or 'unknown'}); the clock the cores sustained is not measured"
            " (flopbench peak --measure)"
        ),
    )


class _Chain:
    """The steps so far and the ideal time they end at; each added step costs the previous time over its own."""

    def __init__(self, name: str, ideal_s: float, source: str, detail: str):
        self.ideal = ideal_s
        self.steps = [LedgerStep(name=name, factor=1.0, ideal_s=ideal_s, source=source, detail=detail)]

    def add(self, name: str, after: float | None, source: str, detail: str) -> None:
        if after is None or not after > 0:  # unknown here: no factor, the time stays the one before
            self.steps.append(LedgerStep(name=name, factor=None, ideal_s=self.ideal, source="unknown", detail=detail))
            return
        self.steps.append(LedgerStep(name=name, factor=self.ideal / after, ideal_s=after, source=source, detail=detail))
        self.ideal = after


def ledger(
    counts: Counts,
    placement: Placement,
    roofline: Roofline,
    device: Device,
    time_s: float,
    *,
    work: Work | None = None,
    threads: int | None = None,
    gpu_state: dict[str, Any] | None = None,
) -> tuple[list[LedgerStep] | None, str | None]:
    """(the chain of steps, None) for a placed record, or (None, why there is none). Work without arithmetic (a copy)
    starts from its bytes at the roof of its memory level instead of a peak: its factors multiply to its roofline
    efficiency (achieved bandwidth / that roof)."""
    memory_s = level_time_s(counts.bytes, placement) or 0.0
    if counts.total_flops:
        if not placement.peak_flops_per_s:
            return None, "no peak for its dtype"
        chain, compute_s = _arithmetic(counts, placement, device, gpu_state, memory_s)
    elif memory_s:
        chain, compute_s = _traffic(counts, placement, memory_s), 0.0
    else:
        return None, "no FLOPs, and no bandwidth roof for the level its data lives in"
    floor = roofline.overhead_s or 0.0
    chain.add(
        "overhead",
        chain.ideal + floor if roofline.overhead_s else None,
        "measured",
        f"the per-call floor measured here: {floor * 1e6:.3g} µs"
        if roofline.overhead_s
        else "no per-call floor measured",
    )
    lanes, lanes_text = device_lanes(device, threads)
    if work is None or lanes is None:
        chain.add(
            "parallelism", None, "unknown", lanes_text if work is not None else "the op has no parallel-work model"
        )
    else:
        efficiency = work.tile_efficiency * wave_efficiency(work.units, lanes)
        spread = max(compute_s / efficiency, memory_s) + floor
        chain.add(
            "parallelism",
            max(chain.ideal, spread),
            "derived",
            f"{work.units} {work.what} on {lanes_text}: {efficiency:.0%} busy ({work.assumption})",
        )
    chain.add("residual", time_s, "measured", "the measured time: what the kernel leaves on the table")
    return chain.steps, None


def _arithmetic(
    counts: Counts, placement: Placement, device: Device, gpu_state: dict[str, Any] | None, memory_s: float
) -> tuple[_Chain, float]:
    """The peak, clock, memory and kernel steps of work with arithmetic, and its compute time at the ceiling. The
    roofline's bound comes before the kernel: memory charges what the level's roof costs beyond the clocked peak, and
    the kernel only what the best kernel measured here leaves where compute binds (a memory-bound record keeps a kernel
    factor of 1: its time is its bytes', whatever the kernel could do)."""
    flops, peak = counts.total_flops, placement.peak_flops_per_s or 0.0
    chain = _Chain("peak", flops / peak, placement.peak_source or "", "")
    factor, source, why = clock_factor(device, gpu_state)
    chain.add("clock", chain.ideal / factor if factor else None, source, why)
    clocked = chain.ideal  # its FLOPs at the clocked peak: its compute time where no ceiling is measured
    bandwidth = placement.bandwidth_bytes_per_s
    chain.add(
        "memory",
        max(chain.ideal, memory_s) if bandwidth else None,
        placement.bandwidth_source or "measured",
        f"{placement.level}: {counts.bytes / 1e6:.3g} MB at {bandwidth / 1e9:.3g} GB/s"
        if bandwidth
        else "no bandwidth roof for the level its data lives in",
    )
    ceiling = placement.ceiling_flops_per_s
    compute_s = flops / ceiling if ceiling else clocked
    binds = "memory binds: its bytes set its time, not the kernel" if memory_s >= compute_s else ""
    chain.add(
        "kernel",
        max(chain.ideal, compute_s) if ceiling else None,
        "measured",
        (binds or f"the best {placement.peak_key} kernel measured here: {ceiling / 1e9:.4g} GFLOP/s")
        if ceiling
        else f"no {placement.peak_key} compute ceiling measured (flopbench peak --measure)",
    )
    return chain, compute_s


def _traffic(counts: Counts, placement: Placement, memory_s: float) -> _Chain:
    """The first steps of work without arithmetic: its bytes at its level's roof; no clock, kernel or memory step."""
    bandwidth = placement.bandwidth_bytes_per_s or 0.0
    roof = f"{placement.level}: {counts.bytes / 1e6:.3g} MB at {bandwidth / 1e9:.3g} GB/s"
    chain = _Chain(
        "peak",
        memory_s,
        placement.bandwidth_source or "measured",
        f"no arithmetic: its bytes at the roof of the level its data lives in ({roof})",
    )
    for name in ("clock", "memory", "kernel"):
        chain.add(name, None, "unknown", "no arithmetic: the ideal above is already its memory level's roof")
    return chain


# A step that costs less than this share of the time is no loss worth naming (a copy at its roof loses 0.00003 to the
# per-call floor; "largest loss: overhead" would send its reader after nothing).
NAMED_LOSS = 0.01


def ledger_part(
    workload: Workload,
    placement: Placement | None,
    roofline: Roofline,
    device: Device,
    time_s: float,
    threads: int | None,
    gpu_state: dict[str, Any] | None = None,
) -> LedgerPart | None:
    """A placed record's ledger part: where its FLOP/s went at `time_s` (a measured record's, or a merged one's
    from all its rounds); None for a record not placed."""
    if placement is None:
        return None
    steps, note = ledger(
        workload.counts,
        placement,
        roofline,
        device,
        time_s,
        work=workload.spec.parallel_work(workload.p, device.type),
        threads=threads,
        gpu_state=gpu_state,
    )
    return LedgerPart(ledger=steps, ledger_note=note, largest_loss=largest_loss(steps))


def largest_loss(steps: list[LedgerStep] | None) -> str | None:
    """The name of the step with the smallest factor (the largest loss), or None where no step loses NAMED_LOSS."""
    known = [s for s in steps or () if s.factor is not None and s.name != "peak"]
    if not known:
        return None
    worst = min(known, key=lambda s: s.factor or 1.0)
    return worst.name if worst.factor is not None and worst.factor < 1 - NAMED_LOSS else None
