"""flopbench peak: the device, its peak FLOP/s per dtype and memory bandwidth, each with its source,
and the measured ceilings beside them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from flopbench.commands.common import add_device_arguments, add_format_argument, resolve_machine
from flopbench.errors import FlopbenchError
from flopbench.formulas import PEAK_KEYS

if TYPE_CHECKING:
    from flopbench.machine.resolve import Machine

NAME = "peak"
HELP = "show the device's peak FLOP/s and bandwidth, with their sources; --measure measures ceilings"
DESCRIPTION = (
    "Show the device, its peak FLOP/s per dtype and its peak memory bandwidth, each with its source (spec,"
    " derived, measured or user), and the measured ceilings. --measure measures them now and caches them for later"
    " runs: the sustained clock (where the OS gives no clock range), the compute ceiling per dtype from the best of"
    " several kernels (the GEMM through torch's BLAS, the same GEMM as a 1x1 convolution through oneDNN on a CPU, a"
    " 3x3 convolution), the DRAM bandwidth (STREAM copy and triad), a bandwidth per cache level (a working-set sweep)"
    " and the per-call floor."
)
# Imported whole before the command runs (see cli.interrupts_deferred).
IMPORTS = ("numpy", "torch")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_device_arguments(parser)
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="FILE",
        help="draw the bandwidth sweep (bandwidth against working set, cache sizes marked, each level's ceiling)"
        " to FILE",
    )
    add_format_argument(parser)


def as_json(machine: Machine) -> dict:
    from flopbench.results.schema import dump

    return {
        "device": dump(machine.device),
        "threads": machine.threads,
        "ceilings": dump(machine.ceilings),
        "ceilings_measured_at": machine.ceilings_measured_at,
        "ceilings_disturbed": machine.ceilings_disturbed,
        "roofline": dump(machine.roofline),
        "kernels": {key: [r.model_dump() for r in rates] for key, rates in machine.kernels.items()},
        "library_gap": library_gap(machine),
    }


def ceiling_notes(machine: Machine) -> list[str]:
    """A measured ceiling above a peak means the peak is too low: say which, and the likely reason."""
    notes = []
    for key, ceiling in machine.ceilings.items():
        peak = machine.device.bandwidth if key == "bandwidth" else machine.device.peaks.get(key)
        if peak is not None and peak.value and ceiling.value and ceiling.value > peak.value:
            why = (
                " the clock it assumes is below the one the cores ran at"
                if peak.source == "derived" and machine.device.type == "cpu"
                else ""
            )
            notes.append(
                f"the measured {key} ceiling is {ceiling.value / peak.value:.0%} of the {peak.source}"
                f" peak:{why or ' the peak is too low'}; utilization against it can exceed 100%"
                f" (pass --peak {key}=... to use another)"
            )
    return notes


def print_tables(machine: Machine, fmt: str = "table") -> None:
    from rich.markup import escape

    from flopbench.console import print_text
    from flopbench.units import si

    device = machine.device
    facts = device.facts
    if device.type == "cpu":
        print_text(
            f"[bold]{device.label}[/bold]: {facts.get('microarchitecture')}, {facts.get('physical_cores')} physical"
            f" cores / {facts.get('logical_cpus')} logical CPUs usable, ISA {facts.get('isa')},"
            f" last-level cache {si(facts.get('llc_bytes'), 'B')}; {machine.threads} torch threads",
            fmt,
        )
    else:
        print_text(
            f"[bold]{device.label}[/bold]: compute capability {facts.get('compute_capability')},"
            f" {facts.get('multiprocessors')} SMs, {si(facts.get('memory_bytes'), 'B')},"
            f" L2 {si(facts.get('l2_bytes'), 'B')}, CUDA {facts.get('cuda')}",
            fmt,
        )
    for note in (*device.notes, *ceiling_notes(machine)):
        print_text(f"[yellow]note:[/yellow] {escape(note)}", fmt)
    _compute_table(machine, fmt)
    _kernels_table(machine, fmt)
    _levels_table(machine, fmt)


def _when(machine: Machine) -> str:
    if not machine.ceilings_measured_at:
        return "not measured (flopbench peak --measure)"
    when = f"measured {machine.ceilings_measured_at} ({age(machine.ceilings_measured_at)} ago)"
    if machine.ceilings_disturbed:
        when += f", while the machine was busy ({machine.ceilings_disturbed}); runs measure them again"
    return when


def _compute_table(machine: Machine, fmt: str) -> None:
    from flopbench.console import print_table
    from flopbench.machine.roofline import ridge
    from flopbench.units import si

    roofline, rows = machine.roofline, []
    for key in PEAK_KEYS:
        peak, ceiling = machine.device.peaks.get(key), machine.ceilings.get(key)
        if peak is None and ceiling is None:
            continue
        unit = "OP/s" if key == "int8" else "FLOP/s"
        point = ridge(roofline.roof(key).roof, roofline.memory.roof)
        rows.append(
            [
                key,
                si(peak.value, unit) if peak and peak.value else "unknown",
                peak.source if peak else "-",
                si(ceiling.value, unit) if ceiling else "-",
                f"{ceiling.value / peak.value:.0%}" if ceiling and ceiling.value and peak and peak.value else "",
                age(machine.ceilings_measured_at) if ceiling else "",
                f"{point:.3g}" if point else "",
                [x for x in (peak.detail if peak else "", ceiling.detail if ceiling else "") if x],
            ]
        )
    print_table(
        None,
        ["", "peak", "source", "ceiling", "of peak", "age", "ridge", "detail"],
        rows,
        numeric=["peak", "ceiling", "of peak", "age", "ridge"],
        caption=f"Peak: the device's (its source named; its detail in the notes). Ceiling: {_when(machine)}."
        f" Ridge: compute roof / DRAM bandwidth roof in FLOP/byte (the higher of peak and ceiling; a user-given value"
        f" wins); below it a workload is memory-bound.",
        fmt=fmt,
        notes="detail",
        optional=["age", "of peak", "source"],
    )


def library_gap(machine: Machine) -> list[str]:
    """Where torch.matmul's library reaches much less than the best kernel of a dtype, in words."""
    notes = []
    where = "CPU" if machine.device.type == "cpu" else "GPU"
    for key, rates in machine.kernels.items():
        default = next((r for r in rates if r.default), None)
        best = max(rates, key=lambda r: r.flops_per_s, default=None)
        if default is None or best is None or best is default or not best.flops_per_s:
            continue
        share = default.flops_per_s / best.flops_per_s
        if share < LIBRARY_GAP:
            notes.append(
                f"torch.matmul ({default.library}) reaches {share:.0%} of the best {key} rate on this {where};"
                f" {best.library} reaches it ({best.kernel}: {best.workload})"
            )
    return notes


LIBRARY_GAP = 0.8  # a default GEMM under this share of the best kernel is worth saying


def _kernels_table(machine: Machine, fmt: str) -> None:
    from flopbench.console import print_table, print_text
    from flopbench.units import si

    rows = []
    for key, rates in machine.kernels.items():
        if key == "bandwidth" or not rates:
            continue
        best = max(r.flops_per_s for r in rates)
        for r in sorted(rates, key=lambda r: -r.flops_per_s):
            rows.append(
                [
                    key,
                    f"{r.kernel}{' (torch.matmul)' if r.default else ''}",
                    r.library,
                    si(r.flops_per_s, "FLOP/s"),
                    f"{r.flops_per_s / best:.0%}" if best else "",
                    r.workload,
                ]
            )
    if not rows:
        return
    print_table(
        "Compute ceilings by kernel: each dtype's ceiling is the best of them",
        ["", "kernel", "library", "best rate", "of best", "workload"],
        rows,
        numeric=["best rate", "of best"],
        fmt=fmt,
        notes="workload",
        wrap=["kernel"],
        optional=["library"],
    )
    for note in library_gap(machine):
        print_text(f"note: {note}", fmt)


def _levels_table(machine: Machine, fmt: str) -> None:
    from flopbench.console import print_table
    from flopbench.units import seconds, si

    roofline = machine.roofline
    rows = [
        [
            level.name,
            si(level.capacity_bytes, "B") if level.capacity_bytes else "-",
            si(level.peak.value, "B/s") if level.peak.known else "unknown",
            si(level.ceiling.value, "B/s") if level.ceiling and level.ceiling.known else "-",
            [x for x in (level.ceiling.detail if level.ceiling else "", level.note) if x] or [level.peak.detail],
        ]
        for level in roofline.levels
    ]
    floor = (
        f"The per-call floor (a one-element copy through the run's timer) is {seconds(roofline.overhead_s)}: a call"
        f" near it is overhead-bound."
        if roofline.overhead_s
        else "The per-call floor is not measured (--measure)."
    )
    print_table(
        "Memory levels: a workload is judged against the roof of the smallest level that holds its working set",
        ["level", "holds", "peak", "measured", "detail"],
        rows,
        numeric=["holds", "peak", "measured"],
        caption=floor,
        fmt=fmt,
        notes="detail",
    )


def print_csv(machine: Machine) -> None:
    """Every peak and ceiling with raw numbers: key, peak, its source and detail, the measured ceiling, when."""
    import csv
    import sys

    from flopbench.machine.roofline import MEMORY

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["key", "peak", "source", "detail", "ceiling", "ceiling_measured_at"])
    for key in PEAK_KEYS:
        peak, ceiling = machine.device.peaks.get(key), machine.ceilings.get(key)
        if peak is None and ceiling is None:
            continue
        writer.writerow(
            [
                key,
                peak.value if peak else "",
                peak.source if peak else "",
                peak.detail if peak else "",
                ceiling.value if ceiling else "",
                machine.ceilings_measured_at if ceiling else "",
            ]
        )
    for level in machine.roofline.levels:  # bandwidth:L1, ..., and main memory's as plain `bandwidth` (--bandwidth)
        ceiling = level.ceiling if level.ceiling and level.ceiling.known else None
        writer.writerow(
            [
                "bandwidth" if level.name == MEMORY else f"bandwidth:{level.name}",
                level.peak.value or "",
                level.peak.source,
                level.peak.detail,
                ceiling.value if ceiling else "",
                machine.ceilings_measured_at if ceiling else "",
            ]
        )


def age(iso: str | None) -> str:
    """How long ago an ISO 8601 time was, in the largest whole unit: 40 s, 12 min, 3 h, 5 days."""
    import datetime as dt

    if not iso:
        return "-"
    try:
        then = dt.datetime.fromisoformat(iso)
    except ValueError:
        return "?"
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.timezone.utc)
    seconds = (dt.datetime.now(dt.timezone.utc) - then).total_seconds()
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(seconds, 0):.0f} s"


def main(args: argparse.Namespace) -> int:
    machine = resolve_machine(args, measure_if_needed=False)
    if args.plot:
        from flopbench.outputs import output_file
        from flopbench.reading.plots import SAVE_DPI, bandwidth_sweep

        figure = bandwidth_sweep(machine.roofline, machine.device.label)
        if figure is None:
            raise FlopbenchError("--plot: no bandwidth sweep is measured for this machine yet; add --measure")
        figure.savefig(output_file(args.plot, "--plot", replace=True), bbox_inches="tight", dpi=SAVE_DPI)
    if args.format == "json":
        print(json.dumps(as_json(machine), indent=2))
    elif args.format == "csv":
        print_csv(machine)
    else:
        print_tables(machine, args.format)
    return 0
