"""Result files: written line by line, loadable after a kill, versioned, migrated, exported."""

import json

import pandas as pd
import pytest

from flopbench import results
from flopbench.errors import FlopbenchError
from flopbench.results import ResultsWriter, export_csv, load_results, read_results

HEADER = {"run_id": "abc", "started_at": "2026-01-01T00:00:00", "host": "box", "torch": "2.5", "threads": 4,
          "device": {"type": "cuda", "index": 0, "name": "NVIDIA H100 80GB HBM3"}}


def record(name, **extra):
    return {"name": name, "op": "matmul", "dtype": "float32", "params": {"m": 8, "n": 4, "k": 2},
            "identity": name, "status": "ok", "time_s": 1e-3, "flops_per_s": 1e9, "samples_s": [1e-3, 1e-3],
            **extra}


def write(path, records, header=HEADER):
    writer = ResultsWriter(path, header)
    for r in records:
        writer.record(r)
    writer.mark("footer", records=len(records))
    writer.close()
    return path


def test_round_trip(tmp_path):
    path = write(tmp_path / "r.jsonl", [record("a"), record("b", utilization=float("nan"))])
    header, records, notes = read_results(path)
    assert header["schema_version"] == results.SCHEMA_VERSION and header["host"] == "box"
    assert [r["name"] for r in records] == ["a", "b"]
    assert records[1]["utilization"] is None  # NaN is written as null, never as invalid JSON
    assert notes == []


def test_each_record_is_on_disk_before_the_next_is_written(tmp_path):
    path = tmp_path / "r.jsonl"
    writer = ResultsWriter(path, HEADER)
    writer.record(record("a"))
    assert len(read_results(path)[1]) == 1  # readable while the run is still going
    writer.close()


def test_a_run_killed_mid_line_loads_with_every_completed_record(tmp_path):
    path = write(tmp_path / "r.jsonl", [record("a"), record("b")])
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[:-1]) + "\n" + text[-1][: len(text[-1]) // 2])  # footer cut short
    header, records, notes = read_results(path)
    assert [r["name"] for r in records] == ["a", "b"]
    assert "incomplete" in notes[0]


def test_a_broken_line_in_the_middle_is_an_error(tmp_path):
    path = write(tmp_path / "r.jsonl", [record("a"), record("b")])
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:10]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FlopbenchError, match="line 2 is not JSON"):
        read_results(path)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"type": "header", "schema_version": results.SCHEMA_VERSION + 1}) + "\n")
    with pytest.raises(FlopbenchError, match="newer than this flopbench understands.*upgrade"):
        read_results(path)


def test_schema_1_files_are_migrated_to_single_rank_runs(tmp_path):
    path = tmp_path / "v1.jsonl"
    lines = [{"type": "header", "schema_version": 1, **HEADER}, {"type": "record", **record("a")}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    header, records, _ = read_results(path)
    assert header["distributed"] is None
    assert (records[0]["rank"], records[0]["world_size"], records[0]["host"]) == (0, 1, "box")
    assert load_results(path).loc[0, "world_size"] == 1


def test_migrations_chain_step_by_step(tmp_path, monkeypatch):
    calls = []

    def zero_to_one(header, records):
        calls.append("0->1")
        return header, [{**r, "time_s": r.pop("seconds")} for r in records]
    monkeypatch.setitem(results.MIGRATIONS, 0, zero_to_one)
    path = tmp_path / "old.jsonl"
    lines = [{"type": "header", "schema_version": 0, **HEADER},
             {"type": "record", "name": "a", "seconds": 2.0, "params": {}}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    _, records, _ = read_results(path)
    assert calls == ["0->1"] and records[0]["time_s"] == 2.0 and records[0]["rank"] == 0  # then 1 -> 2


def test_not_a_results_file(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(FlopbenchError, match="no flopbench header"):
        read_results(path)
    with pytest.raises(FlopbenchError, match="cannot read"):
        read_results(tmp_path / "missing.jsonl")


def test_load_results_has_header_fields_and_parameters_as_columns(tmp_path):
    a = write(tmp_path / "a.jsonl", [record("a")])
    b = write(tmp_path / "b.jsonl", [record("b", params={"seq_len": 128, "kernel": [3, 3]})],
              header={**HEADER, "run_id": "def", "device": {"type": "cpu", "index": None, "name": "EPYC"}})
    frame = load_results([a, b])
    assert list(frame["name"]) == ["a", "b"]
    assert list(frame["run_id"]) == ["abc", "def"]
    assert list(frame["device"]) == ["cuda:0", "cpu"]
    assert frame.loc[0, "m"] == 8 and pd.isna(frame.loc[1, "m"])
    assert frame.loc[1, "seq_len"] == 128 and frame.loc[1, "kernel"] == (3, 3)
    assert frame.loc[0, "device_name"] == "NVIDIA H100 80GB HBM3"


def test_csv_export_keeps_lists_as_json(tmp_path):
    frame = load_results(write(tmp_path / "a.jsonl", [record("a", params={"kernel": [3, 5]})]))
    export_csv(frame, tmp_path / "a.csv")
    back = pd.read_csv(tmp_path / "a.csv")
    assert json.loads(back.loc[0, "samples_s"]) == [1e-3, 1e-3]
    assert json.loads(back.loc[0, "kernel"]) == [3, 5]
