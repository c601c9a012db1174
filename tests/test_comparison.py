"""Comparing runs with confidence (flopbench.reading.comparison): the intervals' coverage on synthetic round medians of
known distributions, every verdict, the family geometric mean, the CI gate, --best-impl and many machines."""

import json
import math

import numpy as np
import pytest

from flopbench.reading.comparison import Ratio, compare, geomean, repetitions, speedup
from flopbench.reading.view import load_views
from tests.fakes import fake_device, workloads, write_run
from tests.helpers import flopbench


@pytest.mark.parametrize("rounds", [3, 5, 10])
def test_the_speedup_interval_covers_the_true_ratio_about_95_percent_of_the_time(rounds):
    """Round medians log-normal around each run's true time (sigma 8%, another machine each run): over 2000 draws the
    95% interval holds the true ratio 1.25 about 95% of the time, at 3 rounds as at 10."""
    rng = np.random.default_rng(rounds)
    true, held = 1.25, 0
    draws = 2000
    for _ in range(draws):
        base = np.exp(rng.normal(math.log(1.25e-3), 0.08, rounds))
        other = np.exp(rng.normal(math.log(1e-3), 0.12, rounds))
        ratio = speedup(list(base), list(other))
        held += ratio.low <= true <= ratio.high
    assert 0.93 <= held / draws <= 0.97


def test_the_geometric_mean_interval_resamples_the_workloads():
    rng = np.random.default_rng(0)
    held, draws = 0, 400
    for _ in range(draws):
        ratios = np.exp(rng.normal(math.log(1.3), 0.1, 12))
        mean = geomean(list(ratios))
        held += mean.low <= 1.3 <= mean.high
    assert 0.88 <= held / draws <= 0.98  # a bootstrap of 12 workloads: close to its level
    one = geomean([1.2])
    assert one.value == one.low == one.high == pytest.approx(1.2)


@pytest.mark.parametrize(
    "ratio, verdict",
    [
        (Ratio(1.30, 1.20, 1.40, "rounds"), "faster"),
        (Ratio(0.80, 0.75, 0.86, "rounds"), "slower"),
        (Ratio(1.00, 0.97, 1.03, "rounds"), "same"),
        (Ratio(1.08, 1.02, 1.15, "rounds"), "unsure"),  # above 1, but it straddles 1.05
        (Ratio(0.99, 0.80, 1.20, "rounds"), "unsure"),  # too wide to say
    ],
)
def test_every_verdict(ratio, verdict):
    assert ratio.verdict(0.05) == verdict


def test_slower_with_confidence_needs_the_whole_interval_past_the_threshold():
    assert Ratio(0.85, 0.82, 0.88, "").slower_than(0.05)
    assert not Ratio(0.93, 0.90, 0.96, "").slower_than(0.05)  # 0.96 > 1/1.05: it could be within 5%
    assert Ratio(0.85, 0.82, 0.88, "").text() == "0.85x (0.82-0.88)"


def test_disturbed_rounds_widen_the_interval_never_leave_it():
    quiet = speedup([1.0e-3, 1.01e-3, 0.99e-3], [1.0e-3, 1.0e-3, 1.01e-3])
    disturbed = speedup([1.0e-3, 1.01e-3, 1.5e-3], [1.0e-3, 1.0e-3, 1.01e-3])  # one round 50% slow
    assert disturbed.high - disturbed.low > 5 * (quiet.high - quiet.low)


def test_one_round_falls_back_on_its_samples():
    from tests.helpers import record

    one = record("a", time_s=1e-3, samples_s=[1e-3, 1.1e-3, 0.9e-3])
    assert repetitions([one]) == ([1e-3, 1.1e-3, 0.9e-3], "samples")


# --- whole comparisons ----------------------------------------------------------------------------------------------


def _with_rounds(path, out, factor=1.0, slow=(), spread=0.02, seed=0):
    """The run at `path` with three rounds per record, scattered by `spread`, every time times `factor` (and the
    workloads named in `slow` 15% slower again)."""
    from flopbench.results.files import ResultsWriter, read_run
    from flopbench.results.schema import Round

    rng = np.random.default_rng(seed)
    run = read_run(path)
    writer = ResultsWriter.create(out, run.header.model_copy(update={"run_id": out.stem}))
    for r in run.records:
        scale = factor * (1.15 if r.name in slow else 1.0)
        times = [r.time_s * scale * math.exp(rng.normal(0, spread)) for _ in range(3)]
        rounds = [
            Round(round=i, position=i, time_s=t, samples_s=[t] * 5, calls_per_sample=1) for i, t in enumerate(times)
        ]
        time_s = float(np.median(times))
        writer.record(
            r.model_copy(
                update={
                    "rounds": rounds,
                    "time_s": time_s,
                    "total_flops_per_s": r.total_flops / time_s,
                    "core_flops_per_s": r.core_flops / time_s,
                }
            )
        )
    writer.close()
    return out


@pytest.fixture
def pair(tmp_path):
    plain = write_run(tmp_path / "plain.jsonl", fake_device())
    slow = workloads()[2].name
    return (
        _with_rounds(plain, tmp_path / "a.jsonl", seed=1),
        _with_rounds(plain, tmp_path / "b.jsonl", seed=2),
        _with_rounds(plain, tmp_path / "c.jsonl", slow=(slow,), seed=3),
        slow,
    )


def test_an_aa_pair_is_the_same_and_a_planted_slowdown_is_caught(pair):
    a, b, planted, slow = pair
    same = compare(load_views([a, b]))
    assert set(same.table["verdict[B]"]) <= {"same", "unsure"} and same.slower(0.05) == []
    caught = compare(load_views([a, planted]))
    verdicts = dict(zip(caught.table["name"], caught.table["verdict[B]"]))
    assert verdicts[slow] == "slower"
    (line,) = caught.slower(0.05)
    assert line.startswith(f"{slow} (float32): run B is 1.") and "over the 5% allowed" in line


def test_the_gate_exits_1_with_a_line_per_slower_workload_and_0_otherwise(pair, tmp_path):
    a, b, planted, slow = pair
    ok = flopbench("compare", str(a), str(b), "--fail-slower", "5%")
    assert ok.returncode == 0, ok.stderr
    failed = flopbench("compare", str(a), str(planted), "--fail-slower", "5%")
    assert failed.returncode == 1
    lines = [line for line in failed.stderr.splitlines() if line.startswith("flopbench: slower:")]
    assert len(lines) == 1 and slow in lines[0]
    bad = flopbench("compare", str(a), str(b), "--fail-slower", "5")
    assert bad.returncode == 2 and "expected a share" in bad.stderr


def test_json_and_csv_carry_the_bounds(pair):
    a, b, _, _ = pair
    data = json.loads(flopbench("compare", str(a), str(b), "--format", "json").stdout)
    row = data["workloads"][0]
    assert {"speedup[B]", "speedup_low[B]", "speedup_high[B]", "verdict[B]", "roof_ratio[B]"} <= set(row)
    assert row["speedup_low[B]"] <= row["speedup[B]"] <= row["speedup_high[B]"]
    assert {"geomean_low", "geomean_high"} <= set(data["summary"][0]) and data["confidence"] == 0.95
    table = flopbench("compare", str(a), str(b)).stdout
    assert "verdict B" in table and "x (" in table


def test_the_roofs_predict_the_bandwidth_ratio_for_memory_bound_work(tmp_path):
    a = write_run(tmp_path / "a.jsonl", fake_device(float32=100e9, bandwidth=10e9))
    b = write_run(tmp_path / "b.jsonl", fake_device("Big CPU", float32=300e9, bandwidth=40e9))
    result = compare(load_views([a, b]))
    rows = result.table.set_index("name")
    assert rows.loc["elementwise-add-n4194304", "roof_ratio[B]"] == pytest.approx(4.0)  # bandwidth-bound
    assert rows.loc["matmul-m1024-n1024-k1024", "roof_ratio[B]"] == pytest.approx(3.0)  # compute-bound
    assert rows.loc["matmul-m1024-n1024-k1024", "vs_roof[B]"] == pytest.approx(1.0)  # both at 50% of their roofline


def test_many_machines_make_a_matrix_and_a_heat_map(pair, tmp_path):
    from flopbench.reading.plots import comparison_matrix

    a, b, planted, _ = pair
    result = compare(load_views([a, b, planted]), baseline=1)
    assert result.baseline == "B" and result.others == ["A", "C"]
    matrix = result.matrix()
    assert list(matrix.index) == ["A", "C"] and "all" in matrix.columns and "x (" in matrix.loc["A", "all"]
    figure = comparison_matrix(result)
    assert figure is not None and len(figure.axes[0].texts) == len(result.summary)
    out = flopbench("compare", str(a), str(b), str(planted), "--baseline", "B", "--out", str(tmp_path / "cmp"))
    assert out.returncode == 0, out.stderr and "machines x families" in out.stdout
    assert (tmp_path / "cmp" / "compare_matrix.png").exists()


def test_best_impl_compares_each_runs_fastest_implementation(tmp_path):
    """A run that measured a workload two ways is compared by its faster way; by identity, only like with like."""
    from flopbench.results.files import ResultsWriter, read_run

    a = write_run(tmp_path / "a.jsonl", fake_device())
    run = read_run(a)
    b = tmp_path / "b.jsonl"
    writer = ResultsWriter.create(b, run.header.model_copy(update={"run_id": "b"}))
    for r in run.records:
        writer.record(r)
        fast = r.time_s / 2
        writer.record(
            r.model_copy(
                update={
                    "impl": "compile",
                    "identity": r.identity[:-1] + ', "compile"]',
                    "name": r.name + "-compile",
                    "time_s": fast,
                    "samples_s": [fast] * 5,
                    "total_flops_per_s": r.total_flops / fast,
                    "core_flops_per_s": r.core_flops / fast,
                }
            )
        )
    writer.close()
    plain = compare(load_views([a, b]))
    assert set(plain.table["impl"]) == {"eager"}
    n = len(plain.table)
    assert n > 0 and plain.table["speedup[B]"].tolist() == pytest.approx([1.0] * n)
    best = compare(load_views([a, b]), best_impl=True)
    assert best.table["speedup[B]"].tolist() == pytest.approx([2.0] * len(best.table))
