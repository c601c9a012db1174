"""Trust: the rules that say how far a record's figure, and a whole run's, can be trusted, written once.

A record's trust fields (`busy` and `reasons` of each round's interference, `disturbed`, `stable`) and a footer's
counts mean what these rules say: the measuring half judges with them (flopbench.measuring.interference,
flopbench.measuring.summary), the reading half reads with them (the report's trust column, compare's warnings), and
nothing else holds a threshold. docs/methodology.md (section 3) gives what each was measured against. (A whole run's
trust, counted from its records, is flopbench.reading.trust's.)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flopbench.units import percent, seconds

# A measurement is disturbed when, during its window:
BUSY_OTHER_CPUS = 0.25  # other processes kept more than a quarter of a CPU busy (an idle VM's daemons: ~0.01)
BUSY_STEAL = 0.05  # the hypervisor took more than 5% of this VM's CPU time
CANARY_SLOWDOWN = 0.15  # the canary ran more than 15% slower than the baseline (or 5x its own noise, if larger)
# The canary's noise is the interquartile range of the run's first canaries over their median (flopbench.measuring.
# interference says how): for normal noise 5 IQRs are about 6.7 standard deviations, so a quiet machine is not called
# slow by chance.
CANARY_NOISE_MULTIPLE = 5
# A figure is unstable when its rounds leave it known to no better than this share (the half-width of its 95% interval,
# from its rounds: flopbench.results.trust.precision). More rounds narrow it, so a record measured longer is less
# often unstable; a run can measure until its figures are within a target (flopbench run --target-precision).
UNSTABLE_PRECISION = 0.10
PRECISION_LEVEL = 0.95
# A whole run is slow when its canaries ran a median of more than 5% slower than the machine's quietest run: a drift
# too small for one window's canary to be sure of (its threshold is 15%), but the median of a run's windows is.
RUN_SLOW = 0.05


@dataclass(frozen=True)
class Disturbance:
    """One reason a window was disturbed: what a program counts, what a record says, what a table cell shows."""

    code: str  # other_cpus, steal, canary, gpu
    reason: str
    short: str


def disturbances(
    other_cpus: float | None,
    steal: float | None,
    canary_slowdown: float | None,
    canary_threshold: float | None,
    gpu_processes: int | None,
    gpu_utilization: float | None,
    usable_cpus: int,
) -> list[Disturbance]:
    """Why a window with these readings was disturbed (empty: it was quiet). canary_threshold: the run's own (the
    larger of CANARY_SLOWDOWN and its canary's noise); None: CANARY_SLOWDOWN."""
    found = []
    if other_cpus is not None and other_cpus > BUSY_OTHER_CPUS:
        found.append(
            Disturbance(
                "other_cpus",
                f"busy: other processes used {other_cpus:.1f} of {usable_cpus} CPUs during this measurement",
                f"busy {other_cpus:.1f} CPU",
            )
        )
    if steal is not None and steal > BUSY_STEAL:
        found.append(
            Disturbance(
                "steal",
                f"steal: the hypervisor gave {steal:.0%} of this VM's CPU time to other guests",
                f"steal {steal:.0%}",
            )
        )
    if canary_slowdown is not None and canary_slowdown > (canary_threshold or CANARY_SLOWDOWN):
        found.append(
            Disturbance(
                "canary",
                f"slow machine: the canary ran {factor_text(canary_slowdown)} slower than at its quietest",
                f"canary +{canary_slowdown:.0%}" if canary_slowdown <= 1 else f"canary {1 + canary_slowdown:.3g}x",
            )
        )
    if gpu_processes:
        busy = f" (the GPU {gpu_utilization:.0f}% busy just before)" if gpu_utilization is not None else ""
        found.append(
            Disturbance(
                "gpu",
                f"GPU shared: {gpu_processes} other process{'es' * (gpu_processes > 1)} computed on it{busy}",
                "GPU shared",
            )
        )
    return found


def factor_text(slowdown: float) -> str:
    """A slowdown as a reader takes it in: '35%' up to 100%, then a factor ('106x' rather than '10485%')."""
    return f"{slowdown:.0%}" if slowdown <= 1 else f"{1 + slowdown:.3g}x"


def disturbances_of(interference: Any) -> list[Disturbance]:
    """The reasons of a recorded window (flopbench.results.schema.Interference), read from its own readings against
    the one rule."""
    return disturbances(
        interference.other_cpus,
        interference.steal,
        interference.canary_slowdown,
        interference.canary_threshold,
        interference.gpu_processes,
        interference.gpu_utilization,
        interference.usable_cpus,
    )


# The kinds of warning (the words before a warning's colon) that a record's trust already tells: its disturbances and
# its unstable rounds. Files before the kinds were said first wrote the first two as sentences.
TRUST_KINDS = ("busy", "steal", "slow machine", "GPU shared", "unstable", "the machine was busy")


def said_by_trust(warning: str) -> bool:
    """Whether a record's warning is one its trust (disturbed, stable) already tells, so that a table with a trust
    column need not say it twice."""
    kind = warning.split(":", 1)[0].strip()
    old = ("slower than at its quietest (canary)", "of this VM's CPU time to other guests (steal)")
    return kind in TRUST_KINDS or any(text in warning for text in old)


def precision(times_s: Sequence[float], level: float = PRECISION_LEVEL) -> float | None:
    """How well a workload's rounds pin its figure: the half-width of the `level` t interval of their mean log time,
    t(R-1) x s / sqrt(R) of the logs of the R round medians, as a share (0.05: within about 5%). The figure is their
    median, which for a few rounds is near their mean; None with one round (no spread to go on)."""
    logs = [math.log(t) for t in times_s if t and t > 0]
    if len(logs) < 2:
        return None
    from scipy import stats

    reach = float(stats.t.ppf(1 - (1 - level) / 2, len(logs) - 1)) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(reach) - 1


def unstable(precision: float | None, target: float = UNSTABLE_PRECISION) -> bool:
    """Whether a figure known to within `precision` (None: one round, no verdict) is unstable."""
    return precision is not None and precision > target


def unstable_text(rounds: int, precision: float) -> str:
    return (
        f"unstable: its {rounds} rounds leave it known to ±{percent(precision)} ({PRECISION_LEVEL:.0%} interval),"
        f" more than ±{UNSTABLE_PRECISION:.0%}"
    )


@dataclass(frozen=True)
class RunSpeed:
    """The machine's speed over a whole run, from its windows' canaries. Against the run's baseline (five canaries back
    to back at its start, or the cached quiet reference) they say whether that baseline was itself slow; against
    the median canary of the quietest earlier run on this machine (reference_s) whether this whole run was slow.
    The two differ in kind: a canary between workloads reads slower than one back to back
    (flopbench.measuring.interference), so only medians of windows are compared with each other."""

    windows: int
    median_slowdown: float  # the windows' median canary against the run's baseline
    max_slowdown: float
    median_s: float | None  # the windows' median canary in seconds; None without the baseline
    reference_s: float | None = None  # the quietest earlier run's median canary on this machine, if any

    @property
    def slow(self) -> bool:
        return bool(self.median_s and self.reference_s and self.median_s > self.reference_s * (1 + RUN_SLOW))

    @property
    def fast(self) -> bool:
        """The run's canaries beat their baseline: the baseline was taken on a slowed machine."""
        return self.median_slowdown < -RUN_SLOW

    def sentence(self) -> str:
        if self.fast:
            return (
                f"the canary ran a median {-self.median_slowdown:.1%} faster than its baseline (the faster of the"
                f" run's start and the machine's cached quiet reference) over the run's {self.windows} measurements:"
                f" that baseline was taken on a slowed machine, so slowdowns during this run read smaller than they"
                f" were"
            )
        if self.median_s is None:
            return f"the canary ran a median {self.median_slowdown:+.1%} from its baseline over {self.windows} windows"
        text = f"the canary's median over the run's {self.windows} measurements was {seconds(self.median_s)}"
        if not self.reference_s:
            return text + ", the first such figure on this machine (later runs are judged against the quietest one)"
        change = self.median_s / self.reference_s - 1
        text += f", {change:+.1%} from the quietest earlier run on this machine ({seconds(self.reference_s)})"
        if self.slow:
            text += (
                ": the machine was slower for the whole run (another tenant, its clocks), so its figures may read"
                " about that much slow"
            )
        return text


def run_speed(records: Any, baseline_s: float | None, reference_s: float | None = None) -> RunSpeed | None:
    """The RunSpeed of a run's records, or None when no window timed the canary. reference_s: the median canary of
    the quietest earlier run on this machine (its ceilings cache's run_canary_s)."""
    slowdowns = [
        r.interference.canary_slowdown
        for record in records
        for r in record.rounds
        if r.interference is not None and r.interference.canary_slowdown is not None
    ]
    if not slowdowns:
        return None
    median = statistics.median(slowdowns)
    median_s = baseline_s * (1 + median) if baseline_s else None
    return RunSpeed(len(slowdowns), median, max(slowdowns), median_s, reference_s)
