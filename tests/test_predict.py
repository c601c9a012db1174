"""Latency predictors (flopbench.reading.predict, predict, calibrate): fitted on synthetic times generated from a chosen
roofline, efficiency and overhead, the fit recovers them; leave-one-out never lets a workload predict itself; across
machines only the target's roofs are used."""

import json

import numpy as np
import pandas as pd
import pytest

from flopbench.reading.predict import (
    PREDICTORS,
    Points,
    across,
    factors,
    fit,
    leave_one_out,
    roofline_measured_s,
    what_if,
)
from tests.fakes import fake_device, write_run
from tests.helpers import assert_one_line_error, flopbench

EFFICIENCY = {
    ("matmul", "float32"): 0.7,
    ("matmul", "bfloat16"): 0.45,
    ("conv", "float32"): 0.55,
    ("elementwise", "float32"): 0.35,
}
OVERHEAD = 15e-6


def synthetic(compute=100e9, bfloat16=400e9, bandwidth=10e9, overhead=OVERHEAD, efficiency=EFFICIENCY, seed=0):
    """Workloads spanning six decades of FLOPs and both sides of the ridge, timed exactly by the model."""
    rng = np.random.default_rng(seed)
    rows = []
    for (family, dtype), e in efficiency.items():
        for i in range(8):
            flops = float(10 ** rng.uniform(4, 10))
            intensity = 0.1 if family == "elementwise" else float(10 ** rng.uniform(0, 2.5))
            peak = bfloat16 if dtype == "bfloat16" else compute
            roof = max(flops / peak, flops / intensity / bandwidth)  # the synthetic machine's truth, by hand
            rows.append(
                {
                    "identity": f"{family}-{dtype}-{i}",
                    "name": f"{family}-{dtype}-{i}",
                    "family": family,
                    "dtype": dtype,
                    "flops": flops,
                    "bytes": flops / intensity,
                    "time_s": overhead + roof / e,
                    "peak": peak,
                    "ceiling": peak,
                    "peak_bandwidth_known": True,
                    "roofline_peak_s": roof,
                    "roofline_measured_s": roof,
                    "roofline_cache_s": roof,
                    "memory_bound": flops / intensity / bandwidth > flops / peak,
                }
            )
    return Points(pd.DataFrame(rows), "synthetic")


def test_the_fit_recovers_the_efficiencies_and_the_overhead():
    data = synthetic()
    model = fit(data.frame, roofline_measured_s(data.frame))
    assert model.overhead_s == pytest.approx(OVERHEAD, rel=1e-4)
    for group, e in EFFICIENCY.items():
        assert model.efficiency[group] == pytest.approx(e, rel=1e-4)
    assert model.workloads[("conv", "float32")] == 8


def test_leave_one_out_scores_every_predictor_and_the_true_model_wins():
    evaluation = leave_one_out(synthetic())
    scores = {s.name: s for s in evaluation.scores}
    assert [s.name for s in evaluation.scores] == list(PREDICTORS)
    assert scores["fitted"].median_factor == pytest.approx(1.0, abs=1e-3)
    assert scores["fitted"].within_1_25x == 1.0
    # The peak roofline ignores efficiency (off by 1/e) and the overhead; FLOPs alone ignore the memory side too.
    assert scores["roofline-peak"].median_factor > 1.3
    assert scores["flops"].median_factor > scores["fitted"].median_factor
    assert set(evaluation.families) == {"matmul", "conv", "elementwise"}


def test_leave_one_out_never_uses_a_workloads_own_time():
    data = synthetic()
    frame = data.frame.copy()
    frame.loc[0, "time_s"] *= 1000  # one absurd measurement: its own prediction must not follow it
    evaluation = leave_one_out(Points(frame, "synthetic"))
    table = evaluation.table()
    assert table.loc[0, "fitted_factor"] == pytest.approx(1000, rel=0.05)
    assert table.loc[0, "flops_factor"] > 100


def test_a_prediction_factor_is_symmetric():
    assert factors(np.array([2.0, 0.5]), np.array([1.0, 1.0])) == pytest.approx([2.0, 2.0])


def test_across_machines_uses_only_the_targets_roofs():
    a = synthetic(seed=1)
    b = synthetic(compute=300e9, bfloat16=1200e9, bandwidth=40e9, seed=2)  # same efficiencies, a faster machine
    evaluation = across(a, b)
    scores = {s.name: s for s in evaluation.scores}
    assert scores["fitted"].median_factor == pytest.approx(1.0, abs=1e-3)
    assert "predicting synthetic" in evaluation.what


def test_what_if_is_labelled_a_prediction():
    from flopbench.machine.roofline import MEMORY, ComputeRoof, Level, Roofline
    from flopbench.results.schema import Peak

    gpu = Roofline(
        {k: ComputeRoof(k, Peak(v, "spec", "sheet")) for k, v in {"float32": 1e12, "bfloat16": 4e12}.items()},
        (Level(MEMORY, None, Peak(1e12, "spec", "sheet")),),
    )
    table = what_if(synthetic(), gpu, "Some GPU")
    assert (table["label"] == "prediction").all() and (table["device"] == "Some GPU").all()
    # Efficiencies under 1 and an overhead: the fitted time is longer than the datasheet roofline's.
    assert (table["predicted_fitted_s"] > table["predicted_roofline_s"]).all()
    assert (table["predicted_roofline_s"] > 0).all()


# --- the commands -------------------------------------------------------------------------------------------------


@pytest.fixture
def two_runs(tmp_path):
    slow = write_run(tmp_path / "slow.jsonl", fake_device("Slow CPU"), efficiency=0.5)
    fast = write_run(
        tmp_path / "fast.jsonl", fake_device("Fast CPU", float32=400e9, bfloat16=1600e9, bandwidth=40e9), efficiency=0.5
    )
    return slow, fast


def test_predict_json_contract(two_runs):
    slow, fast = two_runs
    result = flopbench("predict", str(slow), "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [p["name"] for p in data["predictors"]] == list(PREDICTORS)
    for p in data["predictors"]:
        assert set(p) >= {"name", "median_factor", "within_1_25x", "within_2x", "worst"}
        assert set(p["worst"]) == {"name", "factor"} and 0 <= p["within_2x"] <= 1
    assert "matmul" in data["families"]
    assert data["excluded"] == {"elementwise-copy-n4194304": "0 FLOPs: a FLOP count cannot predict its time"}
    target = json.loads(flopbench("predict", str(slow), "--target", str(fast), "--format", "json").stdout)["target"]
    assert target["evaluation"].startswith("fitted on cpu (Slow CPU)") and len(target["predictors"]) == len(PREDICTORS)
    table = flopbench("predict", str(slow), "--target", str(fast))
    assert table.returncode == 0 and "predicting cpu (Fast CPU)" in table.stdout.replace("\n", " ")


def test_predict_a_device_from_its_datasheet(two_runs):
    slow, _ = two_runs
    result = flopbench("predict", str(slow), "--device-spec", "h100_sxm", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["prediction"] is True and data["device"] == "NVIDIA H100 SXM5"
    assert all(w["label"] == "prediction" for w in data["workloads"])
    table = flopbench("predict", str(slow), "--device-spec", "H100 SXM")
    assert "PREDICTION (not measured)" in table.stdout and "not measurements" in table.stdout


def test_calibrate_writes_the_fit(two_runs, tmp_path):
    slow, _ = two_runs
    out = tmp_path / "cal" / "device.json"
    result = flopbench("calibrate", str(slow), "-o", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["device"]["name"] == "Slow CPU" and data["overhead_s"] >= 0
    efficiencies = {(e["family"], e["dtype"]): e["efficiency"] for e in data["efficiencies"]}
    assert efficiencies[("matmul", "float32")] == pytest.approx(0.5, rel=0.05)  # every workload at 50% of its roof
    assert data["errors"]["fitted"]["median_factor"] < 1.05


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--device-spec", "h100_sxn"], "did you mean 'h100_sxm'"),
        (["--device-spec", "abacus"], "not in peaks.toml"),
    ],
)
def test_predict_errors_are_one_line(two_runs, args, fragment):
    slow, _ = two_runs
    assert_one_line_error(flopbench("predict", str(slow), *args), fragment)


def test_predict_refuses_to_pool_two_devices(two_runs):
    slow, fast = two_runs
    assert_one_line_error(flopbench("predict", str(slow), str(fast)), "runs of 2 devices", "--target")
