"""pytest-benchmark JSON files, both ways, on typed runs (flopbench.results.schema). flopbench.results.files reads
such a file through the reader here; this module never imports files, so the arrow points one way.

- to_pytest_benchmark: a flopbench run as a file `pytest-benchmark compare` reads: each measured workload is a
  benchmark whose stats are computed by pytest-benchmark's own Stats from flopbench's raw samples, and whose
  extra_info holds the whole flopbench record; the run's header goes into machine_info["flopbench"].
- PytestBenchmarkReader: such a file, or one written by pytest-benchmark with the flops_benchmark fixture, as a
  Run: benchmarks whose extra_info carries FLOPs become records; the others are left out with a note.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from flopbench.errors import FlopbenchError, validation_text
from flopbench.results.schema import SCHEMA_VERSION, Header, Run, parse_json, validate_record

# Record fields that live in pytest-benchmark's own places (stats, name) rather than in extra_info.
_IN_STATS = ("samples_s", "calls_per_sample", "type")
# extra_info keys written before results schema 3 (core and total FLOPs named apart).
_OLD_NAMES = {"flops": "core_flops", "flops_per_s": "total_flops_per_s"}


def _table(value: Any) -> dict[str, Any]:
    """A JSON object of a pytest-benchmark file, or an empty one where the file has something else."""
    return value if isinstance(value, dict) else {}


def _stats(samples: list[float], calls: int) -> dict[str, Any]:
    from pytest_benchmark.stats import Stats

    stats = Stats()
    for sample in samples:
        stats.update(sample)
    return {**stats.as_dict(), "data": list(samples), "iterations": calls}


def to_pytest_benchmark(run: Run) -> tuple[dict[str, Any], list[str]]:
    """(pytest-benchmark JSON document, notes on what was left out) for one flopbench run."""
    import pytest_benchmark

    header = run.header
    notes = list(run.notes)
    suite = "+".join(s.name for s in header.suites) or run.path.stem
    settings = header.settings
    benchmarks = []
    for record in run.records:
        if record.status != "ok" or not record.pooled_samples_s:
            notes.append(f"{record.name}: {record.status} ({record.reason}); no timing to export")
            continue
        benchmarks.append(
            {
                "group": record.family,
                "name": record.name,
                "fullname": f"flopbench::{suite}::{record.name}",
                "params": record.params,
                "param": record.name,
                "extra_info": record.model_dump(mode="json", exclude=set(_IN_STATS)),
                "options": {
                    "timer": record.timer or "perf_counter",
                    "min_time": settings.min_time_s if settings else None,
                    "max_time": settings.max_time_s if settings else None,
                    "min_rounds": None,
                    "warmup": True,
                    "disable_gc": False,
                },
                "stats": _stats(record.pooled_samples_s, record.calls_per_sample or 1),
            }
        )
    device = header.device
    machine_info = {
        "node": header.host,
        "processor": device.name if device else None,
        "machine": None,
        "python_version": header.python,
        "system": header.os,
        "release": None,
        "cpu": {"brand_raw": device.name if device else None},
        "flopbench": header.model_dump(mode="json", exclude={"type"}),
    }
    document = {
        "machine_info": machine_info,
        "commit_info": {
            "id": None,
            "time": None,
            "author_time": None,
            "dirty": False,
            "project": "flopbench",
            "branch": None,
        },
        "benchmarks": benchmarks,
        "datetime": header.started_at,
        "version": pytest_benchmark.__version__,
    }
    return document, notes


class PytestBenchmarkReader:
    name = "pytest-benchmark"

    def accepts(self, path: Path, head: Any) -> bool:
        return True  # whatever the JSON Lines reader declined: a .json file

    def read(self, path: Path, data: bytes) -> Run:
        try:
            document = parse_json(data.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise FlopbenchError(
                f"{path}: not UTF-8 text (byte {exc.start}); expected a pytest-benchmark JSON file"
                f" (--benchmark-json) or flopbench's .jsonl results"
            ) from None
        except json.JSONDecodeError as exc:
            raise FlopbenchError(
                f"{path}:{exc.lineno}: not JSON ({exc.msg}); expected a pytest-benchmark file"
                f" (--benchmark-json) or flopbench's .jsonl results"
            ) from None
        except ValueError as exc:
            raise FlopbenchError(f"{path}: not JSON ({exc}); expected a pytest-benchmark file") from None
        if not isinstance(document, dict) or not isinstance(document.get("benchmarks"), list):
            what = "no 'benchmarks' list" if isinstance(document, dict) else f"{type(document).__name__}, not an object"
            raise FlopbenchError(f"{path}: {what}; expected a pytest-benchmark JSON file (--benchmark-json)")
        machine = _table(document.get("machine_info"))
        header = self._header(path, data, document, machine)
        notes: list[str] = []
        records = []
        for index, bench in enumerate(document["benchmarks"]):
            where = f"{path}: benchmark {index + 1}"
            raw = self._record(bench, where, notes)
            if raw is not None and (record := validate_record(raw, where, notes)) is not None:
                records.append(record)
        return Run(path, header, records, notes, kind=self.name)

    @staticmethod
    def _header(path: Path, data: bytes, document: dict[str, Any], machine: dict[str, Any]) -> Header:
        flopbench = _table(machine.get("flopbench"))
        raw = {**flopbench, "type": "header", "schema_version": SCHEMA_VERSION, "source": "pytest-benchmark"}
        raw.setdefault("run_id", hashlib.sha256(data).hexdigest()[:12])
        raw.setdefault("started_at", document.get("datetime"))
        raw.setdefault("host", machine.get("node"))
        if "device" not in raw:
            cpu = _table(machine.get("cpu"))
            raw["device"] = {
                "type": "cpu",
                "index": None,
                "name": str(cpu.get("brand_raw") or "unknown"),
                "facts": {},
                "peaks": {},
                "bandwidth": {"value": None, "source": "unknown", "detail": "not in the file"},
            }
        try:
            return Header.model_validate(raw)
        except ValidationError as exc:
            raise FlopbenchError(
                f"{path}: machine_info['flopbench'] is damaged ({validation_text(exc)}); re-run"
                f" the benchmarks or export the run again"
            ) from None

    @staticmethod
    def _record(bench: Any, where: str, notes: list[str]) -> dict[str, Any] | None:
        if not isinstance(bench, dict):
            notes.append(f"{where}: not an object; skipped")
            return None
        name = bench.get("name")
        extra = _table(bench.get("extra_info"))
        extra = {_OLD_NAMES.get(k, k): v for k, v in extra.items()}
        if "core_flops" not in extra:
            notes.append(f"{where} ({name}): no FLOPs in its extra_info (not a flops_benchmark); left out")
            return None
        stats = _table(bench.get("stats"))
        data = stats.get("data")
        if not isinstance(data, list) or not data or not all(isinstance(x, (int, float)) for x in data):
            notes.append(
                f"{where} ({name}): no raw timing data in its stats (saved without --benchmark-save-data?); left out"
            )
            return None
        time_s = statistics.median(data)
        raw = {
            "name": name,
            "op": "callable",
            "family": "custom",
            "params": bench.get("params") or {},
            "identity": json.dumps(["callable", bench.get("fullname") or name]),
            "status": "ok",
            "reason": None,
            "warnings": [],
            **extra,
        }
        raw.update(
            type="record",
            samples_s=data,
            calls_per_sample=stats.get("iterations") or 1,
            time_s=time_s,
            time_iqr_s=stats.get("iqr"),
            time_min_s=min(data),
            time_mean_s=statistics.fmean(data),
            time_cv=statistics.stdev(data) / statistics.fmean(data) if len(data) > 1 else 0.0,
        )
        # Rates follow the median of the data (pytest-benchmark's own median, recomputed).
        for count, rate in (("total_flops", "total_flops_per_s"), ("core_flops", "core_flops_per_s")):
            if isinstance(raw.get(count), int):
                raw[rate] = raw[count] / time_s
        if isinstance(raw.get("bytes"), int) and raw["bytes"]:
            raw["bytes_per_s"] = raw["bytes"] / time_s
        return raw
