"""Reading a run's loss ledgers (flopbench.measuring.ledger): one workload's ledger in words, a run's ledgers as a
table, and the worst and best workloads said in a sentence each."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from flopbench.reading.view import RunView
    from flopbench.results.schema import Record

STEP_NAMES = ("clock", "memory", "kernel", "overhead", "parallelism", "residual")  # the chain's order


def ledger_rows(view: RunView) -> pd.DataFrame:
    """One row per measured record with a ledger: its utilization, each step's factor (NaN: unknown) and its largest
    loss."""
    rows = []
    for record in view.records:
        if record.status != "ok" or not record.ledger:
            continue
        factors = {step.name: step.factor for step in record.ledger}
        rows.append(
            {
                "name": record.name,
                "family": record.family,
                "dtype": record.dtype,
                "utilization": record.utilization,
                **{name: factors.get(name) if factors.get(name) is not None else math.nan for name in STEP_NAMES},
                "largest_loss": record.largest_loss,
            }
        )
    return pd.DataFrame(rows)


def achieved_share(record: Record) -> float:
    """What a record's ledger multiplies out to: achieved / peak, or for work without arithmetic (a copy) its achieved
    bandwidth over its level's roof (flopbench.measuring.ledger)."""
    if not record.total_flops:
        return record.roofline_efficiency or 0.0
    return record.utilization or 0.0


def share(record: Record) -> str:
    """achieved_share in words: '5.4% of peak', or for a copy '62% of its L3 roof'."""
    if not record.total_flops:
        return f"{achieved_share(record):.1%} of its {record.level or 'memory'} roof"
    return f"{achieved_share(record):.1%} of peak"


def in_words(record: Record) -> str:
    """'mobilenetv2-dw-144: 5.4% of peak: memory (L3) 0.41, overhead 0.90, parallelism 0.95, residual 0.78.'"""
    if not record.ledger:
        return f"{record.name}: no ledger ({record.ledger_note or 'not placed'})."
    parts = []
    for step in record.ledger[1:]:
        if step.factor is None:
            continue
        label = f"memory ({record.level})" if step.name == "memory" and record.level else step.name
        parts.append(f"{label} {step.factor:.2f}")
    unknown = [step.name for step in record.ledger if step.factor is None]
    tail = f" (unknown here: {', '.join(unknown)})" if unknown else ""
    return f"{record.name}: {share(record)}: " + ", ".join(parts) + tail + "."


def worst_and_best(view: RunView, count: int = 2) -> list[Any]:
    """The records with the lowest and the highest utilization among those with a ledger."""
    ranked = sorted(
        (r for r in view.records if r.status == "ok" and r.ledger and r.utilization), key=lambda r: r.utilization or 0.0
    )
    if len(ranked) <= 2 * count:
        return ranked
    return [*ranked[:count], *ranked[-count:]]
