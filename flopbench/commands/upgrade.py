"""flopbench upgrade: rewrite results files written by an older flopbench in the current schema."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from flopbench.errors import FlopbenchError

NAME = "upgrade"
HELP = "rewrite results files from an older flopbench in the current schema (in place, atomically)"
DESCRIPTION = (
    "Read each results file (migrating it from its schema, as every command does when it reads one) and"
    " write it back in the current schema, in place: the same measurements, line for line. Model records"
    " written before schema 3 gain their per-layer costs, counted once by this version and labelled so;"
    " afterwards every view reads them from the file."
)
# Imported whole before the command runs (see cli.interrupts_deferred).
IMPORTS = ("numpy", "pydantic")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS", help="flopbench results files (.jsonl)")


def upgrade(path: Path) -> str:
    """Rewrite one file; returns what was done, in words."""
    from flopbench.results.files import ResultsWriter, read_run
    from flopbench.results.schema import SCHEMA_VERSION, Record
    from flopbench.version import __version__

    run = read_run(path)
    if run.kind != "flopbench":
        raise FlopbenchError(f"{path}: a {run.kind} file; upgrade rewrites flopbench's own .jsonl results")
    if run.notes:
        raise FlopbenchError(
            f"{path}: {len(run.notes)} line(s) could not be read ({run.notes[0]}); fix or remove"
            f" them first: upgrade rewrites whole files and would drop them"
        )
    missing = [r for r in run.records if r.op == "model" and (not r.layers or not r.flop_convention)]
    if run.written_schema == SCHEMA_VERSION and not missing:
        return f"{path}: already schema {SCHEMA_VERSION}; nothing to do"
    lines = []
    missing_ids = {id(r) for r in missing}
    for line in run.lines:
        if isinstance(line, Record) and id(line) in missing_ids:
            line = line.model_copy(update=_layers_of(line, __version__) if not line.layers else _conventions_of(line))
        lines.append(line)
    tmp = path.with_name(f".{path.name}.upgrade-{os.getpid()}")
    writer = ResultsWriter.create(tmp, run.header)
    try:
        for line in lines:
            writer.record(line) if isinstance(line, Record) else writer.mark(line)  # type: ignore[arg-type]
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    writer.close()
    os.replace(tmp, path)
    was = f"schema {run.written_schema}"
    added = f"; per-layer costs or FLOP conventions added to {len(missing)} model records" if missing else ""
    return f"{path}: {was} -> {SCHEMA_VERSION}, {len(run.records)} records{added}"


def _layers_of(record, version: str) -> dict:
    from flopbench.workloads import make_workload

    workload = make_workload("model", record.params, dtype=record.dtype)
    fields = workload.spec.record_fields(workload.p, workload.dtype)
    assert fields is not None  # a model's
    return {
        **{key: getattr(fields, key) for key in fields.model_fields_set},
        "layers_source": f"flopbench upgrade {version}: counted with that version's counter",
    }


def _conventions_of(record) -> dict:
    """A model record that has its layers but predates the FLOP conventions (MFU under PaLM's count, full-square
    causal): those counts alone, from its parameters; its layers stay as they were recorded."""
    from flopbench.workloads import make_workload

    workload = make_workload("model", record.params, dtype=record.dtype)
    fields = workload.spec.record_fields(workload.p, workload.dtype)
    assert fields is not None  # a model's
    return {key: getattr(fields, key) for key in ("flop_convention", "convention_flops")}


def main(args: argparse.Namespace) -> int:
    for path in args.results:
        print(upgrade(path))
    return 0
