"""What a run prints: a line per record as it is measured, and the summary table (or markdown, JSON, CSV) at the end."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flopbench.units import count

if TYPE_CHECKING:
    from flopbench.machine.resolve import Machine
    from flopbench.results.schema import Record


def line(record: Record) -> str:
    from flopbench.units import seconds, si

    name = record.name + (f" @ rank {record.rank}" if record.world_size > 1 else "")
    if record.status != "ok":
        return f"{record.status:>7}  {name}: {record.reason}"
    if record.message_bytes is not None:
        return (
            f"     ok  {name}: {seconds(record.time_s)}, {si(record.message_bytes, 'B')}, algorithm"
            f" {si(record.algbw_bytes_per_s, 'B/s')}, bus {si(record.busbw_bytes_per_s, 'B/s')}"
        )
    peak = f"{record.utilization:6.1%} of {record.peak_source} peak" if record.utilization is not None else ""
    bound = f"{record.bound}-bound" if record.bound else ""
    flag = f"  (warning: {warning_kinds(record.warnings)})" if record.warnings else ""
    return (
        f"     ok  {name}: {seconds(record.time_s)}, {si(record.total_flops_per_s, 'FLOP/s')},"
        f" {si(record.bytes_per_s, 'B/s')}, {peak} {bound}{flag}"
    )


def warning_kinds(warnings: list[str]) -> str:
    """What a record's warnings are about, a few words each ('unstable, noisy'): each warning says its kind before
    its first colon; the whole warnings are in the summary's notes and the results file."""
    return ", ".join(dict.fromkeys(text.split(":", 1)[0].strip() for text in warnings))


SUMMARY_FIELDS = (
    "name",
    "dtype",
    "rank",
    "status",
    "reason",
    "time_s",
    "time_iqr_s",
    "total_flops_per_s",
    "bytes_per_s",
    "utilization",
    "roofline_efficiency",
    "bound",
    "peak_key",
    "peak_source",
    "disturbed",
    "stable",
    "round_spread",
    "time_precision",
    "warnings",
)


def summary(records: list[Record], machine: Machine, path: Path, fmt: str = "table") -> None:
    """The run's records on stdout: a table (or markdown), or their key fields as JSON or CSV (raw numbers)."""
    from flopbench.console import console, print_table

    if fmt in ("json", "csv"):
        data = [r.model_dump(mode="json", include=set(SUMMARY_FIELDS)) for r in records]
        if fmt == "json":
            print(json.dumps({"results": str(path), "records": data}, indent=1))
        else:
            import csv

            writer = csv.DictWriter(sys.stdout, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows({**row, "warnings": "; ".join(row["warnings"])} for row in data)
        return
    roofline = machine.roofline
    from flopbench.results.trust import UNSTABLE_PRECISION
    from flopbench.units import si

    def roof(text: str, peak: Any, unit: str) -> str:
        return f"{text} {si(peak.value, unit)} ({peak.source})"

    peaks = [roof(k, roofline.roof(k).roof, "FLOP/s") for k in sorted({r.peak_key for r in records if r.peak_key})]
    levels = [roof(level.name, level.roof, "B/s") for level in roofline.levels if level.roof.known]
    caption = (
        f"time: the median of the rounds' medians; ±: how well its rounds pin it (the half-width of its 95% interval;"
        f" a record known to no better than ±{UNSTABLE_PRECISION:.0%} is unstable)."
        f" Peaks: {', '.join(peaks) or 'none'};"
        f" bandwidth roofs: {', '.join(levels) or 'none'} (where each comes from: flopbench peak). % roof: against the"
        f" roof of the memory level each working set lives in. Largest loss: the step of its ledger that costs most"
        f" (flopbench explain RESULTS shows every step)."
    )
    if any(r.status == "ok" and r.time_s and not r.total_flops_per_s for r in records):
        caption += " A copy has no arithmetic: its achieved figure is its bandwidth, judged by % roof."
    print_table(
        f"{machine.device.label}, {count(machine.threads, 'thread')}",
        [
            "workload",
            "dtype",
            "time",
            "±",
            "achieved",
            "bandwidth",
            "% peak",
            "% roof",
            "bound",
            "largest loss",
            "notes",
        ],
        [_summary_row(r) for r in records],
        numeric=["time", "±", "achieved", "bandwidth", "% peak", "% roof"],
        caption=caption,
        fmt=fmt,
        styles={"notes": "yellow"},
        notes="notes",
        merge_notes=True,
        wrap=["workload"],
        optional=["largest loss", "bandwidth", "dtype", "% roof", "±"],
    )
    counts = {s: sum(r.status == s for r in records) for s in ("ok", "skipped", "failed")}
    text = f"{counts['ok']} measured, {counts['skipped']} skipped, {counts['failed']} failed. Results: {path}"
    console().print(text) if fmt == "table" else print(text)


def generation_summary(path: Path, fmt: str = "table") -> None:
    """After a run with generation records: TTFT, TPOT, tokens/s, MFU and MBU, the crossover batch and how far FLOPs
    are from predicting a decode step (flopbench.reading.generation); nothing otherwise, or in json and csv."""
    if fmt in ("json", "csv"):
        return
    from flopbench.console import print_table, print_text
    from flopbench.reading import generation
    from flopbench.reading.view import load_views

    result = generation.study(load_views([path])[0])
    if result is None:
        return
    print_table(
        "Generation: prefill and decode",
        generation.SUMMARY_COLUMNS,
        generation.summary_cells(result),
        numeric=generation.SUMMARY_COLUMNS[2:],
        caption=generation.CAPTION,
        fmt=fmt,
        optional=["best tokens/s", "TPOT +/1k pos", "dtype"],
    )
    for text in generation.sentences(result):
        print_text(text, fmt)


def _summary_row(r: Record) -> list[object]:
    from flopbench.units import percent, seconds, si

    def pct(value: float | None) -> str:
        return f"{value:.1%}" if value is not None else "-"

    name = r.name + (f" @{r.rank}" if r.world_size > 1 else "")
    if r.status != "ok" or not r.time_s:
        return [name, r.dtype, "-", "-", "-", "-", "-", "-", "-", "-", [f"{r.status}: {r.reason}"]]
    spread = f"{percent(r.time_precision)}" if r.time_precision is not None else "-"
    if r.message_bytes is not None:
        notes = [f"bus bandwidth {si(r.busbw_bytes_per_s, 'B/s')}", *r.warnings]
        busbw = si(r.algbw_bytes_per_s, "B/s")
        return [name, r.dtype, seconds(r.time_s), spread, "-", busbw, "-", "-", "-", "-", notes]
    bound = f"{r.bound} ({r.level})" if r.bound and r.level and r.level != "DRAM" else r.bound or "-"
    copy = not r.total_flops_per_s  # no arithmetic (a copy): its figure is its bandwidth, against its memory roof
    return [
        name,
        r.dtype,
        seconds(r.time_s),
        spread,
        si(r.bytes_per_s, "B/s") if copy else si(r.total_flops_per_s, "FLOP/s"),
        si(r.bytes_per_s, "B/s"),
        "-" if copy else pct(r.utilization),
        pct(r.roofline_efficiency),
        bound,
        r.largest_loss or "-",
        list(r.warnings),
    ]
