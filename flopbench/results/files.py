"""Results files: read through one registry of readers, written by one writer, every line typed
(flopbench.results.schema).

Reading. `read_run(path)` picks the reader for the file (flopbench's JSON Lines, or a pytest-benchmark JSON file)
and returns a `Run`: the validated header, the valid records, and notes saying what was repaired or skipped. A
defect that leaves nothing to read (no header, a header from a newer flopbench) is one FlopbenchError naming
file:line, what is wrong and what to do; a malformed record in an otherwise good file is skipped with a note,
never the file. `load_results()` turns runs into one pandas DataFrame.

Writing. `ResultsWriter.create` makes a new file exclusively (two runs onto one --out cannot both succeed) and
`ResultsWriter.resume` reopens one to continue it; both hold an advisory lock for the life of the run, so two
writers never interleave. Each line goes out in one os.write and is on disk before the next workload starts: a kill
leaves whole lines and at most one cut last line, which resume repairs first (truncating to the last whole line,
and saying so). Any write error (no space, read-only, permission) is a ResultsWriteError saying how many records are
intact.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from flopbench.errors import FlopbenchError, validation_text
from flopbench.results.interop import PytestBenchmarkReader
from flopbench.results.migrations import MIGRATIONS
from flopbench.results.schema import (
    LINE_TYPES,
    SCHEMA_VERSION,
    Footer,
    Header,
    Line,
    Record,
    Resume,
    Run,
    parse_json,
    validate_record,
)

if TYPE_CHECKING:
    import pandas as pd


def _describe(value: Any) -> str:
    return {
        list: "a JSON list",
        str: "a JSON string",
        type(None): "null",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }[type(value)]  # what JSON holds besides an object (which every caller tells apart first)


# --- readers ---------------------------------------------------------------------------------------


class Reader(Protocol):
    name: str

    def accepts(self, path: Path, head: Any) -> bool:
        """Whether this reader reads `path`, whose first line parsed as `head` (None if it did not)."""

    def read(self, path: Path, data: bytes) -> Run: ...


class JsonLinesReader:
    """flopbench's own files: a header line, then records and marks."""

    name = "flopbench"

    def accepts(self, path: Path, head: Any) -> bool:
        return (isinstance(head, dict) and head.get("type") == "header") or path.suffix != ".json"

    def read(self, path: Path, data: bytes) -> Run:
        lines = list(_split_lines(path, data))
        if not lines:
            raise FlopbenchError(f"{path}: empty; expected a results file written by `flopbench run`")
        number, head, broken = lines[0]
        if broken:  # the header line itself: nothing after it can be read without it
            raise FlopbenchError(
                f"{broken.replace('; skipped', '').replace('; ignored', '')}: the header line;"
                f' expected a results file written by `flopbench run` (line 1: {{"type":'
                f' "header", ...}})'
            )
        notes = [note for _, _, note in lines[1:] if note]
        objects = [(n, obj) for n, obj, note in lines if not note]
        if not isinstance(head, dict) or head.get("type") != "header":
            what = _describe(head) if not isinstance(head, dict) else f"a {head.get('type') or 'untyped'} object"
            raise FlopbenchError(
                f"{path}:{number}: the first line is {what}, not a flopbench header; expected a file"
                f' written by `flopbench run` (line 1: {{"type": "header", ...}})'
            )
        version = head.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise FlopbenchError(
                f"{path}:{number}: schema_version {version!r} is not a flopbench results schema"
                f" (1 to {SCHEMA_VERSION}); the header is damaged: restore the file or re-run"
            )
        if version > SCHEMA_VERSION:
            raise FlopbenchError(
                f"{path}: written with results schema {version}, newer than this flopbench"
                f" understands ({SCHEMA_VERSION}); upgrade flopbench to read it"
            )
        raw_records, marks = [], []
        for number_, obj in objects[1:]:
            if not isinstance(obj, dict):
                notes.append(f"{path}:{number_}: {_describe(obj)}, not a record; skipped")
            elif obj.get("type") == "record":
                raw_records.append((number_, obj))
            elif obj.get("type") in ("resume", "footer"):
                marks.append((number_, obj))
            else:
                notes.append(f"{path}:{number_}: a line of unknown type {obj.get('type')!r}; skipped")
        header_raw, migrated = migrate(head, [obj for _, obj in raw_records], version)
        try:
            header = Header.model_validate(header_raw)
        except ValidationError as exc:
            raise FlopbenchError(
                f"{path}:{number}: the header is damaged ({validation_text(exc)}); restore the file or re-run"
            ) from None
        run = Run(path, header, [], notes, written_schema=version)
        ordered: list[tuple[int, Line]] = []
        for (number_, _), raw in zip(raw_records, migrated):
            record = validate_record(raw, f"{path}:{number_}", notes)
            if record is not None:
                run.records.append(record)
                ordered.append((number_, record))
        for number_, obj in marks:
            try:
                mark = LINE_TYPES[obj["type"]].model_validate(obj)
            except ValidationError as exc:
                notes.append(f"{path}:{number_}: a malformed {obj['type']} line ({validation_text(exc)}); skipped")
                continue
            if isinstance(mark, Footer):
                run.footers.append(mark)
            elif isinstance(mark, Resume):
                run.resumes.append(mark)
            ordered.append((number_, mark))
        run.lines = [line for _, line in sorted(ordered, key=lambda item: item[0])]
        return run


def _split_lines(path: Path, data: bytes) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed object, None) for each non-blank line, or (number, None, note) for one that is not JSON.
    A cut last line (a run killed while writing it) is told apart from a corrupt one in the middle."""
    chunks = data.split(b"\n")  # the last chunk is empty when the file ends with \n: else a line cut short
    for index, chunk in enumerate(chunks):
        number = index + 1
        last = index == len(chunks) - 1
        if not chunk.strip():
            continue
        try:
            text = chunk.decode("utf-8-sig" if index == 0 else "utf-8")
        except UnicodeDecodeError as exc:
            yield number, None, f"{path}:{number}: not UTF-8 text (byte {exc.start}); skipped"
            continue
        try:
            yield number, parse_json(text), None
        except ValueError as exc:
            if last:
                yield number, None, f"{path}:{number}: the last line is incomplete (the run was interrupted); ignored"
            else:
                why = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
                yield number, None, f"{path}:{number}: not JSON ({why}); skipped"


def migrate(
    header: dict[str, Any], records: list[dict[str, Any]], version: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Raw header and records of schema `version`, migrated step by step to SCHEMA_VERSION."""
    for v in range(version, SCHEMA_VERSION):
        header, records = MIGRATIONS[v](header, records)
    if version < SCHEMA_VERSION:
        header = {**header, "migrated_from": header.get("migrated_from") or version}
    return {**header, "schema_version": SCHEMA_VERSION}, records


def _readers() -> tuple[Reader, ...]:
    return (JsonLinesReader(), PytestBenchmarkReader())


def read_run(path: str | Path) -> Run:
    """One results file, read by the reader that accepts it."""
    path = Path(path)
    if path.is_dir():
        raise FlopbenchError(f"{path}: is a directory; give a results file (.jsonl, or a pytest-benchmark .json)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FlopbenchError(f"{path}: cannot read results ({exc.strerror})") from None
    if path.suffix == ".gz":  # a compressed results file (the shipped atlas: flopbench.reading.atlas)
        import gzip

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise FlopbenchError(f"{path}: not a readable gzip file ({exc})") from None
    first = data.split(b"\n", 1)[0]
    try:
        head = parse_json(first.decode("utf-8-sig"))
    except ValueError:  # UnicodeDecodeError is a ValueError too
        head = None
    reader = next(r for r in _readers() if r.accepts(path, head))  # the last accepts whatever the others decline
    return reader.read(path, data)


def read_runs(paths: str | Path | Iterable[str | Path]) -> list[Run]:
    return [read_run(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]


# --- the DataFrame ---------------------------------------------------------------------------------

# Header fields copied into every row of load_results(): what a comparison groups and filters by.
HEADER_COLUMNS = {
    "run_id": "run_id",
    "host": "host",
    "torch": "torch",
    "threads": "threads",
    "started_at": "run_started_at",
    "allocator": "allocator",
    "blas": "blas",
}


def warn_note(note: str) -> None:
    """What a reader repaired or skipped, as a Python warning: a library's default (the CLI prints a line instead)."""
    import warnings

    warnings.warn(note, stacklevel=3)  # pragma: no mutate (tests/test_python_api.py: no stack level holds in mutmut)


def load_results(paths: str | Path | Iterable[str | Path], on_note: Callable[[str], None] = warn_note) -> pd.DataFrame:
    """One pandas row per record of every file, with the header's key fields and each workload parameter (m, n, k,
    seq_len, ...) as columns. What a reader repaired or skipped goes to `on_note` (by default a Python warning)."""
    runs = read_runs(paths)
    for run in runs:
        for note in run.notes:
            on_note(note)
    return frame_of(runs)


def frame_of(runs: list[Run]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for run in runs:
        header = run.header
        device = header.device
        common = {column: getattr(header, field) for field, column in HEADER_COLUMNS.items()}
        common.update(
            device_name=device.name if device else None,
            device_label=device.label if device else None,
            file=str(run.path),
        )
        for record in run.records:
            data = record.model_dump(exclude={"type"})
            params = data.pop("params")
            # A record's own fields win: in a distributed run each rank has its own host and device.
            row = {**common, **{k: v for k, v in data.items() if v is not None or k not in common}}
            row["device"] = row.get("device") or (device.torch_device if device else None)
            for key, value in params.items():
                row[key if key not in row else f"param_{key}"] = tuple(value) if isinstance(value, list) else value
            row["params"] = params
            rows.append(row)
    return pd.DataFrame(rows)


def export_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """CSV of a load_results() frame: lists and tables (raw samples, kernel sizes, parameters) as JSON text, so
    that the file stays flat and loses nothing."""
    out = frame.copy()
    for column in out.columns[out.dtypes == "object"]:
        out[column] = out[column].map(lambda v: json.dumps(v, default=str) if isinstance(v, (list, tuple, dict)) else v)
    try:
        out.to_csv(path, index=False)
    except OSError as exc:
        raise FlopbenchError(f"cannot write {path}: {exc.strerror or exc}; choose another file") from None


# --- the writer ------------------------------------------------------------------------------------


class ResultsWriteError(FlopbenchError):
    """Writing the results file failed; `intact` records are whole in it."""

    def __init__(self, path: Path, strerror: str, intact: int):
        self.path, self.strerror, self.intact = path, strerror, intact
        whole = f"{intact} record is" if intact == 1 else f"{intact} records are"
        super().__init__(f"cannot write {path}: {strerror}; {whole} intact in it")


def _lock(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows: no advisory locks; exclusive creation still holds)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FlopbenchError(
            f"{path}: another flopbench process is writing it (it holds the file's lock); wait for"
            f" that run to end, or write to another --out"
        ) from None


def _open_error(path: Path, exc: OSError, creating: bool) -> FlopbenchError:
    if isinstance(exc, FileExistsError):
        return FlopbenchError(f"{path} exists; choose another --out, or --resume {path} to add to it")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        where = path.parent if creating else path
        return FlopbenchError(
            f"cannot {'create' if creating else 'open'} {path}: {exc.strerror} ({where} is not"
            f" writable); choose another --out"
        )
    return FlopbenchError(f"cannot {'create' if creating else 'open'} {path}: {exc.strerror}")


class ResultsWriter:
    """Appends typed lines to a results file it holds the lock of; see the module's doc."""

    def __init__(self, path: Path, fd: int, records: int):
        self.path, self._fd, self.records = path, fd, records

    @classmethod
    def create(cls, path: Path, header: Header) -> ResultsWriter:
        """A new file (never an existing one), locked, with the header written."""
        from flopbench.outputs import output_dir

        path = Path(path)
        if path.is_dir():
            raise FlopbenchError(f"{path} is a directory; give a file name, e.g. --out {path / 'run.jsonl'}")
        output_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except OSError as exc:
            raise _open_error(path, exc, creating=True) from None
        _lock(fd, path)
        writer = cls(path, fd, 0)
        writer._write(header, counts=False)
        return writer

    @classmethod
    def resume(cls, path: Path) -> tuple[ResultsWriter, Run, str | None]:
        """An existing flopbench file, locked, its cut last line (if any) repaired: (writer, what it holds, what was
        repaired). The caller checks that the run may be continued before it writes."""
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except OSError as exc:
            raise _open_error(path, exc, creating=False) from None
        _lock(fd, path)
        try:
            data = _read_all(fd)
            run = read_run(path)
            if run.kind != "flopbench":
                raise FlopbenchError(
                    f"--resume {path}: it is a {run.kind} file; --resume continues a run written by"
                    f" `flopbench run` (.jsonl)"
                )
            repaired = None
            if data and not data.endswith(b"\n"):
                whole = data.rfind(b"\n") + 1
                try:
                    parse_json(data[whole:].decode("utf-8"))
                    os.write(fd, b"\n")  # the last line is whole, only its newline is missing
                except ValueError:
                    os.ftruncate(fd, whole)
                    repaired = (
                        f"the last line of {path} was cut ({len(data) - whole} bytes, a run killed while"
                        f" writing it): removed, keeping every whole line"
                    )
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, len(run.records)), run, repaired

    def _write(self, line: Line, counts: bool) -> None:
        data = (line.model_dump_json(exclude_none=False) + "\n").encode()
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            raise ResultsWriteError(self.path, exc.strerror or str(exc), self.records) from None
        if counts:
            self.records += 1

    def record(self, record: Record) -> None:
        self._write(record, counts=True)

    def mark(self, mark: Resume | Footer) -> None:
        self._write(mark, counts=False)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
            self._fd = -1


def _read_all(fd: int) -> bytes:
    return os.pread(fd, os.fstat(fd).st_size, 0)


def resume_command(argv: list[str], path: Path) -> str:
    """The command that continues this run: the same arguments, with --resume PATH in place of --out."""
    args, skip = [], False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        if arg in ("--out", "--resume"):
            skip = True
            continue
        if arg.startswith(("--out=", "--resume=")):
            continue
        args.append(arg)
    program = "flopbench" if Path(argv[0]).name in ("__main__.py", "-m") else Path(argv[0]).name  # python -m flopbench
    return " ".join([program, *args, "--resume", str(path)])


def print_notes(run: Run, stream=None) -> None:
    for note in run.notes:
        print(f"flopbench: warning: {note}", file=stream or sys.stderr)
