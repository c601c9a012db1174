"""Tables as a terminal shows them: at 80, 120 and 200 columns no number is cut, no line runs past the width, and the
numbers a command exists for are all there (the rest of the columns may be left out, and the table says so)."""

import re
import textwrap

import pytest

from tests.helpers import cli

# A number as flopbench prints it, with its unit: 1.16 ms, 166 GFLOP/s, 86.3%, 1.2x.
NUMBER = re.compile(
    r"(?<![\w.])\d[\d.,]*(?:e[+-]?\d+)?(?: ?(?:[kKMGTP]?(?:FLOP/s|OP/s|FLOP|MAC|B/s|B)|µs|us|ms|ns|s)|%|x)?"
)
TINY = """
name = "tiny"
[[workload]]
op = "matmul"
name = "a-workload-with-a-rather-long-name-to-see-how-a-narrow-terminal-folds-it"
m = 64
n = 48
k = 32
[[workload]]
op = "softmax"
rows = 8
cols = 64
[[workload]]
op = "elementwise"
kind = "add"
numel = 4096
"""
FAST = ["--device", "cpu", "--min-time", "0.01", "--bandwidth", "2e10", "--rounds", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    where = tmp_path_factory.mktemp("terminal")
    suite = where / "tiny.toml"
    suite.write_text(textwrap.dedent(TINY))
    paths = [where / "a.jsonl", where / "b.jsonl"]
    for path in paths:
        cli("run", str(suite), *FAST, "--out", str(path), "--quiet", cwd=where, check=True)
    return where, suite, paths


def commands(runs):
    where, suite, (a, b) = runs
    return {
        "run": (["run", str(suite), *FAST, "--quiet"], ["time", "achieved", "% peak"]),
        "peak": (["peak", "--device", "cpu", "--bandwidth", "9e10"], ["peak"]),
        "count": (["count", str(suite)], ["FLOPs", "MACs", "bytes"]),
        "compare": (["compare", str(a), str(b)], ["time A", "time B"]),
        "predict": (["predict", str(a)], ["median error"]),
    }


def render(args, columns, where, tmp_path):
    """A command's stdout at `columns`; a run's summary is rendered again from the same records at every width."""
    if args[0] != "run":
        return cli(*args, cwd=where, env=_env(columns), check=True).stdout
    path = tmp_path / "run.jsonl"
    if not path.exists():
        cli(*args, "--out", str(path), cwd=where, env=_env(columns), check=True)
    return _summary(path, columns)


def _summary(path, columns):
    import contextlib
    import io
    import os

    from flopbench.commands.run.table import summary
    from flopbench.machine.resolve import Machine
    from flopbench.results import read_run

    run = read_run(path)
    machine = Machine(run.header.device, run.header.threads, run.header.ceilings, None)
    out, saved = io.StringIO(), os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)
    try:
        with contextlib.redirect_stdout(out):
            summary(run.records, machine, path)
    finally:
        os.environ.pop("COLUMNS") if saved is None else os.environ.update(COLUMNS=saved)
    return out.getvalue()


def _env(columns):
    import os

    return {**{k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}, "COLUMNS": str(columns)}


def _cells(text, header):
    """The cells of the column named `header` in a rich table's text (rows between the header and the bottom rule)."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        cells = [c.strip() for c in line.split("┃")]
        if header in cells:
            index = cells.index(header)
            found = []
            for row in lines[start + 2 :]:
                if not row.startswith("│"):
                    break
                found.append([c.strip() for c in row.split("│")][index])
            return [cell for cell in found if cell]
    return None


@pytest.mark.parametrize("command", ["run", "peak", "count", "compare", "predict"])
@pytest.mark.parametrize("columns", [80, 120, 200])
def test_no_number_is_cut_at_any_width(runs, tmp_path, command, columns):
    where = runs[0]
    args, essential = commands(runs)[command]
    narrow = render(args, columns, where, tmp_path)
    whole = render(args, 100_000, where, tmp_path)
    assert "…" not in narrow
    assert all(len(line) <= columns for line in narrow.splitlines()), narrow
    names = re.findall(r"[\w.-]*[a-z][\w.-]*\d[\w.-]*", whole)  # workload names fold at a narrow width: their digits
    digits = [run for name in names for run in re.findall(r"\d+", name)]  # (any piece of them) are not cut numbers
    in_names = {run[i:j] for run in digits for i in range(len(run)) for j in range(i + 1, len(run) + 1)}
    seen = set(NUMBER.findall(whole)) | set(NUMBER.findall(whole.replace("\n", " "))) | in_names
    assert set(NUMBER.findall(narrow)) <= seen
    for header in essential:  # the numbers the command exists for: every one, whole
        cells = _cells(narrow, header)
        assert cells, f"{command} at {columns} columns has no column {header!r}:\n{narrow}"
        assert all(NUMBER.fullmatch(cell) or cell == "-" for cell in cells), (header, cells)


def test_the_check_sees_a_cut_number():
    assert not NUMBER.fullmatch("166 GFL")
    assert NUMBER.fullmatch("166 GFLOP/s") and NUMBER.fullmatch("86.3%") and NUMBER.fullmatch("1.16 ms")
    table = "┃ time ┃\n┡━━━━━━┩\n│ 1.16 │\n│ ms   │\n└──────┘"
    assert _cells(table, "time") == ["1.16", "ms"]  # a folded number is two cells, and one of them no number


# Tests that read the CLI's output, which once failed when `make test` ran at a real terminal (its width leaked into
# every table they read): run again here inside a pseudo-terminal of each width, as a user's `make test` runs them.
READ_THE_CLI = (
    "tests/test_models.py::test_count_per_layer_for_a_suite_model",
    "tests/test_predict.py::test_predict_json_contract",
    "tests/test_run_cli.py::test_peak_table_names_every_source",
)


@pytest.mark.parametrize("columns", [80, 100])  # before the fix: one failed at 80 columns, all three at 100
def test_the_suite_passes_at_a_real_terminal(columns, tmp_path):
    import os
    import pty
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    main, child = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "40", "TERM": "xterm-256color"}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "t")]
    try:
        process = subprocess.Popen([*args, *READ_THE_CLI], cwd=root, env=env, stdin=child, stdout=child, stderr=child)
        os.close(child)
        output = bytearray()
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal's other end closed: the child is done
                break
            if not chunk:
                break
            output += chunk
        code = process.wait(timeout=300)
    finally:
        os.close(main)
    text = output.decode(errors="replace")
    assert code == 0, text[-3000:]
    assert f"{len(READ_THE_CLI)} passed" in text


def test_names_fold_at_their_own_separators(runs, tmp_path):
    """At 80 columns a long workload name folds after its '-', never mid-token (issue 51)."""
    where = runs[0]
    args, _ = commands(runs)["run"]
    narrow = render(args, 80, where, tmp_path)
    cells = _cells(narrow, "workload")
    name = "a-workload-with-a-rather-long-name-to-see-how-a-narrow-terminal-folds-it"
    start = next(i for i, cell in enumerate(cells) if name.startswith(cell) and len(cell) > 1)
    pieces, joined = [], ""
    for cell in cells[start:]:
        pieces.append(cell)
        joined += cell
        if joined == name:
            break
    assert joined == name, cells
    assert len(pieces) > 1 and all(piece.endswith("-") for piece in pieces[:-1]), pieces


def test_fold_by_known_answers():
    from flopbench.console import fold

    assert fold("gemm-m256-n256-k512-float32", 19) == "gemm-m256-n256-\nk512-float32"
    assert fold("attention-l128-nocausal", 15) == "attention-l128-\nnocausal"
    assert fold("abcdefghijklmnopqrstuvwxyz", 10) == "abcdefghij\nklmnopqrst\nuvwxyz"  # no separator: cut
    assert fold("speedup 1.25x (1.2-1.3)", 12) == "speedup\n1.25x\n(1.2-1.3)"  # never inside 1.25
    assert fold("short", 10) == "short"
    assert fold("a\nb-c", 10) == "a\nb-c"
