"""Numbers computed from runs (flopbench.reading.view.RunView): the FLOPs-versus-latency study of one run, and the
comparison of runs.

Plots and the report only display what is computed here (or read from the view); nothing here draws, and nothing here
places a workload on a roofline (flopbench.machine.roofline does, for everyone).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flopbench.reading.view import collective_rows, placed_rows
from flopbench.units import seconds, si

if TYPE_CHECKING:
    from flopbench.machine.roofline import Roofline
    from flopbench.reading.view import RunView

OVERHEAD_S = 50e-6  # a call this short is dominated by fixed per-call costs on any device


def rank_spread(view: RunView) -> pd.DataFrame:
    """Per workload of a distributed run: achieved FLOP/s on the slowest, median and fastest rank."""
    run = view.frame
    ok = run[(run["status"] == "ok") & placed_rows(run) & (run["total_flops"] > 0)]
    rows = []
    for _, rows_of in ok.groupby("identity", sort=False):
        rates = rows_of.set_index("rank")["total_flops_per_s"]
        rows.append(
            {
                "name": rows_of["name"].iloc[0],
                "family": rows_of["family"].iloc[0],
                "dtype": rows_of["dtype"].iloc[0],
                "ranks": len(rates),
                "min_flops_per_s": rates.min(),
                "median_flops_per_s": rates.median(),
                "max_flops_per_s": rates.max(),
                "slowest_rank": int(rates.idxmin()),
                "spread": rates.max() / rates.min(),
                "per_rank": rates.to_dict(),
            }
        )
    return pd.DataFrame(rows)


def collectives(view: RunView) -> pd.DataFrame:
    """Collectives of a run: a collective ends when its slowest rank does, so its time is the slowest rank's."""
    run = view.frame
    comm = run[(run["status"] == "ok") & collective_rows(run)]
    rows = []
    for _, rows_of in comm.groupby("identity", sort=False):
        first = rows_of.iloc[0]
        time_s = rows_of["time_s"].max()
        algbw = first["message_bytes"] / time_s
        rows.append(
            {
                "op": first["op"],
                "dtype": first["dtype"],
                "numel": first["numel"],
                "message_bytes": first["message_bytes"],
                "ranks": len(rows_of),
                "time_s": time_s,
                "algbw_bytes_per_s": algbw,
                "bus_factor": first["bus_factor"],
                "busbw_bytes_per_s": algbw * first["bus_factor"],
            }
        )
    return pd.DataFrame(rows)


# --- the study -------------------------------------------------------------------------------------


@dataclass
class Contrast:
    title: str
    a: pd.Series
    b: pd.Series
    cause: str  # "memory traffic", "launch or Python overhead", "low parallelism", or "" (FLOPs predict it)
    layerwise: tuple[tuple[float, float], tuple[float, float]] | None = None  # models: (roofline s, memory s) of A, B

    @property
    def flops_ratio(self) -> float:
        return self.a["total_flops"] / self.b["total_flops"]

    @property
    def time_ratio(self) -> float:
        return self.a["time_s"] / self.b["time_s"]

    @property
    def per_flop(self) -> float:
        """How many times more time per FLOP A takes than B."""
        return self.time_ratio / self.flops_ratio

    def conclusion(self) -> str:
        a, b = self.a, self.b
        text = (
            f"{a['name']} has {self.flops_ratio:.3g}x the FLOPs of {b['name']} and takes {self.time_ratio:.3g}x"
            f" the time ({seconds(a['time_s'])} against {seconds(b['time_s'])}): per FLOP it is"
            f" {self.per_flop:.3g}x {'slower' if self.per_flop >= 1 else 'faster'}."
        )
        if self.layerwise:
            (ta, ma), (tb, mb) = self.layerwise
            text += (
                f" Cause: {self.cause}. A whole model's compulsory traffic is only its weights, input and output,"
                f" so the whole-model roofline cannot see it; layer by layer, {ma / ta:.0%} of {a['name']}'s"
                f" roofline time is in memory-bound layers against {mb / tb:.0%} of {b['name']}'s, and a"
                f" layer-wise roofline predicts a time ratio of {ta / tb:.3g} where FLOPs predict"
                f" {self.flops_ratio:.3g} (measured: {self.time_ratio:.3g})."
            )
        elif self.cause == "memory traffic":
            text += (
                f" Cause: memory traffic. It is memory-bound at {a['intensity']:.3g} FLOP/byte, below the ridge"
                f" point at {a['ridge_intensity']:.3g}, so its time follows its {si(a['bytes'], 'B')} of traffic,"
                f" not its FLOPs; {b['name']} is compute-bound at {b['intensity']:.3g} FLOP/byte."
                f" It moves {si(a['bytes_per_s'], 'B/s')}, {_pct(a['roofline_efficiency'])} of the bandwidth roof"
            )
            text += (
                f": a kernel at the roof would be {1 / a['roofline_efficiency']:.3g}x faster, still"
                f" {self.per_flop * a['roofline_efficiency']:.3g}x slower per FLOP."
                if a["roofline_efficiency"] < 0.5
                else "."
            )
        elif self.cause == "launch or Python overhead":
            text += (
                f" Cause: launch or Python overhead. At {seconds(a['time_s'])} per call, fixed per-call costs"
                f" (Python, dispatch, kernel launch) that FLOPs do not count dominate; it reaches"
                f" {_pct(a['utilization'])} of peak against {_pct(b['utilization'])}."
            )
        elif self.cause == "low parallelism":
            text += (
                f" Cause: low parallelism. Both are {a['bound']}-bound, but it reaches"
                f" {_pct(a['roofline_efficiency'])} of its roofline against {_pct(b['roofline_efficiency'])}:"
                f" too little work per call to keep every core busy."
            )
        else:
            text += " FLOPs predict this pair's time to within 2x."
        return text


def _pct(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0%}"


def cause(a: pd.Series, b: pd.Series) -> str:
    """Why A takes more time per FLOP than B, read off the roofline."""
    if a["time_s"] / a["total_flops"] < 2 * b["time_s"] / b["total_flops"]:
        return ""
    if a.get("bound") == "memory" and b.get("bound") != "memory":
        return "memory traffic"
    if a["time_s"] < OVERHEAD_S:
        return "launch or Python overhead"
    if a.get("bound") == "memory":
        return "memory traffic"
    return "low parallelism"


def _closest(a_rows: pd.DataFrame, b_rows: pd.DataFrame, distance: Callable[[pd.Series, pd.Series], float]):
    best = None
    for _, a in a_rows.iterrows():
        for _, b in b_rows.iterrows():
            if a["name"] == b["name"]:
                continue
            d = distance(a, b)
            if best is None or d < best[0]:
                best = (d, a, b)
    return (best[1], best[2]) if best else None


def _log_gap(x: float, y: float) -> float:
    return abs(math.log(x / y)) if x and y and x > 0 and y > 0 else math.inf


def _col(rows: pd.DataFrame, name: str) -> pd.Series:
    return rows[name] if name in rows else pd.Series(np.nan, index=rows.index)


def contrasts(view: RunView) -> list[Contrast]:
    """The named contrasts the run's workloads allow, each pairing the closest matching workloads."""
    ok = view.measured
    found: list[Contrast] = []

    def add(title, a_rows, b_rows, distance):
        pair = _closest(a_rows, b_rows, lambda a, b: (a["dtype"] != b["dtype"]) * 100 + distance(a, b))
        if pair:
            found.append(Contrast(title, pair[0], pair[1], cause(*pair)))

    conv2d = ok[ok["op"] == "conv2d"]
    kernels = _col(conv2d, "kernel").map(lambda k: isinstance(k, tuple) and max(k) > 1)
    standard = conv2d[(_col(conv2d, "groups") == 1) & kernels.astype(bool)]
    add(
        "depthwise against standard convolution",
        ok[ok["op"] == "depthwise_conv2d"],
        standard,
        lambda a, b: _log_gap(a["height"], b["height"]) + 0.1 * _log_gap(a["total_flops"], b["total_flops"]),
    )

    matmul = ok[ok["op"] == "matmul"]
    gemv = matmul[(_col(matmul, "n") == 1) | (_col(matmul, "m") == 1)]
    gemm = matmul[(_col(matmul, "m") == _col(matmul, "n")) & (_col(matmul, "n") == _col(matmul, "k"))]
    add("GEMV against GEMM", gemv, gemm, lambda a, b: _log_gap(a["k"], b["k"]))

    attention = ok[ok["op"] == "attention"]
    if len(attention) >= 2:
        keys = ["dtype", "causal", "heads", "head_dim", "batch"]
        for _, group in attention.groupby(keys, dropna=False):
            if group["seq_len"].nunique() >= 2:
                short, long = group.loc[group["seq_len"].idxmin()], group.loc[group["seq_len"].idxmax()]
                found.append(Contrast("short against long attention sequences", short, long, cause(short, long)))
                break

    elementwise = ok[(ok["family"] == "elementwise") & (ok["bound"] == "memory")]
    compute_matmul = matmul[matmul["bound"] == "compute"]
    if len(elementwise) and len(compute_matmul):
        # The memory-bound op closest to its roof: the contrast is about traffic, not about a slow kernel.
        a = elementwise.loc[elementwise["roofline_efficiency"].idxmax()]
        same = compute_matmul[compute_matmul["dtype"] == a["dtype"]]
        b = (same if len(same) else compute_matmul).sort_values("total_flops_per_s").iloc[-1]
        found.append(Contrast("memory-bound elementwise against compute-bound matmul", a, b, cause(a, b)))

    if "model" in ok:
        models = ok[ok["op"] == "model"]
        mobilenet, resnet = models[models["model"] == "mobilenet_v2"], models[models["model"] == "resnet50"]
        pair = _closest(
            mobilenet,
            resnet,
            lambda a, b: (
                (a["dtype"] != b["dtype"]) * 100
                + (bool(a["train"]) != bool(b["train"])) * 10
                + _log_gap(a["batch"], b["batch"])
            ),
        )
        if pair:
            found.append(_model_contrast("MobileNet-V2 against ResNet-50", pair[0], pair[1], view.roofline))
    return found


def _call_costs(layers: list[dict]) -> list[tuple[float, float]]:
    return [(c["core_flops"] + c["elementwise_flops"], c["bytes"]) for layer in layers for c in layer["calls"]]


def layer_times(layers: list[dict], roofline: Roofline, key: str | None) -> pd.DataFrame:
    """A profiled model's layers (record `layers` with `time_s`, run --per-layer) as a table, slowest first: each
    layer's FLOPs and bytes, its measured time, its share of the time beside its share of the FLOPs, its achieved
    FLOP/s, the layer-wise roofline's time for its calls (flopbench.machine.roofline) and the measured time over it."""
    rows = []
    for layer in layers:
        if layer.get("time_s") is None:
            continue
        calls = layer.get("calls") or []
        costs = [(c["core_flops"] + c["elementwise_flops"], c["bytes"]) for c in calls]
        on_roofline = roofline.calls_time_s(costs, key) if key and calls else None
        predicted, memory = on_roofline if on_roofline else (math.nan, math.nan)
        rows.append(
            {
                "path": layer["path"],
                "type": layer["type"],
                "calls": ", ".join(dict.fromkeys(c["name"] for c in calls)),
                "total_flops": sum(flops for flops, _ in costs),
                "bytes": sum(traffic for _, traffic in costs),
                "time_s": layer["time_s"],
                "predicted_s": predicted,
                "bound": ("memory" if memory > predicted / 2 else "compute") if predicted == predicted else "",
            }
        )
    columns = ["path", "type", "calls", "total_flops", "bytes", "time_s", "predicted_s", "bound"]
    frame = pd.DataFrame(rows, columns=columns)
    total_time, total_flops = frame["time_s"].sum(), frame["total_flops"].sum()
    frame["time_share"] = frame["time_s"] / total_time if total_time else math.nan
    frame["flop_share"] = frame["total_flops"] / total_flops if total_flops else math.nan
    timed = frame["time_s"] > 0
    frame["flops_per_s"] = (frame["total_flops"] / frame["time_s"]).where(timed)
    frame["over_roofline"] = (frame["time_s"] / frame["predicted_s"]).where(timed & (frame["predicted_s"] > 0))
    return frame.sort_values("time_s", ascending=False, ignore_index=True)


def mfu_conventions(run: pd.DataFrame) -> pd.DataFrame:
    """Model FLOP utilization of each measured model (a run's workloads, RunView.workloads) under flopbench's count
    and, for transformers, under PaLM's formula and the full-square causal count (record convention_flops): the same
    time over the same peak."""
    if "mfu" not in run.columns:
        return pd.DataFrame()
    models = run[(run["status"] == "ok") & run["mfu"].notna()]
    rows = []
    for _, r in models.iterrows():
        others = r.get("convention_flops") if isinstance(r.get("convention_flops"), dict) else {}
        rate = 1 / (r["time_s"] * r["peak_flops_per_s"])
        rows.append(
            {
                "name": r["name"],
                "dtype": r["dtype"],
                "mfu": r["mfu"],
                "mfu_palm": others["palm"] * rate if "palm" in others else math.nan,
                "mfu_full_square": others["full_square"] * rate if "full_square" in others else math.nan,
            }
        )
    return pd.DataFrame(rows)


def profiled(view: RunView) -> pd.DataFrame:
    """The measured workloads of a run that were profiled layer by layer (run --per-layer)."""
    run = view.workloads
    if "profile" not in run.columns:
        return run.iloc[0:0]
    return run[(run["status"] == "ok") & run["profile"].map(lambda p: isinstance(p, dict))]


def time_split(split: Any) -> str:
    """A profiled model's measured time in words (a flopbench.results.schema.LayerProfile or its dict): its counted
    calls, data movement, calls without a formula, ops outside every layer, and what the step has beyond its ops."""
    if isinstance(split, dict):
        from flopbench.results.schema import LayerProfile

        split = LayerProfile.model_validate(split)

    def share(value: float) -> str:
        return f"{value / split.whole_s:.0%}" if split.whole_s else "-"

    without = sum(split.without_formula_s.values())
    named = ", ".join(f"{name} {seconds(s)}" for name, s in list(split.without_formula_s.items())[:5])
    parts = [
        f"The step takes {seconds(split.whole_s)} alone; its profiled ops {seconds(split.ops_s)}"
        f" ({share(split.ops_s)}): counted calls {seconds(split.counted_calls_s)} ({share(split.counted_calls_s)}),"
        f" data movement (0-FLOP calls) {seconds(split.movement_s)} ({share(split.movement_s)}),"
        f" calls without a formula {seconds(without)} ({share(without)}{': ' + named if named else ''})",
    ]
    if split.outside_layers_s:
        parts.append(f"outside every layer {seconds(split.outside_layers_s)} ({share(split.outside_layers_s)})")
    rest = split.remainder_s
    parts.append(
        f"the rest, {seconds(abs(rest))} ({share(abs(rest))}), is "
        + ("Python and dispatch between ops" if rest >= 0 else "the profiler's own cost inside ops, beyond the step's")
    )
    return "; ".join(parts) + "."


def _model_contrast(title: str, a: pd.Series, b: pd.Series, roofline: Roofline) -> Contrast:
    """Whole models, explained layer by layer: where each spends its time on a layer-wise roofline. The layers come
    from the records (written at run time), so an old file's report does not change with the model code."""
    has_layers = all(isinstance(row.get("layers"), list) and row["layers"] for row in (a, b))
    on_roofline = [roofline.calls_time_s(_call_costs(r["layers"]), r["peak_key"]) for r in (a, b)] if has_layers else []
    if not (has_layers and all(on_roofline)):
        return Contrast(title, a, b, cause(a, b))
    (ta, ma), (tb, mb) = on_roofline  # type: ignore[misc]
    if a["time_s"] / a["total_flops"] < 2 * b["time_s"] / b["total_flops"]:
        why = ""
    elif ma / ta > mb / tb + 0.1:
        why = "memory traffic inside the model"
    else:
        why = cause(a, b)
    return Contrast(title, a, b, why, layerwise=((ta, ma), (tb, mb)) if why else None)


@dataclass
class Study:
    device: str
    workloads: int
    spearman: float  # rank correlation of FLOPs and time over every measured workload
    spearman_by_family: dict[str, tuple[float, int]]
    best: pd.Series  # highest achieved FLOP/s
    worst: pd.Series
    spread_p90_p10: float  # robust spread of achieved FLOP/s
    contrasts: list[Contrast] = field(default_factory=list)

    @property
    def spread(self) -> float:
        """How many times more time per FLOP the worst workload takes than the best."""
        return self.best["total_flops_per_s"] / self.worst["total_flops_per_s"]


def study(view: RunView) -> Study | None:
    ok = view.measured
    if len(ok) < 2:
        return None

    def rho(rows):  # Spearman's rank correlation: Pearson's on the ranks (ties get their average rank)
        return float(rows["total_flops"].rank().corr(rows["time_s"].rank()))

    by_family = {family: (rho(rows), len(rows)) for family, rows in ok.groupby("family") if len(rows) >= 3}
    rates = ok["total_flops_per_s"]
    return Study(
        device=ok["device_label"].iloc[0],
        workloads=len(ok),
        spearman=rho(ok),
        spearman_by_family=by_family,
        best=ok.loc[rates.idxmax()],
        worst=ok.loc[rates.idxmin()],
        spread_p90_p10=float(np.percentile(rates, 90) / np.percentile(rates, 10)),
        contrasts=contrasts(view),
    )


def energy_roofline(view: RunView) -> tuple[float, float] | None:
    """Joules per FLOP and per byte of the run's device (the energy roofline: E = FLOPs x e_flop + bytes x e_byte per
    call), fitted by non-negative least squares on the records with energy, each weighted by 1 / its energy (so
    that small calls count as much as large ones). None without at least 3 such records."""
    from scipy.optimize import nnls

    run = view.workloads
    if "joules_per_call" not in run.columns:
        return None
    rows = run[(run["status"] == "ok") & run["joules_per_call"].notna() & (run["total_flops"] > 0)]
    if len(rows) < 3:
        return None
    weight = 1 / rows["joules_per_call"].to_numpy()
    a = np.column_stack([rows["total_flops"].to_numpy() * weight, rows["bytes"].to_numpy() * weight])
    (per_flop, per_byte), _ = nnls(a, np.ones(len(rows)))
    return float(per_flop), float(per_byte)


# --- implementations: the same FLOPs, different latency -------------------------------------------------------------


def base_identity(row: pd.Series) -> str:
    """A workload's identity without its implementation: what its implementations share."""
    import json

    return json.dumps([row["op"], row["params"], row["dtype"]], sort_keys=True)


def implementations(view: RunView) -> pd.DataFrame:
    """Per workload measured under more than one implementation, one row per implementation: its time, rate, place
    on its roofline, speedup over eager, compile time and the break-even number of calls (compile time over the time
    saved per call), and why in words where the bytes or the kernel say it."""
    ok = view.workloads[view.workloads["status"] == "ok"] if len(view.workloads) else view.workloads
    if ok.empty or "impl" not in ok:
        return pd.DataFrame()
    ok = ok.assign(base=ok.apply(base_identity, axis=1))
    rows = []
    for _, group in ok.groupby("base", sort=False):
        if group["impl"].nunique() < 2:
            continue
        eager = group[group["impl"] == "eager"]
        eager_s = float(eager["time_s"].iloc[0]) if len(eager) else math.nan
        for _, r in group.sort_values("impl", key=lambda impl: impl != "eager", kind="stable").iterrows():
            rows.append(_impl_row(r, eager_s))
    return pd.DataFrame(rows)


def _impl_row(r: pd.Series, eager_s: float) -> dict[str, Any]:
    compile_s = r.get("compile_s")
    compile_s = float(compile_s) if compile_s == compile_s and compile_s is not None else math.nan
    saved = eager_s - float(r["time_s"])
    break_even = compile_s / saved if saved > 0 and compile_s == compile_s else math.nan
    return {
        "name": r["name"],
        "impl": r["impl"],
        "family": r["family"],
        "time_s": float(r["time_s"]),
        "total_flops_per_s": r["total_flops_per_s"],
        "roofline_efficiency": r.get("roofline_efficiency"),
        "speedup": eager_s / float(r["time_s"]) if eager_s == eager_s else math.nan,
        "compile_s": compile_s,
        "compile_cache": r.get("compile_cache"),
        "break_even_calls": break_even,
        "peak_memory_bytes": r.get("peak_memory_bytes"),
        "why": _impl_why(r, eager_s),
    }


def _impl_why(r: pd.Series, eager_s: float) -> str:
    """Why this implementation's time differs, where the record says it: the bytes fusion saves, the SDPA kernel."""
    eager_bytes, traffic = r.get("eager_bytes"), r.get("bytes")
    fused = eager_bytes == eager_bytes and eager_bytes and traffic
    if r["impl"] == "eager" and fused:
        return f"eager moves {eager_bytes / traffic:.1f}x the compulsory bytes (its intermediates)"
    if r["impl"] != "eager" and fused and eager_s == eager_s and float(r["time_s"]) < eager_s:
        return f"fusion: eager moves {eager_bytes / traffic:.1f}x the compulsory bytes"
    backend = r.get("attention_backend")
    if isinstance(backend, str):
        return f"SDPA ran its {backend} kernel"
    return ""


def model_memory(view: RunView) -> pd.DataFrame:
    """Per model workload: its FLOPs, parameters, peak memory of one call (a forward pass, or a training step: its
    kept activations and gradients) and time, side by side (reference/004: FLOPs alone do not judge a model)."""
    ok = view.workloads[view.workloads["status"] == "ok"] if len(view.workloads) else view.workloads
    if ok.empty or "op" not in ok:
        return pd.DataFrame()
    models = ok[ok["op"] == "model"]
    rows = []
    for _, r in models.iterrows():
        parameters = r.get("parameters")
        if parameters is None or parameters != parameters:  # a file from before records kept them: counted again
            parameters = _parameters(r["params"])
        rows.append(
            {
                "name": r["name"],
                "dtype": r["dtype"],
                "train": bool(r.get("train")),
                "total_flops": r["total_flops"],
                "parameters": parameters,
                "peak_memory_bytes": r.get("peak_memory_bytes"),
                "time_s": r["time_s"],
            }
        )
    return pd.DataFrame(rows)


def _parameters(params: dict[str, Any]) -> int | None:
    """A model workload's parameters, counted from its parameters (on the meta device: nothing is allocated)."""
    from flopbench.workloads.ops.model import layer_counts

    try:
        return int(layer_counts(dict(params)).parameters)
    except Exception:  # noqa: BLE001 - a model this flopbench no longer knows: its parameters are unknown
        return None
