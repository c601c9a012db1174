"""The statistics of a comparison, as pure functions of the measurements: a speedup with its interval, the bounds a
gate decides on, the slowdown the gate would catch, and the p-value it corrects for the many workloads it judges.

Every speedup is a ratio of geometric means (time A over time B), worked on logarithms, and its interval fits how
the data was taken (docs/methodology.md, "Comparing runs"):

- paired: A and B measured alternately, close in time (flopbench ab): per pair d = log(time A) - log(time B). The
  pairs of one round share its build (inputs, output buffers, their place in memory) and moment, so a round is the
  unit that repeats: an estimate per round (the Hodges-Lehmann centre of its pairs) and a t interval across rounds.
  One round alone decides nothing.
- separate runs: Welch's t on the logarithms of the two runs' round medians, plus a between-run term: each run has an
  offset of its own (its moment, its process layout) of standard deviation `drift` (Drift, learnt from the machine's
  A/A history, or assumed), which no number of rounds inside one run can see. The drift is itself an estimate: its
  degrees of freedom (the A/A pairs it rests on) enter Welch-Satterthwaite. A row whose between-run term dominates is
  drift-limited.
- a family (a suite's geometric mean): the mean of its workloads' log speedups, whose error is their measurement
  errors (fixed effect: sqrt(sum se^2) / k) plus the drift all of them share; how much the workloads differ is their
  spread, reported beside it, never the interval.

A row decides nothing (its verdict is unsure, and it never passes a gate) when a side has fewer than two values, when
its values have no spread (timer ticks: the interval would collapse to a point), or when all it has is one round,
whose samples (or pairs) are not independent draws. The standard error is never under the timer's resolution.

The gate (flopbench.reading.comparison.Comparison.gate) reads three figures of a Ratio: `p_slower` (is it slower than
T with confidence), `upper_slowdown` (the one-sided bound on how much slower it can be: under T, it is shown not
slower by T) and `mde` (the slowdown it would catch 80% of the time, after Holm's correction).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95  # the intervals' confidence
THRESHOLD = 0.05  # a speedup within 5% either way is the same
POWER = 0.80  # the gate's catch point: the slowdown it fails on with this probability


def quantile(p: float, df: float) -> float:
    """Student's t quantile (the normal's at infinite degrees of freedom)."""
    from scipy import stats

    return float(stats.norm.ppf(p) if math.isinf(df) else stats.t.ppf(p, df))


@dataclass(frozen=True)
class Ratio:
    """A speedup (time A / time B: above 1, B is faster) with its interval, and what it rests on."""

    value: float
    low: float
    high: float
    unit: str  # rounds (paired: pairs clustered by round), pairs, rounds, samples, or workloads (a family)
    se: float = math.nan  # the standard error of log(value)
    df: float = math.nan  # its degrees of freedom
    decides: bool = True  # False: too little to go on (see the module's doc); unsure whatever its interval
    drift_share: float = 0.0  # the share of its variance that is the between-run term (separate runs)
    why: str = ""  # why it decides nothing, in words
    repeats: int = 0  # the independent units it rests on (rounds, or pairs where each pair is its own)

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

    @property
    def _known(self) -> bool:
        return self.decides and self.se == self.se and self.se > 0 and self.df == self.df and self.df > 0

    def upper_slowdown(self, level: float = LEVEL) -> float:
        """The one-sided `level` upper bound on B's slowdown (time B / time A - 1; negative: B is faster by at least
        that): under a threshold T, B is shown not slower than A by T. Infinite where the row decides nothing."""
        if not self._known:
            return math.inf
        return math.exp(quantile(level, self.df) * self.se - math.log(self.value)) - 1

    def mde(self, threshold: float, comparisons: int = 1, level: float = LEVEL, power: float = POWER) -> float:
        """The gate's catch point: the true slowdown at which `--fail-slower threshold` fails this row with probability
        `power`, testing it at one-sided (1 - level) / comparisons (Holm's first step, the strictest). Infinite where
        the row decides nothing."""
        if not self._known:
            return math.inf
        alpha = (1 - level) / max(comparisons, 1)
        reach = quantile(1 - alpha, self.df) + quantile(power, self.df)
        return (1 + threshold) * math.exp(reach * self.se) - 1

    def attainable(self, level: float = LEVEL, power: float = POWER) -> float:
        """The smallest threshold this row, were it unchanged, would be shown within (exit 0) with probability
        `power`: what its precision can promise. Infinite where the row decides nothing."""
        if not self._known:
            return math.inf
        return math.exp((quantile(level, self.df) + quantile(power, self.df)) * self.se) - 1

    def p_slower(self, threshold: float) -> float:
        """The p-value of 'B is slower than A by more than `threshold`' (one-sided; small: sure of it)."""
        if not self._known:
            return 1.0
        from scipy import stats

        bound = math.log(1 / (1 + threshold))
        z = (math.log(self.value) - bound) / self.se
        return float(stats.norm.cdf(z) if math.isinf(self.df) else stats.t.cdf(z, self.df))

    def slower_than(self, threshold: float) -> bool:
        """Slower by more than `threshold` with confidence: the whole interval under 1 / (1 + threshold)."""
        return self.decides and self.high < 1 / (1 + threshold)

    def text(self) -> str:
        return f"{self.value:.3g}x ({self.low:.3g}-{self.high:.3g})"


NOTHING = Ratio(math.nan, math.nan, math.nan, "", decides=False, why="no measurement")


def _interval(mean: float, se: float, df: float, level: float) -> tuple[float, float, float]:
    reach = quantile(1 - (1 - level) / 2, df) * se
    return math.exp(mean), math.exp(mean - reach), math.exp(mean + reach)


def _undecided(mean: float, unit: str, why: str) -> Ratio:
    value = math.exp(mean)
    return Ratio(value, value, value, unit, decides=False, why=why)


RANK_PAIRS = 10  # from this many pairs on, the pairs' interval is the signed-rank one (robust to a stray block)
EXACT_RANKS = 300  # up to this many pairs the signed-rank distribution is counted exactly, beyond it approximated


def paired(
    a: Sequence[float],
    b: Sequence[float],
    rounds: Sequence[int] | None = None,
    resolution: float = 0.0,
    level: float = LEVEL,
) -> Ratio:
    """Speedup of paired times (a[i] and b[i] measured back to back), from the pairs' log ratios d = log a - log b.

    `rounds`: the round of each pair. Pairs of one round share its build (inputs, output buffers, their place in
    memory) and moment: an offset of their own, which no number of pairs in that round can see. So the round is the
    unit that repeats: an estimate per round (the Hodges-Lehmann centre of its pairs), their mean, and a t interval on
    R - 1 degrees of freedom across the R rounds; from RANK_PAIRS rounds on, their median with its order-statistic
    (sign-test) interval: a round the host disturbed on one side reads 10-100% off (seen on the 2-vCPU Zen 3 VM, 4 of
    20 rounds of one GEMM), which widens a t interval, and a signed-rank one too when they lean one way, but moves the
    median's bounds by one place each. The rounds' estimates are independent and near normal (each a centre
    of several pairs), so that interval holds its level whatever the offsets are (simulated: 94-96% at offsets of 0 to
    2% over 3 rounds of 10 pairs; pooling the pairs as independent fell to 74% at 1%); a floor under it from the pairs'
    own spread would only over-cover (99% with no offset). One round decides nothing.

    Without `rounds`, every pair is independent (whole processes alternating, each pair one value, or a simulation):
    from RANK_PAIRS pairs on, the Hodges-Lehmann estimate with the Wilcoxon signed-rank interval (the pairs' ratios
    are heavy-tailed: a block the host preempted is 10-30% off, which a t interval pays for in width; the rank
    interval only assumes d symmetric about its centre, which pairing makes so); fewer pairs, a t interval.
    `resolution`: the timer's relative resolution per value, the floor of each value's error."""
    d = np.log(np.asarray(a, dtype=float)) - np.log(np.asarray(b, dtype=float))
    n = len(d)
    unit = "pairs" if rounds is None else "rounds"
    if n < 2:
        return _undecided(float(d.mean()) if n else math.nan, unit, "fewer than 2 pairs")
    if np.ptp(d) < 1e-12:
        return _undecided(float(d.mean()), unit, "no spread between pairs (timer ticks)")
    floor = math.sqrt(2) * resolution / math.sqrt(n)
    if rounds is None:  # independent pairs: their own interval
        if n < RANK_PAIRS:
            se = max(float(d.std(ddof=1)) / math.sqrt(n), floor)
            value, low, high = _interval(float(d.mean()), se, n - 1, level)
            return Ratio(value, low, high, unit, se, n - 1, repeats=n)
        centre, low_d, high_d = signed_rank_interval(d, level)
        se = max((high_d - low_d) / (2 * quantile(1 - (1 - level) / 2, math.inf)), floor)
        value, low, high = _interval(centre, se, math.inf, level)
        return Ratio(value, low, high, unit, se, math.inf, repeats=n)
    labels = np.asarray(rounds)
    estimates = np.array([_centre(d[labels == label]) for label in np.unique(labels)])
    count = len(estimates)
    if count < 2:
        return _undecided(
            float(d.mean()), unit, "one round: its pairs share one build and moment (rounds are what repeats)"
        )
    if count >= RANK_PAIRS:  # many rounds: robust to rounds the host disturbed on one side (10-100% off)
        centre, low_d, high_d = median_interval(estimates, level)
        se = max((high_d - low_d) / (2 * quantile(1 - (1 - level) / 2, math.inf)), floor)
        value, low, high = _interval(centre, se, math.inf, level)
        return Ratio(value, low, high, unit, se, math.inf, repeats=count)
    se = max(float(estimates.std(ddof=1)) / math.sqrt(count), floor)
    if se == 0:
        return _undecided(float(estimates.mean()), unit, "no spread between rounds (timer ticks)")
    value, low, high = _interval(float(estimates.mean()), se, count - 1, level)
    return Ratio(value, low, high, unit, se, count - 1, repeats=count)


def _centre(d: np.ndarray) -> float:
    """The Hodges-Lehmann centre of one round's pairs (their value, for one pair)."""
    i, j = np.triu_indices(len(d))
    return float(np.median((d[i] + d[j]) / 2))


def median_interval(x: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """(median, low, high): the median of x and its distribution-free interval, the order statistics the binomial
    (n, 1/2) puts at (1 - level) / 2 on each side (the sign test's: coverage at least `level`)."""
    from scipy import stats

    values = np.sort(np.asarray(x, dtype=float))
    n = len(values)
    k = int(stats.binom.ppf((1 - level) / 2, n, 0.5))  # P(B <= k) >= tail: the k-th value (1-based) is the bound
    if stats.binom.cdf(k, n, 0.5) > (1 - level) / 2:
        k -= 1
    k = max(k, 0)  # below 6 values no such interval exists: the whole range then
    return float(np.median(values)), float(values[k]), float(values[n - 1 - k])


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
    drift_df: float = math.inf,
) -> Ratio:
    """Speedup of two separate runs' repetitions (round medians): Welch's t on the logarithms, plus the between-run
    term 2 x drift^2 (each run's own offset), its degrees of freedom by Welch-Satterthwaite with the drift's own
    (`drift_df`: the A/A pairs of runs it was learnt from; infinite for a drift taken as known). Samples of one round
    (unit 'samples') are shown but decide nothing."""
    la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    mean = float(la.mean() - lb.mean()) if len(la) and len(lb) else math.nan
    if len(la) < 2 or len(lb) < 2:
        return _undecided(mean, unit, "fewer than 2 values on a side")
    if np.ptp(la) < 1e-12 and np.ptp(lb) < 1e-12:
        return _undecided(mean, unit, "no spread on either side (timer ticks)")
    va = max(float(la.var(ddof=1)), resolution**2) / len(la)
    vb = max(float(lb.var(ddof=1)), resolution**2) / len(lb)
    between = 2 * drift**2
    total = va + vb + between
    df = satterthwaite([(va, len(la) - 1), (vb, len(lb) - 1), (between, drift_df)])
    value, low, high = _interval(mean, math.sqrt(total), df, level)
    decides = unit != "samples"
    why = "" if decides else "one round a side: its samples are one moment's, not independent draws"
    repeats = min(len(la), len(lb))
    return Ratio(value, low, high, unit, math.sqrt(total), df, decides, between / total, why, repeats)


def satterthwaite(terms: Sequence[tuple[float, float]]) -> float:
    """The degrees of freedom of a sum of variances, each (variance, its degrees of freedom): (sum v)^2 / sum(v^2/df),
    a known term (infinite df) adding variance but no uncertainty about it."""
    total = sum(v for v, _ in terms)
    uncertain = sum(v**2 / df for v, df in terms if v > 0 and not math.isinf(df))
    return total**2 / uncertain if uncertain > 0 else math.inf


def family(ratios: Sequence[Ratio], drift: float = 0.0, level: float = LEVEL, drift_df: float = math.inf) -> Ratio:
    """The geometric mean of workloads' speedups with its interval: the mean of their log speedups, whose standard error
    is their measurement errors' (fixed effect: sqrt(sum se^2) / k, degrees of freedom by Welch-Satterthwaite) plus
    the run offset every workload of a pair of separate runs (or machines) shares (2 x drift^2). Rows that decide
    nothing are left out of it (all of them: the mean alone, deciding nothing). How much the workloads differ (their
    spread) is not measurement error, and is not in it: `spread` reports it."""
    known = [r for r in ratios if r.decides and r.value == r.value and r.value > 0 and r.se == r.se]
    values = [r.value for r in ratios if r.value == r.value and r.value > 0]
    if not values:
        return NOTHING
    if not known:
        return _undecided(float(np.mean(np.log(values))), "workloads", "no workload decides")
    k = len(known)
    mean = float(np.mean([math.log(r.value) for r in known]))
    terms = [(r.se**2 / k**2, r.df) for r in known]
    between = 2 * drift**2
    terms.append((between, drift_df))
    total = sum(v for v, _ in terms)
    df = satterthwaite(terms)
    value, low, high = _interval(mean, math.sqrt(total), df, level)
    repeats = min(r.repeats for r in known)  # the rounds its least-measured workload rests on: more shrink it all
    return Ratio(value, low, high, "workloads", math.sqrt(total), df, True, between / total, repeats=repeats)


def spread(ratios: Sequence[Ratio]) -> tuple[float, float]:
    """(least, greatest) speedup among the workloads: how much they differ, beside a family's interval."""
    values = [r.value for r in ratios if r.value == r.value and r.value > 0]
    return (min(values), max(values)) if values else (math.nan, math.nan)


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Which hypotheses Holm's step-down procedure rejects at family-wise error `alpha` (for each p, in order)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    for rank, index in enumerate(order):
        if p_values[index] > alpha / (len(p_values) - rank):
            break
        rejected[index] = True
    return rejected
