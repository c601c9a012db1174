"""Figures of runs (flopbench.reading.view.RunView). Each function takes one run's view (or a comparison) and returns a
matplotlib Figure, or None when the run has nothing for it to draw; nothing here computes statistics or places a
workload: it draws what the view holds (its workloads, its roofline). FIGURES is the registry: a name, the function
and the caption every figure is shown with.

Importing this module changes nothing of the caller's matplotlib: no backend is chosen and no rcParams are set.
Figures are matplotlib.figure.Figure objects (not pyplot's), drawn inside rc_context(STYLE): they save to files
on a server without a display, and a notebook shows the Figure a function returns inline."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import EngFormatter, FuncFormatter

from flopbench.machine.roofline import Roofline, ridge
from flopbench.reading.analysis import collectives, layer_times, profiled, rank_spread
from flopbench.reading.view import placed_rows
from flopbench.units import natural_key, si

if TYPE_CHECKING:
    from flopbench.reading.view import RunView

# The families' colours, kept as they were drawn; a family an op module adds takes the next unused colour of the
# palette (family_color), so a new family never needs an edit here. Anything else (a pytest-benchmark callable) is gray.
FAMILY_COLORS = {
    "matmul": "tab:blue",
    "conv": "tab:orange",
    "attention": "tab:green",
    "recurrent": "tab:olive",
    "elementwise": "tab:red",
    "fusion": "tab:brown",
    "model": "tab:purple",
}
PALETTE = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
)


@functools.cache
def family_color(family: str) -> str:
    """A family's colour in every figure."""
    if family in FAMILY_COLORS:
        return FAMILY_COLORS[family]
    from flopbench.workloads import families

    known = [f for f in families() if f not in FAMILY_COLORS]
    spare = [c for c in PALETTE if c not in FAMILY_COLORS.values()]
    return spare[known.index(family) % len(spare)] if family in known and spare else "tab:gray"


DTYPE_MARKERS = {"float32": "o", "bfloat16": "s", "float16": "^", "float64": "D"}
ROOF_COLORS = {
    "float64": "0.45",
    "float32": "black",
    "tf32": "tab:brown",
    "bfloat16": "tab:purple",
    "float16": "tab:pink",
}

STYLE: dict[Any, Any] = {
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "figure.dpi": 110,
    "savefig.dpi": 130,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
SAVE_DPI = 130

F = TypeVar("F", bound=Callable[..., Any])


def styled(draw: F) -> F:
    """Draw inside rc_context(STYLE): the figure has flopbench's look, the caller's rcParams stay as they were."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _figure(**kwargs: Any) -> Figure:
    return Figure(layout="constrained", **kwargs)


def _roofline_axes(ax, lo: float, hi: float) -> None:
    """Log-log axes of a roofline: intensity from lo to hi in plain numbers, FLOP/s with SI prefixes."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_formatter(PLAIN)
    _log_flops_axis(ax.yaxis, *ax.get_ylim())


def _title(view: RunView, what: str) -> str:
    dtypes = ", ".join(sorted(set(view.workloads["dtype"])))
    return f"{what}\n{view.label} · {dtypes}"


def _points(ax, ok: pd.DataFrame, x: str, y: str) -> None:
    for (family, dtype), rows in ok.groupby(["family", "dtype"]):
        ax.scatter(
            rows[x],
            rows[y],
            c=family_color(family),
            marker=DTYPE_MARKERS.get(dtype, "x"),
            s=46,
            edgecolors="black",
            linewidths=0.5,
            zorder=3,
        )


def _point_legends(ax, ok: pd.DataFrame, extra: list | None = None, loc="lower right", outside=False) -> None:
    handles = [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            markersize=8,
            markerfacecolor=family_color(f),
            markeredgecolor="black",
            label=f,
        )
        for f in sorted(set(ok["family"]))
    ]
    handles += [
        Line2D(
            [],
            [],
            ls="",
            marker=DTYPE_MARKERS.get(d, "x"),
            markersize=8,
            markerfacecolor="white",
            markeredgecolor="black",
            label=d,
        )
        for d in sorted(set(ok["dtype"]))
    ]
    if outside:  # beside the axes: the roofs and points keep the whole plotting area
        ax.legend(handles=handles + (extra or []), loc="upper left", bbox_to_anchor=(1.01, 1), framealpha=0.9)
    else:
        ax.legend(handles=handles + (extra or []), loc=loc, framealpha=0.9)


PLAIN = FuncFormatter(lambda value, _: f"{value:g}")  # 0.1, 1, 2048: sizes and intensities read as numbers


def _binary_bytes(value: float, _=None) -> str:
    """Message sizes are powers of two: 4 KiB, 64 MiB."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:g} {unit}"
    return f"{value:g} B"


def _label(name: str, dtype: str) -> str:
    return name if name.endswith(dtype) else f"{name} ({dtype})"


def _log_flops_axis(axis, low: float, high: float) -> None:
    axis.set_major_formatter(EngFormatter(unit="FLOP/s"))
    if high / low < 30:  # a narrow range may hold no major tick at all: label the minor ones
        places = 0 if high / low > 3 else 1 if high / low > 1.2 else 2  # enough digits to tell ticks apart
        axis.set_minor_formatter(EngFormatter(unit="FLOP/s", places=places))
        axis.set_major_formatter(EngFormatter(unit="FLOP/s", places=places))
        axis.set_tick_params(which="minor", labelsize=7)
    else:
        axis.set_minor_formatter(FuncFormatter(lambda *_: ""))


LEVEL_COLORS = {"L1": "tab:cyan", "L2": "tab:blue", "L3": "tab:green", "LLC": "tab:green", "DRAM": "0.2"}


@styled
def roofline(view: RunView) -> Figure | None:
    """Achieved FLOP/s against arithmetic intensity, under the device's roofs: each peak key's compute roof (the
    peak solid, the measured ceiling dashed) and a bandwidth roof per memory level (L2, L3, DRAM: measured ones where
    the sweep measured them); each workload joined by a thin line to the roof of the level its data lives in."""
    ok = view.measured
    if ok.empty:
        return None
    fig = _figure(figsize=(13, 7))
    ax = fig.subplots()
    roofs = view.roofline
    lo = min(ok["intensity"].min(), 0.05) / 2
    hi = max(ok["intensity"].max(), 100) * 2
    keys = sorted(set(ok["peak_key"].dropna()))
    handles = [h for key in keys for h in _compute_roofs(ax, roofs.roof(key), lo, hi)]
    main = max(keys, key=lambda k: (ok["peak_key"] == k).sum()) if keys else None
    top = roofs.roof(main).roof if main else None
    if top is not None and top.known:
        measured_levels = [level for level in roofs.levels if level.roof.known]
        for i, level in enumerate(measured_levels):  # each ridge's label a line lower than the last: none collide
            handles.append(_level_roof(ax, level, top, lo, hi, i))
    if _own_roofs(ax, ok):
        handles.append(
            Line2D(
                [], [], color="0.5", lw=0.8, marker="_", label="a workload's gap to the roof of its level (its colour)"
            )
        )
    _points(ax, ok, "intensity", "total_flops_per_s")
    _roofline_axes(ax, lo, hi)
    ax.set_xlabel("Arithmetic intensity (FLOP/byte: all FLOPs over compulsory bytes)")
    ax.set_ylabel("Achieved FLOP/s (median time)")
    ax.set_title(_title(view, "Roofline: a roof per memory level; each workload judged by the level its data lives in"))
    _point_legends(ax, ok, handles, loc="upper left", outside=True)
    _name_zero_flop_workloads(ax, view.workloads)
    return fig


def _compute_roofs(ax, roof, lo: float, hi: float) -> list[Line2D]:
    """A peak key's compute roofs, flat: the peak solid, the measured ceiling dashed."""
    color = ROOF_COLORS.get(roof.key, "tab:gray")
    handles = []
    for value, style, label in (
        (roof.peak, "-", f"{roof.key} peak {si(roof.peak.value, 'FLOP/s')} ({roof.peak.source})"),
        (roof.ceiling, "--", f"{roof.key} measured {si(roof.ceiling.value, 'FLOP/s')}" if roof.ceiling else ""),
    ):
        if value is not None and value.known:
            ax.plot([lo, hi], [value.value, value.value], style, color=color, lw=1.6, zorder=2)
            handles.append(Line2D([], [], ls=style, color=color, label=label))
    return handles


def _level_roof(ax, level, top, lo: float, hi: float, row: int = 0) -> Line2D:
    """One memory level's slanted roof up to the compute roof, its ridge marked and labelled."""
    color = LEVEL_COLORS.get(level.name, "tab:gray")
    style = "-." if level.name == "DRAM" else ":"
    bandwidth = level.roof
    x = np.geomspace(lo, hi, 400)
    ax.plot(x, np.minimum(top.value, x * bandwidth.value), style, color=color, lw=1.6, zorder=2)
    point = ridge(top, bandwidth)
    if point and lo < point < hi:
        ax.plot([point], [top.value], marker="|", markersize=14, color=color, zorder=2)
        ax.annotate(
            f"{level.name} ridge {point:.3g}",
            (point, top.value),
            textcoords="offset points",
            xytext=(6, -13 - 11 * row),
            fontsize=8,
            color=color,
        )
    label = f"{level.name} {si(bandwidth.value, 'B/s')} ({bandwidth.source})"
    return Line2D([], [], ls=style, color=color, label=label)


def _own_roofs(ax, ok: pd.DataFrame) -> bool:
    """Each workload joined to the roof that judges it (its level's, at its intensity): the distance is its gap.
    Whether any was drawn."""
    if "roofline_flops_per_s" not in ok:
        return False
    drawn = False
    for _, r in ok.iterrows():
        roof = r.get("roofline_flops_per_s")
        if roof and roof == roof and r["intensity"] == r["intensity"]:
            level = r.get("level") if isinstance(r.get("level"), str) else "DRAM"
            color = LEVEL_COLORS.get(level, "0.5")
            ax.plot([r["intensity"]] * 2, [r["total_flops_per_s"], roof], color=color, lw=0.8, alpha=0.6, zorder=2)
            ax.plot([r["intensity"]], [roof], marker="_", markersize=8, color=color, zorder=2)
            drawn = True
    return drawn


def _name_zero_flop_workloads(ax, rows: pd.DataFrame) -> None:
    """Kernels without arithmetic (copy) cannot sit on a log axis of FLOP/s: name them and their bandwidth.
    Collectives are not placed on a roofline at all; they have their own figure."""
    zero = rows[(rows["status"] == "ok") & (rows["total_flops"] == 0) & placed_rows(rows)]
    if not len(zero):
        return
    names = [f"{r['name']} {si(r['bytes_per_s'], 'B/s')}" for _, r in zero.head(3).iterrows()]
    more = f" and {len(zero) - 3} more" if len(zero) > 3 else ""
    ax.text(
        0.99,
        0.01,
        "not shown (0 FLOPs): " + ", ".join(names) + more,
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=8,
        color="0.3",
    )


@styled
def bandwidth_sweep(roofs: Roofline, label: str = "") -> Figure | None:
    """The working-set sweep `flopbench peak --measure` read the memory levels from: achieved bandwidth of a torch
    copy against the bytes it touches, the cache sizes marked, each level's ceiling drawn over its range."""
    if not roofs.sweep:
        return None
    fig = _figure(figsize=(11, 6))
    ax = fig.subplots()
    sizes = [p.working_set_bytes for p in roofs.sweep]
    ax.plot(sizes, [p.bytes_per_s for p in roofs.sweep], "o-", color="black", lw=1.2, zorder=3, label="torch copy")
    below = min(sizes) / 2
    for level in roofs.levels:
        color = LEVEL_COLORS.get(level.name, "tab:gray")
        right = level.capacity_bytes or max(sizes) * 2
        if level.capacity_bytes:
            ax.axvline(level.capacity_bytes, color=color, ls=":", lw=1)
            ax.annotate(
                f"{level.name} {_binary_bytes(level.capacity_bytes)}",
                (level.capacity_bytes, 1),
                xycoords=("data", "axes fraction"),
                xytext=(-4, -12),
                textcoords="offset points",
                ha="right",
                fontsize=8,
                color=color,
            )
        if level.ceiling is not None and level.ceiling.value:
            text = f"{level.name} ceiling {si(level.ceiling.value, 'B/s')}"
            ax.plot([max(below, min(sizes)), right], [level.ceiling.value] * 2, color=color, lw=2, label=text)
        elif "not measured" in level.note:
            ax.plot([], [], color=color, lw=2, label=f"{level.name}: not measured (calls are the per-call floor)")
        below = level.capacity_bytes or below
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_binary_bytes))
    ax.yaxis.set_major_formatter(EngFormatter(unit="B/s"))
    ax.set_xlabel("Working set (bytes a copy touches: source and destination)")
    ax.set_ylabel("Bandwidth (bytes read and written per second; best of rounds)")
    ax.set_title(f"Bandwidth against working set: a ceiling per memory level\n{label}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return fig


@styled
def flops_vs_latency(view: RunView, label: int = 6) -> Figure | None:
    """Median time against FLOPs, with the line each dtype's peak would give; the workloads furthest
    above their line (lowest utilization) are named."""
    ok = view.measured
    if ok.empty:
        return None
    fig = _figure(figsize=(10, 7))
    ax = fig.subplots()
    x = np.geomspace(ok["total_flops"].min() / 2, ok["total_flops"].max() * 2, 100)
    handles = []
    for key in sorted(set(ok["peak_key"].dropna())):
        peak = view.roofline.roof(key).peak.value
        if peak:
            color = ROOF_COLORS.get(key, "tab:gray")
            ax.plot(x, x / peak, "-", color=color, lw=1.2)
            handles.append(Line2D([], [], color=color, label=f"at the {key} peak ({si(peak, 'FLOP/s')})"))
    _points(ax, ok, "total_flops", "time_s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    if "utilization" in ok and ok["utilization"].notna().any():
        named = ok.nsmallest(label, "utilization")
        _labels(
            ax,
            [
                (r["total_flops"], r["time_s"], f"{r['name']} ({r['utilization']:.1%} of peak)")
                for _, r in named.iterrows()
            ],
            others=(ok["total_flops"], ok["time_s"]),
        )
    ax.xaxis.set_major_formatter(EngFormatter(unit="FLOP"))
    ax.yaxis.set_major_formatter(EngFormatter(unit="s"))
    ax.set_xlabel("FLOPs per call (core + elementwise)")
    ax.set_ylabel("Median time per call")
    ax.set_title(_title(view, "FLOPs against latency: distance above a line is time FLOPs do not explain"))
    _point_legends(ax, ok, handles, loc="upper left")
    return fig


def _two_and_five(formatter: EngFormatter) -> FuncFormatter:
    """A log axis's minor tick labelled at 2x and 5x its decade only (as the formatter writes it), the rest blank."""

    def label(value: float, position: int | None) -> str:
        if value <= 0:
            return ""
        leading = round(value / 10 ** math.floor(math.log10(value)), 6)
        return formatter(value, position) if leading in (2.0, 5.0) else ""

    return FuncFormatter(label)


def generation(view: RunView) -> Figure | None:
    """Time per token against FLOPs per token, prefill and decode together, with the line the peak would give: a
    prefill sits near it (FLOPs predict it); a decode step far above (its bytes, not its FLOPs, set its time)."""
    from flopbench.reading import generation as gen

    result = gen.study(view)
    if result is None:
        return None
    fig = _figure(figsize=(9, 6.5))
    ax = fig.subplots()
    rows = result.rows
    flops = [r["flops_per_token"] for r in rows]
    x = np.geomspace(min(flops) / 3, max(flops) * 3, 50)
    for dtype in sorted({r["dtype"] for r in rows}):
        peak = view.roofline.roof(dtype).roof.value
        if peak:
            ax.plot(
                x, x / peak, "-", color=ROOF_COLORS.get(dtype, "tab:gray"), lw=1.2, label=f"FLOPs at the {dtype} roof"
            )
    for phase, marker in (("prefill", "s"), ("decode", "o")):
        mine = [r for r in rows if r["phase"] == phase]
        if not mine:
            continue
        scatter = ax.scatter(
            [r["flops_per_token"] for r in mine],
            [r["time_per_token_s"] for r in mine],
            c=[math.log2(r["batch"]) for r in mine],
            cmap="viridis",
            marker=marker,
            s=60,
            edgecolors="black",
            label=phase,
            vmin=0,
            vmax=max(math.log2(r["batch"]) for r in rows) or 1,
        )
    memory = view.roofline.memory.roof.value
    if memory:  # what the roofline predicts for each: the longer of its bytes and its FLOPs over the roofs
        predicted = []
        for r in rows:
            peak = view.roofline.roof(r["dtype"]).roof.value or math.inf
            call_s = max(r["bytes"] / memory, r["core_flops"] / peak)
            predicted.append((r["flops_per_token"], call_s / (r["batch"] * r["tokens"])))
        xs, ys = zip(*predicted)
        ax.scatter(xs, ys, marker="_", s=160, color="tab:red", label="the roofline's time (bytes or FLOPs)")
    positions: dict[tuple[str, int], list[int]] = {}
    for r in rows:
        if r["phase"] == "decode":
            positions.setdefault((r["model"], r["batch"]), []).append(r["position"])
    for r in rows:
        if r["phase"] == "prefill" or r["batch"] in (1, max(q["batch"] for q in rows)):
            # Decode steps of one batch at several cache positions: told apart by their position, labels alternating
            # right and left (their points lie close).
            same = sorted(positions.get((r["model"], r["batch"]), [])) if r["phase"] == "decode" else []
            at = f" @{r['position']}" if len(same) > 1 else ""
            below = len(same) > 1 and same.index(r["position"]) % 2 == 0  # to the left
            ax.annotate(
                f"{r['model']} {r['phase']} b{r['batch']}{at}",
                (r["flops_per_token"], r["time_per_token_s"]),
                fontsize=7,
                xytext=(-6, -2) if below else (4, 4),
                ha="right" if below else "left",
                textcoords="offset points",
            )
    bar = fig.colorbar(scatter, ax=ax, label="batch")
    ticks = [float(t) for t in range(int(max(math.log2(r["batch"]) for r in rows)) + 1)]  # the batches: 1, 2, 4, ...
    bar.set_ticks(ticks)
    bar.set_ticklabels([f"{2**t:.0f}" for t in ticks])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(EngFormatter(unit="FLOP"))
    ax.yaxis.set_major_formatter(EngFormatter(unit="s"))
    for axis, unit in ((ax.xaxis, "FLOP"), (ax.yaxis, "s")):  # minor ticks at 2x and 5x only: 3x and 4x would crowd
        axis.set_minor_formatter(_two_and_five(EngFormatter(unit=unit)))
    ax.set_xlabel("core FLOPs per token")
    ax.set_ylabel("time per token (a decode step: TPOT / batch; a prefill: TTFT / prompt tokens)")
    ax.set_title(_title(view, "Generation: where FLOPs stop predicting time (distance above the line)"))
    ax.legend(loc="upper left", fontsize=8)
    return fig


LOSS_COLORS = {
    "clock": "tab:purple",
    "memory": "tab:orange",
    "kernel": "tab:blue",
    "overhead": "tab:gray",
    "parallelism": "tab:green",
    "residual": "tab:red",
}


@styled
def losses(view: RunView) -> Figure | None:
    """Each workload's ledger (flopbench.measuring.ledger) as a waterfall on a log axis: from its peak (1) down to the
    share of it achieved, one segment per loss, coloured by kind; a factor over 1 (a step above was too pessimistic)
    is drawn hatched, back towards the peak."""
    records = [r for r in view.records if r.status == "ok" and r.ledger and r.utilization]
    if not records:
        return None
    records.sort(key=lambda r: (r.family, -(r.utilization or 0.0)))
    fig = _figure(figsize=(11, max(3.5, 0.34 * len(records) + 1.8)))
    ax = fig.subplots()
    for y, record in enumerate(records):
        level = 1.0
        for step in record.ledger or ():
            if step.factor is None or step.name == "peak" or step.factor == 1.0:
                continue
            after = level * step.factor
            left, right = sorted((level, after))
            gain = step.factor > 1
            ax.barh(
                y,
                right - left,
                left=left,
                color=LOSS_COLORS.get(step.name, "0.5"),
                hatch="//" if gain else None,
                alpha=0.45 if gain else 0.9,
                edgecolor="white",
                height=0.7,
            )
            level = after
        ax.plot([record.utilization or 0.0], [y], "k|", markersize=10)
    ax.set_xscale("log")
    lowest = min(
        min((r.utilization or 1.0) for r in records),
        *(math.prod(s.factor for s in r.ledger or () if s.factor is not None and s.factor < 1) for r in records),
    )
    ax.set_xlim(lowest / 1.5, 1.5)
    ax.set_yticks(range(len(records)), [r.name for r in records], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("Share of the peak (log): each segment is one loss, the tick the share achieved")
    handles = [Rectangle((0, 0), 1, 1, color=color, label=name) for name, color in LOSS_COLORS.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), title="loss")
    ax.set_title(_title(view, "Where the FLOP/s went: from the peak to the time measured"))
    ax.grid(axis="y", visible=False)
    return fig


@styled
def memory(view: RunView, label: int = 6) -> Figure | None:
    """Time against peak memory per call (flopbench.measuring.footprint): memory as an axis of its own beside FLOPs;
    the workloads that allocate most beyond their output are named."""
    ok = view.measured
    if ok.empty or "peak_memory_bytes" not in ok:
        return None
    ok = ok[ok["peak_memory_bytes"].fillna(0) > 0]
    if len(ok) < 3:
        return None
    fig = _figure(figsize=(10, 7))
    ax = fig.subplots()
    _points(ax, ok, "peak_memory_bytes", "time_s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    output = ok["output_bytes"].where(ok["output_bytes"] > 0) if "output_bytes" in ok else None
    if output is not None and output.notna().any():
        ratio = ok["peak_memory_bytes"] / output
        named = ok.assign(ratio=ratio).nlargest(label, "ratio")
        _labels(
            ax,
            [
                (r["peak_memory_bytes"], r["time_s"], f"{r['name']} ({r['ratio']:.1f}x its output)")
                for _, r in named.iterrows()
            ],
            others=(ok["peak_memory_bytes"], ok["time_s"]),
        )
    ax.xaxis.set_major_formatter(EngFormatter(unit="B"))
    ax.yaxis.set_major_formatter(EngFormatter(unit="s"))
    ax.set_xlabel("Peak memory of one call beyond its inputs (outputs and workspace)")
    ax.set_ylabel("Median time per call")
    ax.set_title(_title(view, "Memory against latency: what each call holds, beside what it costs in time"))
    _point_legends(ax, ok, [], loc="upper left")
    return fig


# adjustText's steps at most: the same labels land in the same places on every machine, however busy.
LABEL_ITERATIONS = 1000


def _labels(ax, labels: list[tuple[float, float, str]], others: tuple[Any, Any] | None = None) -> None:
    """Points named beside them, moved apart until no two labels (and no label and point) overlap (adjustText), each
    joined to its point by a thin line."""
    from adjustText import adjust_text

    texts = [ax.text(x, y, text, fontsize=8) for x, y, text in labels]
    if texts:
        x, y = others if others is not None else (None, None)
        adjust_text(
            texts,
            x=None if x is None else list(x),
            y=None if y is None else list(y),
            ax=ax,
            arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.5},
            iter_lim=LABEL_ITERATIONS,  # never its default of 1 s of wall time: the figure would depend on the load
        )


def _sweep_axis(rows: pd.DataFrame) -> tuple[str, str, list[str]] | None:
    """(x column, x label, series columns) of a swept group: x is its first numeric axis."""
    swept = rows["swept"].iloc[0]
    if not isinstance(swept, (list, tuple)):
        return None
    numeric = [
        axis
        for axis in swept
        if axis != "dtype"
        and axis.split("=")[0] in rows
        and pd.api.types.is_numeric_dtype(rows[axis.split("=")[0]])
        and rows[axis.split("=")[0]].dropna().map(lambda v: not isinstance(v, bool)).all()
    ]
    if not numeric or rows[numeric[0].split("=")[0]].nunique() < 2:
        return None
    axis = numeric[0]
    others = [a.split("=")[0] for a in swept if a != axis]
    return axis.split("=")[0], axis.replace("=", " = "), others


def sweep_groups(view: RunView) -> list[tuple[str, pd.DataFrame, tuple[str, str, list[str]]]]:
    ok = view.measured
    found: list[tuple[str, pd.DataFrame, tuple[str, str, list[str]]]] = []
    if "group" not in ok or "swept" not in ok:  # records from before sweeps were recorded
        return found
    for group, rows in ok.groupby("group", sort=False):
        axis = _sweep_axis(rows)
        if axis:
            found.append((group, rows, axis))
    return found


@styled
def sweeps(view: RunView) -> Figure | None:
    """Achieved FLOP/s against problem size, one panel per swept suite entry, with the peak lines."""
    groups = sweep_groups(view)
    if not groups:
        return None
    columns = min(2, len(groups))
    rows_n = math.ceil(len(groups) / columns)
    fig = _figure(figsize=(7 * columns, 4.6 * rows_n))
    axes = fig.subplots(rows_n, columns, squeeze=False)
    for ax, (group, rows, (x, x_label, others)) in zip(axes.flat, groups):
        series = rows.groupby(others, dropna=False) if others else [((), rows)]
        for values, line in series:
            values = values if isinstance(values, tuple) else (values,)
            name = ", ".join(f"{k}={v}" if k != "dtype" else str(v) for k, v in zip(others, values)) or "achieved"
            line = line.sort_values(x)
            ax.plot(
                line[x], line["total_flops_per_s"], marker=DTYPE_MARKERS.get(line["dtype"].iloc[0], "o"), label=name
            )
        for key in sorted(set(rows["peak_key"].dropna())):
            peak = view.roofline.roof(key).peak.value
            if peak:
                ax.axhline(
                    peak,
                    ls="--",
                    lw=1,
                    color=ROOF_COLORS.get(key, "tab:gray"),
                    label=f"{key} peak {si(peak, 'FLOP/s')}",
                )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sorted(rows[x].unique()))
        ax.xaxis.set_major_formatter(PLAIN)
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
        _log_flops_axis(ax.yaxis, *ax.get_ylim())
        ax.set_xlabel(x_label)
        ax.set_ylabel("Achieved FLOP/s")
        ax.set_title(f"{group} ({rows['op'].iloc[0]})")
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    fig.suptitle(_title(view, "Sweeps: achieved FLOP/s against problem size"))
    return fig


@styled
def utilization(view: RunView) -> Figure | None:
    """Per workload, % of the dtype's peak and % of the roofline bound, grouped by family."""
    if view.measured.empty:
        return None
    rows = view.measured
    order = sorted(range(len(rows)), key=lambda i: (rows["family"].iloc[i], natural_key(rows["name"].iloc[i])))
    ok = rows.iloc[order[::-1]]  # barh draws from the bottom: the first family and name at the top
    fig = _figure(figsize=(11, max(4.0, 0.26 * len(ok) + 1.6)))
    ax = fig.subplots()
    y = np.arange(len(ok))
    colors = [family_color(f) for f in ok["family"]]
    ax.barh(y + 0.2, 100 * ok["utilization"].fillna(0), height=0.4, color=colors, edgecolor="black", lw=0.4)
    ax.barh(
        y - 0.2,
        100 * ok["roofline_efficiency"].fillna(0),
        height=0.4,
        color=colors,
        alpha=0.35,
        edgecolor="black",
        lw=0.4,
        hatch="//",
    )
    ax.axvline(100, color="black", lw=1)
    ax.set_yticks(y, [_label(n, d) for n, d in zip(ok["name"], ok["dtype"])], fontsize=8)
    ax.set_xlabel("% (solid: of the dtype's peak; hatched: of the roofline bound at the workload's intensity)")
    peaks = [(key, view.roofline.roof(key).peak) for key in sorted(set(ok["peak_key"].dropna()))]
    sources = ", ".join(f"{k}: {si(p.value, 'FLOP/s')} ({p.source})" for k, p in peaks if p.known)
    ax.set_title(_title(view, f"Utilization. Peaks: {sources}"))
    ax.legend(
        handles=[Rectangle((0, 0), 1, 1, color=family_color(f), label=f) for f in sorted(set(ok["family"]))],
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
    )
    ax.grid(axis="y", visible=False)
    return fig


@styled
def comparison(result) -> Figure:
    """Speedup per workload over the baseline run with its confidence interval, grouped by family; a diamond at the
    speedup the two devices' roofs predict for it."""
    table = result.table
    others = result.others
    ordered = table.sort_values(["family", "name"], ascending=[False, False])
    fig = _figure(figsize=(11, max(4.0, 0.26 * len(ordered) * len(others) + 2.0)))
    ax = fig.subplots()
    y = np.arange(len(ordered))
    height = 0.8 / len(others)
    hatches = ["", "//", "..", "xx"]
    for i, run in enumerate(others):
        at = y + (i - (len(others) - 1) / 2) * height
        speedup = ordered[f"speedup[{run}]"]
        low, high = ordered[f"speedup_low[{run}]"], ordered[f"speedup_high[{run}]"]
        ax.barh(  # bars grow from 1x: right for faster, left for slower
            at,
            speedup - 1,
            left=1,
            height=height,
            color=[family_color(f) for f in ordered["family"]],
            edgecolor="black",
            lw=0.4,
            hatch=hatches[i % len(hatches)],
        )
        ax.errorbar(speedup, at, xerr=[speedup - low, high - speedup], fmt="none", ecolor="black", lw=0.9, capsize=2)
        ax.scatter(ordered[f"roof_ratio[{run}]"], at, marker="D", s=18, color="tab:purple", zorder=4)
    ax.axvline(1, color="black", lw=1)
    band = result.threshold
    ax.axvspan(1 / (1 + band), 1 + band, color="0.9", zorder=0)
    ax.set_xscale("log")
    low_x, high_x = ax.get_xlim()
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}x" if high_x / low_x < 30 else ""))
    ax.set_yticks(y, [_label(n, d) for n, d in zip(ordered["name"], ordered["dtype"])], fontsize=8)
    base = result.baseline
    ax.set_xlabel(
        f"Speedup over run {base} with its {result.level:.0%} interval (grey band: ±{band:.0%}, the same;"
        " diamond: what the roofs predict)"
    )
    runs_text = "; ".join(
        f"{r['run']}: {r['device']}, {r['threads']} thread{'s' * (int(r['threads'] or 1) != 1)}"
        for _, r in result.runs.iterrows()
    )
    ax.set_title(f"Speedup per workload, with the speedup its roofline predicts\n{runs_text}")
    handles: list[Any] = [
        Rectangle((0, 0), 1, 1, color=family_color(f), label=f) for f in sorted(set(ordered["family"]))
    ]
    handles.append(Line2D([], [], ls="", marker="D", color="tab:purple", label="roof ratio"))
    if len(others) > 1:
        handles += [
            Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black", hatch=hatches[i % 4], label=f"run {run}")
            for i, run in enumerate(others)
        ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(axis="y", visible=False)
    return fig


@styled
def comparison_matrix(result) -> Figure | None:
    """Machines x families: each run's geometric mean speedup over the baseline, coloured on a log scale, its
    interval written in the cell (three runs or more)."""
    if len(result.others) < 2:
        return None
    summary = result.summary
    runs = result.others
    families = ["all", *sorted(set(summary["family"]) - {"all"})]
    values = np.full((len(runs), len(families)), np.nan)
    for r in summary.itertuples():
        values[runs.index(r.run), families.index(r.family)] = math.log2(r.geomean_speedup)
    fig = _figure(figsize=(1.6 * len(families) + 3, 0.7 * len(runs) + 2))
    ax = fig.subplots()
    limit = max(np.nanmax(np.abs(values)), 0.1)
    image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for r in summary.itertuples():
        text = f"{r.geomean_speedup:.2f}x\n({r.geomean_low:.2f}-{r.geomean_high:.2f})"
        ax.text(families.index(r.family), runs.index(r.run), text, ha="center", va="center", fontsize=8)
    devices = dict(zip(result.runs["run"], result.runs["device"]))
    ax.set_xticks(range(len(families)), families)
    ax.set_yticks(range(len(runs)), [f"{run}: {devices.get(run, '')}" for run in runs], fontsize=8)
    ax.grid(False)
    fig.colorbar(image, ax=ax, label=f"log2 speedup over run {result.baseline}")
    ax.set_title(
        f"Geometric mean speedup over run {result.baseline}: machines x families ({result.level:.0%} intervals)"
    )
    return fig


@styled
def standing_matrix(rows: Any, name: str) -> Figure | None:
    """Where a run stands (flopbench.reading.atlas.standing): every reference machine's speed relative to the run, per
    family (the inverse of the run's speedup over it), coloured on a log scale, the run's own row (1.00x) outlined."""
    if rows.empty:
        return None
    families = ["all", *sorted(set(rows["family"]) - {"all"})]
    overall = rows[rows["family"] == "all"].set_index("reference")["speedup"]
    machines = sorted(set(rows["reference"]), key=lambda ref: overall.get(ref, 1.0))
    labels = [f"this run: {name}", *machines]
    values = np.full((len(labels), len(families)), np.nan)
    values[0, :] = 0.0
    for r in rows.itertuples():
        values[labels.index(r.reference), families.index(r.family)] = -math.log2(r.speedup)
    fig = _figure(figsize=(1.5 * len(families) + 4, 0.6 * len(labels) + 2))
    ax = fig.subplots()
    limit = max(np.nanmax(np.abs(values)), 0.1)
    image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for i in range(len(labels)):
        for j in range(len(families)):
            if values[i, j] == values[i, j]:
                weight = "bold" if i == 0 else "normal"
                ink = "white" if abs(values[i, j]) > 0.6 * limit else "black"  # legible on the darkest cells
                ax.text(
                    j,
                    i,
                    f"{2 ** values[i, j]:.2f}x",
                    ha="center",
                    va="center",
                    fontsize=8,
                    fontweight=weight,
                    color=ink,
                )
    ax.add_patch(Rectangle((-0.5, -0.5), len(families), 1, fill=False, edgecolor="black", linewidth=2.5))
    ax.set_xticks(range(len(families)), families)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.get_yticklabels()[0].set_fontweight("bold")
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="log2 speed relative to this run")
    ax.set_title("Each reference machine's speed relative to this run (geometric mean per family; >1x: faster)")
    return fig


def draw_standing(result: Any, name: str) -> list[Drawn]:
    """The standing figure of a run against the atlas (flopbench.reading.atlas), if it has something to draw."""
    figure = standing_matrix(result.rows, name)
    caption = "Each reference machine's speed relative to this run, per family; this run's row outlined."
    return [Drawn("standing", figure, caption, "standing")] if figure is not None else []


@styled
def spread(view: RunView) -> Figure | None:
    """Per workload of a distributed run: every rank's achieved FLOP/s, the range between the slowest and the
    fastest, and which rank is slowest."""
    if not view.distributed:
        return None
    table = rank_spread(view)
    if table.empty:
        return None
    table = table.sort_values(["family", "name"], ascending=[False, False]).reset_index(drop=True)
    ranks = sorted({r for per_rank in table["per_rank"] for r in per_rank})
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(ranks)))
    fig = _figure(figsize=(11, max(3.5, 0.32 * len(table) + 1.8)))
    ax = fig.subplots()
    for y, row in table.iterrows():
        ax.plot([row["min_flops_per_s"], row["max_flops_per_s"]], [y, y], color="0.6", lw=3, zorder=1)
        for rank, color in zip(ranks, colors):
            if rank in row["per_rank"]:
                ax.scatter(row["per_rank"][rank], y, color=color, s=36, zorder=2, edgecolors="black", linewidths=0.4)
        ax.annotate(
            f"slowest: rank {row['slowest_rank']} ({row['spread']:.2f}x)",
            (row["max_flops_per_s"], y),
            textcoords="offset points",
            xytext=(9, 0),
            fontsize=8,
            va="center",
        )
    ax.set_xscale("log")
    low, high = table["min_flops_per_s"].min(), table["max_flops_per_s"].max()
    ax.set_xlim(low / 1.05, high * 1.3)  # room on the right for the slowest-rank notes
    _log_flops_axis(ax.xaxis, *ax.get_xlim())
    ax.set_yticks(range(len(table)), [_label(n, d) for n, d in zip(table["name"], table["dtype"])], fontsize=8)
    ax.set_xlabel("Achieved FLOP/s on each rank (grey: from the slowest to the fastest rank)")
    ax.legend(
        handles=[
            Line2D([], [], ls="", marker="o", color=c, markeredgecolor="black", label=f"rank {r}")
            for r, c in zip(ranks, colors)
        ],
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
    )
    devices = sorted(set(view.frame["device_label"]))
    ax.set_title(f"Spread across {len(ranks)} devices running together\n{', '.join(devices)}")
    ax.grid(axis="y", visible=False)
    return fig


@styled
def collective_bandwidth(view: RunView) -> Figure | None:
    """Bus bandwidth of each collective against message size (nccl-tests' conventions)."""
    if not view.distributed:
        return None
    table = collectives(view)
    if table.empty:
        return None
    fig = _figure(figsize=(10, 6))
    ax = fig.subplots()
    for (op, dtype), rows in table.groupby(["op", "dtype"]):
        rows = rows.sort_values("message_bytes")
        ax.plot(rows["message_bytes"], rows["busbw_bytes_per_s"], marker="o", label=f"{op} ({dtype})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sorted(table["message_bytes"].unique()))
    ax.xaxis.set_major_formatter(FuncFormatter(_binary_bytes))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    ax.yaxis.set_major_formatter(EngFormatter(unit="B/s"))
    ax.set_xlabel("Message size S (nccl-tests' size: the buffer, or all ranks' data for gather and scatter)")
    ax.set_ylabel("Bus bandwidth (algorithm bandwidth x ring factor)")
    ranks = int(table["ranks"].max())
    backend = ", ".join(sorted(set(view.frame["device_label"])))
    ax.set_title(f"Collectives on {ranks} ranks: bus bandwidth against message size\n{backend}")
    ax.legend()
    return fig


@styled
def predictors(view: RunView) -> Figure | None:
    """Each latency predictor's time against the measured one (leave-one-out, flopbench.reading.predict), log-log, one
    panel per predictor: on the diagonal a perfect prediction; the band is within 2x."""
    from flopbench.reading.predict import PREDICTORS, leave_one_out, points

    found = points(view)
    if len(found.frame) < 3:
        return None
    evaluation = leave_one_out(found)
    table = evaluation.table()
    fig = _figure(figsize=(16, 10))
    axes = fig.subplots(2, 3, sharex=True, sharey=True).ravel()
    measured_s = table["time_s"]
    values = np.concatenate([measured_s.to_numpy()] + [table[f"{n}_s"].to_numpy() for n in PREDICTORS])
    lo, hi = np.nanmin(values[values > 0]) / 2, np.nanmax(values) * 2
    scores = {s.name: s for s in evaluation.scores}
    for ax, name in zip(axes, PREDICTORS):
        line = np.array([lo, hi])
        ax.fill_between(line, line / 2, line * 2, color="0.9", zorder=1)
        ax.plot(line, line, color="black", lw=1, zorder=2)
        for family, rows in table.groupby("family"):
            ax.scatter(
                rows["time_s"],
                rows[f"{name}_s"],
                s=28,
                color=family_color(family),
                edgecolors="black",
                linewidths=0.4,
                label=family,
                zorder=3,
            )
        s = scores[name]
        ax.set_title(f"{name}: median {s.median_factor:.2f}x, {s.within_2x:.0%} within 2x", fontsize=11)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.xaxis.set_major_formatter(EngFormatter(unit="s"))
        ax.yaxis.set_major_formatter(EngFormatter(unit="s"))
    for ax in axes[len(PREDICTORS) :]:
        ax.set_visible(False)
    for ax in axes[3:]:
        ax.set_xlabel("measured time (median)")
    axes[2].xaxis.set_tick_params(labelbottom=True)  # above a hidden panel: its ticks are its own
    axes[2].set_xlabel("measured time (median)")
    for ax in axes[::3]:
        ax.set_ylabel("predicted time (leave-one-out)")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(_title(view, "Latency predicted from FLOPs, the roofline and a fitted roofline (grey: within 2x)"))
    return fig


@styled
def energy_roofline(view: RunView) -> Figure | None:
    """Achieved FLOP per joule against arithmetic intensity, under the energy roofline fitted on the run
    (FLOP/J = I / (I x e_flop + e_byte)): right of the energy ridge a FLOP costs more than its bytes."""
    from flopbench.reading.analysis import energy_roofline as fit_energy

    fit = fit_energy(view)
    if fit is None:
        return None
    per_flop, per_byte = fit
    ok = view.measured
    ok = ok[ok["flops_per_joule"].notna() & (ok["total_flops"] > 0)]
    fig = _figure(figsize=(11, 6.5))
    ax = fig.subplots()
    lo, hi = ok["intensity"].min() / 2, ok["intensity"].max() * 2
    x = np.geomspace(lo, hi, 300)
    (roof,) = ax.plot(
        x,
        x / (x * per_flop + per_byte),
        color="black",
        lw=1.6,
        zorder=2,
        label=f"fitted: {per_flop * 1e12:.3g} pJ/FLOP, {per_byte * 1e12:.3g} pJ/byte",
    )
    if per_flop > 0 and per_byte > 0:
        ax.axvline(per_byte / per_flop, color="0.5", ls=":", lw=1)
    _points(ax, ok, "intensity", "flops_per_joule")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_formatter(PLAIN)
    ax.yaxis.set_major_formatter(EngFormatter(unit="FLOP/J"))
    ax.set_xlabel("Arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("FLOP per joule (average power x median time)")
    ax.set_title(_title(view, "Energy roofline: FLOP/J against intensity"))
    _point_legends(ax, ok, [roof], loc="lower right")
    return fig


LAYERS_SHOWN = 15  # bars in a per-layer figure: the slowest layers


@styled
def layer_profile(record: pd.Series, view: RunView) -> Figure:
    """One model profiled layer by layer (run --per-layer). Left: its slowest layers' share of the measured time
    beside their share of the FLOPs (where they differ, FLOPs mispredict). Right: every layer on the roofline at its
    own intensity and achieved FLOP/s, sized by its share of the time."""
    roofs = view.roofline
    compute, bandwidth = roofs.roof(record["peak_key"]).roof, roofs.memory.roof
    table = layer_times(record["layers"], roofs, record["peak_key"])
    fig = _figure(figsize=(14, 6.5))
    bars, roof = fig.subplots(1, 2, width_ratios=[1, 1.15])
    top = table.head(LAYERS_SHOWN).iloc[::-1]
    y = np.arange(len(top))
    bars.barh(y + 0.2, top["time_share"] * 100, height=0.4, color="tab:purple", label="share of measured time")
    bars.barh(y - 0.2, top["flop_share"] * 100, height=0.4, color="0.65", label="share of FLOPs")
    bars.set_yticks(y, [f"{p} ({t})" for p, t in zip(top["path"], top["type"])], fontsize=8)
    bars.set_xlabel("% of the model")
    bars.legend(loc="lower right")
    bars.set_title(f"The {len(top)} slowest of {len(table)} layers", fontsize=11)
    points = table[(table["total_flops"] > 0) & (table["bytes"] > 0) & (table["time_s"] > 0)]
    intensity = points["total_flops"] / points["bytes"]
    colors = points["bound"].map({"memory": "tab:red", "compute": "tab:blue"}).fillna("tab:gray")
    roof.scatter(
        intensity,
        points["flops_per_s"],
        s=20 + 900 * points["time_share"],
        c=colors,
        alpha=0.6,
        edgecolors="black",
        linewidths=0.5,
        zorder=3,
    )
    lo = (intensity.min() if len(points) else 0.1) / 2
    hi = max(intensity.max() if len(points) else 10, ridge(compute, bandwidth) or 10) * 2
    handles = [
        Line2D([], [], ls="", marker="o", color="tab:red", label="memory-bound on the layer-wise roofline"),
        Line2D([], [], ls="", marker="o", color="tab:blue", label="compute-bound on the layer-wise roofline"),
    ]
    if compute.value and bandwidth.value:
        x = np.geomspace(lo, hi, 200)
        roof.plot(x, np.minimum(compute.value, x * bandwidth.value), "-", color="black", lw=1.5, zorder=2)
        label = f"roof: {si(compute.value, 'FLOP/s')} ({compute.source}), {si(bandwidth.value, 'B/s')}"
        handles.append(Line2D([], [], color="black", label=label))
    for i, (row, x_value) in enumerate(zip(points.head(5).itertuples(), intensity.head(5))):  # the slowest, named
        roof.annotate(
            row.path, (x_value, row.flops_per_s), textcoords="offset points", xytext=(7, 6 - 11 * (i % 3)), fontsize=7
        )
    _roofline_axes(roof, lo, hi)
    roof.set_xlabel("The layer's arithmetic intensity (FLOP/byte, its calls' compulsory bytes)")
    roof.set_ylabel("Achieved FLOP/s (profiled time)")
    roof.set_title("Each layer on the roofline (area: share of the time)", fontsize=11)
    roof.legend(handles=handles, loc="lower right", fontsize=8)
    fig.suptitle(f"Where the time goes: {record['name']} ({record['dtype']})\n{view.label}")
    return fig


def layer_figure_name(record: pd.Series) -> str:
    return "layers_" + "".join(c if c.isalnum() or c in "-_" else "_" for c in str(record["name"]))


@styled
def implementations(view: RunView) -> Figure | None:
    """Per workload measured under several implementations: each one's speedup over eager (the same FLOPs), its
    compile time written beside it."""
    from flopbench.reading.analysis import implementations as table_of

    table = table_of(view)
    if table.empty:
        return None
    table = table.iloc[::-1].reset_index(drop=True)
    fig = _figure(figsize=(11, max(3.5, 0.32 * len(table) + 1.8)))
    ax = fig.subplots()
    colors = [family_color(f) for f in table["family"]]
    ax.barh(range(len(table)), table["speedup"] - 1, left=1, color=colors, edgecolor="black", lw=0.4)
    ax.axvline(1, color="black", lw=1)
    for y, r in table.iterrows():
        text = f" {r['speedup']:.2f}x"
        if r["compile_s"] == r["compile_s"]:
            pays = (
                f", pays off after {r['break_even_calls']:,.0f} calls"
                if r["break_even_calls"] == r["break_even_calls"]
                else ", never pays off"
            )
            text += f" (compile {r['compile_s']:.3g} s{pays})"
        ax.annotate(text, (max(r["speedup"], 1), y), fontsize=8, va="center")
    ax.set_xscale("log")
    low, high = ax.get_xlim()
    ax.set_xlim(low, high * 1.6)  # room for the notes
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_tick_params(which="minor", labelsize=7)
    ax.set_yticks(
        range(len(table)),
        [f"{n} ({i})" if not n.endswith(i) else n for n, i in zip(table["name"], table["impl"])],
        fontsize=8,
    )
    ax.set_xlabel("Speedup over eager (eager's time / this implementation's; the same FLOPs)")
    ax.set_title(_title(view, "Same FLOPs, different latency: each implementation against eager"))
    ax.grid(axis="y", visible=False)
    return fig


@dataclass(frozen=True)
class FigureSpec:
    """A figure: its name (the file's), how it is drawn from what it shows (a run's view, or a comparison of runs),
    and the caption it is always shown with. `each`: one figure per item of a run (a profiled model's layers), named
    after the item, its caption formatted with the item's name."""

    name: str
    draw: Callable[..., Figure | None]
    caption: str
    each: Callable[[RunView], list[tuple[str, Any]]] | None = None  # (its name, what draw takes beside the view)


@dataclass(frozen=True)
class Drawn:
    """A figure drawn, not yet written anywhere."""

    name: str
    figure: Figure
    caption: str
    spec: str = ""  # the FigureSpec that drew it (its name); a figure drawn for each item shares its spec's


def _profiled_models(view: RunView) -> list[tuple[str, Any]]:
    return [(layer_figure_name(record), record) for _, record in profiled(view).iterrows()]


# Every figure of a run, in the order the report shows them.
FIGURES = (
    FigureSpec("roofline", roofline, "Roofline: each workload at its arithmetic intensity and achieved FLOP/s."),
    FigureSpec("flops_vs_latency", flops_vs_latency, "FLOPs against latency, with the line each peak would give."),
    FigureSpec("losses", losses, "Where each workload's FLOP/s went, loss by loss, from its peak to its time."),
    FigureSpec("memory", memory, "Time against the peak memory of one call, the largest workspaces named."),
    FigureSpec("sweeps", sweeps, "Achieved FLOP/s against problem size for each swept suite entry."),
    FigureSpec(
        "generation",
        generation,
        "Generation: time per token against FLOPs per token, prefill (squares) and decode (circles, by batch), under"
        " the line FLOPs at the roof would give.",
    ),
    FigureSpec("utilization", utilization, "Per workload: % of peak and % of the roofline bound."),
    FigureSpec(
        "predictors",
        predictors,
        "Each latency predictor's time against the measured one, leave-one-out (grey: within 2x).",
    ),
    FigureSpec(
        "energy_roofline",
        energy_roofline,
        "FLOP per joule against arithmetic intensity, under the fitted energy roofline.",
    ),
    FigureSpec(
        "implementations",
        implementations,
        "Each implementation's speedup over eager for the same workload (the same FLOPs), with its compile time.",
    ),
    FigureSpec(
        "bandwidth_sweep",
        lambda view: bandwidth_sweep(view.roofline, view.label),
        "Bandwidth of a torch copy against its working set, with the cache sizes and each level's ceiling.",
    ),
    FigureSpec("spread", spread, "Achieved FLOP/s of every rank, running together."),
    FigureSpec("collectives", collective_bandwidth, "Bus bandwidth of each collective against message size."),
    FigureSpec(
        "layers",
        lambda record, view: layer_profile(record, view),
        "{name}: share of time against share of FLOPs per layer, and each layer on the roofline.",
        each=_profiled_models,
    ),
)
# The figures of runs compared (flopbench.reading.comparison).
COMPARISON_FIGURES = (
    FigureSpec("comparison", comparison, "Speedup per workload with its interval, and what the roofs predict."),
    FigureSpec("compare_matrix", comparison_matrix, "Each run's geometric mean speedup per family, with its interval."),
)


def draw_figures(view: RunView) -> list[Drawn]:
    """Every figure of one run that has something to draw, with its caption (a distributed run's ranks folded into
    their median for the single-device figures, drawn one by one in `spread`)."""
    drawn = []
    for spec in FIGURES:
        if spec.each is None:
            if (figure := spec.draw(view)) is not None:
                drawn.append(Drawn(spec.name, figure, spec.caption, spec.name))
            continue
        for name, item in spec.each(view):
            if (figure := spec.draw(item, view)) is not None:
                drawn.append(Drawn(name, figure, spec.caption.format(name=item["name"]), spec.name))
    return drawn


def draw_comparison(result: Any) -> list[Drawn]:
    """The figures of a comparison that have something to draw, with their captions."""
    return [Drawn(s.name, f, s.caption, s.name) for s in COMPARISON_FIGURES if (f := s.draw(result)) is not None]


def save(drawn: list[Drawn], out: Path, fmt: str = "png", prefix: str = "") -> dict[str, Path]:
    """Write drawn figures to out/<prefix><name>.<fmt>; returns name -> path."""
    from flopbench.outputs import output_dir

    output_dir(out, "--out")
    written = {}
    for item in drawn:
        path = out / f"{prefix}{item.name}.{fmt}"
        item.figure.savefig(path, bbox_inches="tight", dpi=SAVE_DPI)
        written[item.name] = path
    return written
