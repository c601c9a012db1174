"""A workload's figures from its rounds, as pure functions: the timing summary, the trust summary and the energy.

Its time is the median of its round medians, so a disturbance of a few seconds moves one round, never the figure;
its spread (IQR, CV) is that of the samples of every round pooled; its precision is how well its rounds pin it
(flopbench.results.trust.precision), and a figure known to no better than UNSTABLE_PRECISION is unstable. Nothing
here times, reads the machine or imports torch.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flopbench.machine.device import throttle_warnings
from flopbench.measuring.energy import Reading, per_call
from flopbench.measuring.timing import Measurement
from flopbench.results.schema import EnergyPart, Interference, Round, TimingPart, TrustPart
from flopbench.results.trust import precision, unstable, unstable_text


@dataclass(frozen=True)
class Summary:
    """The record's timing and trust parts, and the warnings they carry."""

    timing: TimingPart
    trust: TrustPart
    warnings: list[str] = field(default_factory=list)

    @property
    def time_s(self) -> float:
        assert self.timing.time_s is not None
        return self.timing.time_s


def pooled(measurements: Sequence[Measurement]) -> Measurement:
    """Every round's samples as one measurement (for the spread), the rounds' page faults as their median."""
    first = measurements[0]
    faults = [m.page_faults_per_call for m in measurements if m.page_faults_per_call is not None]
    return Measurement(
        tuple(s for m in measurements for s in m.samples_s),
        first.calls_per_sample,
        first.timer,
        first.resolution_s,
        first.notes,
        statistics.median(faults) if faults else None,
    )


def timing_part(measurement: Measurement, time_s: float | None = None, **more: Any) -> TimingPart:
    """The timing fields of a measurement; time_s: the figure, when it is not the samples' median; `more`: the
    fields a workload's rounds add (or replace)."""
    values: dict[str, Any] = {
        "samples_s": list(measurement.samples_s),
        "calls_per_sample": measurement.calls_per_sample,
        "timer": measurement.timer,
        "timer_resolution_s": measurement.resolution_s,
        "timed_s": measurement.timed_s,
        "time_s": time_s if time_s is not None else measurement.median_s,
        "time_iqr_s": measurement.iqr_s,
        "time_min_s": measurement.min_s,
        "time_mean_s": measurement.mean_s,
        "time_cv": measurement.cv,
        "page_faults_per_call": measurement.page_faults_per_call,
    }
    return TimingPart(**{**values, **more})


def summarize(
    rounds: Sequence[Round],
    measurements: Sequence[Measurement],
    planned_rounds: int,
    ended: str = "",
    gpu: dict | None = None,
) -> Summary:
    """The figures of a workload's rounds. ended: why it has fewer rounds than planned, in words ('' when it has
    them all: the run was interrupted, the budget was spent, or it stopped after some rounds)."""
    all_samples = pooled(measurements)
    medians = [r.time_s for r in rounds]
    figure = statistics.median(medians)
    warnings = all_samples.warnings()
    spread = (max(medians) - min(medians)) / figure if len(rounds) > 1 else None
    known = precision(medians)
    if unstable(known):
        assert known is not None
        warnings.append(unstable_text(len(rounds), known))
    timing = timing_part(
        all_samples,
        figure,
        timed_s=sum(m.timed_s for m in measurements),
        rounds=list(rounds),
        samples_s=[],  # each sample is kept once, in its round
        round_spread=spread,
        time_precision=known,
        stable=None if known is None else not unstable(known),
    )
    trust, trust_warnings = trust_part(rounds)
    warnings += trust_warnings
    if len(rounds) < planned_rounds:
        warnings.append(f"fewer rounds: {len(rounds)} of {planned_rounds}{', ' + ended if ended else ''}")
    if gpu:
        trust = trust.model_copy(update={"gpu": gpu})
        warnings += throttle_warnings(gpu.get("after", {}))
    return Summary(timing, trust, warnings)


def trust_part(rounds: Sequence[Round]) -> tuple[TrustPart, list[str]]:
    """Disturbed when any round was: its most disturbed round's interference, and its reasons as warnings."""
    disturbed = [r.interference for r in rounds if r.interference is not None and r.interference.busy]
    if disturbed:
        worst = max(disturbed, key=lambda i: (len(i.reasons), i.other_cpus or 0, i.canary_slowdown or 0))
        share = f" ({len(disturbed)} of {len(rounds)} rounds)" if len(rounds) > 1 else ""
        return TrustPart(disturbed=True, interference=worst), [f"{reason}{share}" for reason in worst.reasons]
    watched: list[Interference] = [r.interference for r in rounds if r.interference is not None]
    busiest = max(watched, key=lambda i: i.other_cpus or 0) if watched else None
    return TrustPart(interference=busiest), []  # not disturbed: the field's default


def energy_part(readings: Sequence[Reading], time_s: float, flops: float, traffic: float, reason: str) -> EnergyPart:
    """Energy per call: the rounds' average power (their joules over their windows' seconds) times the median call;
    `unknown` with the reason where no round was metered."""
    metered = [r for r in readings if r.joules is not None]
    if not metered:
        return EnergyPart(
            energy_source="unknown", energy_note=next((r.note for r in readings if r.note), reason) or None
        )
    combined = Reading(
        sum(r.joules or 0.0 for r in metered),
        sum(r.seconds for r in metered),
        metered[0].source,
        "; ".join(dict.fromkeys(r.note for r in metered if r.note)),
    )
    return EnergyPart(**per_call(combined, time_s, flops, traffic))
