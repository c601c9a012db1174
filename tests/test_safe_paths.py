"""Names from files never become paths outside results/ (issue 53): a suite's `name` (and the host's, an A/B axis
value) is one safe component of the default file name, wherever it came from; a name that had to change is said once."""

import os
import textwrap
import uuid
from pathlib import Path

import pytest

from flopbench.outputs import NAME_MAX, file_name_part
from tests.helpers import cli

ONE_GEMM = """
[[workload]]
op = "matmul"
m = 8
n = 8
k = 8
"""
FAST = ["--device", "cpu", "--min-time", "0.005", "--rounds", "1", "--bandwidth", "1e10", "--threads", "1", "--quiet"]


def tree(top: Path) -> set[str]:
    return {str(p.relative_to(top)) for p in top.rglob("*")}


ESCAPE = f"escape-{uuid.uuid4().hex[:8]}"  # a directory nothing else makes, so its absence means something
NAMES = {
    "parent": f"../../../../{ESCAPE}/pwned",
    "absolute": f"/tmp/{ESCAPE}/pwned",
    "nul": "before\x00after",
    "long": "x" * 300,
    "dots": "....",
}


@pytest.mark.parametrize("case", list(NAMES))
@pytest.mark.parametrize("command", ["run", "ab"])
def test_a_suite_name_stays_inside_results(tmp_path, case, command):
    work = tmp_path / "work"
    work.mkdir()
    name = NAMES[case].replace("\\", "\\\\").replace('"', '\\"').replace("\x00", "\\u0000")
    suite = tmp_path / "s.toml"  # beside the working directory, as a suite one was sent would be
    suite.write_text(f'name = "{name}"\n' + textwrap.dedent(ONE_GEMM))
    before = tree(tmp_path)
    args = ["ab", str(suite), "--impl", "eager,eager", "--pairs", "2", "--rounds", "2", *FAST[:-3]]
    result = cli(*(args if command == "ab" else ["run", str(suite), *FAST]), cwd=work)
    assert result.returncode == 0, result.stderr
    new = tree(tmp_path) - before
    assert new, "the run wrote nothing"
    outside = [p for p in new if not p.startswith(("work/results", "work/.cache")) and p != "work/results"]
    assert outside == [], outside
    assert not Path(f"/tmp/{ESCAPE}").exists() and not (tmp_path.parent / ESCAPE).exists()
    written = [Path(p) for p in new if p.endswith(".jsonl")]
    assert written
    if command == "run":  # results/<time>_<host>_<device>_<cleaned name>.jsonl, the change said once
        assert all(p.parent == Path("work/results") for p in written)
        assert result.stderr.count("is not a safe file name") == 1, result.stderr
    else:  # results/ab_<time>_<host>_<axis>/{A,B}.jsonl: the suite's name never reaches the path
        assert all(p.parent.parent == Path("work/results") for p in written)


def test_file_name_part_by_known_answers():
    assert file_name_part("quick", "x") == "quick"
    assert file_name_part("resnet50-layer1_3x3+b32.v2", "x") == "resnet50-layer1_3x3+b32.v2"
    assert file_name_part("../../../../tmp/trav/pwned", "x") == "tmp-trav-pwned"
    assert file_name_part("/etc/passwd", "x") == "etc-passwd"
    assert file_name_part("a\x00b", "x") == "a-b"
    assert file_name_part("....", "x") == "unnamed"
    assert file_name_part("", "x") == "unnamed"
    assert file_name_part(".hidden", "x") == "hidden"
    assert file_name_part("x" * 300, "x") == "x" * NAME_MAX
    assert file_name_part("a b\tc", "x") == "a-b-c"
    assert file_name_part("C:\\Users\\me", "x") == "C-Users-me"


def test_a_changed_name_is_said_once(capsys):
    unique = f"weird name {uuid.uuid4().hex}"
    file_name_part(unique, "the suite name")
    file_name_part(unique, "the suite name")
    err = capsys.readouterr().err
    assert err.count("is not a safe file name") == 1
    assert "the suite name" in err and unique.replace(" ", "-") in err


def test_the_host_name_is_cleaned_too(tmp_path, monkeypatch):
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "../evil host")
    suite = tmp_path / "s.toml"
    suite.write_text('name = "fine"\n' + textwrap.dedent(ONE_GEMM))
    result = cli("run", str(suite), *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (written,) = (tmp_path / "results").glob("*.jsonl")
    assert "_evil-host_" in written.name and written.name.endswith("_fine.jsonl")
    assert os.listdir(tmp_path) == ["results"] or set(os.listdir(tmp_path)) <= {"results", "s.toml", ".cache"}
