"""Figures from load_results() frames. Each function takes the records of one run (or a comparison table)
and returns a matplotlib Figure; nothing here computes statistics, it draws what the frame holds.

Importing this module changes nothing of the caller's matplotlib: no backend is chosen and no rcParams are set.
Figures are matplotlib.figure.Figure objects (not pyplot's), drawn inside rc_context(STYLE): they save to files
on a server without a display, and a notebook shows the Figure a function returns inline."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import EngFormatter, FuncFormatter

from flopbench.analysis import collectives, distributed, layer_times, measured, per_workload, profiled, rank_spread
from flopbench.units import count, si

FAMILY_COLORS = {
    "matmul": "tab:blue",
    "conv": "tab:orange",
    "attention": "tab:green",
    "recurrent": "tab:olive",
    "elementwise": "tab:red",
    "model": "tab:purple",
}
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


def _title(run: pd.DataFrame, what: str) -> str:
    threads = run["threads"].iloc[0]
    dtypes = ", ".join(sorted(set(run["dtype"])))
    on_cpu = run["device"].iloc[0] == "cpu"
    where = run["device_label"].iloc[0] + (f", {count(int(threads), 'thread')}" if on_cpu else "")
    return f"{what}\n{where} · {dtypes}"


def _points(ax, ok: pd.DataFrame, x: str, y: str) -> None:
    for (family, dtype), rows in ok.groupby(["family", "dtype"]):
        ax.scatter(
            rows[x],
            rows[y],
            c=FAMILY_COLORS.get(family, "tab:gray"),
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
            markerfacecolor=FAMILY_COLORS.get(f, "tab:gray"),
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


def _first(rows: pd.DataFrame, column: str):
    values = rows[column].dropna() if column in rows else pd.Series(dtype=float)
    return values.iloc[0] if len(values) else None


@styled
def roofline(run: pd.DataFrame) -> Figure:
    """Achieved FLOP/s against arithmetic intensity, under the device's roofs: the peak roof (datasheet or
    derived compute, datasheet bandwidth where known) solid, the measured ceilings dashed."""
    ok = measured(run)
    fig = _figure(figsize=(13, 7))
    ax = fig.subplots()
    bw_peak = _first(run, "device_bandwidth_bytes_per_s")
    bw_source = _first(run, "device_bandwidth_source")
    bw_measured = _first(run, "measured_bandwidth_bytes_per_s")
    lo = min(ok["intensity"].min(), 0.05) / 2
    hi = max(ok["intensity"].max(), 100) * 2
    roof_handles = []
    for key, rows in ok.groupby("peak_key"):
        color = ROOF_COLORS.get(key, "tab:gray")
        peak, source = _first(rows, "peak_flops_per_s"), _first(rows, "peak_source")
        ceiling = _first(rows, "ceiling_flops_per_s")
        roofs = []
        if peak:  # the roof the metrics use: the peak, over the datasheet bandwidth or else the measured one
            bandwidth = bw_peak or bw_measured
            bw_label = f"{si(bandwidth, 'B/s')} {bw_source if bw_peak else 'measured'}" if bandwidth else ""
            roofs.append(
                (
                    peak,
                    bandwidth,
                    "-",
                    f"{key} peak {si(peak, 'FLOP/s')} ({source})" + (f", {bw_label}" if bw_label else ""),
                )
            )
        if ceiling and bw_measured:
            roofs.append(
                (ceiling, bw_measured, "--", f"{key} measured {si(ceiling, 'FLOP/s')}, {si(bw_measured, 'B/s')}")
            )
        for compute, bandwidth, style, label in roofs:
            x = np.geomspace(lo, hi, 400)
            y = np.minimum(compute, x * bandwidth) if bandwidth else np.full_like(x, compute)
            ax.plot(x, y, style, color=color, lw=1.6, zorder=2)
            roof_handles.append(Line2D([], [], ls=style, color=color, label=label))
            if bandwidth:
                ridge = compute / bandwidth
                ax.plot([ridge], [compute], marker="|", markersize=14, color=color, zorder=2)
                # Peak ridges labelled left of the ridge, measured ones right of it and below: no collisions.
                ax.annotate(
                    f"ridge {ridge:.3g}",
                    (ridge, compute),
                    textcoords="offset points",
                    xytext=(-8, 5) if style == "-" else (6, -13),
                    ha="right" if style == "-" else "left",
                    fontsize=8,
                    color=color,
                )
    _points(ax, ok, "intensity", "total_flops_per_s")
    _roofline_axes(ax, lo, hi)
    ax.set_xlabel("Arithmetic intensity (FLOP/byte: all FLOPs over compulsory bytes)")
    ax.set_ylabel("Achieved FLOP/s (median time)")
    ax.set_title(_title(run, "Roofline: memory-bound left of the ridge, compute-bound right of it"))
    _point_legends(ax, ok, roof_handles, loc="upper left", outside=True)
    # Kernels without arithmetic (copy) cannot sit on a log axis of FLOP/s: name them and their bandwidth.
    # Collectives are not placed on a roofline at all; they have their own figure.
    zero = run[(run["status"] == "ok") & (run["total_flops"] == 0) & (run["family"] != "comm")]
    if len(zero):
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
    return fig


@styled
def flops_vs_latency(run: pd.DataFrame, label: int = 6) -> Figure:
    """Median time against FLOPs, with the line each dtype's peak would give; the workloads furthest
    above their line (lowest utilization) are named."""
    ok = measured(run)
    fig = _figure(figsize=(10, 7))
    ax = fig.subplots()
    x = np.geomspace(ok["total_flops"].min() / 2, ok["total_flops"].max() * 2, 100)
    handles = []
    for key, rows in ok.groupby("peak_key"):
        peak = _first(rows, "peak_flops_per_s")
        if peak:
            color = ROOF_COLORS.get(key, "tab:gray")
            ax.plot(x, x / peak, "-", color=color, lw=1.2)
            handles.append(Line2D([], [], color=color, label=f"at the {key} peak ({si(peak, 'FLOP/s')})"))
    _points(ax, ok, "total_flops", "time_s")
    if "utilization" in ok and ok["utilization"].notna().any():
        named = ok.nsmallest(label, "utilization").sort_values("time_s")
        for i, (_, r) in enumerate(named.iterrows()):  # alternate above and below: neighbours do not overlap
            ax.annotate(
                f"{r['name']} ({r['utilization']:.1%} of peak)",
                (r["total_flops"], r["time_s"]),
                textcoords="offset points",
                xytext=(7, 5 if i % 2 else -11),
                fontsize=8,
                arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.5},
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(EngFormatter(unit="FLOP"))
    ax.yaxis.set_major_formatter(EngFormatter(unit="s"))
    ax.set_xlabel("FLOPs per call (core + elementwise)")
    ax.set_ylabel("Median time per call")
    ax.set_title(_title(run, "FLOPs against latency: distance above a line is time FLOPs do not explain"))
    _point_legends(ax, ok, handles, loc="upper left")
    return fig


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


def sweep_groups(run: pd.DataFrame) -> list[tuple[str, pd.DataFrame, tuple[str, str, list[str]]]]:
    ok = measured(run)
    found: list[tuple[str, pd.DataFrame, tuple[str, str, list[str]]]] = []
    if "group" not in ok or "swept" not in ok:  # records from before sweeps were recorded
        return found
    for group, rows in ok.groupby("group", sort=False):
        axis = _sweep_axis(rows)
        if axis:
            found.append((group, rows, axis))
    return found


@styled
def sweeps(run: pd.DataFrame) -> Figure | None:
    """Achieved FLOP/s against problem size, one panel per swept suite entry, with the peak lines."""
    groups = sweep_groups(run)
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
        for key, peak_rows in rows.groupby("peak_key"):
            peak = _first(peak_rows, "peak_flops_per_s")
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
    fig.suptitle(_title(run, "Sweeps: achieved FLOP/s against problem size"))
    return fig


@styled
def utilization(run: pd.DataFrame) -> Figure:
    """Per workload, % of the dtype's peak and % of the roofline bound, grouped by family."""
    ok = measured(run).sort_values(["family", "name"], ascending=[False, False])
    fig = _figure(figsize=(11, max(4.0, 0.26 * len(ok) + 1.6)))
    ax = fig.subplots()
    y = np.arange(len(ok))
    colors = [FAMILY_COLORS.get(f, "tab:gray") for f in ok["family"]]
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
    sources = ", ".join(
        f"{k}: {si(_first(r, 'peak_flops_per_s'), 'FLOP/s')} ({_first(r, 'peak_source')})"
        for k, r in ok.groupby("peak_key")
        if _first(r, "peak_flops_per_s")
    )
    ax.set_title(_title(run, f"Utilization. Peaks: {sources}"))
    ax.legend(
        handles=[
            Rectangle((0, 0), 1, 1, color=FAMILY_COLORS.get(f, "tab:gray"), label=f) for f in sorted(set(ok["family"]))
        ],
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
    )
    ax.grid(axis="y", visible=False)
    return fig


@styled
def comparison(result) -> Figure:
    """Speedup per workload over the baseline run, grouped by family, with each run's peak ratio."""
    table, summary = result.table, result.summary
    others = list(result.runs["run"])[1:]
    ordered = table.sort_values(["family", "name"], ascending=[False, False])
    fig = _figure(figsize=(11, max(4.0, 0.26 * len(ordered) * len(others) + 2.0)))
    ax = fig.subplots()
    y = np.arange(len(ordered))
    height = 0.8 / len(others)
    hatches = ["", "//", "..", "xx"]
    for i, run in enumerate(others):
        speedup = ordered[f"speedup[{run}]"]
        # Bars grow from 1x: right for faster, left for slower.
        ax.barh(
            y + (i - (len(others) - 1) / 2) * height,
            speedup - 1,
            left=1,
            height=height,
            color=[FAMILY_COLORS.get(f, "tab:gray") for f in ordered["family"]],
            edgecolor="black",
            lw=0.4,
            hatch=hatches[i % len(hatches)],
        )
        ratio = summary[(summary["run"] == run) & (summary["family"] == "all")]["peak_ratio"]
        if len(ratio) and pd.notna(ratio.iloc[0]):
            ax.axvline(ratio.iloc[0], ls="--", color="tab:purple", lw=1)
            ax.annotate(
                f" peak ratio {ratio.iloc[0]:.3g}x (run {run})",
                (ratio.iloc[0], len(ordered) - 0.6),
                fontsize=8,
                color="tab:purple",
                ha="left",
            )
    ax.axvline(1, color="black", lw=1)
    ax.set_xscale("log")
    low, high = ax.get_xlim()
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}x" if high / low < 30 else ""))
    ax.set_yticks(y, [_label(n, d) for n, d in zip(ordered["name"], ordered["dtype"])], fontsize=8)
    base = result.runs.iloc[0]["run"]
    ax.set_xlabel(f"Speedup over run {base} (run {base}'s time / the other run's time; > 1 is faster)")
    runs_text = "; ".join(
        f"{r['run']}: {r['device']}, {r['threads']} thread{'s' * (int(r['threads']) != 1)}"
        for _, r in result.runs.iterrows()
    )
    ax.set_title(f"Speedup per workload against the runs' peak ratio (dashed)\n{runs_text}")
    handles = [
        Rectangle((0, 0), 1, 1, color=FAMILY_COLORS.get(f, "tab:gray"), label=f) for f in sorted(set(ordered["family"]))
    ]
    if len(others) > 1:
        handles += [
            Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black", hatch=hatches[i % 4], label=f"run {run}")
            for i, run in enumerate(others)
        ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(axis="y", visible=False)
    return fig


@styled
def spread(run: pd.DataFrame) -> Figure | None:
    """Per workload of a distributed run: every rank's achieved FLOP/s, the range between the slowest and the
    fastest, and which rank is slowest."""
    table = rank_spread(run)
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
    devices = sorted(set(run["device_label"]))
    ax.set_title(f"Spread across {len(ranks)} devices running together\n{', '.join(devices)}")
    ax.grid(axis="y", visible=False)
    return fig


@styled
def collective_bandwidth(run: pd.DataFrame) -> Figure | None:
    """Bus bandwidth of each collective against message size (nccl-tests' conventions)."""
    table = collectives(run)
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
    backend = ", ".join(sorted(set(run["device_label"])))
    ax.set_title(f"Collectives on {ranks} ranks: bus bandwidth against message size\n{backend}")
    ax.legend()
    return fig


@styled
def predictors(run: pd.DataFrame) -> Figure | None:
    """Each latency predictor's time against the measured one (leave-one-out, flopbench.predict), log-log, one panel
    per predictor: on the diagonal a perfect prediction; the band is within 2x."""
    from flopbench.predict import PREDICTORS, leave_one_out, points

    found = points(run)
    if len(found.frame) < 3:
        return None
    evaluation = leave_one_out(found)
    table = evaluation.table()
    fig = _figure(figsize=(12, 10))
    axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
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
                color=FAMILY_COLORS.get(family, "tab:gray"),
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
    for ax in axes[2:]:
        ax.set_xlabel("measured time (median)")
    for ax in axes[::2]:
        ax.set_ylabel("predicted time (leave-one-out)")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(_title(run, "Latency predicted from FLOPs, the roofline and a fitted roofline (grey: within 2x)"))
    return fig


@styled
def energy_roofline(run: pd.DataFrame) -> Figure | None:
    """Achieved FLOP per joule against arithmetic intensity, under the energy roofline fitted on the run
    (FLOP/J = I / (I x e_flop + e_byte)): right of the energy ridge a FLOP costs more than its bytes."""
    from flopbench.analysis import energy_roofline as fit_energy

    fit = fit_energy(run)
    if fit is None:
        return None
    per_flop, per_byte = fit
    ok = measured(run)
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
    ax.set_title(_title(run, "Energy roofline: FLOP/J against intensity"))
    _point_legends(ax, ok, [roof], loc="lower right")
    return fig


LAYERS_SHOWN = 15  # bars in a per-layer figure: the slowest layers


@styled
def layer_profile(record: pd.Series) -> Figure:
    """One model profiled layer by layer (run --per-layer). Left: its slowest layers' share of the measured time
    beside their share of the FLOPs (where they differ, FLOPs mispredict). Right: every layer on the roofline at its
    own intensity and achieved FLOP/s, sized by its share of the time."""
    peak, bandwidth = record.get("peak_flops_per_s"), record.get("bandwidth_bytes_per_s")
    table = layer_times(record["layers"], peak, bandwidth)
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
    hi = max(intensity.max() if len(points) else 10, (peak / bandwidth) if peak and bandwidth else 10) * 2
    handles = [
        Line2D([], [], ls="", marker="o", color="tab:red", label="memory-bound on the layer-wise roofline"),
        Line2D([], [], ls="", marker="o", color="tab:blue", label="compute-bound on the layer-wise roofline"),
    ]
    if peak and bandwidth:
        x = np.geomspace(lo, hi, 200)
        roof.plot(x, np.minimum(peak, x * bandwidth), "-", color="black", lw=1.5, zorder=2)
        handles.append(
            Line2D(
                [],
                [],
                color="black",
                label=f"roof: {si(peak, 'FLOP/s')} ({record.get('peak_source')}), {si(bandwidth, 'B/s')}",
            )
        )
    for i, (row, x_value) in enumerate(zip(points.head(5).itertuples(), intensity.head(5))):  # the slowest, named
        roof.annotate(
            row.path, (x_value, row.flops_per_s), textcoords="offset points", xytext=(7, 6 - 11 * (i % 3)), fontsize=7
        )
    _roofline_axes(roof, lo, hi)
    roof.set_xlabel("The layer's arithmetic intensity (FLOP/byte, its calls' compulsory bytes)")
    roof.set_ylabel("Achieved FLOP/s (profiled time)")
    roof.set_title("Each layer on the roofline (area: share of the time)", fontsize=11)
    roof.legend(handles=handles, loc="lower right", fontsize=8)
    threads = record.get("threads")
    on_cpu = record.get("device") == "cpu" and threads
    where = record["device_label"] + (f", {count(int(threads), 'thread')}" if on_cpu else "")
    fig.suptitle(f"Where the time goes: {record['name']} ({record['dtype']})\n{where}")
    return fig


def layer_figure_name(record: pd.Series) -> str:
    return "layers_" + "".join(c if c.isalnum() or c in "-_" else "_" for c in str(record["name"]))


FIGURES = {
    "roofline": roofline,
    "flops_vs_latency": flops_vs_latency,
    "sweeps": sweeps,
    "utilization": utilization,
    "predictors": predictors,
    "energy_roofline": energy_roofline,
}
DISTRIBUTED_FIGURES = {"spread": spread, "collectives": collective_bandwidth}


def save_figures(run: pd.DataFrame, out: Path, fmt: str = "png", prefix: str = "") -> dict[str, Path]:
    """Every figure of one run, written to out/<prefix><name>.<fmt>; returns name -> path. A distributed run's
    ranks are folded into their median for the single-device figures and drawn one by one in `spread`."""
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    folded = per_workload(run)
    figures = {name: (draw, folded) for name, draw in FIGURES.items()} if not measured(run).empty else {}
    figures.update({name: (draw, run) for name, draw in DISTRIBUTED_FIGURES.items() if distributed(run)})
    for name, (draw, data) in figures.items():
        fig = draw(data)
        if fig is None:
            continue
        path = out / f"{prefix}{name}.{fmt}"
        fig.savefig(path, bbox_inches="tight", dpi=SAVE_DPI)
        written[name] = path
    for _, record in profiled(folded).iterrows():  # one figure per model profiled layer by layer
        name = layer_figure_name(record)
        path = out / f"{prefix}{name}.{fmt}"
        layer_profile(record).savefig(path, bbox_inches="tight", dpi=SAVE_DPI)
        written[name] = path
    return written
