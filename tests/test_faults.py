"""Faults and bad input, as a user meets them: a full disk, two writers at once, cut and corrupt files, Ctrl-C at
start-up, numbers that are not finite. Each is one line and exit 2 (or works), and no finished record is lost."""

import contextlib
import functools
import json
import os
import re
import resource
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from flopbench.results.files import ResultsWriteError, ResultsWriter, read_run
from tests.helpers import assert_one_line_error, cli, ctrl_c_as_in_a_terminal


def assert_run_ends_with_one_error(result, *fragments):
    """A run prints its progress, then stops with exactly one error line, last; no traceback."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("flopbench: error:")]
    assert errors == [lines[-1]] and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[-1]


SUITE = """
name = "faults"
[[workload]]
op = "matmul"
name = "mm"
[workload.sweep]
"m=n=k" = [8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52]
[[workload]]
op = "softmax"
rows = 8
cols = 32
"""
N_RECORDS = 13
FAST = ["--device", "cpu", "--min-time", "0.005", "--bandwidth", "2e10", "--rounds", "1", "--threads", "1"]


def _env(where):
    return {**os.environ, "FLOPBENCH_CACHE_DIR": str(where / "cache"), "PYTHONDONTWRITEBYTECODE": "1"}


def _suite(where):
    path = where / "faults.toml"
    path.write_text(textwrap.dedent(SUITE))
    return str(path)


@pytest.fixture
def env(tmp_path):
    return _env(tmp_path)


def flopbench(*args, env, cwd, preexec_fn=None, timeout=300, process=False):
    """The CLI in this process (tests.helpers.cli), or in a subprocess where only a process shows the fault: a file
    size limit, a signal, the interpreter's own start-up (process=True, or a preexec_fn)."""
    if not process and preexec_fn is None:
        return cli(*args, env=env, cwd=cwd)
    return subprocess.run(
        [sys.executable, "-m", "flopbench", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        preexec_fn=preexec_fn,
    )


@pytest.fixture
def suite(tmp_path):
    return _suite(tmp_path)


def finished_records_all_load(path, reported_intact):
    run = read_run(path)
    assert len(run.records) == reported_intact and all(r.status == "ok" for r in run.records)
    assert all(n.endswith("(the run was interrupted); ignored") for n in run.notes), run.notes  # at most a cut line
    return run


# --- a full disk -------------------------------------------------------------------------------------------------


def _intact(stderr):
    import re

    match = re.search(r"(\d+) records? (?:is|are) intact in it", stderr)
    assert match, stderr
    return int(match.group(1))


def _limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # then a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


# The size limit must fall after the first record and before the last, whatever the machine. With FAST's 5 ms of
# samples in 0.25 ms blocks (at most 10x that in all), a record keeps 20 to 200 samples twice (the record's and its
# round's): about 2.5 to 11 kB as JSON; the header is about 4 kB. So 20 kB always holds the header and the first
# record, and never the header and 13 records (at least about 36 kB).
FILE_LIMIT = 20_000


def test_a_write_that_fails_mid_run_ends_it_with_one_line_and_the_resume_command(tmp_path, env, suite):
    out = tmp_path / "run.jsonl"
    result = flopbench(
        "run", suite, *FAST, "--out", str(out), env=env, cwd=tmp_path, preexec_fn=_limit_file_size(FILE_LIMIT)
    )
    assert_run_ends_with_one_error(
        result,
        f"cannot write {out}: File too large",
        "intact",
        f"continue with: flopbench run {suite}",
        f"--resume {out}",
    )
    intact = _intact(result.stderr)
    assert 1 <= intact < N_RECORDS
    finished_records_all_load(out, intact)
    resumed = flopbench("run", suite, *FAST, "--resume", str(out), env=env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    run = read_run(out)
    assert len({r.identity for r in run.records}) == len(run.records) == N_RECORDS and run.notes == []


@contextlib.contextmanager
def tmpfs(path, size):
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}): the RLIMIT_FSIZE test covers it")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_really_full_disk(tmp_path, env, suite):
    with tmpfs(tmp_path / "disk", "16k") as disk:
        out = disk / "run.jsonl"
        result = flopbench("run", suite, *FAST, "--out", str(out), env=env, cwd=tmp_path)
        assert_run_ends_with_one_error(result, "No space left on device", "intact", f"--resume {out}")
        finished_records_all_load(out, _intact(result.stderr))


def test_an_injected_write_error_keeps_every_earlier_record(tmp_path, monkeypatch):
    from tests.helpers import header, record

    path = tmp_path / "r.jsonl"
    writer = ResultsWriter.create(path, header())
    writer.record(record("a"))
    real_write = os.write

    def half_then_enospc(fd, data):  # the disk fills up in the middle of a line
        real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_enospc)
    with pytest.raises(ResultsWriteError, match="No space left on device; 1 record is intact in it"):
        writer.record(record("b"))
    monkeypatch.setattr(os, "write", real_write)
    writer.close()
    assert [r.name for r in read_run(path).records] == ["a"]
    writer, run, repaired = ResultsWriter.resume(path)
    assert "was cut" in repaired and [r.name for r in run.records] == ["a"]
    writer.record(record("b"))
    writer.close()
    again = read_run(path)
    assert [r.name for r in again.records] == ["a", "b"] and again.notes == []


# --- two writers ---------------------------------------------------------------------------------------------------


def test_two_runs_onto_one_new_file_cannot_both_succeed(tmp_path, env, suite):
    out = tmp_path / "run.jsonl"
    args = [sys.executable, "-m", "flopbench", "run", suite, *FAST, "--out", str(out)]
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        for _ in range(2)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]  # the pipes read while waiting, never after
    results = [(p.returncode, err) for p, err in zip(procs, errors)]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "exists" in loser and len(loser.strip().splitlines()) == 1
    run = read_run(out)
    assert len(run.records) == N_RECORDS and len({r.identity for r in run.records}) == N_RECORDS


def test_a_resume_while_another_process_writes_the_file_is_refused(tmp_path, env, suite):
    out = tmp_path / "run.jsonl"
    assert flopbench("run", suite, *FAST, "--only", "m8", "--out", str(out), env=env, cwd=tmp_path).returncode == 0
    before = out.read_bytes()
    holder, _, _ = ResultsWriter.resume(out)  # another flopbench holds the lock
    try:
        result = flopbench("run", suite, *FAST, "--only", "m8", "--resume", str(out), env=env, cwd=tmp_path)
        assert_one_line_error(result, "another flopbench process is writing it")
    finally:
        holder.close()
    assert out.read_bytes() == before


# --- resuming ------------------------------------------------------------------------------------------------------


def test_resume_repairs_a_cut_last_line_and_finishes_the_run(tmp_path, env, suite):
    out = tmp_path / "run.jsonl"
    assert flopbench("run", suite, *FAST, "--out", str(out), env=env, cwd=tmp_path).returncode == 0
    lines = out.read_text().splitlines(keepends=True)
    cut = "".join(lines[:4]) + lines[4][:100]  # header, three records, a third of the fourth: a full disk
    out.write_text(cut)
    result = flopbench("run", suite, *FAST, "--resume", str(out), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "was cut" in result.stderr and "removed, keeping every whole line" in result.stderr
    run = read_run(out)
    assert run.notes == [] and len(run.records) == N_RECORDS and len({r.identity for r in run.records}) == N_RECORDS
    assert run.resumes[0].repaired and run.resumes[0].skipped == 3


@pytest.mark.parametrize(
    "change, fragment",
    [
        (["--threads", "2"], "threads: the file has 1, this run 2"),
        (["--min-time", "0.01"], "min_time_s: the file has 0.005, this run 0.01"),
        (["--dtype", "float64"], "dtype: the file has None, this run 'float64'"),
    ],
)
def test_resume_refuses_another_run_naming_what_differs(tmp_path, env, suite, change, fragment):
    out = tmp_path / "run.jsonl"
    assert flopbench("run", suite, *FAST, "--only", "m8", "--out", str(out), env=env, cwd=tmp_path).returncode == 0
    before = out.read_bytes()
    args = [*FAST, "--only", "m8"]
    for option, value in zip(change[::2], change[1::2]):
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    result = flopbench("run", suite, *args, "--resume", str(out), env=env, cwd=tmp_path)
    assert_one_line_error(result, "this run is not the one in the file", fragment, "start a new file")
    assert out.read_bytes() == before


def test_resume_refuses_a_changed_suite_file(tmp_path, env, suite):
    out = tmp_path / "run.jsonl"
    assert flopbench("run", suite, *FAST, "--only", "m8", "--out", str(out), env=env, cwd=tmp_path).returncode == 0
    with open(suite, "a") as f:
        f.write('\n[[workload]]\nop = "softmax"\nrows = 4\ncols = 4\n')
    result = flopbench("run", suite, *FAST, "--only", "m8", "--resume", str(out), env=env, cwd=tmp_path)
    assert_one_line_error(result, "suites: the file has faults (")


def test_resume_refuses_a_pytest_benchmark_file_and_leaves_it_alone(tmp_path, env, suite):
    out = tmp_path / "bench.json"
    out.write_text(json.dumps({"machine_info": {}, "benchmarks": []}, indent=1))
    before = out.read_bytes()
    result = flopbench("run", suite, *FAST, "--resume", str(out), env=env, cwd=tmp_path)
    assert_one_line_error(result, "is a pytest-benchmark file", "--resume continues a run written by")
    assert out.read_bytes() == before


# --- files that are not what they claim ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_lines(tmp_path_factory):
    """One small measured run's lines, for the tests below to damage (measured once: each run is seconds)."""
    where = tmp_path_factory.mktemp("good")
    out = where / "good.jsonl"
    result = flopbench("run", _suite(where), *FAST, "--only", "m(8|12)-", "--out", str(out), env=_env(where), cwd=where)
    assert result.returncode == 0, result.stderr
    return out.read_text().splitlines()


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda lines: "[1, 2]\n" + "\n".join(lines[1:]), ":1: the first line is a JSON list, not a flopbench header"),
        (
            lambda lines: re.sub('"schema_version":[0-9]+', '"schema_version":0', lines[0]) + "\n",
            "schema_version 0 is not a flopbench results schema",
        ),
        (lambda lines: "garbage" + "\n".join(lines), ":1: not JSON"),
        (lambda lines: "", "empty"),
    ],
)
def test_a_damaged_header_is_one_line_for_every_reader(tmp_path, env, in_process, good_lines, make, fragment):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(make(good_lines))
    for command in (
        ["report", str(bad)],
        ["plot", str(bad)],
        ["compare", str(bad), str(bad)],
        ["export", str(bad), "--to", "csv", "-o", str(tmp_path / "x.csv")],
    ):
        assert_one_line_error(in_process(*command), fragment)


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda line: "null", "null, not a record; skipped"),
        (lambda line: line.replace('"core_flops":', '"flops_gone":'), "core_flops: Field required"),
        (lambda line: line[:40], "not JSON"),
    ],
)
def test_a_damaged_record_is_skipped_with_a_warning_and_the_rest_is_reported(
    tmp_path, in_process, good_lines, damage, fragment
):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([good_lines[0], damage(good_lines[1]), *good_lines[2:]]) + "\n")
    result = in_process("report", str(bad), "--out", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("flopbench: warning:")]
    assert len(warnings) == 1 and f"{bad}:2:" in warnings[0] and fragment in warnings[0]
    report = (tmp_path / "r" / "report.md").read_text()
    assert "mm-m12-n12-k12" in report and "mm-m8-n8-k8" not in report.split("## Results by family")[1]


def test_a_header_without_records(tmp_path, in_process, good_lines):
    bad = tmp_path / "empty_run.jsonl"
    bad.write_text(good_lines[0] + "\n")
    assert_one_line_error(in_process("report", str(bad)), "no records to report")
    assert in_process("plot", str(bad)).returncode == 0  # nothing to draw, and says so


def test_a_damaged_header_as_a_user_meets_it(tmp_path, env, good_lines):
    """The same one line from a real process (the tests above run main() in this one)."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text("garbage" + "\n".join(good_lines))
    assert_one_line_error(flopbench("report", str(bad), env=env, cwd=tmp_path, process=True), ":1: not JSON")


@pytest.mark.parametrize(
    "document, fragment",
    [
        ({"benchmarks": {"a": 1}}, "no 'benchmarks' list"),
        ([1, 2], "list, not an object"),
    ],
)
def test_a_damaged_pytest_benchmark_file_is_one_line(tmp_path, in_process, document, fragment):
    bad = tmp_path / "bench.json"
    bad.write_text(json.dumps(document))
    assert_one_line_error(in_process("plot", str(bad)), fragment)


def test_pytest_benchmark_entries_without_stats_are_left_out_with_a_warning(tmp_path, in_process):
    bad = tmp_path / "bench.json"
    bad.write_text(
        json.dumps(
            {
                "benchmarks": [
                    {"name": "x", "extra_info": {"core_flops": 10}, "stats": None},
                    {"name": "y", "extra_info": {"flops": 10}, "stats": {"data": "not a list"}},
                ]
            }
        )
    )
    result = in_process("plot", str(bad))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("no raw timing data") == 2


# --- options and start-up --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--min-time", "inf"], "--min-time 'inf': expected a finite number greater than 0"),
        (["--min-time", "nan"], "--min-time 'nan': expected a finite number"),
        (["--min-time", "-1"], "--min-time '-1'"),
        (["--bandwidth", "inf"], "--bandwidth 'inf'"),
        (["--peak", "float32=inf"], "not a finite positive number"),
        (["--threads", "1.5"], "--threads '1.5': expected a whole number"),
        (["--dist-timeout", "0"], "--dist-timeout '0'"),
    ],
)
def test_every_numeric_option_is_finite_and_positive(tmp_path, env, suite, args, fragment):
    assert_one_line_error(flopbench("run", suite, "--device", "cpu", *args, env=env, cwd=tmp_path), fragment)
    assert not (tmp_path / "results").exists()


def test_more_threads_than_cpus_warns(tmp_path, env, suite):
    result = flopbench(
        "run",
        suite,
        *FAST[:-2],
        "--threads",
        str(len(os.sched_getaffinity(0)) + 1),
        "--only",
        "m8",
        "--out",
        str(tmp_path / "r.jsonl"),
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "more than the" in result.stderr and "CPUs this process may use" in result.stderr


@pytest.mark.parametrize(
    "out, fragment",
    [
        ("{tmp}", "is a directory"),
        ("{suite}/run.jsonl", "is a file, where a directory must be"),
    ],
)
def test_an_out_path_that_cannot_be_a_results_file(tmp_path, env, suite, out, fragment):
    result = flopbench("run", suite, *FAST, "--out", out.format(tmp=tmp_path, suite=suite), env=env, cwd=tmp_path)
    assert_one_line_error(result, fragment)


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only mount needs root")
def test_an_out_path_on_a_read_only_disk(tmp_path, env, suite):
    with tmpfs(tmp_path / "ro", "64k") as disk:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        result = flopbench("run", suite, *FAST, "--out", str(disk / "run.jsonl"), env=env, cwd=tmp_path)
        assert_one_line_error(result, "cannot create", "Read-only file system", "choose another --out")


@functools.cache
def interpreter_start_s() -> float:
    """How long this machine's Python takes to start (site and the editable install's finder included), best of 3:
    before then an interrupt is the interpreter's, not flopbench's."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return min(times)


@pytest.mark.parametrize("after", [0.03, 0.08, 0.2, 0.4])
def test_ctrl_c_during_start_up_is_one_line_and_130(tmp_path, env, suite, after):
    """At any moment of start-up (flopbench's own imports, pydantic's, torch's): exit 130 and one line. An interrupt
    inside a compiled extension's import once left numpy half initialized, or panicked pydantic-core. The moments
    are `after` seconds past the interpreter's own start-up on this machine (a fixed delay of 50 ms from the
    process's start landed in site's imports on one machine, in flopbench's on another)."""
    delay = interpreter_start_s() + after
    process = subprocess.Popen(
        [sys.executable, "-m", "flopbench", "run", suite, *FAST],
        preexec_fn=ctrl_c_as_in_a_terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "flopbench: interrupted" and "Traceback" not in stderr
    assert "failed" not in stderr  # never a run that goes on with broken libraries


def test_started_with_ctrl_c_ignored_it_stays_ignored(tmp_path, env):
    """`flopbench ... &` in a script starts with SIGINT ignored: holding Ctrl-C during start-up must not undo that."""
    process = subprocess.Popen(
        [sys.executable, "-m", "flopbench", "count", "matmul", "m=8", "n=8", "k=8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    time.sleep(interpreter_start_s() + 0.03)
    process.send_signal(signal.SIGINT)
    out, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "matmul" in out and "interrupted" not in stderr


def test_a_damaged_ceilings_cache_is_a_warning_and_measured_again(tmp_path, in_process):
    cache = tmp_path / "cache"
    cache.mkdir()
    for content in ("{not json", json.dumps([1, 2]), json.dumps({"version": 2, "entries": {"x": 5}})):
        (cache / "ceilings.json").write_text(content)
        result = in_process("peak", "--device", "cpu")
        assert result.returncode == 0, result.stderr
        (warning,) = [line for line in result.stderr.splitlines() if line.startswith("flopbench: warning:")]
        assert f"{cache / 'ceilings.json'}: " in warning and "it is ignored" in warning, result.stderr


def test_a_factory_that_raises(tmp_path, env):
    (tmp_path / "broken.py").write_text(
        textwrap.dedent("""
        import torch
        def model():
            raise ValueError("no weights here")
        def good():
            return torch.nn.Linear(4, 4)
        def inputs():
            raise RuntimeError("cannot make inputs")
    """)
    )
    assert_one_line_error(
        flopbench("count-model", "broken:model", "--input", "1,4", env=env, cwd=tmp_path),
        "factory 'broken:model' failed: ValueError: no weights here",
    )
    assert_one_line_error(
        flopbench("count-model", "broken:good", "--input-factory", "broken:inputs", env=env, cwd=tmp_path),
        "--input-factory 'broken:inputs' failed: RuntimeError",
    )


def test_suite_input_problems(tmp_path, env):
    (tmp_path / "bom.toml").write_bytes(b"\xef\xbb\xbf" + b'[[workload]]\nop = "matmul"\nm = 8\nn = 8\nk = 8\n')
    assert flopbench("count", "bom.toml", env=env, cwd=tmp_path).returncode == 0
    assert_one_line_error(flopbench("count", str(tmp_path), env=env, cwd=tmp_path), "is a directory")
    assert_one_line_error(
        flopbench("count", "matmull", "m=64", env=env, cwd=tmp_path), "unknown op 'matmull'", "did you mean 'matmul'"
    )
    values = list(range(1, 101))
    (tmp_path / "huge.toml").write_text(
        f'[[workload]]\nop = "matmul"\n[workload.sweep]\nm = {values}\nn = {values}\nk = {values}\n'
    )
    started = time.time()
    assert_one_line_error(
        flopbench("count", "huge.toml", env=env, cwd=tmp_path), "1,000,000 points (100 x 100 x 100)", "at most 10,000"
    )
    assert time.time() - started < 30  # refused before it is expanded


def test_the_pytest_plugin_refuses_impossible_counts(pytester):
    pytester.makepyfile(
        textwrap.dedent("""
        import pytest
        @pytest.mark.parametrize("kwargs", [dict(flops=-1), dict(flops=float("nan")), dict(flops=10, bytes=-5),
                                            dict(flops=10, dtype="abc")])
        def test_bad(flops_benchmark, kwargs):
            flops_benchmark(sum, [1, 2], **kwargs)
    """)
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--benchmark-disable")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        ["*flops=-1: expected a whole number >= 0*", "*flops=nan*", "*bytes=-5*", "*dtype='abc'*expected one of*"]
    )
