"""Comparing runs with confidence: per workload a speedup with an interval, the slowdown its gate would catch and a
verdict; per family a geometric mean with the interval of its measurement (and the workloads' spread beside it); the
speedup each workload's roofline predicts beside it; and a gate a CI job can act on.

How the intervals are made is flopbench.reading.intervals': paired runs (flopbench ab) on the pairs' log ratios,
clustered by round; separate runs on their round medians with a between-run term, the Drift, whose source every
comparison names: this machine's A/A history (benchmarks/compare_aa.py learns it; its pairs of runs are its degrees
of freedom), else the assumed spread (or the runs' canaries where they say more). Two different machines have
nothing to cancel: each run's drift counts.

The gate (`gate`), for --fail-slower T, has three answers, each meaning what it says:
- 1: some workload, or a run's geometric mean over its workloads, is slower than T with confidence (one-sided, Holm's
  correction over every workload, run and geometric mean, so that judging twenty workloads does not raise the
  chance of a false failure twentyfold);
- 0: every workload and every geometric mean is shown not slower by T: its one-sided upper bound on the slowdown is
  under T (an intersection-union test: each must pass on its own, so no correction is needed);
- 2: neither: a line per row that left it open, with what would decide it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flopbench.reading.intervals import LEVEL, THRESHOLD, Ratio, family, holm, paired, quantile, spread, unpaired

if TYPE_CHECKING:
    from flopbench.reading.view import RunView
    from flopbench.results.schema import Record

# A run's offset (its standard deviation, on the log of its times) where no A/A history tells: the drift between
# back-to-back runs on 2-vCPU VMs (docs/methodology.md, "Comparing runs"). The canaries may say more, never less: a
# canary cannot see a workload's own drift.
DRIFT_ASSUMED = 0.05
MIN_HISTORY_PAIRS = 3  # an A/A history rests on at least this many pairs of runs before it replaces the assumption


def _holm(comparisons: int, joined: str) -> str:
    """The correction a gate line names: Holm's over several comparisons; none for one."""
    return f"{joined} Holm's correction over {comparisons} comparisons" if comparisons > 1 else ""


@dataclass(frozen=True)
class Drift:
    """The between-run term of two separate runs: each run's offset's standard deviation (log scale), its degrees of
    freedom (the A/A pairs of runs it was learnt from; infinite where it is taken as known), and whence."""

    sd: float
    source: str
    df: float = math.inf


def repetitions(records: list[Record]) -> tuple[list[float], str]:
    """A workload's repeated measurements: its round medians (rounds), or its samples where it has one round. The
    records of a distributed run's ranks fold into the median over ranks of each round (as its figure does)."""
    by_round: dict[int, list[float]] = {}
    for record in records:
        for r in record.rounds:
            by_round.setdefault(r.round, []).append(r.time_s)
    medians = [float(np.median(times)) for _, times in sorted(by_round.items())]
    if len(medians) >= 2:
        return medians, "rounds"
    samples = [r.pooled_samples_s or ([r.time_s] if r.time_s else []) for r in records]
    length = min(len(s) for s in samples)
    return [float(np.median([s[i] for s in samples])) for i in range(length)], "samples"


def pair_values(records: list[Record]) -> dict[int, tuple[int, float]]:
    """A paired record's (round, value) per pair: the median of its samples that carry each pair id (one sample a pair
    when interleaved in one process; a round's samples when whole processes alternate), and the round it was in."""
    return round_pairs([r for record in records for r in record.rounds])


def round_pairs(rounds: list[Any]) -> dict[int, tuple[int, float]]:
    """pair_values of rounds (flopbench.results.schema.Round) as they are measured, before a record holds them."""
    by_pair: dict[int, list[float]] = {}
    where: dict[int, int] = {}
    for r in rounds:
        for pair, sample in zip(r.pairs or (), r.samples_s):
            by_pair.setdefault(pair, []).append(sample)
            where.setdefault(pair, r.round)
    return {pair: (where[pair], float(np.median(values))) for pair, values in by_pair.items()}


def paired_ratio(mine: dict[int, tuple[int, float]], theirs: dict[int, tuple[int, float]], **more: Any) -> Ratio:
    """The paired speedup of two sides' pair values (pair_values): the pairs both have, clustered by round."""
    shared = sorted(set(mine) & set(theirs))
    return paired([mine[p][1] for p in shared], [theirs[p][1] for p in shared], [mine[p][0] for p in shared], **more)


def relative_resolution(records: list[Record]) -> float:
    """The timer's resolution over one sample's duration: the least error a sample can have."""
    found = [
        (r.timer_resolution_s or 0.0) / ((r.time_s or 1.0) * (r.calls_per_sample or 1)) for r in records if r.time_s
    ]
    return max(found, default=0.0)


# --- comparing runs --------------------------------------------------------------------------------------------------

# Run settings that change what a comparison means, and how to read them off a run's frame.
COMPARED_SETTINGS = {
    "torch version": "torch",
    "threads": "threads",
    "TF32": "tf32",
    "device count (each run's ranks folded into their median)": "world_size",
    "what the C allocator did with freed memory (flopbench.measuring.memory)": "allocator",
    "BLAS library": "blas",
    "the timed call's form (out: into a preallocated output; returns: a new output each call)": "call_form",
}
# Settings older files do not record: compared only where every run has one.
KNOWN_ONLY = {"allocator", "blas", "call_form"}


@dataclass
class Comparison:
    runs: pd.DataFrame  # label (A, B, ...) -> device, host, threads, torch, file
    table: pd.DataFrame  # per workload: time_s[X], speedup[X] with _low/_high, verdict[X], mde[X], roof_ratio[X], ...
    summary: pd.DataFrame  # per run and family: geometric mean speedup with its interval and spread, the roofs' ratio
    warnings: list[str]
    baseline: str = "A"
    threshold: float = THRESHOLD
    level: float = LEVEL
    notes: list[str] = field(default_factory=list)  # how each run was compared with the baseline, in words
    ratios: dict[str, list[Ratio]] = field(default_factory=dict)  # per run, each workload's (the table's order)
    paired: bool = False  # the two sides of one paired run (flopbench ab)
    means: dict[str, Ratio] = field(default_factory=dict)  # per run, the geometric mean over all its workloads

    @property
    def labels(self) -> list[str]:
        return list(self.runs["run"])

    @property
    def others(self) -> list[str]:
        return [label for label in self.labels if label != self.baseline]

    def tests(self) -> list[tuple[str, int | None, Ratio]]:
        """What the gate judges: every workload of every run against the baseline, and each run's geometric mean
        over its workloads where it has two or more ((run, row index or None for the mean, ratio))."""
        rows: list[tuple[str, int | None, Ratio]] = []
        for label in self.others:
            rows += [(label, i, ratio) for i, ratio in enumerate(self.ratios[label])]
            if sum(ratio.decides for ratio in self.ratios[label]) >= 2 and label in self.means:
                rows.append((label, None, self.means[label]))
        return rows

    def gate(self, threshold: float) -> tuple[int, list[str]]:
        """(exit status, a line per row that decided it) for --fail-slower `threshold`: 1 when a workload or a run's
        geometric mean is slower by more than `threshold` with confidence (one-sided, Holm's correction over them
        all); 0 when every one of them is shown not slower by `threshold` (its one-sided upper bound on the slowdown
        under it); 2 otherwise, a line for each row that left it open and what would decide it."""
        rows = self.tests()
        rejected = holm([ratio.p_slower(threshold) for _, _, ratio in rows], 1 - self.level)
        slower = [
            self._line(label, i, ratio, threshold, len(rows)) for (label, i, ratio), r in zip(rows, rejected) if r
        ]
        if slower:
            return 1, slower
        level = self.level  # one-sided: each row's own test, at the gate's error
        open_rows = [
            self._open(label, i, ratio, threshold, len(rows), level)
            for label, i, ratio in rows
            if not ratio.upper_slowdown(level) < threshold
        ]
        return (2, open_rows) if open_rows else (0, [])

    def _what(self, label: str, index: int | None, ratio: Ratio) -> str:
        times = f"{1 / ratio.value:.3g}x the time of run {self.baseline}"
        if index is None:
            workloads = sum(r.decides for r in self.ratios[label])
            return f"the geometric mean of run {label}'s {workloads} workloads is {times}"
        row = self.table.iloc[index]
        return f"{row['name']} ({row['dtype']}): run {label} is {times}"

    def _line(self, label: str, index: int | None, ratio: Ratio, threshold: float, comparisons: int) -> str:
        return (
            f"{self._what(label, index, ratio)} ({self.level:.0%} interval {1 / ratio.high:.3g}x-{1 / ratio.low:.3g}x):"
            f" over the {threshold:.0%} allowed{_holm(comparisons, ', with')}"
        )

    def _open(
        self, label: str, index: int | None, ratio: Ratio, threshold: float, comparisons: int, level: float
    ) -> str:
        """Why a row leaves the gate open, and what would decide it."""
        what = self._what(label, index, ratio) if ratio.value == ratio.value else f"row {index} of run {label}"
        if not ratio.decides:
            return f"{what}: it decides nothing ({ratio.why})"
        if ratio.drift_limited:
            return (
                f"{what}: up to {ratio.upper_slowdown(level):.1%} slower, past the {threshold:.0%} allowed;"
                " drift-limited: the drift between separate runs hides a change this small, and more rounds would not"
                " tell; pair the runs (flopbench ab)"
            )
        if ratio.value < 1 / (1 + threshold):
            return (
                f"{what}: past the {threshold:.0%} allowed, but not with confidence{_holm(comparisons, ' after')}"
                f" (it catches {ratio.mde(threshold, comparisons, self.level):.0%} slower 80% of the time): more rounds"
                " would tell"
            )
        need = rounds_to_pass(ratio, threshold, level)
        more = f"about {need} rounds would tell" if need else "more rounds would tell"
        return (
            f"{what}: up to {ratio.upper_slowdown(level):.1%} slower ({level:.0%} one-sided bound), past the"
            f" {threshold:.0%} allowed: {more}"
        )

    def matrix(self) -> pd.DataFrame:
        """Machines x families: each run's geometric mean speedup over the baseline, with its interval, as text."""
        rows = self.summary.copy()
        rows["text"] = [family_text(r.geomean_speedup, r.geomean_low, r.geomean_high) for r in rows.itertuples()]
        return rows.pivot(index="run", columns="family", values="text")


def rounds_to_pass(ratio: Ratio, threshold: float, level: float = LEVEL) -> int | None:
    """About how many rounds (or pairs, or processes: its repeats) a row would need for its upper bound on the
    slowdown to fall under `threshold`, were its estimate to stay as it is (its standard error shrinking as 1/sqrt of
    them); None where its estimate is itself past the threshold or it has no repeats to scale."""
    room = math.log(ratio.value) + math.log(1 + threshold)
    if room <= 0 or not ratio.repeats or not ratio.se == ratio.se:
        return None
    wanted = room / quantile(level, math.inf)
    return max(ratio.repeats + 1, math.ceil(ratio.repeats * (ratio.se / wanted) ** 2))


def family_text(value: float, low: float, high: float) -> str:
    """A family's geometric mean, with its interval where it has one."""
    if value != value:
        return "-"
    return f"{value:.3g}x" if low != low or low == high else Ratio(value, low, high, "").text()


def labels_for(count: int) -> list[str]:
    return [chr(ord("A") + i) if i < 26 else f"R{i}" for i in range(count)]


def is_paired(a: RunView, b: RunView) -> bool:
    """The two sides of one paired A/B run (flopbench ab)."""
    pa, pb = a.header.pairing, b.header.pairing
    return pa is not None and pb is not None and pa.session == pb.session and pa.side != pb.side


def compare(
    views: list[RunView],
    *,
    baseline: int = 0,
    threshold: float = THRESHOLD,
    level: float = LEVEL,
    best_impl: bool = False,
    drift: Drift | None = None,
) -> Comparison:
    """Join runs by workload identity (op, parameters, dtype, implementation; the two sides of a paired run by their
    pair key); speedup = baseline time / run time, with intervals and verdicts; with best_impl, each run's fastest
    implementation of each workload instead. `drift`: the between-run term of separate runs, where the caller knows
    it (else drift_between says)."""
    if len(views) < 2:
        raise ValueError("compare needs at least two runs")
    if empty := [str(view.path) for view in views if not view.records]:
        raise ValueError(f"compare needs records in every run; none in {', '.join(empty)}")
    labels = labels_for(len(views))
    base_label = labels[baseline]
    pairs = len(views) == 2 and is_paired(*views)
    groups = [_rows(view, best_impl, pairs) for view in views]
    common = groups[0].index
    for g in groups[1:]:
        common = common.intersection(g.index)
    base = groups[baseline].loc[common]
    table = pd.DataFrame({"name": base["name"], "family": base["family"], "dtype": base["dtype"], "impl": base["impl"]})
    table["total_flops"] = base["total_flops"]
    for label, g in zip(labels, groups):
        # The time a speedup divides, so that time A / time B is the speedup shown: the geometric mean of the
        # repetitions (round medians), where the run's own table quotes their median.
        times = [_geomean(pd.Series(repeats)) for repeats, _ in g.loc[common, "repeats"]]  # a measured record has some
        table[f"time_s[{label}]"] = times
        table[f"total_flops_per_s[{label}]"] = base["total_flops"] / pd.Series(times, index=common)
    notes: list[str] = []
    ratios: dict[str, list[Ratio]] = {}
    drifts: dict[str, Drift | None] = {}
    for label, g, view in zip(labels, groups, views):
        if label == base_label:
            continue
        drifts[label] = None if pairs else drift or drift_between(views[baseline], view)
        notes.append(_how(label, base_label, drifts[label], view))
        ratios[label] = _speedups(
            table, label, base, g.loc[common], (views[baseline], view), drifts[label], threshold, level
        )
    _energy(table, labels, groups, common, base_label)
    _memory(table, labels, groups, common, base_label)
    table = table.reset_index(drop=True)
    energy = any(column.startswith("energy_ratio[") for column in table.columns)
    summary, means = _summary(table, ratios, drifts, level, energy)
    legend = _legend(views, labels)
    warnings = _setting_warnings(groups, labels, common, views, base_label, pairs)
    if best_impl:
        warnings.append(
            "--best-impl: each run's fastest implementation is picked on the same noisy measurements it is compared"
            " on, which favours the run with more implementations (the winner's curse): read small differences as"
            " unsure"
        )
    result = Comparison(legend, table, summary, warnings, base_label, threshold, level, notes, ratios, pairs, means)
    comparisons = len(result.tests())
    for label, found in ratios.items():  # the gate's catch point: the slowdown it fails on 80% of the time
        table[f"mde[{label}]"] = [r.mde(threshold, comparisons, level) for r in found]
    summary["mde"] = [
        means[r.run].mde(threshold, comparisons, level) if r.family == "all" else math.nan for r in summary.itertuples()
    ]
    return result


def _how(label: str, base: str, drift: Drift | None, view: RunView) -> str:
    if drift is None:
        pairing = view.header.pairing
        how = "interleaved in one process" if pairing and pairing.how == "interleaved" else "alternating processes"
        unit = "each round's" if pairing and pairing.how == "interleaved" else "each pair's"
        return (
            f"Run {label} against run {base}: paired ({how}): each interval from the pairs' log ratios, {unit}"
            " estimate the unit that repeats."
        )
    known = "" if math.isinf(drift.df) else f", itself known to {drift.df:.0f} degrees of freedom"
    return (
        f"Run {label} against run {base}: separate runs: each interval from the round medians plus a between-run"
        f" term of {drift.sd:.1%} per run ({drift.source}{known})."
    )


def drift_between(a: RunView, b: RunView) -> Drift:
    """The between-run term of two separate runs, from what is known of their machines: the A/A history cached for
    this machine (benchmarks/compare_aa.py learns it) once it rests on MIN_HISTORY_PAIRS pairs of runs, with those as
    its degrees of freedom; else the assumed spread of DRIFT_ASSUMED, or more where the runs' canaries differ by more.
    Runs on two machines each bring their own drift: the larger of their histories and the assumed counts for both."""
    if not same_machine(a.header, b.header):
        known = [h[0] for h in (_history(a), _history(b)) if h is not None and h[1] >= MIN_HISTORY_PAIRS]
        sd = max([*known, DRIFT_ASSUMED])
        return Drift(sd, "two machines: each run's own drift, the larger of their A/A histories and the assumed")
    history = _history(a)  # one machine, one history
    if history is not None and history[1] >= MIN_HISTORY_PAIRS:
        return Drift(history[0], f"this machine's A/A history, {history[1]} pairs of runs", float(history[1]))
    short = (
        f"this machine's A/A history rests on {history[1]} pair(s) of runs, under the {MIN_HISTORY_PAIRS} it needs"
        if history is not None
        else "no A/A history on this machine"
    )
    canaries = [view.trust.speed.median_s if view.trust.speed else None for view in (a, b)]
    if canaries[0] and canaries[1]:
        apart = abs(math.log(canaries[0] / canaries[1]))
        if apart / math.sqrt(2) > DRIFT_ASSUMED:
            return Drift(apart / math.sqrt(2), f"{short}: the runs' canaries, {math.exp(apart) - 1:.1%} apart")
        return Drift(
            DRIFT_ASSUMED, f"assumed: {short}; the canaries, {math.exp(apart) - 1:.1%} apart, say no more than that"
        )
    return Drift(DRIFT_ASSUMED, f"assumed: {short} and no canaries (benchmarks/compare_aa.py measures it)")


def run_offset(a: Any, b: Any) -> float:
    """One run's offset, as one A/A pair of separate runs shows it: `a` and `b` are the two runs' log round medians,
    one row per workload (the same workloads, in order). The workloads' differences d of mean log time carry twice
    the offset (shared by every workload of a run, and each workload's own) plus what the rounds' scatter explains
    (2 x within^2 / rounds): the offset^2 is (median(d)^2 + the robust variance of d - that) / 2. Read robustly (the
    median, the MAD) so that one workload a neighbour hit for a whole run does not set the machine's drift; one such
    pair is one draw of it (the A/A history's degrees of freedom count the pairs)."""
    la, lb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rounds = la.shape[1]
    within = float(np.mean([*la.var(axis=1, ddof=1), *lb.var(axis=1, ddof=1)]))
    d = la.mean(axis=1) - lb.mean(axis=1)
    centre = float(np.median(d))
    scatter = (1.4826 * float(np.median(np.abs(d - centre)))) ** 2
    return math.sqrt(max(0.0, centre**2 + scatter - 2 * within / rounds) / 2)


MACHINE_FACTS = {"cpu": ("vendor", "family", "model", "isa", "logical_cpus"), "cuda": ("uuid", "multiprocessors")}


def same_machine(a: Any, b: Any) -> bool:
    """Whether two runs' headers describe one machine: the same device and the facts that tell machines apart (a CPU's
    vendor, family, model, ISA and CPUs; a GPU's UUID), and the same threads. A label ("cpu (AMD EPYC)") does not:
    a Zen 3 and a Zen 5 VM share it."""
    da, db = a.device, b.device
    if da is None or db is None or da.type != db.type or da.name != db.name or a.threads != b.threads:
        return False
    return all(da.facts.get(key) == db.facts.get(key) for key in MACHINE_FACTS.get(da.type, ()))


def _history(view: RunView) -> tuple[float, int] | None:
    """(drift, pairs of runs) of the A/A history of the machine a run was measured on, if any."""
    from flopbench.machine.cache import load_drift

    header = view.header
    if header.device is None or header.threads is None:
        return None
    return load_drift(header.device, header.threads)


def _rows(view: RunView, best_impl: bool, paired_run: bool) -> pd.DataFrame:
    """A run's measured workloads by identity (by the identity without the implementation, keeping the fastest
    implementation of each, with best_impl; by the pair key, for a side of a paired run)."""
    from flopbench.reading.analysis import base_identity

    frame = view.workloads
    ok = frame[frame["status"] == "ok"].copy()  # every record has an impl ("eager" by default) and a pair key column
    if paired_run:  # a record without a pair key (written by hand, or merged) pairs by its identity
        ok = ok.assign(pair_key=ok["pair_key"].fillna(ok["identity"])).set_index("pair_key")
    elif best_impl:
        ok["key"] = ok.apply(base_identity, axis=1)
        ok = ok.sort_values("time_s").drop_duplicates("key").set_index("key")
    else:
        ok = ok.set_index("identity", drop=False)
    records: dict[str, list[Record]] = {}
    for record in view.records:
        if record.status == "ok":
            records.setdefault(record.identity, []).append(record)
    found = [records[i] for i in ok["identity"]]  # the rows are these records (a distributed run's folded)
    ok["repeats"] = [repetitions(r) for r in found]
    ok["pairs"] = [pair_values(r) for r in found]
    ok["resolution"] = [relative_resolution(r) for r in found]
    return ok


def _speedups(
    table: pd.DataFrame,
    label: str,
    base: pd.DataFrame,
    other: pd.DataFrame,
    views: tuple[RunView, RunView],
    drift: Drift | None,
    threshold: float,
    level: float,
) -> list[Ratio]:
    ratios = []
    for key in table.index:
        resolution = max(base.at[key, "resolution"], other.at[key, "resolution"])
        if drift is None:  # the two sides of a paired run: neighbours in time
            ratios.append(
                paired_ratio(base.at[key, "pairs"], other.at[key, "pairs"], resolution=resolution, level=level)
            )
            continue
        (a, unit_a), (b, unit_b) = base.at[key, "repeats"], other.at[key, "repeats"]
        unit = "rounds" if unit_a == unit_b == "rounds" else "samples"
        ratios.append(unpaired(a, b, drift.sd, unit, resolution, level, drift.df))
    table[f"speedup[{label}]"] = [r.value for r in ratios]
    table[f"speedup_low[{label}]"] = [r.low for r in ratios]
    table[f"speedup_high[{label}]"] = [r.high for r in ratios]
    table[f"interval_from[{label}]"] = [r.unit for r in ratios]
    table[f"drift_limited[{label}]"] = [r.drift_limited for r in ratios]
    table[f"decides[{label}]"] = [r.decides for r in ratios]
    table[f"verdict[{label}]"] = [r.verdict(threshold) if r.value == r.value else "-" for r in ratios]
    roofs = [_roof_ratio(base.loc[key], views) for key in table.index]
    table[f"roof_ratio[{label}]"] = roofs
    table[f"roof_like[{label}]"] = [_like_levels(base.loc[key], views) for key in table.index]
    table[f"vs_roof[{label}]"] = table[f"speedup[{label}]"] / pd.Series(roofs, index=table.index)
    table[f"peak_ratio[{label}]"] = [_peak_ratio(base.loc[key], views) for key in table.index]
    return ratios


def _roof_ratio(row: pd.Series, views: tuple[RunView, RunView]) -> float:
    """The speedup the two devices' roofs predict for this workload: its least time on the baseline's cache-aware
    roofline of measured ceilings over its least time on the other's (bandwidth-bound work follows the bandwidths of
    the levels its data lives in, compute-bound work the compute roofs), each roofline as far as the other run
    measured it too (Roofline.shared_with: like levels, and the per-call floor only where both have it)."""
    flops, traffic = float(row["total_flops"]), float(row["bytes"])
    working_set = _working_set(row)
    key = _peak_key(row)
    a, b = views[0].roofline, views[1].roofline
    times = [roofs.cache_time_s(flops, traffic, working_set, key) for roofs in (a.shared_with(b), b.shared_with(a))]
    return times[0] / times[1] if all(times) else math.nan  # type: ignore[operator]


def _working_set(row: pd.Series) -> float:
    working_set = row.get("working_set_bytes")
    return float(working_set) if working_set == working_set and working_set is not None else float(row["bytes"])


def _like_levels(row: pd.Series, views: tuple[RunView, RunView]) -> bool:
    """Whether the roofs' prediction for this workload rests on the levels its data lives in on both machines:
    neither run had to fall back to a coarser level the other measured (an older run without cache roofs)."""
    a, b = views[0].roofline, views[1].roofline
    working_set = _working_set(row)
    return all(
        own.level_for(working_set).name == own.shared_with(other).level_for(working_set).name
        for own, other in ((a, b), (b, a))
    )


def _peak_key(row: pd.Series) -> str:
    """The peak that judges a row: its own, else its dtype's (a frame's missing value is NaN, which is truthy)."""
    key = row.get("peak_key")
    return key if isinstance(key, str) and key else str(row["dtype"])


def _peak_ratio(row: pd.Series, views: tuple[RunView, RunView]) -> float:
    key = _peak_key(row)
    peaks = [view.roofline.roof(key).peak.value for view in views]
    return peaks[1] / peaks[0] if all(peaks) else math.nan  # type: ignore[operator]


def _energy(table: pd.DataFrame, labels: list[str], groups: list[pd.DataFrame], common: Any, base: str) -> None:
    """FLOP/J per run and its ratio to the baseline, where every run had a meter (flopbench.measuring.energy)."""
    if not all("flops_per_joule" in g.columns and g.loc[common, "flops_per_joule"].notna().any() for g in groups):
        return
    for label, g in zip(labels, groups):
        table[f"flops_per_joule[{label}]"] = g.loc[common, "flops_per_joule"]
    for label in labels:
        if label != base:
            table[f"energy_ratio[{label}]"] = table[f"flops_per_joule[{label}]"] / table[f"flops_per_joule[{base}]"]


def _memory(table: pd.DataFrame, labels: list[str], groups: list[pd.DataFrame], common: Any, base: str) -> None:
    """Each run's peak memory of one call and its ratio to the baseline's, where every run measured it."""
    if not all("peak_memory_bytes" in g.columns and g.loc[common, "peak_memory_bytes"].notna().any() for g in groups):
        return
    for label, g in zip(labels, groups):
        table[f"peak_memory_bytes[{label}]"] = g.loc[common, "peak_memory_bytes"].values
    for label in labels:
        if label != base:
            ratio = table[f"peak_memory_bytes[{label}]"] / table[f"peak_memory_bytes[{base}]"]
            table[f"memory_ratio[{label}]"] = ratio.where(table[f"peak_memory_bytes[{base}]"] > 0)


def _summary(
    table: pd.DataFrame,
    ratios: dict[str, list[Ratio]],
    drifts: dict[str, Drift | None],
    level: float,
    energy: bool,
) -> tuple[pd.DataFrame, dict[str, Ratio]]:
    """Per run and family: the geometric mean speedup with the interval of its measurement (the workloads' errors,
    plus the run offset every workload of two separate runs shares), the workloads' spread beside it, the roofs'
    ratio and the peaks'; and per run its geometric mean over every workload (the gate's)."""
    rows, means = [], {}
    for label, found in ratios.items():
        drift = drifts.get(label)
        between, between_df = (drift.sd, drift.df) if drift is not None else (0.0, math.inf)
        for family_name, group in [("all", table), *table.groupby("family")]:
            members = [found[i] for i in group.index]
            mean = family(members, between, level, between_df)
            if family_name == "all":
                means[label] = mean
            least, most = spread(members)
            counted = [r for r in members if r.value == r.value and (r.decides or not mean.decides)]
            rows.append(
                {
                    "run": label,
                    "family": family_name,
                    "workloads": len(counted),  # those its mean is over: the ones that decide, where any does
                    "geomean_speedup": mean.value,
                    "geomean_low": mean.low if mean.decides else math.nan,
                    "geomean_high": mean.high if mean.decides else math.nan,
                    "spread_low": least,
                    "spread_high": most,
                    "roof_ratio": _geomean(group[f"roof_ratio[{label}]"]),
                    "peak_ratio": _geomean(group[f"peak_ratio[{label}]"]),
                    "geomean_energy_ratio": _geomean(group[f"energy_ratio[{label}]"]) if energy else math.nan,
                }
            )
    return pd.DataFrame(rows), means


def _geomean(values: pd.Series) -> float:
    return float(np.exp(np.log(values.dropna()).mean()))  # pandas: the mean of nothing is NaN, said quietly


def _legend(views: list[RunView], labels: list[str]) -> pd.DataFrame:
    rows = []
    for label, view in zip(labels, views):
        g = view.workloads
        rows.append(
            {
                "run": label,
                "device": view.header.device_label,
                "host": view.header.host,
                "threads": view.header.threads,
                "torch": view.header.torch,
                "devices": int(g["world_size"].max()),  # every record has its world size
                "run_id": view.header.run_id,
                "file": str(view.path),
            }
        )
    return pd.DataFrame(rows)


def _machine_speed_warnings(labels: list[str], views: list[RunView], base: str) -> list[str]:
    """Runs on one machine (same device and threads) whose canaries ran at different speeds: the machine itself was
    faster in one, by more than a whole run is allowed to drift (RUN_SLOW)."""
    from flopbench.results.trust import RUN_SLOW

    def canary(view: RunView) -> float | None:
        speed = view.trust.speed
        return speed.median_s if speed else None

    first = views[labels.index(base)]
    warnings = []
    for label, view in zip(labels, views):
        a, b = canary(first), canary(view)
        same = same_machine(view.header, first.header)
        if label != base and a and b and same and abs(b / a - 1) > RUN_SLOW:
            warnings.append(
                f"the canary ran {abs(b / a - 1):.0%} {'slower' if b > a else 'faster'} in run {label} than in"
                f" run {base} on the same device and threads: the machine itself was"
                f" {'slower' if b > a else 'faster'}, so speedups within about {abs(b / a - 1):.0%} may be the"
                f" machine's, not the workload's"
            )
    return warnings


def _setting_warnings(
    groups: list[pd.DataFrame], labels: list[str], common: Any, views: list[RunView], base: str, pairs: bool
) -> list[str]:
    warnings = []
    for what, column in COMPARED_SETTINGS.items():
        values = [sorted(set(map(str, g[column].dropna()))) for g in groups]  # every row has each setting's column
        if len({tuple(v) for v in values}) > 1 and (column not in KNOWN_ONLY or all(values)):
            warnings.append(
                f"the runs differ in {what}: "
                + "; ".join(f"{label}: {', '.join(v) or '-'}" for label, v in zip(labels, values))
            )
    dtypes = [sorted(set(g["dtype"])) for g in groups]
    if len({tuple(d) for d in dtypes}) > 1:
        warnings.append(
            "the runs measured different dtypes: "
            + "; ".join(f"{label}: {', '.join(d)}" for label, d in zip(labels, dtypes))
            + " (only the same workload in the same dtype is compared)"
        )
    for label, g in zip(labels, groups):
        rows = g.loc[common]
        disturbed = int(rows["disturbed"].sum())  # a record's disturbed is a bool; its stable may be null
        unstable = int((rows["stable"] == False).sum())  # noqa: E712 (nullable)
        if pairs:  # rounds that disagree are what pairing cancels: only a disturbance is news
            if disturbed:
                warnings.append(
                    f"run {label}: {disturbed} of the compared workloads were measured while the machine was"
                    " disturbed; both sides of each pair shared it"
                )
        elif disturbed or unstable:
            warnings.append(
                f"run {label}: {disturbed} of the compared workloads were measured while the machine was"
                f" disturbed and {unstable} are unstable; their rounds are kept, so their intervals are wider"
            )
    if not pairs:  # the two sides of a pair shared the machine's speed of each moment
        warnings += _machine_speed_warnings(labels, views, base)
    dropped = sum(len(g) for g in groups) - len(groups) * len(common)
    if dropped:
        warnings.append(f"{dropped} measured records have no counterpart in every run and are left out")
    return warnings


def as_json(result: Comparison) -> dict[str, Any]:
    """The comparison as JSON-ready data: runs, workloads (with every bound) and the family summary."""
    return {
        "baseline": result.baseline,
        "confidence": result.level,
        "threshold": result.threshold,
        "how": result.notes,
        "runs": json.loads(result.runs.to_json(orient="records")),
        "workloads": json.loads(result.table.to_json(orient="records")),
        "summary": json.loads(result.summary.to_json(orient="records")),
        "warnings": result.warnings,
    }
