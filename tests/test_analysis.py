"""The study and the comparison, on result files whose times the tests choose."""

import math

import numpy as np
import pytest

from flopbench.reading.analysis import cause, contrasts, study
from flopbench.reading.comparison import compare
from flopbench.reading.view import load_view, load_views
from tests.fakes import fake_device, workloads, write_run


@pytest.fixture
def run(tmp_path):
    return load_view(write_run(tmp_path / "a.jsonl", fake_device()))


def test_spearman_is_one_when_time_grows_with_flops(tmp_path):
    device = fake_device()
    ws = [w for w in workloads() if w.counts.total_flops]
    times = {w.name: w.counts.total_flops / 1e9 for w in ws}  # the same FLOP/s everywhere
    s = study(load_view(write_run(tmp_path / "a.jsonl", device, times)))
    assert s.spearman == pytest.approx(1.0)
    assert s.spread == pytest.approx(1.0)


def test_spearman_and_spread_by_hand(tmp_path):
    ws = [w for w in workloads() if w.counts.total_flops]
    rng = np.random.default_rng(1)
    times = {w.name: float(t) for w, t in zip(ws, rng.uniform(1e-4, 1e-2, len(ws)))}
    frame = load_view(write_run(tmp_path / "a.jsonl", fake_device(), times))
    s = study(frame)
    flops = np.array([w.counts.total_flops for w in ws], dtype=float)
    t = np.array([times[w.name] for w in ws])
    ranks = lambda v: np.argsort(np.argsort(v))  # noqa: E731  (no ties here)
    assert s.spearman == pytest.approx(np.corrcoef(ranks(flops), ranks(t))[0, 1])
    rates = flops / t
    assert s.spread == pytest.approx(rates.max() / rates.min())
    assert s.best["name"] == ws[int(rates.argmax())].name
    assert s.workloads == len(ws)  # copy (0 FLOPs) is left out


def test_contrasts_pick_matching_pairs_and_name_the_cause(run):
    found = {c.title: c for c in contrasts(run)}
    assert set(found) == {
        "depthwise against standard convolution",
        "GEMV against GEMM",
        "short against long attention sequences",
        "memory-bound elementwise against compute-bound matmul",
    }
    dw = found["depthwise against standard convolution"]
    assert (dw.a["name"], dw.b["op"]) == ("depthwise_conv2d-b1-c144-h56-w56-k3-p1", "conv2d")
    assert dw.cause == "memory traffic" and dw.a["bound"] == "memory" and dw.b["bound"] == "compute"
    gemv = found["GEMV against GEMM"]
    assert gemv.a["n"] == 1 and gemv.b["k"] == 1024  # the GEMM with the same k
    assert gemv.flops_ratio == pytest.approx(gemv.a["total_flops"] / gemv.b["total_flops"])
    assert gemv.per_flop == pytest.approx(gemv.time_ratio / gemv.flops_ratio)
    assert "memory-bound at 0.499 FLOP/byte" in gemv.conclusion()
    attention = found["short against long attention sequences"]
    assert (attention.a["seq_len"], attention.b["seq_len"]) == (128, 1024)
    elementwise = found["memory-bound elementwise against compute-bound matmul"]
    assert elementwise.a["name"] == "elementwise-add-n4194304"  # copy has no FLOPs to compare


def test_cause_rules():
    compute = {"time_s": 1e-3, "total_flops": 1e8, "bound": "compute", "roofline_efficiency": 0.8}
    same_rate = {**compute, "time_s": 1e-4, "total_flops": 1e7}
    assert cause(same_rate, compute) == ""  # FLOPs predict it
    memory = {**compute, "time_s": 1e-3, "total_flops": 1e6, "bound": "memory"}
    assert cause(memory, compute) == "memory traffic"
    tiny = {**compute, "time_s": 10e-6, "total_flops": 1e3}
    assert cause(tiny, compute) == "launch or Python overhead"
    slow = {**compute, "time_s": 1e-2, "total_flops": 1e8, "roofline_efficiency": 0.1}
    assert cause(slow, compute) == "low parallelism"


def test_compare_speedups_on_a_hand_made_pair(tmp_path):
    fast_device = fake_device("Fast CPU", float32=300e9, bfloat16=1200e9, bandwidth=10e9)
    base_times = {w.name: 1e-3 for w in workloads()}
    # Run B: compute-bound work twice as fast, the rest the same.
    doubled = {"matmul", "conv2d", "attention"}
    b_times = {
        w.name: 5e-4 if w.op in doubled and w.counts.flops and w.p.get("n", 2) != 1 else 1e-3 for w in workloads()
    }
    a = write_run(tmp_path / "a.jsonl", fake_device(), base_times)
    b = write_run(tmp_path / "b.jsonl", fast_device, b_times)
    result = compare(load_views([a, b]))
    assert list(result.runs["run"]) == ["A", "B"]
    assert list(result.runs["device"]) == ["cpu (Test CPU)", "cpu (Fast CPU)"]
    table = result.table.set_index("name")
    assert table.loc["matmul-m512-n512-k512", "speedup[B]"] == pytest.approx(2.0)
    assert table.loc["matmul-m1024-n1-k1024", "speedup[B]"] == pytest.approx(1.0)
    assert table.loc["elementwise-add-n4194304", "speedup[B]"] == pytest.approx(1.0)
    assert table.loc["matmul-m512-n512-k512", "peak_ratio[B]"] == pytest.approx(3.0)
    summary = result.summary.set_index("family")
    assert summary.loc["conv", "geomean_speedup"] == pytest.approx(math.sqrt(2.0))  # conv2d 2x, depthwise 1x
    assert summary.loc["elementwise", "geomean_speedup"] == pytest.approx(1.0)
    matmuls = table[table["family"] == "matmul"]["speedup[B]"]
    assert summary.loc["matmul", "geomean_speedup"] == pytest.approx(math.prod(matmuls) ** (1 / len(matmuls)))
    all_speedups = table["speedup[B]"]
    assert summary.loc["all", "geomean_speedup"] == pytest.approx(math.prod(all_speedups) ** (1 / len(all_speedups)))
    assert summary.loc["all", "peak_ratio"] == pytest.approx(3.0)
    assert result.warnings == []


def test_compare_names_what_differs(tmp_path):
    a = write_run(tmp_path / "a.jsonl", fake_device(), threads=1, torch_version="2.5.0")
    b = write_run(tmp_path / "b.jsonl", fake_device(), threads=8, torch_version="2.6.0")
    warnings = compare(load_views([a, b])).warnings
    assert any("threads: A: 1; B: 8" in w for w in warnings)
    assert any("torch version: A: 2.5.0; B: 2.6.0" in w for w in warnings)


def test_a_run_of_other_families_has_no_contrasts_to_draw_but_a_study(tmp_path):
    import tests.fakes as fakes
    from tests.fakes import WORKLOADS

    only_attention = [w for w in WORKLOADS if w[0] == "attention"]
    original = fakes.WORKLOADS
    fakes.WORKLOADS = only_attention
    try:
        frame = load_view(write_run(tmp_path / "a.jsonl", fake_device()))
    finally:
        fakes.WORKLOADS = original
    assert "kernel" not in frame.frame and "k" not in frame.frame
    s = study(frame)
    assert [c.title for c in s.contrasts] == ["short against long attention sequences"]
