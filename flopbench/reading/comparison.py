"""Comparing runs with confidence: per workload a speedup with an interval and a verdict, per family a geometric
mean with an interval, the speedup each workload's roofline predicts beside it, and a gate a CI job can use.

The unit of repetition is the round (docs/methodology.md, "Comparing runs"): each of a workload's rounds is measured
at another moment of the run, in a rotated order, so its median is one draw of what the machine did; the samples of
one round share its moment and are not independent. A workload's time here is the geometric mean of its round
medians, and the interval of a speedup is Welch's t interval (scipy.stats.ttest_ind) on the logarithms of the two
runs' round medians: a ratio of geometric means, exact for log-normal rounds however few (t with the degrees of
freedom the rounds give: wide at 3 rounds, as it should be). A record of one round (an old file, --rounds 1) falls
back on its samples, and the row says so: samples of one moment give a narrower interval than rounds would. A run
flagged disturbed or unstable keeps every round: its spread widens the interval, never hides it.

A verdict per row, against a threshold T (5%): faster when the whole interval lies above 1 + T, slower when it lies
below 1 / (1 + T), same when it lies inside [1 / (1 + T), 1 + T], unsure otherwise (it straddles a bound). A family's
geometric mean speedup has an interval from its workloads resampled (scipy.stats.bootstrap).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from flopbench.reading.view import RunView
    from flopbench.results.schema import Record

LEVEL = 0.95  # the intervals' confidence
THRESHOLD = 0.05  # a speedup within 5% either way is the same
VERDICTS = ("faster", "slower", "same", "unsure")


@dataclass(frozen=True)
class Ratio:
    """A speedup (base time / other time) with its interval, and what the interval rests on."""

    value: float
    low: float
    high: float
    unit: str  # rounds, or samples (one round each side)

    def verdict(self, threshold: float = THRESHOLD) -> str:
        if self.low > 1 + threshold:
            return "faster"
        if self.high < 1 / (1 + threshold):
            return "slower"
        if self.low >= 1 / (1 + threshold) and self.high <= 1 + threshold:
            return "same"
        return "unsure"

    def slower_than(self, threshold: float) -> bool:
        """Slower by more than `threshold` with confidence: the whole interval under 1 / (1 + threshold)."""
        return self.high < 1 / (1 + threshold)

    def text(self) -> str:
        return f"{self.value:.3g}x ({self.low:.3g}-{self.high:.3g})"


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


def speedup(base: list[float], other: list[float], unit: str = "rounds", level: float = LEVEL) -> Ratio:
    """base / other as a ratio of geometric means, with Welch's t interval on the logarithms."""
    from scipy import stats

    a, b = np.log(np.asarray(base, dtype=float)), np.log(np.asarray(other, dtype=float))
    value = math.exp(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2 or (np.ptp(a) < 1e-12 and np.ptp(b) < 1e-12):  # no spread to speak of
        return Ratio(value, value, value, unit)
    low, high = stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)
    return Ratio(value, math.exp(low), math.exp(high), unit)


def geomean(ratios: list[float], level: float = LEVEL) -> Ratio:
    """The geometric mean of speedups, with a bootstrap interval from the workloads resampled (BCa from 3 on)."""
    from scipy import stats

    logs = np.log(np.asarray(ratios, dtype=float))
    value = math.exp(logs.mean()) if len(logs) else math.nan
    if len(logs) < 2 or np.ptp(logs) < 1e-12:
        return Ratio(value, value, value, "workloads")
    method = "BCa" if len(logs) >= 3 else "percentile"
    result = stats.bootstrap((logs,), np.mean, confidence_level=level, method=method, random_state=0)
    low, high = result.confidence_interval
    if not (math.isfinite(low) and math.isfinite(high)):  # BCa can fail on a degenerate resample: fall back
        low, high = stats.bootstrap(
            (logs,), np.mean, confidence_level=level, method="percentile", random_state=0
        ).confidence_interval
    return Ratio(value, math.exp(low), math.exp(high), "workloads")


# --- comparing runs --------------------------------------------------------------------------------------------------

# Run settings that change what a comparison means, and how to read them off a run's frame.
COMPARED_SETTINGS = {
    "torch version": "torch",
    "threads": "threads",
    "TF32": "tf32",
    "device count (each run's ranks folded into their median)": "world_size",
    "what the C allocator did with freed memory (flopbench.measuring.memory)": "allocator",
}
KNOWN_ONLY = {"allocator"}  # settings older files do not record: compared only where every run has one


@dataclass
class Comparison:
    runs: pd.DataFrame  # label (A, B, ...) -> device, host, threads, torch, file
    table: pd.DataFrame  # per workload: time_s[X], speedup[X] with _low/_high, verdict[X], roof_ratio[X], ...
    summary: pd.DataFrame  # per run and family: geometric mean speedup with its interval, the roofs' ratio
    warnings: list[str]
    baseline: str = "A"
    threshold: float = THRESHOLD
    level: float = LEVEL
    notes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return list(self.runs["run"])

    @property
    def others(self) -> list[str]:
        return [label for label in self.labels if label != self.baseline]

    def slower(self, threshold: float) -> list[str]:
        """One line per workload slower with confidence by more than `threshold`, in any run against the baseline."""
        lines = []
        for label in self.others:
            for _, r in self.table.iterrows():
                ratio = Ratio(r[f"speedup[{label}]"], r[f"speedup_low[{label}]"], r[f"speedup_high[{label}]"], "")
                if ratio.slower_than(threshold):
                    lines.append(
                        f"{r['name']} ({r['dtype']}): run {label} is {1 / ratio.value:.3g}x slower than run"
                        f" {self.baseline} ({1 / ratio.high:.3g}x-{1 / ratio.low:.3g}x at {self.level:.0%}), over"
                        f" the {threshold:.0%} allowed"
                    )
        return lines

    def matrix(self) -> pd.DataFrame:
        """Machines x families: each run's geometric mean speedup over the baseline, with its interval, as text."""
        rows = self.summary.copy()
        rows["text"] = [Ratio(r.geomean_speedup, r.geomean_low, r.geomean_high, "").text() for r in rows.itertuples()]
        return rows.pivot(index="run", columns="family", values="text")


def labels_for(count: int) -> list[str]:
    return [chr(ord("A") + i) if i < 26 else f"R{i}" for i in range(count)]


def compare(
    views: list[RunView],
    *,
    baseline: int = 0,
    threshold: float = THRESHOLD,
    level: float = LEVEL,
    best_impl: bool = False,
) -> Comparison:
    """Join runs by workload identity (op, parameters, dtype, implementation); speedup = baseline time / run time,
    with intervals and verdicts; with best_impl, each run's fastest implementation of each workload instead."""
    if len(views) < 2:
        raise ValueError("compare needs at least two runs")
    labels = labels_for(len(views))
    base_label = labels[baseline]
    groups = [_rows(view, best_impl) for view in views]
    common = groups[0].index
    for g in groups[1:]:
        common = common.intersection(g.index)
    base = groups[baseline].loc[common]
    table = pd.DataFrame({"name": base["name"], "family": base["family"], "dtype": base["dtype"], "impl": base["impl"]})
    table["total_flops"] = base["total_flops"]
    for label, g in zip(labels, groups):
        # The time a speedup divides, so that time A / time B is the speedup shown: the geometric mean of the
        # repetitions (round medians), where the run's own table quotes their median.
        times = [
            _geomean(pd.Series(repeats)) if repeats else time
            for (repeats, _), time in zip(g.loc[common, "repeats"], g.loc[common, "time_s"])
        ]
        table[f"time_s[{label}]"] = times
        table[f"total_flops_per_s[{label}]"] = base["total_flops"] / pd.Series(times, index=common)
    for label, g, view in zip(labels, groups, views):
        if label != base_label:
            _speedups(table, label, base, g.loc[common], (views[baseline], view), threshold, level)
    _energy(table, labels, groups, common, base_label)
    table = table.reset_index(drop=True)
    energy = any(column.startswith("energy_ratio[") for column in table.columns)
    summary = _summary(table, [label for label in labels if label != base_label], level, energy)
    legend = _legend(views, labels)
    warnings = _setting_warnings(groups, labels, common, views, base_label)
    return Comparison(legend, table, summary, warnings, base_label, threshold, level)


def _rows(view: RunView, best_impl: bool) -> pd.DataFrame:
    """A run's measured workloads by identity (by the identity without the implementation, keeping the fastest
    implementation of each, with best_impl)."""
    from flopbench.reading.analysis import base_identity

    frame = view.workloads
    ok = frame[frame["status"] == "ok"].copy()
    if "impl" not in ok:
        ok["impl"] = "eager"
    ok["impl"] = ok["impl"].fillna("eager")
    if best_impl:
        ok["key"] = ok.apply(base_identity, axis=1)
        ok = ok.sort_values("time_s").drop_duplicates("key").set_index("key")
    else:
        ok = ok.set_index("identity")
    records: dict[str, list[Record]] = {}
    for record in view.records:
        if record.status == "ok":
            records.setdefault(record.identity, []).append(record)
    identities = ok["identity"] if best_impl else ok.index
    ok["repeats"] = [repetitions(records[i]) if i in records else ([], "") for i in identities]
    return ok


def _speedups(
    table: pd.DataFrame,
    label: str,
    base: pd.DataFrame,
    other: pd.DataFrame,
    views: tuple[RunView, RunView],
    threshold: float,
    level: float,
) -> None:
    ratios = []
    for key in table.index:
        (a, unit_a), (b, unit_b) = base.at[key, "repeats"], other.at[key, "repeats"]
        unit = "rounds" if unit_a == unit_b == "rounds" else "samples"
        ratios.append(speedup(a, b, unit, level) if a and b else Ratio(math.nan, math.nan, math.nan, ""))
    table[f"speedup[{label}]"] = [r.value for r in ratios]
    table[f"speedup_low[{label}]"] = [r.low for r in ratios]
    table[f"speedup_high[{label}]"] = [r.high for r in ratios]
    table[f"interval_from[{label}]"] = [r.unit for r in ratios]
    table[f"verdict[{label}]"] = [r.verdict(threshold) if r.value == r.value else "-" for r in ratios]
    roofs = [_roof_ratio(base.loc[key], views) for key in table.index]
    table[f"roof_ratio[{label}]"] = roofs
    table[f"vs_roof[{label}]"] = table[f"speedup[{label}]"] / pd.Series(roofs, index=table.index)
    table[f"peak_ratio[{label}]"] = [_peak_ratio(base.loc[key], views) for key in table.index]


def _roof_ratio(row: pd.Series, views: tuple[RunView, RunView]) -> float:
    """The speedup the two devices' roofs predict for this workload: its least time on the baseline's cache-aware
    roofline of measured ceilings over its least time on the other's (bandwidth-bound work follows the bandwidths of
    the levels its data lives in, compute-bound work the compute roofs)."""
    flops, traffic = float(row["total_flops"]), float(row["bytes"])
    working_set = row.get("working_set_bytes")
    working_set = float(working_set) if working_set == working_set and working_set is not None else traffic
    key = row.get("peak_key") or row["dtype"]
    times = [view.roofline.cache_time_s(flops, traffic, working_set, key) for view in views]
    return times[0] / times[1] if all(times) else math.nan  # type: ignore[operator]


def _peak_ratio(row: pd.Series, views: tuple[RunView, RunView]) -> float:
    key = row.get("peak_key") or row["dtype"]
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


def _summary(table: pd.DataFrame, others: list[str], level: float, energy: bool) -> pd.DataFrame:
    rows = []
    for label in others:
        for family, group in [("all", table), *table.groupby("family")]:
            speedups = group[f"speedup[{label}]"].dropna()
            mean = geomean(list(speedups), level) if len(speedups) else Ratio(math.nan, math.nan, math.nan, "")
            roofs = group[f"roof_ratio[{label}]"].dropna()
            rows.append(
                {
                    "run": label,
                    "family": family,
                    "workloads": len(speedups),
                    "geomean_speedup": mean.value,
                    "geomean_low": mean.low,
                    "geomean_high": mean.high,
                    "roof_ratio": float(np.exp(np.log(roofs).mean())) if len(roofs) else math.nan,
                    "peak_ratio": _geomean(group[f"peak_ratio[{label}]"]),
                    "geomean_energy_ratio": _geomean(group[f"energy_ratio[{label}]"]) if energy else math.nan,
                }
            )
    return pd.DataFrame(rows)


def _geomean(values: pd.Series) -> float:
    values = values.dropna()
    return float(np.exp(np.log(values).mean())) if len(values) else math.nan


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
                "devices": int(g["world_size"].fillna(1).max()) if "world_size" in g and len(g) else 1,
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
        same = view.label == first.label
        if label != base and a and b and same and abs(b / a - 1) > RUN_SLOW:
            warnings.append(
                f"the canary ran {abs(b / a - 1):.0%} {'slower' if b > a else 'faster'} in run {label} than in"
                f" run {base} on the same device and threads: the machine itself was"
                f" {'slower' if b > a else 'faster'}, so speedups within about {abs(b / a - 1):.0%} may be the"
                f" machine's, not the workload's"
            )
    return warnings


def _setting_warnings(
    groups: list[pd.DataFrame], labels: list[str], common: Any, views: list[RunView], base: str
) -> list[str]:
    warnings = []
    for what, column in COMPARED_SETTINGS.items():
        values = [sorted(set(map(str, g[column].dropna()))) if column in g else [] for g in groups]
        if column in KNOWN_ONLY and not all(values):
            continue
        if len({tuple(v) for v in values}) > 1:
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
        disturbed = int(rows["disturbed"].fillna(False).astype(bool).sum()) if "disturbed" in rows else 0
        unstable = int((rows["stable"] == False).sum()) if "stable" in rows else 0  # noqa: E712 (nullable)
        if disturbed or unstable:
            warnings.append(
                f"run {label}: {disturbed} of the compared workloads were measured while the machine was"
                f" disturbed and {unstable} are unstable; their rounds are kept, so their intervals are wider"
            )
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
        "runs": json.loads(result.runs.to_json(orient="records")),
        "workloads": json.loads(result.table.to_json(orient="records")),
        "summary": json.loads(result.summary.to_json(orient="records")),
        "warnings": result.warnings,
    }
