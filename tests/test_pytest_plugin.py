"""The pytest-benchmark integration: real pytest sessions with the plugin, export, import, round trips."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# torch is imported before any test: the pytester fixture restores sys.modules after each test, and torch's C
# extension cannot be imported a second time in one process (a fixture importing it first would do exactly that).
import torch  # noqa: F401

from flopbench.machine.cache import CacheEntry, machine_identity, save
from flopbench.machine.device import describe
from flopbench.measuring.pytest_plugin import _machine
from flopbench.reading.plots import draw_figures
from flopbench.reading.view import load_view
from flopbench.results.files import load_results
from flopbench.results.schema import Peak
from tests.fakes import fake_device, write_run
from tests.helpers import assert_one_line_error, flopbench

REPO = Path(__file__).resolve().parent.parent

TESTS = """
import pytest
from flopbench.workloads import make_workload

def test_workload(flops_benchmark):
    flops_benchmark(make_workload("matmul", {"m": 64, "n": 48, "k": 32}))

def test_callable(flops_benchmark):
    import torch
    a, b = torch.randn(40, 30), torch.randn(30, 20)
    flops_benchmark(torch.mm, a, b, flops=2 * 40 * 30 * 20, bytes=(40 * 30 + 30 * 20 + 40 * 20) * 4)

def test_plain(benchmark):
    benchmark(sum, range(10))
"""

FAST = [
    "--benchmark-min-time=0.0005",
    "--benchmark-max-time=0.05",
    "--benchmark-min-rounds=3",
    "-p",
    "no:cacheprovider",
]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A measured bandwidth in the ceiling cache, so that benchmarks get a roofline."""
    monkeypatch.setenv("FLOPBENCH_CACHE_DIR", str(tmp_path / "cache"))
    _machine.cache_clear()  # the sessions below run in this process: each resolves its machine from this cache
    threads = torch.get_num_threads()
    save(
        CacheEntry(
            identity=machine_identity(describe("cpu", threads), threads),
            measured_at="2026-01-01T00:00:00",
            ceilings={"bandwidth": Peak(20e9, "measured", "test")},
        )
    )
    return tmp_path / "cache"


def test_a_pytest_session_stores_flop_fields_in_extra_info(pytester, cache):
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("--flopbench-device", "cpu", "--benchmark-json=out.json", *FAST)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["*flopbench: achieved FLOP/s*", "benchmark*median*achieved*% peak*", "test_workload*FLOP/s*float32*(derived)"]
    )
    data = json.loads((pytester.path / "out.json").read_text())
    by_name = {b["name"]: b for b in data["benchmarks"]}
    workload = by_name["test_workload"]["extra_info"]
    median = by_name["test_workload"]["stats"]["median"]
    assert workload["core_flops"] == 2 * 64 * 48 * 32 and workload["op"] == "matmul"
    assert workload["time_s"] == pytest.approx(median)
    assert workload["total_flops_per_s"] == pytest.approx(workload["total_flops"] / median)
    assert workload["utilization"] == pytest.approx(workload["total_flops_per_s"] / workload["peak_flops_per_s"])
    assert workload["peak_source"] == "derived" and workload["peak_key"] == "float32"
    assert workload["bound"] in ("memory", "compute") and workload["bandwidth_source"] == "measured"
    mine = by_name["test_callable"]["extra_info"]
    assert mine["core_flops"] == 2 * 40 * 30 * 20 and mine["op"] == "callable" and mine["bytes"] == 4 * 2600
    assert mine["total_flops_per_s"] == pytest.approx(mine["core_flops"] / by_name["test_callable"]["stats"]["median"])
    assert by_name["test_plain"]["extra_info"] == {}  # plain benchmarks are left alone
    assert data["machine_info"]["flopbench"]["device"]["peaks"]["float32"]["source"] == "derived"


def test_a_callable_without_flops_is_a_clear_error(pytester):
    pytester.makepyfile("""
        def test_bad(flops_benchmark):
            flops_benchmark(sum, [1, 2])
    """)
    result = pytester.runpytest("--flopbench-device", "cpu", *FAST)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*needs flops=*"])


@pytest.mark.filterwarnings("ignore:Benchmark machine_info is different")  # each session's flopbench header is its own
def test_benchmark_compare_and_compare_fail_keep_working(pytester, cache):
    pytester.makepyfile(TESTS)
    storage = f"--benchmark-storage=file://{pytester.path / 'store'}"
    first = pytester.runpytest("--flopbench-device", "cpu", "--benchmark-autosave", storage, *FAST)
    first.assert_outcomes(passed=3)
    # A threshold on the median (a mean of a few microsecond rounds is one preemption away from 1000x): no
    # real machine regresses a hundredfold between two runs a second apart, loaded or not.
    second = pytester.runpytest(
        "--flopbench-device", "cpu", "--benchmark-compare", storage, "--benchmark-compare-fail=median:10000%", *FAST
    )
    second.assert_outcomes(passed=3)
    second.stderr.fnmatch_lines(["*Comparing against benchmarks from*"])
    second.stdout.fnmatch_lines(["*test_workload (0001*"])
    # A baseline a thousand times faster than anything real: every benchmark has regressed against it.
    (saved,) = (pytester.path / "store").rglob("0001_*.json")
    data = json.loads(saved.read_text())
    for bench in data["benchmarks"]:
        bench["stats"].update(
            {k: v / 1000 for k, v in bench["stats"].items() if k in ("min", "max", "mean", "median", "q1", "q3")}
        )
    saved.write_text(json.dumps(data))
    failing = pytester.runpytest(
        "--flopbench-device", "cpu", "--benchmark-compare=0001", storage, "--benchmark-compare-fail=min:5%", *FAST
    )
    assert failing.ret != 0
    assert "Performance has regressed" in failing.stdout.str() + failing.stderr.str()


def test_the_shipped_suites_run_as_pytest_benchmark_tests(tmp_path, cache):
    suite = tmp_path / "tiny.toml"
    suite.write_text(
        textwrap.dedent("""
        [[workload]]
        op = "matmul"
        name = "mm"
        [workload.sweep]
        "m=n=k" = [16, 32]
        [[workload]]
        op = "softmax"
        rows = 8
        cols = 64
        [[workload]]
        op = "matmul"
        name = "gpu-only"
        devices = ["cuda"]
        m = 8
        n = 8
        k = 8
    """)
    )
    out = tmp_path / "suite.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(REPO / "benchmarks"),
            "--benchmark-only",
            f"--benchmark-json={out}",
            "--flopbench-suite",
            str(suite),
            "--flopbench-device",
            "cpu",
            "-q",
            *FAST,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "FLOPBENCH_CACHE_DIR": str(cache)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    names = [b["name"] for b in json.loads(out.read_text())["benchmarks"]]
    assert sorted(names) == [
        "test_workload[mm-m16-n16-k16]",
        "test_workload[mm-m32-n32-k32]",
        "test_workload[softmax-r8-c64]",
    ]
    frame = load_results(out)
    assert sorted(frame["name"]) == ["mm-m16-n16-k16", "mm-m32-n32-k32", "softmax-r8-c64"]
    assert set(frame["family"]) == {"matmul", "elementwise"}


def test_export_is_read_by_pytest_benchmark_compare(tmp_path):
    run = write_run(tmp_path / "run.jsonl", fake_device())
    exported = tmp_path / "run.json"
    result = flopbench("export", str(run), "--to", "pytest-benchmark", "-o", str(exported))
    assert result.returncode == 0, result.stderr
    script = Path(sys.executable).with_name("pytest-benchmark")
    shown = subprocess.run([str(script), "compare", str(exported)], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    for record in load_results(run).itertuples():
        assert record.name in shown.stdout
    assert "benchmark 'matmul'" in shown.stdout  # grouped by family


def test_export_import_round_trip_keeps_every_workload_and_figure(tmp_path):
    run = write_run(tmp_path / "run.jsonl", fake_device())
    exported = tmp_path / "run.json"
    assert flopbench("export", str(run), "--to", "pytest-benchmark", "-o", str(exported)).returncode == 0
    before, after = load_results(run), load_results(exported)
    for column in (
        "name",
        "identity",
        "op",
        "family",
        "dtype",
        "core_flops",
        "bytes",
        "time_s",
        "time_iqr_s",
        "total_flops_per_s",
        "utilization",
        "roofline_efficiency",
        "bound",
        "samples_s",
        "run_id",
        "device_label",
        "m",
        "seq_len",
    ):
        assert before[column].astype(str).tolist() == after[column].astype(str).tolist(), column
    figures_before = [d.name for d in draw_figures(load_view(run))]
    figures_after = [d.name for d in draw_figures(load_view(exported))]
    assert (
        sorted(figures_before)
        == sorted(figures_after)
        == [
            "flops_vs_latency",
            "predictors",
            "roofline",
            "sweeps",
            "utilization",
        ]
    )


def test_plot_and_compare_accept_pytest_benchmark_files(tmp_path):
    a = write_run(tmp_path / "a.jsonl", fake_device())
    b = write_run(tmp_path / "b.jsonl", fake_device("Fast CPU", float32=200e9), run_id="b")
    exported = tmp_path / "b.json"
    flopbench("export", str(b), "--to", "pytest-benchmark", "-o", str(exported))
    compared = flopbench("compare", str(a), str(exported), "--format", "json")
    assert compared.returncode == 0, compared.stderr
    assert len(json.loads(compared.stdout)["workloads"]) == len(load_results(a)[load_results(a)["total_flops"] > 0]) + 1
    plotted = flopbench("plot", str(exported), "--out", str(tmp_path / "figs"))
    assert plotted.returncode == 0 and (tmp_path / "figs" / "roofline.png").exists()


def test_export_errors(tmp_path):
    run = write_run(tmp_path / "run.jsonl", fake_device())
    taken = tmp_path / "taken.json"
    taken.write_text("{}")
    assert_one_line_error(flopbench("export", str(run), "--to", "pytest-benchmark", "-o", str(taken)), "exists")
    assert_one_line_error(
        flopbench("export", str(run), str(run), "--to", "pytest-benchmark", "-o", str(tmp_path / "x.json")),
        "one results file at a time",
    )
    not_benchmarks = tmp_path / "other.json"
    not_benchmarks.write_text('{"hello": 1}')
    assert_one_line_error(flopbench("plot", str(not_benchmarks)), "no 'benchmarks' list")


def test_csv_export(tmp_path):
    run = write_run(tmp_path / "run.jsonl", fake_device())
    out = tmp_path / "run.csv"
    assert flopbench("export", str(run), "--to", "csv", "-o", str(out)).returncode == 0
    import pandas as pd

    assert len(pd.read_csv(out)) == len(load_results(run))


def test_the_flopbench_ab_fixture_asserts_b_is_not_slower_than_a(pytester, cache):
    """A test asserts that B is not slower than A by 5% with the `flopbench_ab` fixture (flopbench.ab): the same
    function twice (an A/A) is shown not slower, a function doing twice the work is slower with confidence."""
    pytester.makepyfile("""
        import torch

        x = torch.randn(96, 96)


        def once():
            return x @ x


        def twice():
            x @ x
            return x @ x


        def test_aa(flopbench_ab):
            result = flopbench_ab(once, once, flops=2 * 96**3, min_time_s=0.01, max_rounds=12, max_time_s=20)
            assert result.status in (0, 2) and result.rounds >= 5, result.text()
            assert result.a.name == "once (A)" and result.b.name == "once (B)"


        def test_twice_is_slower(flopbench_ab):
            result = flopbench_ab(once, twice, flops=2 * 96**3, min_time_s=0.01, max_rounds=8, max_time_s=20)
            assert result.status == 1 and not result.not_slower and result.speedup < 0.75, result.text()
            assert result.lines and "over the 5% allowed" in result.lines[0]
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
