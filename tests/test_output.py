"""Output that fits where it goes: whole tables in a pipe, every table command in table, markdown, json and csv,
NO_COLOR and --quiet respected. Each test runs the CLI as a user pipes it."""

import csv
import io
import json
import os
import textwrap

import pytest

from tests.helpers import cli

TINY = """
[[workload]]
op = "matmul"
name = "a-workload-with-a-rather-long-name-to-see-whether-the-table-keeps-it-whole"
m = 16
n = 16
k = 16
"""


@pytest.fixture
def env(tmp_path):
    clean = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")}
    return {**clean, "FLOPBENCH_CACHE_DIR": str(tmp_path / "cache")}


def flopbench(*args, env, cwd):
    return cli(*args, env=env, cwd=cwd)


@pytest.fixture
def run_args(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text(textwrap.dedent(TINY))
    return ["run", str(suite), "--device", "cpu", "--rounds", "1", "--min-time", "0.01", "--bandwidth", "1e10"]


@pytest.mark.parametrize(
    "args", [["peak", "--device", "cpu", "--bandwidth", "9e10"], ["count", "model", "model=thop_mlp", "--per-layer"]]
)
def test_a_table_in_a_pipe_is_never_cut(tmp_path, env, args):
    result = flopbench(*args, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout  # rich's mark of a truncated cell
    assert "given on the command line" in result.stdout or "thop_mlp" in result.stdout


def test_a_run_summary_in_a_log_keeps_every_cell(tmp_path, env, run_args):
    result = flopbench(*run_args, "--out", str(tmp_path / "r.jsonl"), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout
    assert "a-workload-with-a-rather-long-name-to-see-whether-the-table-keeps-it-whole" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["peak", "--device", "cpu", "--bandwidth", "9e10"],
        ["count", "matmul", "m=64", "n=64", "k=64"],
        ["count", "model", "model=thop_mlp", "--per-layer"],
    ],
)
def test_markdown_tables(tmp_path, env, args):
    result = flopbench(*args, "--format", "markdown", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| "))
    assert set(lines[header + 1]) <= set("|-:") and lines[header + 2].startswith("| ")
    assert "┃" not in result.stdout and "[bold]" not in result.stdout


def test_every_table_command_speaks_json_and_csv(tmp_path, env, run_args):
    peak_json = json.loads(
        flopbench("peak", "--device", "cpu", "--bandwidth", "9e10", "--format", "json", env=env, cwd=tmp_path).stdout
    )
    assert peak_json["device"]["bandwidth"]["value"] == 9e10
    peak_csv = list(
        csv.DictReader(
            io.StringIO(
                flopbench(
                    "peak", "--device", "cpu", "--bandwidth", "9e10", "--format", "csv", env=env, cwd=tmp_path
                ).stdout
            )
        )
    )
    assert {row["key"] for row in peak_csv} >= {"float32", "bandwidth"}
    assert float(next(r for r in peak_csv if r["key"] == "bandwidth")["peak"]) == 9e10
    out = tmp_path / "r.jsonl"
    run_json = json.loads(
        flopbench(*run_args, "--out", str(out), "--format", "json", "--quiet", env=env, cwd=tmp_path).stdout
    )
    (record,) = run_json["records"]
    assert record["status"] == "ok" and record["time_s"] > 0 and run_json["results"] == str(out)
    run_csv = flopbench(
        *run_args, "--out", str(tmp_path / "r2.jsonl"), "--format", "csv", "--quiet", env=env, cwd=tmp_path
    )
    (row,) = list(csv.DictReader(io.StringIO(run_csv.stdout)))
    assert float(row["total_flops_per_s"]) > 0 and row["status"] == "ok"


def test_quiet_silences_progress_but_not_warnings(tmp_path, env, run_args):
    loud = flopbench(*run_args, "--out", str(tmp_path / "a.jsonl"), env=env, cwd=tmp_path)
    assert "[1/1] ok" in loud.stderr and "workloads x 1 round" in loud.stderr
    quiet = flopbench(*run_args, "--out", str(tmp_path / "b.jsonl"), "--quiet", env=env, cwd=tmp_path)
    assert quiet.returncode == 0 and "[1/1]" not in quiet.stderr and "workloads x" not in quiet.stderr
    assert "1 measured" in quiet.stdout
    assert all(line.startswith("flopbench: warning:") for line in quiet.stderr.splitlines())


def test_no_color_is_respected(tmp_path, env):
    coloured = flopbench(
        "peak", "--device", "cpu", "--bandwidth", "9e10", env={**env, "FORCE_COLOR": "1"}, cwd=tmp_path
    )
    assert "\x1b[33m" in coloured.stdout  # the notes, in yellow
    plain = flopbench(
        "peak", "--device", "cpu", "--bandwidth", "9e10", env={**env, "FORCE_COLOR": "1", "NO_COLOR": "1"}, cwd=tmp_path
    )
    assert "note:" in plain.stdout and "\x1b[33m" not in plain.stdout
