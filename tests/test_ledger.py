"""The loss ledger (flopbench.measuring.ledger): the factors multiply to achieved / peak, each step by hand, the
memory-bound op not charged twice, unknown steps said, and the wave quantization of a GEMM sweep on a fake 132-SM GPU
against a hand count of its tiles."""

import math

import pytest

from flopbench.machine.roofline import Roofline
from flopbench.measuring import records
from flopbench.measuring.ledger import largest_loss, ledger
from flopbench.results.schema import Device, LedgerStep, Peak
from flopbench.workloads import make_workload
from flopbench.workloads.parallel import tile_work, wave_efficiency


def cpu(cores=2, clock="sustained clock measured: a dependent chain of adds"):
    facts = {"peak_cores": cores, "frequency_hz": 3.0e9, "frequency_source": clock}
    return Device("cpu", None, "Test CPU", facts, {"float32": Peak(200e9, "derived", "test")}, Peak(50e9, "spec", "t"))


def gpu(sms=132):
    facts = {"multiprocessors": sms}
    return Device("cuda", 0, "Fake GPU", facts, {"bfloat16": Peak(1000e12, "spec", "t")}, Peak(3e12, "spec", "t"))


def _ledger(workload, device, seconds, ceilings=None, overhead_s=None, gpu_state=None):
    roofline = Roofline.build(device, ceilings, (), overhead_s, threads=2)
    key = workload.dtype
    derived = records.derive(workload.counts, key, seconds, roofline, op=workload.spec)
    placement = derived.parts[0]
    steps, note = ledger(
        workload.counts,
        placement,
        roofline,
        device,
        seconds,
        work=workload.spec.parallel_work(workload.p, device.type),
        gpu_state=gpu_state,
    )
    return placement, steps, note


def test_the_factors_multiply_to_the_share_of_the_peak_achieved():
    w = make_workload("matmul", dict(m=512, n=512, k=512))
    placement, steps, note = _ledger(w, cpu(), 3e-3, {"float32": Peak(160e9, "measured", "gemm")}, overhead_s=5e-6)
    assert note is None and [s.name for s in steps] == [
        "peak",
        "clock",
        "memory",
        "kernel",
        "overhead",
        "parallelism",
        "residual",
    ]
    product = math.prod(s.factor for s in steps if s.factor is not None)
    assert product == pytest.approx(placement.utilization, rel=1e-12)
    by = {s.name: s for s in steps}
    flops = 2 * 512**3
    assert by["peak"].ideal_s == pytest.approx(flops / 200e9)
    assert by["clock"].factor == 1.0 and by["clock"].source == "measured"  # the peak rests on the sustained clock
    assert by["kernel"].factor == pytest.approx(160 / 200)  # the best kernel measured here
    assert by["memory"].factor == 1.0  # compute-bound: 3 MB at 50 GB/s is 63 us, under 1.68 ms
    assert by["overhead"].factor == pytest.approx((flops / 160e9) / (flops / 160e9 + 5e-6))  # the floor adds
    assert by["parallelism"].factor == 1.0  # 64 tiles of 64x64 on 2 cores: every wave full
    assert by["residual"].ideal_s == 3e-3 and largest_loss(steps) == "residual"


def test_a_memory_bound_op_is_charged_to_its_memory_level_not_twice_to_parallelism():
    """An elementwise add of 1 Mi elements: 12 MB at 50 GB/s (240 us) against 1 Mi FLOPs at 200 GFLOP/s (5 us). On
    one core of 64 its compute would take 64x longer, still under the memory time: parallelism costs nothing."""
    w = make_workload("elementwise", dict(kind="add", numel=1 << 20))
    _, steps, _ = _ledger(w, cpu(cores=64), 300e-6)
    by = {s.name: s for s in steps}
    assert by["memory"].factor == pytest.approx((1 << 20) / 200e9 / ((3 << 20) * 4 / 50e9))
    assert by["parallelism"].factor == 1.0 and "32 chunks of 32768 elements on 64 cores" in by["parallelism"].detail
    assert largest_loss(steps) == "memory"


def test_what_cannot_be_known_here_says_why_and_is_never_a_silent_one():
    w = make_workload("matmul", dict(m=64, n=64, k=64))
    _, steps, _ = _ledger(w, cpu(clock="current clock from /proc/cpuinfo"), 1e-5)
    by = {s.name: s for s in steps}
    for name, why in (
        ("clock", "nominal clock"),
        ("kernel", "no float32 compute ceiling measured"),
        ("overhead", "no per-call floor measured"),
    ):
        assert by[name].factor is None and by[name].source == "unknown" and why in by[name].detail
    assert math.prod(s.factor for s in steps if s.factor is not None) == pytest.approx(
        (2 * 64**3 / 1e-5) / 200e9
    )  # the known ones still multiply out
    no_model = make_workload("rmsnorm", dict(rows=8, cols=100))
    roofline = Roofline.build(cpu(), None, (), None, threads=2)
    placement = records.derive(no_model.counts, "float32", 1e-5, roofline, op=no_model.spec).parts[0]
    steps, _ = ledger(no_model.counts, placement, roofline, cpu(), 1e-5, work=None)
    assert {s.name: s for s in steps}["parallelism"].detail == "the op has no parallel-work model"


def test_a_gpu_clock_under_its_boost_is_a_measured_loss():
    w = make_workload("matmul", dict(m=4096, n=4096, k=4096), dtype="bfloat16")
    state = {"after": {"sm_clock_mhz": 1500, "max_sm_clock_mhz": 1980}}
    _, steps, _ = _ledger(w, gpu(), 1e-3, gpu_state=state)
    clock = {s.name: s for s in steps}["clock"]
    assert clock.factor == pytest.approx(1500 / 1980) and clock.source == "measured" and "1500 MHz" in clock.detail


@pytest.mark.parametrize("n", [128 * k for k in range(1, 40)])
def test_a_gemm_n_sweep_on_132_sms_shows_the_sawtooth_of_its_waves(n):
    """m = 4096 and n swept in steps of 128 on a fake 132-SM GPU, 128 x 128 tiles: 32 x (n / 128) tiles in
    ceil(tiles / 132) waves, the factor tiles / (waves x 132), counted here by hand: full at 33 x 4 = 132 tiles
    (n = 512)..., the sawtooth falls just past each full wave."""
    tiles = 32 * (n // 128)
    waves = -(-tiles // 132)
    hand = tiles / (waves * 132)
    w = make_workload("matmul", dict(m=4096, n=n, k=4096), dtype="bfloat16")
    work = w.spec.parallel_work(w.p, "cuda")
    assert work.units == tiles and work.tile_efficiency == 1.0
    assert wave_efficiency(work.units, 132) == pytest.approx(hand)
    placement, steps, _ = _ledger(w, gpu(), 2 * 4096 * n * 4096 / 400e12)
    assert math.prod(s.factor for s in steps if s.factor is not None) == pytest.approx(placement.utilization)
    parallelism = {s.name: s for s in steps}["parallelism"]
    assert f"{tiles} 128x128 output tiles on 132 SMs" in parallelism.detail


def test_the_sawtooth_by_hand_and_a_ragged_tile():
    assert [round(wave_efficiency(32 * k, 132), 3) for k in (4, 5, 8, 9)] == [0.97, 0.606, 0.97, 0.727]
    ragged = tile_work(100, 200, 1, 128, "tiles", "", padded=True)
    assert ragged.units == 2 and ragged.tile_efficiency == pytest.approx(100 * 200 / (128 * 256))
    assert tile_work(100, 200, 1, 128, "tiles", "", padded=False).tile_efficiency == 1.0


def test_every_placed_record_of_a_run_has_a_ledger_that_multiplies_out(tmp_path, in_process):
    suite = tmp_path / "s.toml"
    suite.write_text(
        'name = "s"\n[[workload]]\nop = "matmul"\nm = 96\nn = 96\nk = 96\n'
        '[[workload]]\nop = "elementwise"\nkind = "relu"\nnumel = 100000\n'
        '[[workload]]\nop = "elementwise"\nkind = "copy"\nnumel = 100000\n'
    )
    done = in_process("run", str(suite), "--rounds", "1", "--min-time", "0.002", "--bandwidth", "2e10", "-o", "r.jsonl")
    assert done.returncode == 0, done.stderr
    from flopbench.results.files import read_run

    names = [r.name for r in read_run(tmp_path / "r.jsonl").records]
    for record in read_run(tmp_path / "r.jsonl").records:
        assert record.ledger, record.ledger_note
        product = math.prod(s.factor for s in record.ledger if s.factor is not None)
        if record.total_flops:
            assert product == pytest.approx(record.utilization, rel=1e-9)
        else:  # a copy: from its bytes at its level's roof to the measured time
            assert not record.utilization and product == pytest.approx(record.roofline_efficiency, rel=1e-9)
            unknown = [(s.name, s.factor) for s in record.ledger[1:4]]
            assert unknown == [("clock", None), ("memory", None), ("kernel", None)]
            assert all("no arithmetic" in s.detail for s in record.ledger[:4])
            assert "of its" in in_process("explain", "r.jsonl", record.name).stdout
    explained = in_process("explain", "r.jsonl", "--format", "csv")
    assert explained.returncode == 0 and "parallelism" in explained.stdout.splitlines()[0]
    one = in_process("explain", "r.jsonl", names[1])
    assert one.returncode == 0 and f"{names[1]}: " in one.stdout and "of peak" in one.stdout
    from tests.helpers import assert_one_line_error

    typo = names[1] + "x"
    assert_one_line_error(in_process("explain", "r.jsonl", typo), f"{typo}: no such workload", "did you mean")


def test_a_loss_under_one_percent_is_not_named():
    def step(name, factor):
        return LedgerStep(name=name, factor=factor, ideal_s=1.0, source="measured")

    assert largest_loss([step("peak", 1.0), step("overhead", 0.9999), step("residual", 1.09)]) is None
    assert largest_loss([step("peak", 1.0), step("overhead", 0.985), step("residual", 0.995)]) == "overhead"


def test_a_gpu_clock_is_judged_against_the_clock_the_datasheets_rates_assume():
    """An H100 SXM's 989 TFLOP/s bfloat16 are 132 SMs x 4096 FLOP/clock at 1830 MHz, not at NVML's 1980 MHz boost: a
    GPU at 1830 MHz ran its datasheet's clock (factor 1, where against the boost 8% fell on the clock step)."""
    from dataclasses import replace

    w = make_workload("matmul", dict(m=4096, n=4096, k=4096), dtype="bfloat16")
    rated = replace(gpu(), facts={**gpu().facts, "rates_clock_mhz": 1830})
    state = {"after": {"sm_clock_mhz": 1830, "max_sm_clock_mhz": 1980}}
    clock = {s.name: s for s in _ledger(w, rated, 1e-3, gpu_state=state)[1]}["clock"]
    assert clock.factor == pytest.approx(1.0) and "the 1830 MHz the datasheet's rates assume" in clock.detail
    from flopbench.machine.device import match_gpu_spec

    assert match_gpu_spec("NVIDIA H100 80GB HBM3")["rates_clock_mhz"] == 1830
    assert 132 * 4096 * 1830e6 == pytest.approx(989.4e12, rel=1e-3)  # the dense bfloat16 rate, less the sparsity


def test_a_memory_bound_record_loses_to_its_memory_level_never_to_its_kernel():
    """The roofline's bound comes first (issue 48): a stream add whose bytes at the DRAM roof take longer than its FLOPs
    at the compute ceiling has a kernel factor of exactly 1 (it read 0.92 before: the best GEMM's ceiling over the
    peak, charged to a kernel that moves bytes); a compute-bound GEMM keeps its kernel loss and a memory factor of 1."""
    ceilings = {"float32": Peak(184e9, "measured", "gemm"), "bandwidth": Peak(50e9, "measured", "stream")}
    add = make_workload("elementwise", dict(kind="add", numel=1 << 22))
    _, steps, _ = _ledger(add, cpu(), 2e-3, ceilings)
    by = {s.name: s for s in steps}
    assert by["kernel"].factor == 1.0 and "memory binds" in by["kernel"].detail
    assert by["memory"].factor == pytest.approx(
        (1 << 22) / 200e9 / ((3 << 22) * 4 / 50e9)
    )  # FLOPs at the peak over bytes
    gemm = make_workload("matmul", dict(m=512, n=512, k=512))
    _, steps, _ = _ledger(gemm, cpu(), 2e-3, ceilings)
    by = {s.name: s for s in steps}
    assert by["memory"].factor == 1.0 and by["kernel"].factor == pytest.approx(184 / 200)
