"""Results files: the typed model, written line by line, read line by line with every defect named, versioned,
migrated, upgraded, exported; the committed reference runs render exactly their committed reports."""

import json
import re
import runpy
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flopbench.errors import FlopbenchError
from flopbench.results import docs, migrations, schema
from flopbench.results.files import ResultsWriter, export_csv, load_results, read_run
from flopbench.results.schema import Device, Footer, Peak
from tests.helpers import GPU, header, record

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "results" / "reference"
DATA = Path(__file__).resolve().parent / "data"


def write(path, records, head=None):
    writer = ResultsWriter.create(path, head or header())
    for r in records:
        writer.record(r)
    writer.mark(Footer(records=len(records)))
    writer.close()
    return path


def lines_of(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_round_trip(tmp_path):
    path = write(tmp_path / "r.jsonl", [record("a"), record("b", utilization=0.5)])
    run = read_run(path)
    assert run.header.schema_version == schema.SCHEMA_VERSION and run.header.host == "box"
    assert run.header.device == GPU
    assert [r.name for r in run.records] == ["a", "b"] and run.records[1].utilization == 0.5
    assert run.notes == [] and len(run.footers) == 1
    assert [line["type"] for line in lines_of(path)] == ["header", "record", "record", "footer"]


def test_names_say_core_or_total_and_each_rate_divides_its_own_count():
    r = record("a", elementwise_flops=32, total_flops=160, total_flops_per_s=160 / 1e-3)
    assert r.core_flops / r.time_s == r.core_flops_per_s and r.total_flops / r.time_s == r.total_flops_per_s
    with pytest.raises(ValueError, match="not its FLOPs"):
        record("a", elementwise_flops=32, total_flops=160)  # total_flops_per_s would still divide core FLOPs
    with pytest.raises(ValueError, match="is not core_flops"):
        record("a", total_flops=999)


def test_the_schema_documents_every_field_with_a_unit_and_a_meaning():
    defs = docs.json_schema()["$defs"]
    for name in ("Header", "Record", "Footer", "Resume", "Peak", "Device"):
        for field, prop in defs[name]["properties"].items():
            if field == "type":
                continue
            assert prop.get("description"), f"{name}.{field} has no meaning"
            assert prop.get("unit") in schema.UNITS, f"{name}.{field} has no unit"
    units = {f: p["unit"] for f, p in defs["Record"]["properties"].items() if "unit" in p}
    assert units["time_s"] == "s" and units["total_flops_per_s"] == "FLOP/s" and units["bytes"] == "B"


def test_generated_documents_are_up_to_date():
    """docs/results.md and the shipped JSON Schema are generated from the models: `python docs/generate.py`."""
    generate = runpy.run_path(str(ROOT / "docs" / "generate.py"))
    assert (ROOT / "docs" / "results.md").read_text() == generate["results_markdown"]()
    shipped = (ROOT / "flopbench" / "results" / "results.schema.json").read_text()
    assert shipped == generate["results_json_schema"]()


def test_each_record_is_on_disk_before_the_next_is_written(tmp_path):
    path = tmp_path / "r.jsonl"
    writer = ResultsWriter.create(path, header())
    writer.record(record("a"))
    assert len(read_run(path).records) == 1  # readable while the run is still going
    writer.close()


def test_a_run_killed_mid_line_loads_with_every_completed_record(tmp_path):
    path = write(tmp_path / "r.jsonl", [record("a"), record("b")])
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[:-1]) + "\n" + text[-1][: len(text[-1]) // 2])  # footer cut short
    run = read_run(path)
    assert [r.name for r in run.records] == ["a", "b"]
    assert ":4: the last line is incomplete" in run.notes[0]


@pytest.mark.parametrize(
    "damage, note",
    [
        (lambda line: line[:10], "not JSON"),
        (lambda line: "null", "null, not a record"),
        (lambda line: "[1, 2]", "a JSON list, not a record"),
        (lambda line: line.replace('"status":"ok"', '"status":"fine"'), "status: Input should be 'ok'"),
        (lambda line: line.replace('"core_flops":128,', ""), "core_flops: Field required"),
        (lambda line: line.replace('"time_s":0.001', '"time_s":-1'), "time_s: Input should be greater than 0"),
        (lambda line: line.replace('"time_s":0.001', '"time_s":NaN'), "not JSON (NaN is not a number JSON allows)"),
        (lambda line: '{"type": "gossip"}', "unknown type 'gossip'"),
    ],
)
def test_a_malformed_record_is_skipped_with_a_note_naming_its_line_never_the_file(tmp_path, damage, note):
    path = write(tmp_path / "r.jsonl", [record("a"), record("b"), record("c")])
    lines = path.read_text().splitlines()
    lines[2] = damage(lines[2])  # record b
    path.write_text("\n".join(lines) + "\n")
    run = read_run(path)
    assert [r.name for r in run.records] == ["a", "c"]
    assert len(run.notes) == 1 and f"{path}:3:" in run.notes[0] and note in run.notes[0], run.notes


def test_non_utf8_bytes_and_a_bom(tmp_path):
    path = write(tmp_path / "r.jsonl", [record("a"), record("b")])
    data = path.read_bytes().split(b"\n")
    data[2] = data[2].replace(b'"b"', b'"\xff\xfe"')
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(data))  # a BOM before the header, and bad bytes in record b
    run = read_run(path)
    assert [r.name for r in run.records] == ["a"] and "not UTF-8 text" in run.notes[0]


@pytest.mark.parametrize(
    "first, message",
    [
        ("[1, 2, 3]", ":1: the first line is a JSON list, not a flopbench header"),
        ("null", ":1: the first line is null, not a flopbench header"),
        ('{"hello": 1}', ":1: the first line is a untyped object, not a flopbench header"),
        (
            '{"type": "header", "schema_version": 0, "run_id": "x"}',
            ":1: schema_version 0 is not a flopbench results schema",
        ),
        (
            '{"type": "header", "schema_version": "3", "run_id": "x"}',
            "schema_version '3' is not a flopbench results schema",
        ),
        ('{"type": "header", "schema_version": 3}', ":1: the header is damaged (run_id: Field required)"),
        ('{"type": "header", "schema_version": 3, "run_id": "x", "threads": -2}', "threads: Input should be greater"),
        ('{"type": "header", "schema_version": 99, "run_id": "x"}', "newer than this flopbench understands"),
    ],
)
def test_a_file_without_a_valid_header_is_one_clear_error(tmp_path, first, message):
    path = tmp_path / "r.jsonl"
    path.write_text(first + "\n" + record("a").model_dump_json() + "\n")
    with pytest.raises(FlopbenchError, match=re.escape(message)):
        read_run(path)


def test_missing_empty_and_directory(tmp_path):
    with pytest.raises(FlopbenchError, match="cannot read"):
        read_run(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(FlopbenchError, match="empty"):
        read_run(tmp_path / "empty.jsonl")
    with pytest.raises(FlopbenchError, match="is a directory"):
        read_run(tmp_path)


def test_a_header_and_no_records_loads_as_an_empty_run(tmp_path):
    path = write(tmp_path / "r.jsonl", [])
    assert read_run(path).records == [] and load_results(path).empty


def test_schema_1_files_are_migrated_to_single_rank_runs_with_v3_names(tmp_path):
    path = tmp_path / "v1.jsonl"
    raw = record("a").model_dump(mode="json", exclude={"type"})
    v1 = {k: v for k, v in raw.items() if k not in ("rank", "world_size", "host", "core_flops_per_s")}
    v1["flops"], v1["flops_per_s"] = v1.pop("core_flops"), v1.pop("total_flops_per_s")
    head = {
        "type": "header",
        "schema_version": 1,
        **header().model_dump(mode="json", exclude={"type", "schema_version"}),
    }
    path.write_text(json.dumps(head) + "\n" + json.dumps({"type": "record", **v1}) + "\n")
    run = read_run(path)
    r = run.records[0]
    assert run.header.distributed is None and run.header.migrated_from == 1
    assert (r.rank, r.world_size, r.host) == (0, 1, "box")
    assert r.core_flops == 128 and r.total_flops_per_s == 128 / 1e-3 and r.core_flops_per_s == 128 / 1e-3
    assert load_results(path).loc[0, "world_size"] == 1


def test_migrations_chain_step_by_step(tmp_path, monkeypatch):
    calls = []
    for version in (1, 2):
        real = migrations.MIGRATIONS[version]
        monkeypatch.setitem(
            migrations.MIGRATIONS, version, lambda h, rs, v=version, real=real: (calls.append(v), real(h, rs))[1]
        )
    raw = record("a").model_dump(mode="json", exclude={"type", "core_flops_per_s"})
    raw["flops"], raw["flops_per_s"] = raw.pop("core_flops"), raw.pop("total_flops_per_s")
    head = {
        "type": "header",
        "schema_version": 1,
        **header().model_dump(mode="json", exclude={"type", "schema_version"}),
    }
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(head) + "\n" + json.dumps({"type": "record", **raw}) + "\n")
    run = read_run(path)
    assert calls == [1, 2] and run.records[0].core_flops == 128 and run.records[0].rank == 0


def test_load_results_has_header_fields_and_parameters_as_columns(tmp_path):
    a = write(tmp_path / "a.jsonl", [record("a")])
    cpu = Device("cpu", None, "EPYC", {}, {}, Peak(None, "unknown", "none"))
    b = write(
        tmp_path / "b.jsonl",
        [record("b", params={"seq_len": 128, "kernel": [3, 3]})],
        head=header(run_id="def", device=cpu),
    )
    frame = load_results([a, b])
    assert list(frame["name"]) == ["a", "b"]
    assert list(frame["run_id"]) == ["abc", "def"]
    assert list(frame["device"]) == ["cuda:0", "cpu"]
    assert frame.loc[0, "m"] == 8 and pd.isna(frame.loc[1, "m"])
    assert frame.loc[1, "seq_len"] == 128 and frame.loc[1, "kernel"] == (3, 3)
    assert frame.loc[0, "device_name"] == "NVIDIA H100 80GB HBM3"


def test_load_results_reports_what_it_skipped(tmp_path):
    path = write(tmp_path / "a.jsonl", [record("a"), record("b")])
    lines = path.read_text().splitlines()
    lines[1] = "garbage"
    path.write_text("\n".join(lines) + "\n")
    notes = []
    frame = load_results(path, on_note=notes.append)
    assert list(frame["name"]) == ["b"] and "a.jsonl:2: not JSON" in notes[0]
    with pytest.warns(UserWarning, match="not JSON"):
        load_results(path)


def test_csv_export_keeps_lists_as_json(tmp_path):
    frame = load_results(write(tmp_path / "a.jsonl", [record("a", params={"kernel": [3, 5]})]))
    export_csv(frame, tmp_path / "a.csv")
    back = pd.read_csv(tmp_path / "a.csv")
    assert json.loads(back.loc[0, "samples_s"]) == [1e-3, 1e-3]
    assert json.loads(back.loc[0, "kernel"]) == [3, 5]


# --- the committed reference runs: loaded, migrated and rendered as committed ------------------------------------


def _tables(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


def _rendered_tables(path: Path) -> list[str]:
    """The tables of a run's report as write_report renders them (the figures are drawn, not saved: not compared)."""
    from flopbench.reading.report import run_blocks, standing_blocks
    from flopbench.reading.report.document import to_markdown
    from flopbench.reading.view import load_view

    view = load_view(path)
    return _tables(to_markdown([*run_blocks(view), *standing_blocks(view)], path.parent, figures=False))


@pytest.mark.parametrize("path", sorted(REFERENCE.glob("*.jsonl")), ids=lambda p: p.stem.split("_")[-1])
def test_every_reference_run_loads_and_renders_its_committed_report(tmp_path, path):
    run = read_run(path)
    assert run.notes == [] and run.records and run.header.schema_version == schema.SCHEMA_VERSION
    committed = (REFERENCE / path.stem / "report.md").read_text()
    assert _rendered_tables(path) == _tables(committed)


PREFIXES = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "m": 1e-3, "µ": 1e-6, "n": 1e-9}


def _number(cell: str) -> float:
    """'13.2 GFLOP' -> 13.2e9, '874 µs' -> 874e-6, '61.4%' -> 61.4."""
    match = re.fullmatch(r"([0-9.]+)\s*([kMGTPmµn]?)(?:FLOP/s|FLOP|s|%)?", cell.strip())
    assert match, cell
    return float(match[1]) * (1.0 if cell.endswith("%") else PREFIXES[match[2]])


@pytest.mark.parametrize("path", sorted(REFERENCE.glob("*.jsonl")), ids=lambda p: p.stem.split("_")[-1])
def test_every_reference_report_s_numbers_agree_with_its_raw_records(path):
    """Not the code's earlier output: each workload row's FLOPs, time, achieved rate and share of the peak, recomputed
    here from the records the report was made from (the median over ranks where a run had several), to the three
    significant figures the report prints."""
    run = read_run(path)
    peaks = {key: peak.value for key, peak in run.header.device.peaks.items()}
    by_row: dict = {}
    for r in run.records:
        if r.status == "ok":
            by_row.setdefault((r.name, r.dtype), []).append(r)
    checked = 0
    header = None
    for line in (REFERENCE / path.stem / "report.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| workload |"):
            header = cells if cells[2:4] == ["FLOPs (all)", "time (median)"] else None
            continue
        if not line.startswith("|"):
            header = None  # the table ended
        if header is None or cells[2] == "-" or set(line) <= set("|- :"):
            continue
        row = dict(zip(header, cells))
        records = by_row[(row["workload"], row["dtype"])]  # a distributed run's ranks: each figure their median
        flops, times = records[0].total_flops, [r.time_s for r in records]
        assert _number(row["FLOPs (all)"]) == pytest.approx(flops, rel=5e-3), row
        assert _number(row["time (median)"]) == pytest.approx(np.median(times), rel=5e-3), row
        assert _number(row["achieved"]) == pytest.approx(np.median([flops / t for t in times]), rel=5e-3), row
        peak = peaks.get(records[0].peak_key or records[0].dtype)
        if peak:
            share = np.median([100 * flops / t / peak for t in times])
            assert _number(row["% peak"]) == pytest.approx(share, abs=0.051), row
        checked += 1
    assert checked >= 10  # every reference report has its workload tables


def test_old_files_render_the_same_tables_after_migration_and_upgrade(tmp_path):
    """The original schema-1 models run, read as it was written, then upgraded: the committed report's tables."""
    from flopbench.commands.upgrade import upgrade

    committed = _tables((REFERENCE / "2026-11-22_cpu-amd-epyc-zen5-2vcpu-kvm_models" / "report.md").read_text())
    old = shutil.copy(DATA / "v1_models.jsonl", tmp_path / "models.jsonl")
    migrated = read_run(old)
    assert migrated.header.migrated_from == 1 and len(migrated.records) == 12
    assert all(r.layers is None for r in migrated.records)  # a file from before schema 3 has no layers
    version = schema.SCHEMA_VERSION
    assert f"schema 1 -> {version}, 12 records; per-layer costs or FLOP conventions added to 12" in upgrade(Path(old))
    assert f"already schema {version}" in upgrade(Path(old))
    upgraded = read_run(old)
    assert all(r.layers and r.layers_source.startswith("flopbench upgrade") for r in upgraded.records)
    assert [r.time_s for r in upgraded.records] == [r.time_s for r in migrated.records]  # the same measurements
    assert _rendered_tables(Path(old)) == committed


def test_a_schema_2_distributed_file_migrates(tmp_path):
    run = read_run(DATA / "v2_distributed.jsonl")
    assert run.header.migrated_from == 2 and run.header.distributed.world_size == 2
    assert {r.rank for r in run.records} == {0, 1} and run.notes == []
    assert all(r.total_flops_per_s == r.total_flops / r.time_s for r in run.records if r.time_s)
