"""pytest-benchmark JSON files, both ways.

- to_pytest_benchmark: a flopbench run as a file `pytest-benchmark compare` reads: each measured workload is a
  benchmark whose stats are computed by pytest-benchmark's own Stats from flopbench's raw samples, and whose
  extra_info holds the whole flopbench record; the run's header goes into machine_info["flopbench"].
- read_pytest_benchmark: such a file, or one written by pytest-benchmark with the flops_benchmark fixture, as
  (header, records, notes) for load_results(): benchmarks whose extra_info carries flops become records.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from flopbench.errors import FlopbenchError
from flopbench.results import SCHEMA_VERSION, read_results

# Record fields that live in pytest-benchmark's own places (stats, name) rather than in extra_info.
_IN_STATS = ("samples_s", "calls_per_sample", "type")


def _stats(samples: list[float], calls: int) -> dict[str, Any]:
    from pytest_benchmark.stats import Stats
    stats = Stats()
    for sample in samples:
        stats.update(sample)
    return {**stats.as_dict(), "data": list(samples), "iterations": calls}


def to_pytest_benchmark(path: Path) -> tuple[dict[str, Any], list[str]]:
    """(pytest-benchmark JSON document, notes on what was left out) for one flopbench results file."""
    import pytest_benchmark

    header, records, notes = read_results(path)
    device = header.get("device", {})
    suite = "+".join(s["name"] for s in header.get("suites", [])) or Path(path).stem
    settings = header.get("settings", {})
    benchmarks = []
    for record in records:
        if record.get("status") != "ok" or not record.get("samples_s"):
            notes.append(f"{record['name']}: {record.get('status')} ({record.get('reason')}); no timing to export")
            continue
        benchmarks.append({
            "group": record.get("family"), "name": record["name"], "fullname": f"flopbench::{suite}::{record['name']}",
            "params": record.get("params"), "param": record["name"],
            "extra_info": {k: v for k, v in record.items() if k not in _IN_STATS},
            "options": {"timer": record.get("timer", "perf_counter"), "min_time": settings.get("min_time_s"),
                        "max_time": settings.get("max_time_s"), "min_rounds": None, "warmup": True,
                        "disable_gc": False},
            "stats": _stats(record["samples_s"], record.get("calls_per_sample", 1)),
        })
    machine_info = {"node": header.get("host"), "processor": device.get("name"), "machine": None,
                    "python_version": header.get("python"), "system": header.get("os"), "release": None,
                    "cpu": {"brand_raw": device.get("name")},
                    "flopbench": {k: v for k, v in header.items() if k != "type"}}
    document = {"machine_info": machine_info,
                "commit_info": {"id": None, "time": None, "author_time": None, "dirty": False, "project": "flopbench",
                                "branch": None},
                "benchmarks": benchmarks, "datetime": header.get("started_at"), "version": pytest_benchmark.__version__}
    return document, notes


def is_pytest_benchmark(path: Path) -> bool:
    return Path(path).suffix == ".json"


def read_pytest_benchmark(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except OSError as exc:
        raise FlopbenchError(f"{path}: cannot read results ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise FlopbenchError(f"{path}: not JSON ({exc.msg} at line {exc.lineno}); expected a pytest-benchmark file"
                             f" (--benchmark-json) or flopbench's .jsonl results") from None
    if not isinstance(data, dict) or "benchmarks" not in data:
        raise FlopbenchError(f"{path}: no 'benchmarks' list; expected a pytest-benchmark JSON file")
    machine = data.get("machine_info") or {}
    flopbench = machine.get("flopbench") or {}
    header = {**flopbench, "type": "header", "schema_version": SCHEMA_VERSION}
    header.setdefault("run_id", hashlib.sha256(text.encode()).hexdigest()[:12])
    header.setdefault("started_at", data.get("datetime"))
    header.setdefault("host", machine.get("node"))
    header.setdefault("device", {"type": None, "index": None, "name": (machine.get("cpu") or {}).get("brand_raw"),
                                 "bandwidth": {}, "peaks": {}})
    records, notes = [], []
    for bench in data["benchmarks"]:
        extra = bench.get("extra_info") or {}
        if "flops" not in extra:
            notes.append(f"{path}: {bench.get('name')} has no flops in its extra_info (not a flops_benchmark); left out")
            continue
        stats = bench.get("stats") or {}
        record = {"name": bench.get("name"), "op": "callable", "family": "custom", "params": bench.get("params") or {},
                  "identity": json.dumps(["callable", bench.get("fullname") or bench.get("name")]),
                  "status": "ok", "reason": None, "warnings": [], **extra}
        record.update(samples_s=stats.get("data", []), calls_per_sample=stats.get("iterations", 1),
                      time_s=stats["median"], time_iqr_s=stats.get("iqr"), time_min_s=stats.get("min"),
                      time_mean_s=stats.get("mean"),
                      time_cv=stats["stddev"] / stats["mean"] if stats.get("mean") else None)
        records.append(record)
    return header, records, notes
