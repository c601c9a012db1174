"""Every command that writes goes through one helper (flopbench.outputs): a missing parent directory is created, and
whatever stands in the way is one line and exit 2, never a traceback (and nothing is half written)."""

import pytest

from tests.fakes import fake_device, write_run
from tests.helpers import assert_one_line_error

# (command line with {run}, {other} and {out}, what it writes at {out}: a "file" or a "dir")
WRITERS = [
    (["export", "{run}", "--to", "csv", "-o", "{out}"], "file"),
    (["export", "{run}", "--to", "pytest-benchmark", "-o", "{out}"], "file"),
    (["calibrate", "{run}", "-o", "{out}"], "file"),
    (["plot", "{run}", "--out", "{out}"], "dir"),
    (["report", "{run}", "--out", "{out}"], "dir"),
    (["compare", "{run}", "{other}", "--out", "{out}"], "dir"),
]


@pytest.fixture
def runs(tmp_path):
    return (
        write_run(tmp_path / "run.jsonl", fake_device()),
        write_run(tmp_path / "other.jsonl", fake_device("Other CPU"), run_id="other"),
    )


def _args(template, runs, out):
    return [a.format(run=runs[0], other=runs[1], out=out) for a in template]


@pytest.mark.parametrize("template, kind", WRITERS, ids=lambda x: x if isinstance(x, str) else " ".join(x[:2]))
def test_a_missing_parent_directory_is_created(tmp_path, in_process, runs, template, kind):
    out = tmp_path / "missing" / "deeper" / ("out.csv" if kind == "file" else "figures")
    result = in_process(*_args(template, runs, out))
    assert result.returncode == 0, result.stderr
    assert out.is_file() if kind == "file" else out.is_dir()


@pytest.mark.parametrize("template, kind", WRITERS, ids=lambda x: x if isinstance(x, str) else " ".join(x[:2]))
def test_a_file_in_the_way_of_a_directory_is_one_line(tmp_path, in_process, runs, template, kind):
    blocking = tmp_path / "a-file"
    blocking.write_text("not a directory")
    out = blocking / "out.csv" if kind == "file" else blocking
    result = in_process(*_args(template, runs, out))
    assert_one_line_error(result, str(blocking), "is a file, where a directory must be")
    assert blocking.read_text() == "not a directory"


@pytest.mark.parametrize("template", [t for t, kind in WRITERS if kind == "file"], ids=lambda t: " ".join(t[:4]))
def test_a_directory_where_a_file_is_expected_is_one_line(tmp_path, in_process, runs, template):
    result = in_process(*_args(template, runs, tmp_path))
    assert_one_line_error(result, str(tmp_path), "is a directory")


def test_the_held_out_cases(tmp_path, in_process, runs):
    """The two inputs that once ended in a traceback: a CSV into a directory that does not exist yet, and figures
    into a path that is a file."""
    csv = tmp_path / "missing_dir" / "out.csv"
    assert in_process("export", str(runs[0]), "--to", "csv", "-o", str(csv)).returncode == 0 and csv.is_file()
    existing = tmp_path / "FILE"
    existing.write_text("")
    assert_one_line_error(in_process("plot", str(runs[0]), "--out", str(existing)), "is a file")
