"""How far off is a prediction of latency from FLOPs, and how much better does the roofline do?

Five predictors of a workload's median time, each judged on measured runs:

- `flops`: time = c x FLOPs, one constant c per device and dtype (peak key), fitted on the run;
- `roofline-peak`: max(FLOPs / peak, bytes / bandwidth) from the datasheet or derived peaks (a device without a
  datasheet bandwidth, a CPU, uses the measured one: said in the notes);
- `roofline-dram`: the same from the measured ceilings (the peak where none was measured), DRAM's bandwidth for
  every workload;
- `roofline-measured`: the cache-aware roofline of the measured ceilings: the bandwidth of the level the working set
  lives in, and never under the measured per-call floor (the same as roofline-dram where no level was measured);
- `fitted`: overhead + roofline / efficiency, one efficiency per (family, dtype) and one per-call overhead, fitted
  by least squares on log times over the cache-aware measured roofline.

Every roofline time is the roofline's own (flopbench.machine.roofline): nothing here divides by a bandwidth.

On one run every predictor is judged leave-one-out: a workload's prediction never uses its own time (all its
records, when several runs are pooled). A fitted group whose only workload is the one left out falls back to one
efficiency for all groups. Errors are factors: exp|log(predicted / measured)|, so 2 means twice or half the time.

Across machines, `fitted` and `flops` are fitted on run A and predict run B from B's roofs alone (the flops constant
scaled by the ratio of the roofs); a device from peaks.toml can stand in for B (a what-if: a prediction, never a
measurement). Nothing here runs torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flopbench.reading.view import placed_rows
from flopbench.units import seconds

if TYPE_CHECKING:
    from flopbench.machine.roofline import Roofline
    from flopbench.reading.view import RunView

PREDICTORS = ("flops", "roofline-peak", "roofline-dram", "roofline-measured", "fitted")
WITHIN = (1.25, 2.0)


# --- the points: one per workload ------------------------------------------------------------------------------------


@dataclass
class Points:
    """The workloads runs measured, as the predictors see them: one row per workload (identity), the median over
    pooled records, with the times each roofline gives it (flopbench.machine.roofline: roofline_peak_s,
    roofline_measured_s on DRAM, roofline_cache_s cache-aware) and its compute roofs (peak, ceiling)."""

    frame: pd.DataFrame
    label: str
    excluded: dict[str, str] = field(default_factory=dict)  # workload -> why it is not judged
    notes: list[str] = field(default_factory=list)


def _value(x: Any) -> float:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) and value > 0 else math.nan


def points(views: RunView | list[RunView]) -> Points:
    """The measured compute workloads of runs of one device, with their roofs (collectives are not predicted)."""
    views = views if isinstance(views, list) else [views]
    rows, excluded = [], {}
    for view in views:
        frame = view.workloads
        ok = frame[(frame["status"] == "ok") & placed_rows(frame) & frame["time_s"].notna()]
        for identity, group in ok.groupby("identity", sort=False):
            row, why = _point(view, identity, group)
            if why:
                excluded[str(group["name"].iloc[0])] = why
            elif row:
                rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame):  # a workload of several files: one point, its median time
        frame = frame.groupby("identity", sort=False).agg({**{c: "first" for c in frame}, "time_s": "median"})
        frame = frame.reset_index(drop=True)
    notes = []
    if len(frame) and not frame["peak_bandwidth_known"].all():
        notes.append("roofline-peak: no datasheet bandwidth for this device; its bandwidth roof is the measured one")
    if len(frame) and frame["ceiling"].isna().any():
        missing = sorted(set(frame.loc[frame["ceiling"].isna(), "dtype"]))
        notes.append(f"roofline-measured: no measured ceiling for {', '.join(missing)}; the peak stands in")
    return Points(frame, views[0].label if views else "?", excluded, notes)


def _point(view: RunView, identity: str, group: pd.DataFrame) -> tuple[dict[str, Any] | None, str]:
    first = group.iloc[0]
    flops, traffic = float(first["total_flops"]), float(first["bytes"])
    if flops <= 0:
        return None, "0 FLOPs: a FLOP count cannot predict its time"
    key = first["peak_key"] or first["dtype"]
    roofs = view.roofline.roof(key)
    if not roofs.peak.known:
        return None, f"no {first.get('peak_key')} peak known"
    working_set = first.get("working_set_bytes")
    working_set = float(working_set) if working_set == working_set and working_set is not None else traffic
    roofline = view.roofline
    return {
        "identity": identity,
        "name": first["name"],
        # The implementation is part of the family: a compiled chain's efficiency is not its eager one's.
        "family": first["family"]
        if first.get("impl", "eager") in ("eager", None)
        else f"{first['family']}/{first['impl']}",
        "dtype": key,
        "flops": flops,
        "bytes": traffic,
        "time_s": float(group["time_s"].median()),
        "peak": roofs.peak.value,
        "ceiling": roofs.ceiling.value if roofs.ceiling and roofs.ceiling.known else math.nan,
        "peak_bandwidth_known": roofline.memory.peak.known,
        "roofline_peak_s": roofline.least_time_s(flops, traffic, key, source="peak"),
        "roofline_measured_s": roofline.least_time_s(flops, traffic, key, source="measured"),
        "roofline_cache_s": roofline.cache_time_s(flops, traffic, working_set, key, source="measured"),
        "memory_bound": roofline.bound(flops, traffic, key, source="measured") == "memory",
    }, ""


def roofline_peak_s(frame: pd.DataFrame) -> np.ndarray:
    return frame["roofline_peak_s"].to_numpy(dtype=float)


def roofline_measured_s(frame: pd.DataFrame) -> np.ndarray:
    """The DRAM-only roofline of the measured ceilings."""
    return frame["roofline_measured_s"].to_numpy(dtype=float)


def roofline_cache_s(frame: pd.DataFrame) -> np.ndarray:
    """The cache-aware roofline of the measured ceilings (the level the working set lives in, the per-call floor)."""
    return frame["roofline_cache_s"].to_numpy(dtype=float)


# --- the fitted predictor -----------------------------------------------------------------------------------------


@dataclass
class Fit:
    """overhead + roofline / efficiency[group]: what `fitted` learned from a run."""

    overhead_s: float
    efficiency: dict[tuple[str, str], float]  # (family, dtype) -> efficiency against the measured-ceiling roofline
    overall: float  # one efficiency for every group: the fallback for a group the fit has not seen
    workloads: dict[tuple[str, str], int]

    def predict(self, frame: pd.DataFrame, roof_s: np.ndarray) -> np.ndarray:
        efficiency = np.array(
            [self.efficiency.get((f, d), self.overall) for f, d in zip(frame["family"], frame["dtype"])]
        )
        return self.overhead_s + roof_s / efficiency


def fit(frame: pd.DataFrame, roof_s: np.ndarray) -> Fit:
    """Least squares on log time: log(o + R_i / e_g) against log t_i, over log o and the log e_g."""
    from scipy.optimize import least_squares

    groups = list(dict.fromkeys(zip(frame["family"], frame["dtype"])))
    index = {g: i for i, g in enumerate(groups)}
    member = np.array([index[g] for g in zip(frame["family"], frame["dtype"])])
    times = frame["time_s"].to_numpy()
    log_t = np.log(times)

    def residuals(theta: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # a step far out in the search: its residual is large, not an error
            overhead, efficiency = np.exp(theta[0]), np.exp(theta[1 + member])
            return np.log(overhead + roof_s / efficiency) - log_t

    ratio = roof_s / times
    start = [math.log(max(times.min() / 10, 1e-9))] + [
        math.log(float(np.median(ratio[member == i]))) for i in range(len(groups))
    ]
    result = least_squares(residuals, np.array(start), method="lm" if len(times) > len(start) else "trf")
    overhead = float(np.exp(result.x[0]))
    efficiency = {g: float(np.exp(result.x[1 + i])) for g, i in index.items()}

    def one(theta: np.ndarray) -> np.ndarray:
        return np.log(np.exp(theta[0]) + roof_s / np.exp(theta[1])) - log_t

    single = least_squares(one, np.array([start[0], math.log(float(np.median(ratio)))]))
    counts = {g: int((member == i).sum()) for g, i in index.items()}
    return Fit(overhead, efficiency, float(np.exp(single.x[1])), counts)


# --- judging -------------------------------------------------------------------------------------------------------


@dataclass
class Score:
    name: str
    workloads: int
    median_factor: float
    within_1_25x: float
    within_2x: float
    worst_name: str
    worst_factor: float

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "workloads": self.workloads,
            "median_factor": self.median_factor,
            "within_1_25x": self.within_1_25x,
            "within_2x": self.within_2x,
            "worst": {"name": self.worst_name, "factor": self.worst_factor},
        }


def factors(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    return np.exp(np.abs(np.log(predicted / measured)))


def score(name: str, names: pd.Series, predicted: np.ndarray, measured: np.ndarray) -> Score:
    f = factors(predicted, measured)
    worst = int(np.argmax(f))
    return Score(
        name,
        len(f),
        float(np.median(f)),
        float(np.mean(f <= WITHIN[0])),
        float(np.mean(f <= WITHIN[1])),
        str(names.iloc[worst]),
        float(f[worst]),
    )


@dataclass
class Evaluation:
    """Every predictor's predictions and scores on one set of points."""

    points: Points
    predicted: dict[str, np.ndarray]
    scores: list[Score]
    families: dict[str, list[Score]]
    fit: Fit | None
    what: str  # "leave-one-out on A", or "fitted on A, predicting B"

    def table(self) -> pd.DataFrame:
        frame = self.points.frame[["name", "family", "dtype", "flops", "bytes", "time_s"]].copy()
        for name, values in self.predicted.items():
            frame[f"{name}_s"] = values
            frame[f"{name}_factor"] = factors(values, frame["time_s"].to_numpy())
        return frame

    def as_json(self) -> dict[str, Any]:
        return {
            "run": self.points.label,
            "evaluation": self.what,
            "workloads": len(self.points.frame),
            "excluded": self.points.excluded,
            "notes": self.points.notes,
            "predictors": [s.as_json() for s in self.scores],
            "families": {f: [s.as_json() for s in scores] for f, scores in self.families.items()},
            "fitted": calibration(self.fit) if self.fit else None,
        }


def _scored(points_: Points, predicted: dict[str, np.ndarray], fitted: Fit | None, what: str) -> Evaluation:
    frame = points_.frame
    times = frame["time_s"].to_numpy()
    scores = [score(name, frame["name"], predicted[name], times) for name in PREDICTORS]
    families = {}
    for family, rows in frame.groupby("family", sort=False):
        at = rows.index.to_numpy()
        families[str(family)] = [score(name, rows["name"], predicted[name][at], times[at]) for name in PREDICTORS]
    return Evaluation(points_, predicted, scores, families, fitted, what)


def _flops_constant(frame: pd.DataFrame) -> dict[str, float]:
    """Seconds per FLOP per dtype: the geometric mean of time / FLOPs (least squares on log time)."""
    ratio = np.log(frame["time_s"] / frame["flops"])
    return {str(d): float(np.exp(r.mean())) for d, r in ratio.groupby(frame["dtype"])}


def leave_one_out(points_: Points) -> Evaluation:
    """Every predictor on a run's own workloads; no workload's time is used to predict it."""
    frame = points_.frame.reset_index(drop=True)
    points_ = Points(frame, points_.label, points_.excluded, points_.notes)
    if len(frame) < 3:
        raise ValueError(f"{len(frame)} workloads with FLOPs and a peak: too few to judge a predictor (3 at least)")
    roof = roofline_cache_s(frame)
    flops_s, fitted_s = np.empty(len(frame)), np.empty(len(frame))
    for i in range(len(frame)):
        rest = frame.index != i
        others = frame[rest]
        constant = _flops_constant(others)
        dtype = frame.at[i, "dtype"]
        # A dtype with no other workload: the run's seconds per FLOP over all dtypes, scaled by the peaks' ratio.
        if dtype in constant:
            c = constant[dtype]
        else:
            c = float(np.exp(np.log(others["time_s"] * others["peak"] / others["flops"]).mean())) / frame.at[i, "peak"]
        flops_s[i] = c * frame.at[i, "flops"]
        model = fit(others.reset_index(drop=True), roof[rest])
        fitted_s[i] = model.predict(frame.iloc[[i]], roof[[i]])[0]
    predicted = {
        "flops": flops_s,
        "roofline-peak": roofline_peak_s(frame),
        "roofline-dram": roofline_measured_s(frame),
        "roofline-measured": roof,
        "fitted": fitted_s,
    }
    return _scored(points_, predicted, fit(frame, roof), "leave-one-out")


def _compute_roof(frame: pd.DataFrame) -> pd.Series:
    return frame["ceiling"].fillna(frame["peak"])


def across(source: Points, target: Points) -> Evaluation:
    """Fit `flops` and `fitted` on `source`, predict `target`'s workloads from its roofs (its times unused)."""
    a = source.frame.reset_index(drop=True)
    b = target.frame.reset_index(drop=True)
    model = fit(a, roofline_cache_s(a))
    constant = _flops_constant(a)
    roof_a = _compute_roof(a).groupby(a["dtype"]).median()
    roof_b = _compute_roof(b)
    flops_s = np.array(
        [
            constant[d] * roof_a[d] / r * f if d in constant else math.nan
            for d, r, f in zip(b["dtype"], roof_b, b["flops"])
        ]
    )
    unseen = sorted(set(b["dtype"]) - set(constant))
    notes = list(target.notes)
    if unseen:
        notes.append(f"flops: {', '.join(unseen)} never ran on the source run; those workloads are left out")
    keep = np.isfinite(flops_s)
    b = b[keep].reset_index(drop=True)
    predicted = {
        "flops": flops_s[keep],
        "roofline-peak": roofline_peak_s(b),
        "roofline-dram": roofline_measured_s(b),
        "roofline-measured": roofline_cache_s(b),
        "fitted": model.predict(b, roofline_cache_s(b)),
    }
    points_b = Points(b, target.label, target.excluded, notes)
    return _scored(points_b, predicted, model, f"fitted on {source.label}, predicting {target.label}")


def what_if(source: Points, target: Roofline, device: str) -> pd.DataFrame:
    """A prediction, never a measurement: the source run's workloads on a device known only by its datasheet
    (its roofline: peaks per dtype, bandwidth), from the fit on the source and from the datasheet roofline."""
    a = source.frame.reset_index(drop=True)
    model = fit(a, roofline_cache_s(a))
    constant = _flops_constant(a)
    roof_a = _compute_roof(a).groupby(a["dtype"]).median()
    rows = []
    for _, r in a.iterrows():
        peak = target.roof(r["dtype"]).peak.value
        roof = target.least_time_s(r["flops"], r["bytes"], r["dtype"], source="peak")
        if not peak or not target.memory.peak.known or roof is None:
            continue
        efficiency = model.efficiency.get((r["family"], r["dtype"]), model.overall)
        rows.append(
            {
                "name": r["name"],
                "family": r["family"],
                "dtype": r["dtype"],
                "measured_on_source_s": r["time_s"],
                "predicted_flops_s": constant[r["dtype"]] * roof_a[r["dtype"]] / peak * r["flops"],
                "predicted_roofline_s": roof,
                "predicted_fitted_s": model.overhead_s + roof / efficiency,
                "device": device,
                "label": "prediction",
            }
        )
    return pd.DataFrame(rows)


def calibration(model: Fit) -> dict[str, Any]:
    """The fit as data, for simulators: the overhead and the efficiency per family and dtype."""
    return {
        "overhead_s": model.overhead_s,
        "overall_efficiency": model.overall,
        "efficiencies": [
            {"family": f, "dtype": d, "efficiency": e, "workloads": model.workloads[(f, d)]}
            for (f, d), e in model.efficiency.items()
        ],
        "model": "time = overhead_s + max(FLOPs / compute ceiling, bytes / bandwidth ceiling of the level the"
        " working set lives in, the per-call floor) / efficiency",
    }


def in_words(evaluation: Evaluation) -> str:
    """One paragraph on what FLOPs miss on this machine, from the scores."""
    s = {x.name: x for x in evaluation.scores}
    flops, peak, dram, measured, fitted = (s[n] for n in PREDICTORS)
    fit_ = evaluation.fit
    worst_family = max(evaluation.families.items(), key=lambda kv: kv[1][0].median_factor)
    frame = evaluation.points.frame
    rows = frame[frame["family"] == worst_family[0]]
    memory_bound = float(rows["memory_bound"].mean())
    missed = (
        f"{memory_bound:.0%} of them are memory-bound on the measured roofline: their time is bytes, not FLOPs"
        if memory_bound >= 0.5
        else "most are compute-bound: what FLOPs miss there is how much of the roof each kernel reaches, and the"
        " fixed cost of a call"
    )
    parts = [
        f"On {evaluation.points.label}, a time proportional to FLOPs is off by a median factor of"
        f" {flops.median_factor:.2f} ({flops.within_2x:.0%} of {flops.workloads} workloads within 2x; worst"
        f" {flops.worst_name}, {flops.worst_factor:.1f}x).",
        f"The roofline from the peaks is off by {peak.median_factor:.2f}, from the measured ceilings by"
        f" {dram.median_factor:.2f} with DRAM's bandwidth for every workload"
        + (
            f" and by {measured.median_factor:.2f} with the bandwidth of the cache level each working set lives in"
            if measured.median_factor != dram.median_factor
            else ""
        )
        + f": knowing that a workload is memory-bound, and what the machine reaches, is worth"
        f" {'more' if measured.median_factor < flops.median_factor else 'less'} than a FLOP count here.",
        f"With one efficiency per family and dtype and a fixed overhead of {seconds(fit_.overhead_s)} per call"
        f" (fitted, leave-one-out) the median factor is {fitted.median_factor:.2f}"
        f" ({fitted.within_1_25x:.0%} within 1.25x)."
        if fit_
        else "",
        f"FLOPs predict {worst_family[0]} worst (median factor {worst_family[1][0].median_factor:.2f}): {missed}.",
    ]
    return " ".join(p for p in parts if p)
