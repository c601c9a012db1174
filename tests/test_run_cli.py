"""`flopbench run` and `flopbench peak` as a user runs them: real timing on tiny workloads (main() in this process; a
real process where a signal is the point)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from flopbench.results.files import load_results, read_run
from tests.helpers import assert_one_line_error, cli, ctrl_c_as_in_a_terminal

TINY = """
name = "tiny"
description = "three small workloads"
[[workload]]
op = "matmul"
name = "mm"
[workload.sweep]
"m=n=k" = [32, 64]
[[workload]]
op = "softmax"
rows = 16
cols = 64
"""


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "FLOPBENCH_CACHE_DIR": str(tmp_path / "cache")}


def flopbench(*args, env, cwd):
    """The CLI in this process (tests.helpers.cli); the Ctrl-C test below starts a real one."""
    return cli(*args, env=env, cwd=cwd)


def suite(tmp_path, text=TINY, name="tiny.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


FAST = ["--device", "cpu", "--min-time", "0.01", "--bandwidth", "2e10", "--rounds", "1"]


def test_run_writes_a_results_file_and_a_summary(tmp_path, env):
    out = tmp_path / "run.jsonl"
    result = flopbench("run", suite(tmp_path), *FAST, "--out", str(out), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run = read_run(out)
    header, records = run.header, run.records
    assert [r.name for r in records] == ["mm-m32-n32-k32", "mm-m64-n64-k64", "softmax-r16-c64"]
    assert all(r.status == "ok" for r in records)
    assert header.device.type == "cpu" and header.device.bandwidth.source == "user"
    assert header.suites[0].name == "tiny" and len(header.suites[0].sha256) == 64
    assert header.threads >= 1 and header.torch and header.command[1] == "run"
    assert header.settings.min_time_s == 0.01
    assert json.loads(out.read_text().splitlines()[-1])["type"] == "footer"
    assert "3 measured, 0 skipped, 0 failed" in result.stdout and str(out) in result.stdout
    assert "mm-m64-n64-k64" in result.stdout and "% peak" in result.stdout
    frame = load_results(out)
    assert {"time_s", "total_flops_per_s", "core_flops_per_s", "utilization", "bound", "m", "rows"} <= set(
        frame.columns
    )


def test_default_output_goes_to_results_with_the_device_in_the_name(tmp_path, env):
    result = flopbench("run", suite(tmp_path), *FAST, "--only", "m32", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    files = list((tmp_path / "results").glob("*.jsonl"))
    assert len(files) == 1 and "_cpu-" in files[0].name and files[0].name.endswith("_tiny.jsonl")
    assert [r.name for r in read_run(files[0]).records] == ["mm-m32-n32-k32"]


def test_dtype_override_and_threads(tmp_path, env):
    out = tmp_path / "run.jsonl"
    result = flopbench(
        "run",
        suite(tmp_path),
        *FAST,
        "--dtype",
        "float32,bfloat16",
        "--threads",
        "1",
        "--only",
        "^mm-m32",
        "--out",
        str(out),
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    run = read_run(out)
    assert [(r.name, r.dtype) for r in run.records] == [
        ("mm-m32-n32-k32-float32", "float32"),
        ("mm-m32-n32-k32-bfloat16", "bfloat16"),
    ]
    assert run.header.threads == 1


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["run", "nope.toml"], ["no such suite"]),
        (["run", "{suite}", "--dtype", "float7"], ["unknown dtype 'float7'", "did you mean"]),
        (["run", "{suite}", "--only", "zzz"], ["matches --only"]),
        (["run", "{suite}", "--only", "("], ["not a regular expression"]),
        (["run", "{suite}", "--peak", "bf16=1e12"], ["unknown key 'bf16'", "did you mean 'bfloat16'"]),
        (["run", "{suite}", "--peak", "float32=fast"], ["not a finite positive number"]),
        (["run", "{suite}", "--min-time", "0"], ["--min-time"]),
        (["run", "{suite}", "--threads", "0"], ["--threads"]),
        (["run", "{suite}", "--device", "tpu"], ["expected cpu, cuda"]),
        (["run", "{suite}", "--resume", "missing.jsonl"], ["no such file"]),
        (["peak", "--device", "cuda:7"], ["cuda"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, env, args, fragments):
    path = suite(tmp_path)
    result = flopbench(*[a.replace("{suite}", path) for a in args], "--bandwidth", "1e10", env=env, cwd=tmp_path)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "results").exists()  # nothing written, nothing measured


def test_an_existing_results_file_is_never_overwritten(tmp_path, env):
    out = tmp_path / "run.jsonl"
    out.write_text("precious\n")
    result = flopbench("run", suite(tmp_path), *FAST, "--out", str(out), env=env, cwd=tmp_path)
    assert_one_line_error(result, "exists", "--resume")
    assert out.read_text() == "precious\n"


SLOW = """
[[workload]]
op = "matmul"
name = "slow"
[workload.sweep]
"m=n=k" = [96, 97, 98, 99, 100, 101]
"""


def test_ctrl_c_keeps_what_was_measured_and_resume_finishes_the_rest(tmp_path, env):
    path = suite(tmp_path, SLOW, "slow.toml")
    out = tmp_path / "run.jsonl"
    args = [
        sys.executable,
        "-m",
        "flopbench",
        "run",
        path,
        "--device",
        "cpu",
        "--min-time",
        "0.15",
        "--rounds",
        "1",
        "--bandwidth",
        "2e10",
        "--out",
        str(out),
    ]
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        preexec_fn=ctrl_c_as_in_a_terminal,
    )
    deadline = time.time() + 120
    while time.time() < deadline:  # wait for two records on disk, then press Ctrl-C
        if out.exists() and out.read_text().count('"type":"record"') >= 2:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and f"--resume {out}" in stderr
    assert 2 <= len(read_run(out).records) < 6

    resumed = flopbench(
        "run",
        path,
        "--device",
        "cpu",
        "--min-time",
        "0.15",
        "--rounds",
        "1",
        "--bandwidth",
        "2e10",
        "--resume",
        str(out),
        env=env,
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr
    run = read_run(out)
    identities = [r.identity for r in run.records]
    assert len(identities) == 6 == len(set(identities)) and len(run.resumes) == 1


def test_resume_refuses_a_file_from_another_device(tmp_path, env):
    out = tmp_path / "run.jsonl"
    assert flopbench("run", suite(tmp_path), *FAST, "--out", str(out), env=env, cwd=tmp_path).returncode == 0
    lines = out.read_text().splitlines()
    head = json.loads(lines[0])
    head["device"].update(type="cuda", index=0, name="NVIDIA H100")
    out.write_text("\n".join([json.dumps(head), *lines[1:]]) + "\n")
    before = out.read_bytes()
    result = flopbench("run", suite(tmp_path), *FAST, "--resume", str(out), env=env, cwd=tmp_path)
    assert_one_line_error(result, "device: the file has cuda:0 (NVIDIA H100), this run cpu", "--out")
    assert out.read_bytes() == before


def test_peak_as_json_with_user_values(tmp_path, env):
    result = flopbench(
        "peak",
        "--device",
        "cpu",
        "--peak",
        "float32=1.5e12",
        "--bandwidth",
        "9e10",
        "--format",
        "json",
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["device"]["peaks"]["float32"] == {
        "value": 1.5e12,
        "source": "user",
        "detail": "given on the command line",
    }
    assert data["device"]["bandwidth"]["value"] == 9e10
    assert data["ceilings"] == {} and data["ceilings_measured_at"] is None


def test_peak_table_names_every_source(tmp_path, env):
    result = flopbench("peak", "--device", "cpu", "--bandwidth", "9e10", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "bandwidth" in result.stdout and "user" in result.stdout
    assert "not measured (flopbench peak --measure)" in result.stdout
