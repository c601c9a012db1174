"""Results files against answers worked by hand: every message a reader, the writer and resume can give (word for
word, with its file and line), the bytes a repair leaves, the writer's short writes and failures, the resume command,
the DataFrame's columns and the CSV's cells. Each test is built so that a one-line change to flopbench/results/files.py
fails it (benchmarks/mutation.py measures that)."""

from __future__ import annotations

import errno
import gzip
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from flopbench.errors import FlopbenchError
from flopbench.results import files, schema
from flopbench.results.files import (
    JsonLinesReader,
    ResultsWriteError,
    ResultsWriter,
    export_csv,
    frame_of,
    migrate,
    print_notes,
    read_run,
    resume_command,
)
from flopbench.results.schema import SCHEMA_VERSION, Footer, Resume
from tests.helpers import header, record


def written(path: Path, *lines) -> Path:
    """A results file of these lines (a str is written as it is, a Line as its JSON), each ending in a newline."""
    text = "".join((line if isinstance(line, str) else line.model_dump_json()) + "\n" for line in lines)
    path.write_text(text)
    return path


def disk_full(fd, data):
    """os.write on a full disk."""
    raise OSError(errno.ENOSPC, "No space left on device")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# --- the resume command ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["flopbench", "run", "s.toml", "--out", "a.jsonl", "--repeat", "3"], "flopbench run s.toml --repeat 3"),
        (["flopbench", "run", "--out=a.jsonl", "s.toml"], "flopbench run s.toml"),
        (["flopbench", "run", "s.toml", "--resume", "old.jsonl", "-q"], "flopbench run s.toml -q"),
        (["flopbench", "run", "--resume=old.jsonl", "s.toml"], "flopbench run s.toml"),
        (["flopbench", "run", "--out", "--odd-name", "s.toml"], "flopbench run s.toml"),  # the value, whatever it is
        (["flopbench", "run", "--outdoor", "s.toml"], "flopbench run --outdoor s.toml"),  # not --out
        (["/venv/bin/flopbench", "run"], "flopbench run"),
        (["/src/flopbench/__main__.py", "run"], "flopbench run"),
        (["-m", "run"], "flopbench run"),
        (["/home/me/bench.py", "run"], "bench.py run"),
    ],
)
def test_the_resume_command_is_the_same_arguments_with_resume_in_place_of_out(argv, expected):
    assert resume_command(argv, Path("runs/r.jsonl")) == f"{expected} --resume runs/r.jsonl"


# --- opening: the refusals -------------------------------------------------------------------------------------------


def test_creating_a_file_that_exists_is_refused_and_the_file_is_untouched(tmp_path):
    path = written(tmp_path / "r.jsonl", header())
    before = path.read_bytes()
    with pytest.raises(FlopbenchError) as caught:
        ResultsWriter.create(path, header(run_id="other"))
    assert str(caught.value) == f"{path} exists; choose another --out, or --resume {path} to add to it"
    assert path.read_bytes() == before


def test_creating_where_a_directory_is_names_a_file_to_give(tmp_path):
    with pytest.raises(FlopbenchError) as caught:
        ResultsWriter.create(tmp_path, header())
    assert str(caught.value) == f"{tmp_path} is a directory; give a file name, e.g. --out {tmp_path / 'run.jsonl'}"


def test_creating_under_a_file_names_the_file_in_the_way(tmp_path):
    (tmp_path / "notes.txt").write_text("")
    path = tmp_path / "notes.txt" / "r.jsonl"
    with pytest.raises(FlopbenchError) as caught:
        ResultsWriter.create(path, header())
    assert str(caught.value) == (
        f"--out {path.parent}: {path.parent} is a file, where a directory must be; remove it or choose another --out"
    )


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM, errno.EROFS])
@pytest.mark.parametrize("creating", [True, False])
def test_a_place_that_cannot_be_written_names_what_is_not_writable(tmp_path, monkeypatch, code, creating):
    path = tmp_path / "d" / "r.jsonl"
    if not creating:
        path.parent.mkdir()
        written(path, header())

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "open", refuse)  # the tests run as root, where permissions do not refuse
    with pytest.raises(FlopbenchError) as caught:
        ResultsWriter.create(path, header()) if creating else ResultsWriter.resume(path)
    verb, where = ("create", path.parent) if creating else ("open", path)
    assert str(caught.value) == (
        f"cannot {verb} {path}: {os.strerror(code)} ({where} is not writable); choose another --out"
    )


@pytest.mark.parametrize("creating", [True, False])
def test_any_other_open_error_is_named_as_the_system_names_it(tmp_path, monkeypatch, creating):
    path = tmp_path / "r.jsonl"

    def too_many(*args, **kwargs):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(os, "open", too_many)
    with pytest.raises(FlopbenchError) as caught:
        ResultsWriter.create(path, header()) if creating else ResultsWriter.resume(path)
    assert str(caught.value) == f"cannot {'create' if creating else 'open'} {path}: Too many open files"


def test_resuming_a_missing_file_says_it_cannot_be_opened(tmp_path):
    path = tmp_path / "missing.jsonl"
    with pytest.raises(FlopbenchError) as caught:
        ResultsWriter.resume(path)
    assert str(caught.value) == f"cannot open {path}: No such file or directory"


def test_a_file_another_writer_holds_is_refused_and_the_refused_descriptor_closed(tmp_path):
    path = tmp_path / "r.jsonl"
    holder = ResultsWriter.create(path, header())
    before = open_fds()
    with pytest.raises(FlopbenchError) as caught:
        ResultsWriter.resume(path)
    assert str(caught.value) == (
        f"{path}: another flopbench process is writing it (it holds the file's lock); wait for that run to end,"
        f" or write to another --out"
    )
    assert open_fds() == before
    holder.close()
    ResultsWriter.resume(path)[0].close()  # the lock goes with the writer


# --- writing ---------------------------------------------------------------------------------------------------------


def test_a_new_file_is_the_header_then_one_line_per_write_and_counts_only_records(tmp_path):
    path = tmp_path / "new" / "deeper" / "r.jsonl"  # the directories are made
    head = header()
    writer = ResultsWriter.create(path, head)
    assert writer.records == 0 and path.read_text() == head.model_dump_json() + "\n"
    a, b, footer = record("a"), record("b"), Footer(records=2)
    writer.record(a)
    writer.mark(Resume(command=["flopbench"]))
    writer.record(b)
    writer.mark(footer)
    assert writer.records == 2
    writer.close()
    writer.close()  # twice is harmless: the second closes nothing (stdout's descriptor least of all)
    os.fstat(1)
    expected = [head, a, Resume(command=["flopbench"]), b, footer]
    assert path.read_text() == "".join(line.model_dump_json() + "\n" for line in expected)
    assert path.stat().st_mode & 0o777 == 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_short_write_is_continued_until_the_whole_line_is_out(tmp_path, monkeypatch):
    path = tmp_path / "r.jsonl"
    writer = ResultsWriter.create(path, header())
    real_write, sizes = os.write, []

    def seven_bytes_at_a_time(fd, data):
        sizes.append(len(data))
        return real_write(fd, bytes(data[:7]))

    monkeypatch.setattr(os, "write", seven_bytes_at_a_time)
    a = record("a")
    writer.record(a)
    monkeypatch.setattr(os, "write", real_write)
    writer.close()
    line = a.model_dump_json() + "\n"
    assert path.read_text() == header().model_dump_json() + "\n" + line
    assert sizes == list(range(len(line), 0, -7))  # each retry offers what is left, never the whole line again


@pytest.mark.parametrize("intact, words", [(0, "0 records are"), (1, "1 record is"), (2, "2 records are")])
def test_a_failed_write_says_how_many_records_are_intact(tmp_path, monkeypatch, intact, words):
    path = tmp_path / "r.jsonl"
    writer = ResultsWriter.create(path, header())
    for i in range(intact):
        writer.record(record(f"r{i}"))

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(ResultsWriteError) as caught:
        writer.record(record("lost"))
    assert str(caught.value) == f"cannot write {path}: No space left on device; {words} intact in it"
    assert (caught.value.path, caught.value.strerror, caught.value.intact) == (path, "No space left on device", intact)
    assert writer.records == intact  # the lost record is not counted


def test_a_write_error_without_a_system_text_is_named_by_its_message(tmp_path, monkeypatch):
    path = tmp_path / "r.jsonl"
    writer = ResultsWriter.create(path, header())

    def broken(fd, data):
        raise OSError("the device went away")

    monkeypatch.setattr(os, "write", broken)
    with pytest.raises(ResultsWriteError) as caught:
        writer.mark(Footer())
    assert str(caught.value) == f"cannot write {path}: the device went away; 0 records are intact in it"


# --- resuming: the repairs -------------------------------------------------------------------------------------------


def test_resuming_a_file_cut_mid_line_removes_exactly_the_cut_bytes_and_says_how_many(tmp_path):
    path = written(tmp_path / "r.jsonl", header(), record("a"))
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"type": "rec')
    writer, run, repaired = ResultsWriter.resume(path)
    assert repaired == (
        f"the last line of {path} was cut (13 bytes, a run killed while writing it): removed, keeping every whole line"
    )
    assert path.read_bytes() == whole and writer.records == 1 and [r.name for r in run.records] == ["a"]
    writer.record(record("b"))
    writer.close()
    assert path.read_bytes() == whole + (record("b").model_dump_json() + "\n").encode()


def test_resuming_a_whole_last_line_without_its_newline_adds_the_newline_and_keeps_the_line(tmp_path):
    path = written(tmp_path / "r.jsonl", header(), record("a"))
    whole = path.read_bytes()
    path.write_bytes(whole[:-1])  # the record is whole; only its newline was never written
    writer, run, repaired = ResultsWriter.resume(path)
    assert repaired is None and writer.records == 1 and path.read_bytes() == whole
    writer.record(record("b"))  # on a line of its own, not glued to a's
    writer.close()
    assert [r.name for r in read_run(path).records] == ["a", "b"] and read_run(path).notes == []


def test_a_resumed_writer_names_its_file_when_a_write_fails(tmp_path, monkeypatch):
    path = written(tmp_path / "r.jsonl", header(), record("a"))
    writer, _, _ = ResultsWriter.resume(path)

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(ResultsWriteError) as caught:
        writer.record(record("b"))
    assert str(caught.value) == f"cannot write {path}: No space left on device; 1 record is intact in it"


def test_resuming_a_file_that_ends_in_a_newline_changes_nothing(tmp_path):
    path = written(tmp_path / "r.jsonl", header(), record("a"), record("b"))
    before = path.read_bytes()
    writer, run, repaired = ResultsWriter.resume(path)
    writer.close()
    assert repaired is None and writer.records == 2 and path.read_bytes() == before


def test_resuming_a_header_cut_in_its_only_line_is_refused_and_closes_the_file(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"type": "header", "schema_ver')
    before = open_fds()
    with pytest.raises(FlopbenchError, match="the last line is incomplete"):
        ResultsWriter.resume(path)
    assert open_fds() == before and path.read_text() == '{"type": "header", "schema_ver'


def test_resuming_a_pytest_benchmark_file_is_refused_and_closes_the_file(tmp_path):
    path = tmp_path / "pb.json"
    path.write_text(json.dumps({"machine_info": {}, "benchmarks": []}))
    before = open_fds()
    with pytest.raises(FlopbenchError) as caught:
        ResultsWriter.resume(path)
    assert str(caught.value) == (
        f"--resume {path}: it is a pytest-benchmark file; --resume continues a run written by `flopbench run` (.jsonl)"
    )
    assert open_fds() == before


# --- reading: every message, word for word ---------------------------------------------------------------------------


def test_an_empty_file(tmp_path):
    path = written(tmp_path / "r.jsonl")
    with pytest.raises(FlopbenchError) as caught:
        read_run(path)
    assert str(caught.value) == f"{path}: empty; expected a results file written by `flopbench run`"


@pytest.mark.parametrize(
    "text, why",
    [
        (
            '{"type": "header",\n',
            "not JSON (Expecting property name enclosed in double quotes: line 1 column 19 (char 18))",
        ),
        ('{"type": "header",', "the last line is incomplete (the run was interrupted)"),  # no newline: cut
        (b"\xff{}\n", "not UTF-8 text (byte 0)"),
    ],
)
def test_a_header_line_that_cannot_be_read(tmp_path, text, why):
    path = tmp_path / "r.jsonl"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(FlopbenchError) as caught:
        read_run(path)
    assert str(caught.value) == (
        f'{path}:1: {why}: the header line; expected a results file written by `flopbench run` (line 1: {{"type":'
        f' "header", ...}})'
    )


@pytest.mark.parametrize(
    "first, what",
    [
        ('"header"', "a JSON string"),
        ("true", "a boolean"),
        ("3", "a number"),
        ("2.5", "a number"),
        ("null", "null"),
        ("[]", "a JSON list"),
        ('{"type": "record"}', "a record object"),
        ('{"type": ""}', "a untyped object"),
        ("{}", "a untyped object"),
    ],
)
def test_a_first_line_that_is_not_a_header_is_named_by_what_it_is(tmp_path, first, what):
    path = written(tmp_path / "r.jsonl", "", first)  # a blank first line: the header is line 2
    with pytest.raises(FlopbenchError) as caught:
        read_run(path)
    assert str(caught.value) == (
        f"{path}:2: the first line is {what}, not a flopbench header; expected a file written by `flopbench run`"
        f' (line 1: {{"type": "header", ...}})'
    )


@pytest.mark.parametrize("version", [True, 0, -1, "3", None, 1.5])
def test_a_schema_version_that_is_no_schema(tmp_path, version):
    head = {"type": "header", "run_id": "x"} | ({} if version is None else {"schema_version": version})
    path = written(tmp_path / "r.jsonl", json.dumps(head))
    with pytest.raises(FlopbenchError) as caught:
        read_run(path)
    assert str(caught.value) == (
        f"{path}:1: schema_version {version!r} is not a flopbench results schema (1 to {SCHEMA_VERSION}); the header"
        f" is damaged: restore the file or re-run"
    )


def test_a_schema_newer_than_this_flopbench(tmp_path):
    path = written(tmp_path / "r.jsonl", json.dumps({"type": "header", "run_id": "x", "schema_version": 99}))
    with pytest.raises(FlopbenchError) as caught:
        read_run(path)
    assert str(caught.value) == (
        f"{path}: written with results schema 99, newer than this flopbench understands ({SCHEMA_VERSION});"
        f" upgrade flopbench to read it"
    )
    current = written(tmp_path / "now.jsonl", header())
    assert read_run(current).written_schema == SCHEMA_VERSION  # the newest schema itself is read


def test_a_damaged_header(tmp_path):
    raw = json.loads(header().model_dump_json()) | {"threads": "many"}
    path = written(tmp_path / "r.jsonl", json.dumps(raw))
    with pytest.raises(FlopbenchError) as caught:
        read_run(path)
    assert str(caught.value).startswith(f"{path}:1: the header is damaged (threads: ")
    assert str(caught.value).endswith("); restore the file or re-run")


def test_every_skipped_line_is_a_note_naming_its_line_and_the_rest_read_in_file_order(tmp_path):
    a, b = record("a"), record("b")
    resume, footer = Resume(command=["flopbench", "run"]), Footer(records=2)
    path = written(
        tmp_path / "r.jsonl",
        header(),
        a,
        "",  # blank lines are skipped silently, and still counted
        "7",
        '"text"',
        '{"type": "gossip"}',
        '{"no": "type"}',
        resume,
        '{"type": "footer", "records": -1}',
        "\ufeff" + b.model_dump_json(),  # a byte-order mark belongs at the start of the file only
        b,
        '{"type": "rec',
        footer,
    )
    run = read_run(path)
    assert run.notes == [  # what the lines were, then what was in them
        f"{path}:10: not JSON (Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)); skipped",
        f"{path}:12: not JSON (Unterminated string starting at: line 1 column 10 (char 9)); skipped",
        f"{path}:4: a number, not a record; skipped",
        f"{path}:5: a JSON string, not a record; skipped",
        f"{path}:6: a line of unknown type 'gossip'; skipped",
        f"{path}:7: a line of unknown type None; skipped",
        f"{path}:9: a malformed footer line (records: Input should be greater than or equal to 0); skipped",
    ]
    assert [r.name for r in run.records] == ["a", "b"]
    assert run.resumes == [resume] and run.footers == [footer]
    assert run.lines == [a, resume, b, footer]
    assert run.written_schema == SCHEMA_VERSION and run.kind == "flopbench"


def test_a_not_json_note_quotes_only_the_first_120_characters_of_the_parser_s_reason(tmp_path, monkeypatch):
    def long_reason(text):
        if text.startswith('{"bad'):
            raise ValueError("x" * 200 + "\nsecond line")
        return json.loads(text)

    monkeypatch.setattr(files, "parse_json", long_reason)
    path = written(tmp_path / "r.jsonl", header(), '{"bad', record("a"))
    run = read_run(path)
    assert run.notes == [f"{path}:2: not JSON ({'x' * 120}); skipped"] and [r.name for r in run.records] == ["a"]


def test_a_parser_error_with_no_words_is_named_by_its_type(tmp_path, monkeypatch):
    def silent(text):
        if text == "?":
            raise ValueError("")
        return json.loads(text)

    monkeypatch.setattr(files, "parse_json", silent)
    path = written(tmp_path / "r.jsonl", header(), "?")
    assert read_run(path).notes == [f"{path}:2: not JSON (ValueError); skipped"]


def test_bytes_that_are_not_utf8_are_named_by_their_position_and_the_lines_after_them_read(tmp_path):
    path = written(tmp_path / "r.jsonl", header())
    path.write_bytes(path.read_bytes() + b'{"a\xe9": 1}\n' + (record("b").model_dump_json() + "\n").encode())
    run = read_run(path)
    assert run.notes == [f"{path}:2: not UTF-8 text (byte 3); skipped"] and [r.name for r in run.records] == ["b"]


def test_a_bom_before_the_header_is_read_as_the_start_of_the_file(tmp_path):
    path = written(tmp_path / "r.json", header(), record("a"))  # .json: the reader is chosen by the header
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    run = read_run(path)
    assert run.kind == "flopbench" and [r.name for r in run.records] == ["a"] and run.notes == []


# --- choosing the reader ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, head, accepted",
    [
        ("r.json", {"type": "header"}, True),
        ("r.json", {"type": "record"}, False),
        ("r.json", [1], False),
        ("r.json", None, False),
        ("r.jsonl", None, True),
        ("r.jsonl.gz", {"benchmarks": []}, True),
        ("r", None, True),
    ],
)
def test_the_json_lines_reader_takes_a_flopbench_header_or_any_file_not_named_json(name, head, accepted):
    assert JsonLinesReader().accepts(Path(name), head) is accepted


def test_a_json_file_without_a_flopbench_header_goes_to_the_pytest_benchmark_reader(tmp_path):
    path = tmp_path / "pb.json"
    path.write_text(json.dumps({"benchmarks": []}))
    assert read_run(path).kind == "pytest-benchmark"
    broken = tmp_path / "broken.jsonl"  # not .json: its first line is not JSON, and the error is flopbench's own
    broken.write_text("{{\n")
    with pytest.raises(FlopbenchError, match=r"broken.jsonl:1: not JSON .*: the header line"):
        read_run(broken)


def test_a_directory_a_missing_file_and_a_broken_gzip(tmp_path):
    with pytest.raises(FlopbenchError) as caught:
        read_run(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: is a directory; give a results file (.jsonl, or a pytest-benchmark .json)"
    )
    with pytest.raises(FlopbenchError) as caught:
        read_run(tmp_path / "missing.jsonl")
    assert str(caught.value) == f"{tmp_path / 'missing.jsonl'}: cannot read results (No such file or directory)"
    broken = tmp_path / "r.jsonl.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(FlopbenchError) as caught:
        read_run(broken)
    assert str(caught.value) == f"{broken}: not a readable gzip file (Not a gzipped file (b'no'))"
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(b"x" * 100)[:-8])
    with pytest.raises(FlopbenchError, match=r"cut.jsonl.gz: not a readable gzip file \(Compressed file ended"):
        read_run(cut)


def test_a_gzipped_results_file_reads_as_its_contents(tmp_path):
    plain = written(tmp_path / "r.jsonl", header(), record("a"))
    packed = tmp_path / "r.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    run = read_run(packed)
    assert [r.name for r in run.records] == ["a"] and run.notes == [] and run.path == packed


# --- migration -------------------------------------------------------------------------------------------------------


def test_a_current_header_is_not_marked_migrated_and_an_old_one_keeps_its_first_schema(monkeypatch):
    head = {"run_id": "x", "schema_version": SCHEMA_VERSION}
    assert migrate(dict(head), [], SCHEMA_VERSION) == (head, [])
    steps = []
    for version in range(1, SCHEMA_VERSION):
        monkeypatch.setitem(
            files.MIGRATIONS, version, lambda h, rs, v=version: (steps.append(v), ({**h, f"v{v}": 1}, rs))[1]
        )
    new, records = migrate({"run_id": "x", "schema_version": 1}, [{"r": 1}], 1)
    assert steps == list(range(1, SCHEMA_VERSION)) and records == [{"r": 1}]
    assert new == {
        "run_id": "x",
        **{f"v{v}": 1 for v in range(1, SCHEMA_VERSION)},
        "migrated_from": 1,
        "schema_version": SCHEMA_VERSION,
    }
    steps.clear()
    again, _ = migrate({"run_id": "x", "migrated_from": 1}, [], SCHEMA_VERSION - 1)  # upgraded once already
    assert again["migrated_from"] == 1 and steps == [SCHEMA_VERSION - 1]


# --- the DataFrame and the CSV ---------------------------------------------------------------------------------------


def test_each_row_carries_the_header_s_fields_and_its_own_where_it_has_them(tmp_path):
    head = header(allocator="expandable_segments:True")
    own_host = record("a", host="node7", params={"m": 8, "name": "clash", "shape": [2, 3]})
    no_host = record("b", host=None)
    path = written(tmp_path / "r.jsonl", head, own_host, no_host)
    frame = frame_of([read_run(path)])
    first, second = frame.iloc[0], frame.iloc[1]
    assert (first["run_id"], first["torch"], first["threads"]) == ("abc", "2.5", 4)
    assert (first["run_started_at"], first["allocator"]) == ("2026-01-01T00:00:00", "expandable_segments:True")
    assert (first["device_name"], first["device_label"]) == (head.device.name, head.device.label)
    assert first["file"] == str(path) and first["device"] == head.device.torch_device
    assert (first["host"], second["host"]) == ("node7", "box")  # a record's own host wins; a missing one does not
    assert first["m"] == 8 and first["shape"] == (2, 3) and first["param_name"] == "clash" and first["name"] == "a"
    assert first["params"] == {"m": 8, "name": "clash", "shape": [2, 3]}
    assert "type" not in frame.columns  # every row is a record: the line's type says nothing


def test_a_run_without_a_device_has_no_device_columns_filled(tmp_path):
    path = written(tmp_path / "r.jsonl", header(device=None), record("a"))
    row = frame_of([read_run(path)]).iloc[0]
    assert row["device_name"] is None and row["device_label"] is None and row["device"] is None


def test_a_record_s_own_device_wins_over_the_header_s(tmp_path):
    path = written(tmp_path / "r.jsonl", header(), record("a", device="cuda:3"))
    assert frame_of([read_run(path)]).loc[0, "device"] == "cuda:3"


def test_the_csv_writes_lists_tuples_and_tables_as_json_and_leaves_text_as_it_is(tmp_path):
    frame = pd.DataFrame(
        {"name": ["a"], "shape": [(2, 3)], "samples_s": [[0.5, 0.25]], "params": [{"m": 8}], "n": [3], "t": [0.5]}
    )
    export_csv(frame, tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_text().splitlines() == [
        "name,shape,samples_s,params,n,t",
        'a,"[2, 3]","[0.5, 0.25]","{""m"": 8}",3,0.5',
    ]
    assert frame.loc[0, "shape"] == (2, 3)  # the caller's frame is not changed


def test_the_csv_turns_only_tables_and_lists_into_json_and_anything_json_cannot_hold_into_text(tmp_path):
    frame = pd.DataFrame({"mixed": pd.Series(["text", [1, 2], {"where": Path("/runs/a")}], dtype=object)})
    export_csv(frame, tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_text().splitlines() == [
        "mixed",
        "text",  # a string in a column of objects stays itself
        '"[1, 2]"',
        '"{""where"": ""/runs/a""}"',  # a path (not JSON) as its text
    ]


def test_a_csv_that_cannot_be_written_is_one_line_naming_the_file(tmp_path):
    with pytest.raises(FlopbenchError) as caught:
        export_csv(pd.DataFrame({"a": [1]}), tmp_path)
    assert str(caught.value) == f"cannot write {tmp_path}: Is a directory; choose another file"


# --- notes -----------------------------------------------------------------------------------------------------------


def test_notes_are_printed_one_warning_line_each(tmp_path, capsys):
    run = schema.Run(tmp_path, header(), [], ["first", "second"])
    print_notes(run)
    assert capsys.readouterr().err == "flopbench: warning: first\nflopbench: warning: second\n"


def test_a_broken_line_in_a_file_cut_short_is_still_a_broken_line(tmp_path):
    path = written(tmp_path / "r.jsonl", header(), "{oops", record("a"))
    path.write_bytes(path.read_bytes() + b'{"type": "rec')  # and the run was killed while writing the next
    run = read_run(path)
    assert run.notes == [
        f"{path}:2: not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1)); skipped",
        f"{path}:4: the last line is incomplete (the run was interrupted); ignored",
    ]
    assert [r.name for r in run.records] == ["a"]
