"""Result files: JSON Lines, one run per file.

Line 1 is the header ({"type": "header", "schema_version": N, machine, device, peaks, ...}); then one
{"type": "record"} line per workload, written and flushed as soon as it is measured, so a run killed at
any moment leaves a file that loads with every completed record; `resume` and `footer` lines mark a
resumed run and a run's end. Files written by a newer flopbench are refused; older ones are migrated.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flopbench.errors import FlopbenchError

SCHEMA_VERSION = 2


def _v1_to_v2(header: dict, records: list[dict]) -> tuple[dict, list[dict]]:
    """Version 2 added distributed runs: every record names its rank, the world size and its host."""
    header = {**header, "distributed": None}
    return header, [{"rank": 0, "world_size": 1, "host": header.get("host"), **r} for r in records]


# Migrations from version v to v + 1, applied in order to (header, records) of older files.
MIGRATIONS: dict[int, Callable[[dict, list[dict]], tuple[dict, list[dict]]]] = {1: _v1_to_v2}

# Header fields copied into every row of load_results(): what a comparison groups and filters by.
HEADER_COLUMNS = {"run_id": "run_id", "host": "host", "torch": "torch", "threads": "threads",
                  "started_at": "run_started_at"}


def _clean(value: Any) -> Any:
    """JSON-safe: tuples to lists, NaN and infinities to null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(_clean(obj), allow_nan=False, default=str)


class ResultsWriter:
    """Appends lines to a results file, flushing each, so that what is written survives a kill."""

    def __init__(self, path: Path, header: dict[str, Any] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = header is not None
        self._file = open(self.path, "w" if fresh else "a", encoding="utf-8")
        if fresh:
            self._line({"type": "header", "schema_version": SCHEMA_VERSION, **header})

    def _line(self, obj: dict[str, Any]) -> None:
        self._file.write(dumps(obj) + "\n")
        self._file.flush()

    def record(self, record: dict[str, Any]) -> None:
        self._line({"type": "record", **record})

    def mark(self, kind: str, **fields: Any) -> None:
        self._line({"type": kind, **fields})

    def close(self) -> None:
        self._file.close()


def read_results(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """(header, records, notes) of one results file; notes say what was repaired (a truncated last line).
    A .json file is read as pytest-benchmark's (flopbench.interop)."""
    path = Path(path)
    from flopbench.interop import is_pytest_benchmark, read_pytest_benchmark
    if is_pytest_benchmark(path):
        return read_pytest_benchmark(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FlopbenchError(f"{path}: cannot read results ({exc.strerror})") from None
    notes: list[str] = []
    objects = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            objects.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # the run was killed while writing its last line
                notes.append(f"{path}: line {number} is incomplete (the run was interrupted); ignored")
                continue
            raise FlopbenchError(f"{path}: line {number} is not JSON; this is not a flopbench results file"
                                 f" or it was edited by hand") from None
    if not objects or objects[0].get("type") != "header":
        raise FlopbenchError(f"{path}: no flopbench header on line 1; expected a file written by `flopbench run`")
    header = objects[0]
    version = header.get("schema_version")
    if not isinstance(version, int):
        raise FlopbenchError(f"{path}: the header has no integer schema_version")
    if version > SCHEMA_VERSION:
        raise FlopbenchError(f"{path}: written with results schema {version}, newer than this flopbench"
                             f" understands ({SCHEMA_VERSION}); upgrade flopbench to read it")
    records = [o for o in objects[1:] if o.get("type") == "record"]
    for v in range(version, SCHEMA_VERSION):
        header, records = MIGRATIONS[v](header, records)
    return header, records, notes


def load_results(paths: str | Path | Iterable[str | Path]):
    """One pandas row per record of every file, with the header's key fields and each workload
    parameter (m, n, k, seq_len, ...) as columns."""
    import pandas as pd

    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows = []
    for path in paths:
        header, records, _ = read_results(path)
        device = header.get("device", {})
        bandwidth = device.get("bandwidth") or {}
        measured = (header.get("ceilings") or {}).get("bandwidth") or {}
        run = {field: header.get(column) for column, field in HEADER_COLUMNS.items()}
        run.update(device_name=device.get("name"),
                   device_label=f"{_torch_device(device)} ({device.get('name')})",
                   device_bandwidth_bytes_per_s=bandwidth.get("value"),
                   device_bandwidth_source=bandwidth.get("source"),
                   measured_bandwidth_bytes_per_s=measured.get("value"), file=str(path))
        for record in records:
            # A record's own fields win: in a distributed run each rank has its own host and device.
            row = {**run, **{k: v for k, v in record.items() if k not in ("type", "params")}}
            row["device"] = row.get("device") or _torch_device(device)
            for key, value in record.get("params", {}).items():
                row[key if key not in row else f"param_{key}"] = tuple(value) if isinstance(value, list) else value
            row["params"] = record.get("params", {})
            rows.append(row)
    return pd.DataFrame(rows)


def _torch_device(device: dict[str, Any]) -> str | None:
    if not device:
        return None
    return device["type"] if device.get("index") is None else f"{device['type']}:{device['index']}"


def export_csv(frame, path: str | Path) -> None:
    """CSV of a load_results() frame: lists and tables (raw samples, kernel sizes, parameters) as JSON
    text, so that the file stays flat and loses nothing."""
    out = frame.copy()
    for column in out.columns[out.dtypes == object]:
        out[column] = out[column].map(lambda v: json.dumps(_clean(v)) if isinstance(v, (list, tuple, dict)) else v)
    out.to_csv(path, index=False)
