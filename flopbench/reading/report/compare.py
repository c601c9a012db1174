"""The report of runs compared (flopbench.reading.comparison): each family's geometric mean speedup against the roofs'
ratio, and in words which workloads beat or miss what their roofline predicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from flopbench.reading.report.document import Figure, Heading, Para, Table
from flopbench.reading.report.run import pct
from flopbench.reading.view import RunView


def compare_blocks(views: list[RunView]) -> list:
    """The runs compared (flopbench.reading.comparison): each family's geometric mean speedup with its interval against
    the roofs' ratio, and in words which workloads beat or miss the speedup their roofline predicts, and why that is
    plausible."""
    from flopbench.reading.comparison import compare, family_text
    from flopbench.reading.plots import draw_comparison

    result = compare(views)
    if result.table.empty:
        return []
    base = result.baseline
    legend = "; ".join(
        f"{r['run']}: {r['device']}, {r['threads']} threads ({Path(r['file']).name})" for _, r in result.runs.iterrows()
    )
    blocks: list = [Heading(1, "Compared"), Para(f"Runs {legend}. Baseline: run {base}.")]
    rows = [
        [
            r.run,
            r.family,
            r.workloads,
            family_text(r.geomean_speedup, r.geomean_low, r.geomean_high),
            f"{r.roof_ratio:.3g}x" if r.roof_ratio == r.roof_ratio else "-",
        ]
        for r in result.summary.itertuples()
    ]
    blocks.append(Table(["run", "family", "workloads", f"geomean speedup ({result.level:.0%})", "roof ratio"], rows))
    for label in result.others:
        blocks += [Para(text) for text in _roof_words(result, label, views)]
    drawn = [d for d in draw_comparison(result) if d.name == "comparison"]
    return [*blocks, *(Figure(d) for d in drawn), *(Para(f"Note: {w}.") for w in result.warnings)]


def _roof_words(result: Any, label: str, views: list[RunView]) -> list[str]:
    """Which workloads beat or miss their roof ratio by more than a quarter, and the plausible reason, from where each
    run placed them."""
    table = result.table
    verdicts = table[f"verdict[{label}]"].value_counts().to_dict()
    counts = ", ".join(f"{verdicts.get(v, 0)} {v}" for v in ("faster", "slower", "same", "unsure"))
    text = [
        f"Run {label} against run {result.baseline}: {counts} (against ±{result.threshold:.0%}, {result.level:.0%}"
        f" intervals). A workload follows its roof ratio when its speedup is what the two devices' roofs predict at"
        f" its intensity and working set: the bandwidths' ratio for memory-bound work, the compute roofs' for"
        f" compute-bound."
    ]
    base_view, other_view = views[result.labels.index(result.baseline)], views[result.labels.index(label)]
    off = table[(table[f"vs_roof[{label}]"] > 1.25) | (table[f"vs_roof[{label}]"] < 0.8)]
    for _, r in off.sort_values(f"vs_roof[{label}]").iterrows():
        ratio = r[f"vs_roof[{label}]"]
        beat = "beats" if ratio > 1 else "misses"
        why = _why_off_roof(r, base_view, other_view)
        text.append(
            f"{r['name']} {beat} its roof ratio: {r[f'speedup[{label}]']:.3g}x measured against"
            f" {r[f'roof_ratio[{label}]']:.3g}x predicted ({ratio:.2f} of it){': ' + why if why else ''}."
        )
    return text[:9]


def _why_off_roof(row: pd.Series, a: RunView, b: RunView) -> str:
    """A plausible reason a workload's speedup is not its roofs': where each run placed it."""
    ra, rb = (next((r for r in v.records if (r.name, r.impl) == (row["name"], row["impl"])), None) for v in (a, b))
    if ra is None or rb is None:
        return ""
    if ra.bound != rb.bound:
        return f"it is {ra.bound}-bound on one and {rb.bound}-bound on the other"
    if ra.bound == "overhead":
        return "it is overhead-bound on both: per-call costs, not roofs, set its time"
    above = [(view, r) for view, r in ((a, ra), (b, rb)) if (r.roofline_efficiency or 0) > 1.05]
    if above:
        view, r = above[0]
        return (
            f"it runs above its {r.level or 'DRAM'} roof on {view.label} ({pct(r.roofline_efficiency)}): its working"
            f" set stays closer than that level there, which its roof does not see"
        )
    if ra.roofline_efficiency and rb.roofline_efficiency:
        return (
            f"it reaches {pct(ra.roofline_efficiency)} of its roof on one and {pct(rb.roofline_efficiency)} on the"
            " other: the kernel or library, not the roof, differs"
        )
    return ""


def standing_blocks(view: RunView) -> list:
    """Where this machine stands (flopbench.reading.atlas): the run against every shipped reference machine of its
    kind (CPU against CPUs, GPU against GPUs), per family with the roofs' ratio, the words, the score and the figure.
    Nothing when the atlas has no other machine of its kind."""
    from flopbench.reading.atlas import references, score, standing
    from flopbench.reading.comparison import family_text
    from flopbench.reading.plots import draw_standing

    device = view.header.device
    refs = [r for r in references() if r.header.device and device and r.header.device.type == device.type]
    result = standing(view, refs)
    if result.rows.empty:
        return []
    rows = [
        [r.reference, r.family, r.workloads, family_text(r.speedup, r.low, r.high), f"{r.roof_ratio:.3g}x"]
        for r in result.rows.itertuples()
    ]
    blocks: list = [
        Heading(2, "Where this machine stands"),
        Para(
            "This run's speedup over each reference machine shipped with flopbench (`flopbench atlas`), per family:"
            " the geometric mean over the workloads both measured, with a 95% interval that includes the drift"
            " between two machines' runs, beside the speedup the two machines' roofs predict."
        ),
        Table(["reference", "family", "workloads", "speedup (95%)", "roof ratio"], rows),
        *(Para(text) for text in result.words),
    ]
    ranked = score(view, refs)
    if ranked is not None:
        overall = ranked.rows[ranked.rows["scope"] == "all"].iloc[0]
        interval = f" ({overall['low']:.0f}-{overall['high']:.0f})" if overall["low"] == overall["low"] else ""
        parts = [
            f"{r.scope} {r.score:.0f}" + (f" (emulated on {r.emulated})" if r.emulated else "")
            for r in ranked.rows.itertuples()
            if r.scope != "all"
        ]
        differ = f" ({'; '.join(ranked.notes)})" if ranked.notes else ""
        blocks.append(
            Para(
                f"Score {overall['score']:.0f}{interval} overall against {ranked.baseline}{differ}: "
                + ", ".join(parts)
                + f". {ranked.method[0].upper()}{ranked.method[1:]}."
            )
        )
    blocks += [Figure(d) for d in draw_standing(result, view.path.stem)]
    blocks += [Para(f"Note: {note}.") for note in dict.fromkeys(result.notes)]
    return blocks
