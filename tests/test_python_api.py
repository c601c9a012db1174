"""docs/python-api.md runs: every Python example in it, in order, in one namespace, in a directory whose results/
holds the committed reference runs."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_python_api_examples_run(tmp_path, monkeypatch):
    doc = (ROOT / "docs" / "python-api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    assert len(blocks) >= 6
    (tmp_path / "results").symlink_to(ROOT / "results")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOPBENCH_CACHE_DIR", str(tmp_path / "cache"))
    namespace: dict = {}
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"docs/python-api.md example {number}", "exec"), namespace)
    assert (tmp_path / "roofline.png").stat().st_size > 10_000 and os.path.exists("flops_vs_latency.png")


def test_a_library_user_gets_a_reader_s_notes_as_warnings_pointing_at_their_own_call(tmp_path):
    """load_results warns of a skipped line at the caller's line, not inside flopbench. (Here, not beside the other
    files tests: a mutation tester's trampolines add frames to every call, so no stack level holds under it.)"""
    import warnings

    from flopbench.results.files import ResultsWriter, load_results
    from tests.helpers import header, record

    path = tmp_path / "r.jsonl"
    writer = ResultsWriter.create(path, header())
    writer.record(record("a"))
    writer.close()
    path.write_text(path.read_text().replace("\n", "\ngarbage\n", 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_results(path)
    assert [str(w.message) for w in caught] == [
        f"{path}:2: not JSON (Expecting value: line 1 column 1 (char 0)); skipped"
    ]
    assert caught[0].filename == __file__ and caught[0].category is UserWarning


def test_the_package_lists_its_lazy_names_for_completion():
    import flopbench

    assert {"measure", "load_results", "__version__"} <= set(dir(flopbench))


def test_measure_the_plugin_and_run_judge_by_one_peak_on_an_empty_cache(tmp_path, monkeypatch):
    """With nothing cached, flopbench.measure and the pytest plugin measure the sustained clock once (as `flopbench
    run` does, where the OS gives no clock range) and cache it: all three judge a float32 call by the same peak (the
    plugin read the nominal clock's 166 GFLOP/s on the Zen 4 VM where run read 229)."""
    import textwrap

    import torch

    from flopbench.machine.device import clock_unknown, describe_cpu
    from flopbench.measuring import api, pytest_plugin
    from tests.helpers import cli

    if not clock_unknown(describe_cpu(torch.get_num_threads())):
        pytest.skip("this machine's OS gives a clock range (cpufreq): no clock is measured")
    monkeypatch.setenv("FLOPBENCH_CACHE_DIR", str(tmp_path / "cache"))
    api._machine.cache_clear()
    pytest_plugin._machine.cache_clear()
    try:
        x = torch.randn(32, 32)
        record = api.measure(torch.matmul, x, x, flops=2 * 32**3, device="cpu", rounds=1, min_time_s=0.01)
        plugin = pytest_plugin._machine("cpu").roofline.roof("float32").peak
    finally:
        api._machine.cache_clear()
        pytest_plugin._machine.cache_clear()
    assert plugin.value == pytest.approx(record.peak_flops_per_s) and "sustained clock measured" in plugin.detail
    suite = tmp_path / "s.toml"
    suite.write_text(textwrap.dedent('[[workload]]\nop = "matmul"\nm = 32\nn = 32\nk = 32\n'))
    env = {**os.environ, "FLOPBENCH_CACHE_DIR": str(tmp_path / "cache")}
    done = cli(
        "run",
        suite,
        "--device",
        "cpu",
        "--threads",
        str(torch.get_num_threads()),
        "--rounds",
        "1",
        "--min-time",
        "0.01",
        "--no-measure",
        "--bandwidth",
        "1e10",
        "-o",
        tmp_path / "r.jsonl",
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    from flopbench.results import read_run

    (ran,) = read_run(tmp_path / "r.jsonl").records
    assert ran.peak_flops_per_s == pytest.approx(plugin.value)
