"""The runner's metrics (checked by hand), and its records for workloads that fail or cannot run."""

import pytest

from flopbench.machine.roofline import Roofline
from flopbench.measuring import records
from flopbench.measuring import runner as runner_module
from flopbench.measuring.admission import Cause, peak_key
from flopbench.results.schema import Device, Peak
from flopbench.workloads import make_workload
from tests.helpers import FixedTimer, device, runner


def derive(workload, seconds, dev=None, ceilings=None):
    """The placement fields (and warnings) of `workload` measured at `seconds` a call on `dev`."""
    roofline = Roofline.build(dev or device(), ceilings)
    derived = records.derive(workload.counts, workload.dtype, seconds, roofline, op=workload.spec)
    out = {k: v for part in derived.parts for k, v in part.model_dump().items()}
    return {**out, "time_s": seconds, "warnings": derived.warnings}


def test_compute_bound_metrics_by_hand():
    w = make_workload("matmul", dict(m=256, n=256, k=256))  # intensity 256/6 = 42.7 FLOP/byte
    out = derive(w, 1e-3, ceilings={"float32": Peak(80e9, "measured", "gemm")})
    flops = 2 * 256**3
    assert out["time_s"] == 1e-3
    assert out["total_flops_per_s"] == pytest.approx(flops / 1e-3)
    assert out["bytes_per_s"] == pytest.approx(3 * 256 * 256 * 4 / 1e-3)
    assert out["utilization"] == pytest.approx(flops / 1e-3 / 100e9)
    assert out["ceiling_utilization"] == pytest.approx(flops / 1e-3 / 80e9)
    assert out["ridge_intensity"] == pytest.approx(100e9 / 10e9)
    assert out["bound"] == "compute"
    assert out["roofline_flops_per_s"] == 100e9
    assert out["roofline_efficiency"] == pytest.approx(out["utilization"])
    assert (out["peak_key"], out["peak_source"]) == ("float32", "spec")
    assert out["warnings"] == []


def test_memory_bound_metrics_by_hand():
    w = make_workload("elementwise", dict(kind="add", numel=1_000_000))  # 1/12 FLOP per byte
    out = derive(w, 2e-3)
    assert out["bound"] == "memory"
    assert out["roofline_flops_per_s"] == pytest.approx(1 / 12 * 10e9)
    # Efficiency against the slanted roof: achieved bandwidth over the bandwidth roof.
    assert out["roofline_efficiency"] == pytest.approx(12e6 / 2e-3 / 10e9)
    assert out["roofline_efficiency"] == pytest.approx(out["total_flops_per_s"] / out["roofline_flops_per_s"])


def test_copy_has_no_flops_but_a_roofline_efficiency():
    w = make_workload("elementwise", dict(kind="copy", numel=1_000_000))
    out = derive(w, 1e-3)
    assert out["total_flops_per_s"] == 0 and out["bound"] == "memory"
    assert out["roofline_efficiency"] == pytest.approx(8e6 / 1e-3 / 10e9)


def test_faster_than_the_peak_or_the_bandwidth_is_called_out():
    gemm = make_workload("matmul", dict(m=1000, n=1000, k=1000))
    out = derive(gemm, 2e9 / 200e9)
    assert any(
        "above the spec float32 peak" in w and "datasheet" in w and "--peak float32=" in w for w in out["warnings"]
    )
    # A derived peak points at its factors (a base clock read where the CPU boosts), not at the datasheet.
    derived = device(peaks={"float32": Peak(100e9, "derived", "2 cores x 32 FLOP/cycle x 1.56 GHz")})
    out = derive(gemm, 2e9 / 200e9, derived)
    (above,) = [w for w in out["warnings"] if "above the derived float32 peak" in w]
    assert "base clock" in above and "datasheet" not in above
    # Above the DRAM roof, the reason comes from the working set and the caches the OS reports.
    copy = make_workload("elementwise", dict(kind="copy", numel=1_000_000))  # 8 MB
    cached = device(facts={"l3_bytes": 16 << 20, "l3_instances": 1})
    (above,) = [w for w in derive(copy, 8e6 / 20e9, cached)["warnings"] if "above the spec DRAM bandwidth" in w]
    assert "stays in a cache: its 8 MB fit in L3 (16.8 MB), whose roof is not measured" in above
    big = make_workload("elementwise", dict(kind="copy", numel=100_000_000))  # 800 MB, far past every cache
    (above,) = [w for w in derive(big, 8e8 / 20e9, cached)["warnings"] if "above the spec DRAM bandwidth" in w]
    assert "the DRAM ceiling is low" in above


def test_no_bandwidth_means_no_roofline_and_a_warning_that_says_how_to_get_one():
    w = make_workload("matmul", dict(m=64, n=64, k=64))
    out = derive(w, 1e-4, device(bandwidth=None))
    assert out["bound"] is None and out["roofline_flops_per_s"] is None
    assert out["utilization"] is not None
    assert any("no roofline" in w and "--measure" in w for w in out["warnings"])


def test_measured_ceilings_fill_in_for_unknown_roofs():
    w = make_workload("matmul", dict(m=256, n=256, k=256))  # 42.7 FLOP/byte, above the ridge at 20
    out = derive(w, 1e-4, device(bandwidth=None), {"bandwidth": Peak(5e9, "measured", "stream")})
    assert out["bandwidth_source"] == "measured" and out["bound"] == "compute"
    assert out["ridge_intensity"] == pytest.approx(100e9 / 5e9)


def test_unknown_dtype_peak_gives_no_utilization():
    w = make_workload("matmul", dict(m=64, n=64, k=64), dtype="float64")
    out = derive(w, 1e-4)
    assert out["utilization"] is None and out["peak_source"] == "unknown"


def test_tf32_peak_only_for_float32_contractions_on_cuda():
    cuda = Device("cuda", 0, "Fake GPU", {}, {}, Peak(1e12, "spec", "x"))
    gemm = make_workload("matmul", dict(m=64, n=64, k=64))
    assert peak_key(gemm, cuda.type, True) == "tf32"
    assert peak_key(gemm, cuda.type, False) == "float32"
    assert peak_key(gemm, device().type, True) == "float32"  # not on a CPU
    relu = make_workload("elementwise", dict(kind="relu", numel=64))
    assert peak_key(relu, cuda.type, True) == "float32"  # no contraction
    bf16 = make_workload("matmul", dict(m=64, n=64, k=64), dtype="bfloat16")
    assert peak_key(bf16, cuda.type, True) == "bfloat16"


def run_one(workload, seconds=1e-3):
    return runner(timer=FixedTimer(seconds)).run_one(workload)


def test_an_ok_record_keeps_raw_samples_counts_and_check():
    record = run_one(
        make_workload("conv2d", dict(batch=1, in_channels=3, out_channels=8, height=16, width=16, kernel=3))
    )
    assert record.status == "ok" and record.reason is None
    assert record.pooled_samples_s == [1e-3] * 5 and record.samples_s == [] and record.calls_per_sample == 1
    assert record.check_error <= record.check_tolerance
    assert record.params["kernel"] == [3, 3] and record.family == "conv"
    assert record.core_flops == 2 * 8 * 14 * 14 * 3 * 9
    assert record.wall_s > 0


def test_a_wrong_kernel_fails_its_check_and_is_never_timed(monkeypatch):
    w = make_workload("matmul", dict(m=32, n=32, k=32))
    real = w.spec.forward
    monkeypatch.setattr(w.spec, "forward", lambda p, t: real(p, t) * 0)
    timer = FixedTimer(1e-3)
    timer.measure = lambda fn, max_call_s=None: pytest.fail("a workload that failed its check was timed")
    record = runner(timer=timer).run_one(w)
    assert record.status == "failed" and record.cause == Cause.CHECK_FAILED
    assert "output check FAILED" in record.reason
    assert record.time_s is None and record.samples_s == []


def test_an_unsupported_kernel_is_recorded_as_failed(monkeypatch):
    w = make_workload("matmul", dict(m=32, n=32, k=32), dtype="float16")

    def unsupported(p, t):
        raise RuntimeError("\"addmm_impl_cpu_\" not implemented for 'Half'\nmore detail")

    monkeypatch.setattr(w.spec, "forward", unsupported)
    record = run_one(w)
    assert record.status == "failed" and record.cause == Cause.CHECK_ERROR
    assert record.reason == "output check could not run: RuntimeError: \"addmm_impl_cpu_\" not implemented for 'Half'"


def test_a_workload_too_big_for_memory_is_skipped(monkeypatch):
    monkeypatch.setattr(runner_module, "available_memory", lambda d: 1_000_000)
    record = run_one(make_workload("matmul", dict(m=1024, n=1024, k=1024)))
    assert record.status == "skipped" and record.cause == Cause.MEMORY and "KiB is free on cpu" in record.reason


def test_run_hands_each_record_over_as_it_is_made():
    seen = []
    names = []
    runner(on_record=seen.append).run(
        [make_workload("matmul", dict(m=8, n=8, k=8)), make_workload("softmax", dict(rows=4, cols=8))],
        before=lambda w: names.append((w.name, len(seen))),
    )
    assert [r.name for r in seen] == ["matmul-m8-n8-k8", "softmax-r4-c8"]
    assert names == [("matmul-m8-n8-k8", 0), ("softmax-r4-c8", 1)]


def test_a_users_function_is_measured_in_rounds_and_placed_by_its_declared_counts():
    """flopbench.measure's path: the runner's rounds and record builder around any callable."""
    from flopbench.measuring.api import describe_call
    from tests.helpers import runner as make_runner

    calls = []
    what, counts = describe_call(lambda: calls.append(1), 2_000_000, 12_000, 0, "float32", "mine")
    r = make_runner(timer=FixedTimer(1e-3), rounds=3)
    record = r.run_callable(lambda: calls.append(1), what, counts, "float32")
    assert record.status == "ok" and record.name == "mine" and record.op == "callable" and len(record.rounds) == 3
    assert record.time_s == 1e-3 and record.total_flops_per_s == 2e9 and record.utilization == 2e9 / 100e9
    assert record.bound is not None and calls  # placed on the test device's roofline; the function ran
    failing = r.run_callable(lambda: 1 / 0, what, counts, "float32")
    assert failing.status == "failed" and "ZeroDivisionError" in failing.reason


def test_declared_counts_are_checked_before_anything_runs():
    from flopbench.measuring.api import describe_call

    for flops, fragment in ((None, "needs flops="), (-1, "flops=-1"), (1.5, "flops=1.5"), (float("nan"), "nan")):
        with pytest.raises((TypeError, ValueError), match=fragment):
            describe_call(print, flops, 0, 0, "float32", None)
    with pytest.raises(ValueError, match="did you mean 'float32'"):
        describe_call(print, 1, 0, 0, "float23", None)
