"""The statistics of a comparison, as pure functions of the measurements: a speedup with its interval, the smallest
change it could have detected, and the p-value a gate corrects for the many workloads it judges.

Every speedup is a ratio of geometric means (time A over time B), worked on logarithms, and its interval fits how
the data was taken (docs/methodology.md, "Comparing runs"):

- paired: A and B measured alternately, close in time (flopbench ab): per pair d = log(time A) - log(time B), and an
  interval on the centre of d (signed-rank from RANK_PAIRS pairs on, a t interval below). Neighbours share the
  machine's state of the moment, so its drift cancels.
- separate runs: Welch's t on the logarithms of the two runs' round medians, plus a between-run term: each run has an
  offset of its own (its moment, its process layout) of standard deviation `drift` (Drift, learnt from the machine's
  A/A history, or its canaries), which no number of rounds inside one run can see. A row whose between-run term
  dominates is drift-limited.

A row decides nothing (its verdict is unsure, and it never fails a gate) when a side has fewer than two values, when
its values have no spread (timer ticks: the interval would collapse to a point), or when all it has is one round's
samples, which are not independent draws. The standard error is never under the timer's resolution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95  # the intervals' confidence
THRESHOLD = 0.05  # a speedup within 5% either way is the same
POWER = 0.80  # the smallest detectable change: what a comparison would call with this probability
VERDICTS = ("faster", "slower", "same", "unsure")


@dataclass(frozen=True)
class Ratio:
    """A speedup (time A / time B: above 1, B is faster) with its interval, and what it rests on."""

    value: float
    low: float
    high: float
    unit: str  # pairs, rounds, samples (one round each side: not independent), or workloads (a family)
    se: float = math.nan  # the standard error of log(value)
    df: float = math.nan  # its degrees of freedom
    decides: bool = True  # False: too little to go on (see the module's doc); unsure whatever its interval
    drift_share: float = 0.0  # the share of its variance that is the between-run term (separate runs)
    why: str = ""  # why it decides nothing, in words

    def verdict(self, threshold: float = THRESHOLD) -> str:
        if not self.decides or self.value != self.value:
            return "unsure"
        if self.low > 1 + threshold:
            return "faster"
        if self.high < 1 / (1 + threshold):
            return "slower"
        if self.low >= 1 / (1 + threshold) and self.high <= 1 + threshold:
            return "same"
        return "unsure"

    @property
    def drift_limited(self) -> bool:
        """Its interval is mostly the between-run term: more rounds would not narrow it; pairing would."""
        return self.drift_share > 0.5

    def mde(self, level: float = LEVEL, power: float = POWER) -> float:
        """The smallest change (as a share, 0.05 = 5%) a two-sided test at `level` would detect with `power`."""
        if not (self.se == self.se and self.df == self.df) or self.df <= 0:
            return math.inf
        from scipy import stats

        reach = stats.t.ppf(1 - (1 - level) / 2, self.df) + stats.t.ppf(power, self.df)
        return math.exp(reach * self.se) - 1

    def p_slower(self, threshold: float) -> float:
        """The p-value of 'B is slower than A by more than `threshold`' (one-sided; small: sure of it)."""
        if not self.decides or not (self.se == self.se and self.se > 0):
            return 1.0
        from scipy import stats

        bound = math.log(1 / (1 + threshold))
        return float(stats.t.cdf((math.log(self.value) - bound) / self.se, self.df))

    def slower_than(self, threshold: float) -> bool:
        """Slower by more than `threshold` with confidence: the whole interval under 1 / (1 + threshold)."""
        return self.decides and self.high < 1 / (1 + threshold)

    def text(self) -> str:
        return f"{self.value:.3g}x ({self.low:.3g}-{self.high:.3g})"


NOTHING = Ratio(math.nan, math.nan, math.nan, "", decides=False, why="no measurement")


def _interval(mean: float, se: float, df: float, level: float) -> tuple[float, float, float]:
    from scipy import stats

    reach = stats.t.ppf(1 - (1 - level) / 2, df) * se
    return math.exp(mean), math.exp(mean - reach), math.exp(mean + reach)


def _undecided(mean: float, unit: str, why: str) -> Ratio:
    value = math.exp(mean)
    return Ratio(value, value, value, unit, decides=False, why=why)


RANK_PAIRS = 10  # from this many pairs on, the paired interval is the signed-rank one (robust to a stray block)
EXACT_RANKS = 300  # up to this many pairs the signed-rank distribution is counted exactly, beyond it approximated


def paired(a: Sequence[float], b: Sequence[float], resolution: float = 0.0, level: float = LEVEL) -> Ratio:
    """Speedup of paired times (a[i] and b[i] measured back to back), from the pairs' log ratios d = log a - log b.

    From RANK_PAIRS pairs on (blocks interleaved in one process): the Hodges-Lehmann estimate (the median of the
    pairwise means of d) with the Wilcoxon signed-rank interval. The pairs' ratios are heavy-tailed (a block the host
    preempted is 10-30% off: on a 2-vCPU VM the standard deviation of d was 2-8x its MAD), which a t interval pays for
    in width; the rank interval only assumes d symmetric about its centre, which pairing makes so (the noises of two
    blocks of one moment are alike). Fewer pairs (whole processes alternating: each a round's median, near normal):
    a paired t interval. `resolution`: the timer's relative resolution per value, the floor of each value's error."""
    d = np.log(np.asarray(a, dtype=float)) - np.log(np.asarray(b, dtype=float))
    n = len(d)
    if n < 2:
        return _undecided(float(d.mean()) if n else math.nan, "pairs", "fewer than 2 pairs")
    if np.ptp(d) < 1e-12:
        return _undecided(float(d.mean()), "pairs", "no spread between pairs (timer ticks)")
    floor = math.sqrt(2) * resolution / math.sqrt(n)
    if n < RANK_PAIRS:
        se = max(float(d.std(ddof=1)) / math.sqrt(n), floor)
        value, low, high = _interval(float(d.mean()), se, n - 1, level)
        return Ratio(value, low, high, "pairs", se, n - 1)
    centre, low_d, high_d = signed_rank_interval(d, level)
    from scipy import stats

    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    se = max((high_d - low_d) / (2 * z), floor)  # the interval's reach as a standard error (for the MDE and the gate)
    low_d, high_d = min(low_d, centre - z * se), max(high_d, centre + z * se)
    return Ratio(math.exp(centre), math.exp(low_d), math.exp(high_d), "pairs", se, math.inf)


def signed_rank_interval(d: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """(Hodges-Lehmann estimate, low, high) of the centre of d: the median of its Walsh averages (d_i + d_j) / 2,
    i <= j, and the order statistics of them the signed-rank distribution puts at (1 - level) / 2 on each side."""
    n = len(d)
    i, j = np.triu_indices(n)
    walsh = np.sort((d[i] + d[j]) / 2)
    count = len(walsh)  # n (n + 1) / 2
    tail = (1 - level) / 2
    if n <= EXACT_RANKS:
        ways = np.zeros(count + 1)
        ways[0] = 1.0
        for k in range(1, n + 1):  # the number of subsets of the ranks 1..n with each sum
            ways[k:] = ways[k:] + ways[:-k].copy()
        cdf = np.cumsum(ways) / 2.0**n
        c = int(np.searchsorted(cdf, tail, side="right"))  # P(T <= c - 1) <= tail < P(T <= c)
    else:
        from scipy import stats

        sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
        c = int(math.floor(count / 2 - stats.norm.ppf(1 - tail) * sd))
    c = max(c, 1)  # below 6 pairs no 95% rank interval exists: the whole range then (RANK_PAIRS is well above)
    return float(np.median(walsh)), float(walsh[c - 1]), float(walsh[count - c])


def unpaired(
    a: Sequence[float],
    b: Sequence[float],
    drift: float = 0.0,
    unit: str = "rounds",
    resolution: float = 0.0,
    level: float = LEVEL,
) -> Ratio:
    """Speedup of two separate runs' repetitions (round medians): Welch's t on the logarithms, plus the between-run
    term 2 x drift^2 (each run's own offset), its degrees of freedom by Welch-Satterthwaite (the drift counts as
    known). Samples of one round (unit 'samples') are shown but decide nothing."""
    la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    mean = float(la.mean() - lb.mean()) if len(la) and len(lb) else math.nan
    if len(la) < 2 or len(lb) < 2:
        return _undecided(mean, unit, "fewer than 2 values on a side")
    if np.ptp(la) < 1e-12 and np.ptp(lb) < 1e-12:
        return _undecided(mean, unit, "no spread on either side (timer ticks)")
    va = max(float(la.var(ddof=1)), resolution**2) / len(la)
    vb = max(float(lb.var(ddof=1)), resolution**2) / len(lb)
    welch = va + vb
    df = welch**2 / (va**2 / (len(la) - 1) + vb**2 / (len(lb) - 1))
    between = 2 * drift**2
    se = math.sqrt(welch + between)
    df = df * (se**4 / welch**2)  # Satterthwaite: the known between-run term adds variance, not uncertainty about it
    value, low, high = _interval(mean, se, df, level)
    decides = unit != "samples"
    why = "" if decides else "one round a side: its samples are one moment's, not independent draws"
    return Ratio(value, low, high, unit, se, df, decides, between / (welch + between), why)


def family(logs: Sequence[float], drift: float = 0.0, level: float = LEVEL) -> Ratio:
    """The geometric mean of workloads' speedups (given as their logarithms), with a t interval over the workloads,
    plus the run offset every workload of a pair of separate runs shares (2 x drift^2); below 3 workloads, the mean
    alone."""
    values = np.asarray(logs, dtype=float)
    values = values[np.isfinite(values)]
    k = len(values)
    if k == 0:
        return NOTHING
    mean = float(values.mean())
    if k < 3:
        return _undecided(mean, "workloads", "fewer than 3 workloads: no interval")
    between = 2 * drift**2
    if np.ptp(values) < 1e-12 and between == 0:
        return _undecided(mean, "workloads", "no spread between workloads")
    welch = float(values.var(ddof=1)) / k
    se = math.sqrt(welch + between)
    df = (k - 1) * (se**4 / welch**2) if welch > 0 else math.inf
    value, low, high = _interval(mean, se, df, level)
    return Ratio(value, low, high, "workloads", se, df, True, between / (welch + between))


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Which hypotheses Holm's step-down procedure rejects at family-wise error `alpha` (for each p, in order)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    for rank, index in enumerate(order):
        if p_values[index] > alpha / (len(p_values) - rank):
            break
        rejected[index] = True
    return rejected
