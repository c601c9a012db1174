"""The one record builder: `flopbench run` (flopbench.measuring.runner) and the pytest plugin make their records here,
from typed parts (flopbench.results.schema.Part): what the workload is, what it costs, where it ran, its outcome, its
timing, its placement on the device's roofline (flopbench.machine.roofline), the op's own figures, its energy and its
trust."""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flopbench.fields import Part
from flopbench.machine.roofline import Placement, RatesPart
from flopbench.results.schema import CountsPart, OutcomePart, Record, WherePart, WorkloadPart
from flopbench.workloads.base import Counts, Judged

if TYPE_CHECKING:
    from flopbench.machine.roofline import Roofline
    from flopbench.results.schema import Device
    from flopbench.workloads import Op, Workload


def workload_part(workload: Workload) -> WorkloadPart:
    return WorkloadPart(
        name=workload.name,
        op=workload.op,
        family=workload.family,
        params=workload.params_json,
        dtype=workload.dtype,
        identity=workload.identity,
        group=workload.group,
        swept=list(workload.swept),
        impl=workload.impl,
    )


def counts_part(counts: Counts) -> CountsPart:
    return CountsPart(
        core_flops=counts.flops,
        macs=counts.macs,
        elementwise_flops=counts.elementwise_flops,
        total_flops=counts.total_flops,
        bytes=counts.bytes,
        intensity=counts.intensity,
        eager_bytes=counts.eager_bytes,
    )


def where_part(device: Device, world_size: int = 1, tf32: bool = False) -> WherePart:
    return WherePart(
        device=device.torch_device,
        device_label=device.label,
        device_name=device.name,
        rank=0,
        world_size=world_size,
        host=socket.gethostname(),
        tf32=tf32,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )


@dataclass(frozen=True)
class Derived:
    """What one measured time means: the rates and placement, the op's own figures, and the warnings."""

    parts: list[Part]
    warnings: list[str] = field(default_factory=list)


def derive(
    counts: Counts,
    key: str,
    time_s: float,
    roofline: Roofline,
    *,
    op: Op | None = None,
    world_size: int = 1,
    working_set: int | None = None,
    cache: str = "warm",
    params: Mapping[str, Any] | None = None,
    dtype: str | None = None,
) -> Derived:
    """The placement of a measured time (for ops that are placed; the rates alone for the others) and the op's
    figures (op None: a callable the pytest plugin times, placed like any op)."""
    if op is None or op.placed:
        placed = roofline.place(
            counts.total_flops, counts.flops, counts.bytes, key, time_s, working_set=working_set, cache=cache
        )
        placement: Placement | None = placed.placement
        parts: list[Part] = [placed.placement]
        warnings = list(placed.warnings)
    else:
        parts = [
            RatesPart(
                core_flops_per_s=counts.flops / time_s,
                total_flops_per_s=counts.total_flops / time_s,
                bytes_per_s=counts.bytes / time_s if counts.bytes else None,
            )
        ]
        warnings, placement = [], None
    judged = Judged(time_s, world_size, placement, params, dtype)
    figures = op.figures(counts, judged) if op is not None else None
    if figures is not None:
        parts.append(figures)
    return Derived(parts, warnings)


def rebuilt(record: Record, *parts: Part | None, warnings: Sequence[str]) -> Record:
    """The record with the fields of `parts` made anew and its warnings replaced, validated again: a record whose
    figures are recomputed from more rounds than it was measured with (flopbench.measuring.paired.merge_rounds)."""
    update: dict[str, Any] = {}
    for part in parts:
        if part is not None:
            update.update(part.model_dump())
    return type(record).model_validate({**record.model_dump(), **update, "warnings": list(warnings)})


def build(
    *parts: Part | None,
    outcome: OutcomePart,
    warnings: Sequence[str] = (),
) -> Record:
    """A record from its parts; the outcome's warnings are followed by `warnings` (the timing's, the placement's)."""
    done = outcome.model_copy(update={"warnings": [*outcome.warnings, *warnings]})
    return Record.build(*(p for p in parts if p is not None), done)
