"""The roofline (flopbench.machine.roofline) by hand: which source judges, the level a working set lives in, the three
regimes, the cache levels read off a sweep (flopbench.measuring.ceilings), the clock and cold caches."""

import pytest

from flopbench.machine import cache
from flopbench.machine.roofline import MEMORY, ComputeRoof, Level, Roofline, SweepPoint, cache_sizes, judge
from flopbench.measuring import ceilings as measure
from flopbench.results.schema import Device, Peak
from tests.helpers import device

KIB, MIB = 2**10, 2**20


def cpu(facts=None, bandwidth=None):
    facts = {"l1_bytes": 32 * KIB, "l1_instances": 2, "l2_bytes": 512 * KIB, "l2_instances": 2, "l3_bytes": 32 * MIB}
    return device(bandwidth=bandwidth, facts={**facts, "l3_instances": 1})


def test_one_rule_for_which_source_judges():
    derived, measured, user = (Peak(100e9, "derived", "d"), Peak(120e9, "measured", "m"), Peak(50e9, "user", "u"))
    assert judge(derived, measured) is measured  # a machine that reaches more than its peak: the peak is too low
    assert judge(derived, Peak(80e9, "measured", "m")) is derived
    assert judge(user, measured) is user  # what the user said wins
    assert judge(Peak(None, "unknown", "x"), measured) is measured
    assert not judge(Peak(None, "unknown", "x"), None).known


def test_private_caches_hold_what_the_threads_reach_and_a_shared_one_whole():
    one, two = cache_sizes(cpu(), threads=1), cache_sizes(cpu(), threads=2)
    assert [(level.name, level.capacity_bytes) for level in one] == [
        ("L1", 32 * KIB),
        ("L2", 512 * KIB),
        ("L3", 32 * MIB),
    ]
    assert [level.capacity_bytes for level in two] == [64 * KIB, MIB, 32 * MIB]
    assert not any(level.roof.known for level in two)  # sizes from the OS; roofs only when measured


def test_cache_sizes_by_hand_notes_and_all():
    """Four private L2s reached by 2 threads; with no thread count, all four; a shared L3 whole; a missing, zero or
    non-integer size is no level; an old file's last-level cache alone is one LLC level."""
    facts = {"l1_bytes": 0, "l2_bytes": 512 * KIB, "l2_instances": 4, "l3_bytes": 32 * MIB, "l3_instances": 1}
    two = cache_sizes(device(facts=facts), threads=2)
    assert [(level.name, level.capacity_bytes, level.note) for level in two] == [
        ("L2", MIB, "524 kB per instance (2 of 4 instances), from the OS"),
        ("L3", 32 * MIB, "33.6 MB per instance (shared), from the OS"),
    ]
    assert [level.roof.detail for level in two] == [
        "L2 is not measured (flopbench peak --measure)",
        "L3 is not measured (flopbench peak --measure)",
    ]
    assert all(level.ceiling is None and level.roof.source == "unknown" for level in two)
    assert [level.capacity_bytes for level in cache_sizes(device(facts=facts))] == [2 * MIB, 32 * MIB]
    assert cache_sizes(device(facts={**facts, "l2_bytes": "512K"}), threads=2)[0].name == "L3"
    no_count = cache_sizes(device(facts={"l2_bytes": 256 * KIB}), threads=8)
    assert [(level.capacity_bytes, level.note) for level in no_count] == [
        (256 * KIB, "262 kB per instance (shared), from the OS")
    ]  # an unknown instance count is one instance
    (llc,) = cache_sizes(device(facts={"llc_bytes": 16 * MIB}), threads=2)
    assert (llc.name, llc.capacity_bytes, llc.note) == ("LLC", 16 * MIB, "16.8 MB, the last-level cache, from the OS")
    assert llc.roof.detail == "the last-level cache is not measured" and llc.roof.source == "unknown"
    assert cache_sizes(device(facts={"l3_bytes": 8 * MIB, "llc_bytes": 16 * MIB}))[0].name == "L3"  # named levels win
    assert cache_sizes(device(facts={})) == []


def measured_levels(l2=80e9, l3=120e9, l3_plateau=16 * MIB):
    return (
        Level("L2", MIB, Peak(None, "unknown", "x"), Peak(l2, "measured", "sweep")),
        Level("L3", 32 * MIB, Peak(None, "unknown", "x"), Peak(l3, "measured", "sweep"), "", l3_plateau),
    )


def test_a_working_set_lives_in_the_smallest_measured_level_that_holds_it():
    roofs = Roofline.build(cpu(), {"bandwidth": Peak(30e9, "measured", "stream")}, measured_levels(), threads=2)
    assert [level.name for level in roofs.levels] == ["L1", "L2", "L3", MEMORY]
    assert roofs.level_for(20 * KIB).name == "L2"  # L1 is not measured: the next level that is judges
    assert roofs.level_for(MIB).name == "L2"
    assert roofs.level_for(8 * MIB).name == "L3"
    assert roofs.level_for(24 * MIB).name == MEMORY  # past where the sweep still reached L3's plateau
    assert roofs.level_for(8 * MIB, cache="cold").name == MEMORY  # evicted before every call


def test_placement_against_its_own_level_with_the_dram_placement_beside_it():
    roofs = Roofline.build(cpu(), {"bandwidth": Peak(30e9, "measured", "stream")}, measured_levels(), threads=2)
    # An add over 4 MiB in all: 1/12 FLOP per byte, living in L3.
    placed = roofs.place(total_flops=350_000, core_flops=0, traffic=4_200_000, key="float32", time_s=70e-6)
    p = placed.placement
    assert (p.level, p.bound, p.bandwidth_bytes_per_s) == ("L3", "memory", 120e9)
    assert p.roofline_efficiency == pytest.approx(4.2e6 / 70e-6 / 120e9)  # 50% of L3's roof
    assert p.dram_bound == "memory" and p.dram_roofline_efficiency == pytest.approx(4.2e6 / 70e-6 / 30e9)
    assert p.working_set_bytes == 4_200_000 and placed.warnings == ()


def test_three_regimes_overhead_when_the_floor_is_most_of_a_call():
    levels = measured_levels()
    roofs = Roofline.build(cpu(), {"bandwidth": Peak(30e9, "measured", "stream")}, levels, overhead_s=2e-6, threads=2)
    tiny = roofs.place(total_flops=2_000, core_flops=2_000, traffic=3_000, key="float32", time_s=3e-6).placement
    assert tiny.bound == "overhead" and tiny.overhead_s == 2e-6
    gemm = roofs.place(2 * 512**3, 2 * 512**3, 3 * 512 * 512 * 4, "float32", 2 * 512**3 / 80e9).placement
    assert gemm.bound == "compute"


def test_above_its_own_roof_is_called_out_with_the_reason():
    roofs = Roofline.build(cpu(), {"bandwidth": Peak(30e9, "measured", "stream")}, measured_levels(), threads=2)
    placed = roofs.place(total_flops=0, core_flops=0, traffic=8 * MIB, key="float32", time_s=8 * MIB / 150e9)
    (warning,) = placed.warnings
    assert "above the measured L3 bandwidth" in warning and "ran faster than L3's measured roof" in warning


def test_the_cache_aware_time_is_the_levels_and_never_under_the_floor():
    roofs = Roofline.build(
        cpu(), {"bandwidth": Peak(30e9, "measured", "s")}, measured_levels(), overhead_s=2e-6, threads=2
    )
    assert roofs.least_time_s(0, 8 * MIB, "float32", source="measured") == pytest.approx(8 * MIB / 30e9)  # DRAM
    assert roofs.cache_time_s(0, 8 * MIB, 8 * MIB, "float32") == pytest.approx(8 * MIB / 120e9)  # L3
    assert roofs.cache_time_s(0, 1000, 1000, "float32") == pytest.approx(2e-6)  # the per-call floor
    assert roofs.calls_time_s([(100e9, 1), (0, 30e9)], "float32") == pytest.approx((2.0, 1.0))


# --- the levels, read off a sweep -----------------------------------------------------------------------------------


def sweep(rates):
    """Sweep points at working sets 4 KiB, 8 KiB, ... with the given GB/s; calls last working_set / rate."""
    return [SweepPoint(4 * KIB * 2**i, r * 1e9, 4 * KIB * 2**i / (r * 1e9)) for i, r in enumerate(rates)]


def test_each_level_is_the_best_point_of_its_range_and_l1_is_left_to_the_floor():
    # 4K..32K: the floor's (2 us calls); 64K..1M: L2 ~90 GB/s; 2M..32M: L3 ~120 GB/s; beyond: DRAM.
    rates = [2, 4, 8, 16, 60, 80, 85, 90, 88, 110, 120, 118, 115, 40, 30, 28]
    points = sweep(rates)
    levels = measure.read_levels(cpu(), points, overhead_s=1e-6, threads=2)
    by = {level.name: level for level in levels}
    assert by["L1"].ceiling is None and "per-call floor" in by["L1"].note
    assert by["L2"].ceiling.value == pytest.approx(90e9) and "512 KiB" in by["L2"].ceiling.detail
    assert by["L3"].ceiling.value == pytest.approx(120e9)
    assert by["L3"].plateau_bytes == 16 * MIB  # 32 MiB ran at 40 GB/s: under 3/4 of L3's ceiling


def test_sweep_sizes_run_from_inside_l1_to_four_times_the_last_level_cache():
    sizes = measure.sweep_sizes(cpu(), threads=2)
    assert sizes[0] == 4 * KIB and sizes[-1] == 128 * MIB and all(b == 2 * a for a, b in zip(sizes, sizes[1:]))


def test_a_sweep_point_is_the_best_of_its_rounds_over_constant_traffic():
    timings = iter([2e-3, 1e-3, 3e-3] * 3)
    calls_seen = []

    def time_copy(working_set, calls):
        calls_seen.append((working_set, calls))
        return next(timings)

    points = measure.measure_sweep([4 * KIB, 8 * KIB, 16 * KIB], time_copy)
    assert [p.bytes_per_s for p in points] == [measure.SWEEP_TRAFFIC / 1e-3] * 3
    assert {ws * calls for ws, calls in calls_seen} == {measure.SWEEP_TRAFFIC}


# --- ceilings: the best kernel, and the kept measurement's disturbance ------------------------------------------------


def test_the_ceiling_is_the_best_kernel_and_only_the_kept_measurement_is_judged():
    cpu_ = Device(
        "cpu",
        None,
        "CPU",
        {"llc_bytes": MIB, "memory_bytes": 1 << 34},
        {"float32": Peak(1e12, "d", "x")},
        Peak(None, "unknown", "x"),
    )
    rates = {"matmul": 100e9, "pointwise_conv2d": 190e9, "conv2d": 150e9}
    seen = []

    def time_workload(workload, tf32):
        if workload.op == "elementwise":
            return measure.Timed(1e-2, 0.0, 20e9)
        seen.append(workload.op)
        rate = rates[workload.op] * (0.5 if len(seen) == 2 else 1.0)  # one disturbed, slow round: it loses
        busy = ["the machine was busy"] if len(seen) == 2 else []
        return measure.Timed(workload.counts.total_flops / rate, rate, 1.0, busy)

    found = measure.measure_ceilings(cpu_, time_workload)
    assert found.ceilings["float32"].value == 190e9
    assert "gemm-as-1x1-conv" in found.ceilings["float32"].detail
    kernels = {r.kernel: r for r in found.kernels["float32"]}
    assert set(kernels) == {"gemm", "gemm-as-1x1-conv", "conv3x3"} and kernels["gemm"].default
    assert found.disturbed is None  # the disturbed round lost to a quiet one of the same kernel


def test_a_default_library_far_under_the_best_is_said():
    from types import SimpleNamespace

    from flopbench.commands.peak import library_gap

    rates = [
        cache.KernelRate(kernel="gemm", library="MKL", workload="mm", flops_per_s=207e9, default=True),
        cache.KernelRate(kernel="gemm-as-1x1-conv", library="oneDNN", workload="pw", flops_per_s=405e9),
    ]
    machine = SimpleNamespace(kernels={"float32": rates}, device=SimpleNamespace(type="cpu"))
    (note,) = library_gap(machine)
    assert note.startswith("torch.matmul (MKL) reaches 51% of the best float32 rate on this CPU; oneDNN reaches it")


# --- the clock and cold caches --------------------------------------------------------------------------------------


def test_a_measured_clock_derives_the_cpu_peaks(monkeypatch):
    from flopbench.machine.clock import Clock
    from flopbench.machine.device import clock_unknown, describe_cpu

    nominal = describe_cpu(2)
    if not clock_unknown(nominal):
        pytest.skip("this machine's OS gives a clock range (cpufreq): no clock is measured")
    clocked = describe_cpu(2, Clock(4.0e9, "sustained clock measured: a test"))
    assert not clock_unknown(clocked)
    ratio = clocked.peaks["float32"].value / nominal.peaks["float32"].value
    assert ratio == pytest.approx(4.0e9 / nominal.facts["nominal_frequency_hz"])
    assert "4 GHz (sustained clock measured: a test)" in clocked.peaks["float32"].detail


def test_without_a_compiler_the_nominal_clock_stays_and_says_why(monkeypatch, tmp_path):
    from flopbench.machine import clock

    monkeypatch.setattr(clock, "compiler", lambda: None)
    found = clock.measure(1, tmp_path)
    assert found.hz is None and "no C compiler" in found.how


def test_the_clock_probe_counts_cycles(tmp_path):
    from flopbench.machine import clock

    if clock.source() is None or clock.compiler() is None:
        pytest.skip("no clock probe for this machine")
    monkey = clock.MEASURE_S
    try:
        clock.MEASURE_S = 0.02
        found = clock.measure(1, tmp_path)
    finally:
        clock.MEASURE_S = monkey
    assert found.hz is not None and 0.3e9 < found.hz < 7e9 and "dependent chain of adds" in found.how


def test_cold_evicts_before_every_timed_call_outside_the_window():
    from flopbench.measuring.timing import Budget, CpuTimer

    events, now = [], [0.0]

    def clock():
        return now[0]

    def fn():
        events.append("call")
        now[0] += 1e-3

    def evict():
        events.append("evict")
        now[0] += 5e-3  # an eviction costs more than the call: it is never timed

    timer = CpuTimer(Budget(min_time_s=0.01, max_time_s=0.05, warmup_s=0.0), clock, 1e-9, lambda: 0, evict)
    m = timer.measure(fn)
    assert m.calls_per_sample == 1 and all(s == pytest.approx(1e-3) for s in m.samples_s)
    timed = events[events.index("evict") :]
    assert timed[::2] == ["evict"] * (len(timed) // 2) and timed[1::2] == ["call"] * (len(timed) // 2)
    assert any("cold" in note for note in m.notes)


def test_compute_roofs_keep_the_peak_and_the_ceiling_apart():
    roof = ComputeRoof("float32", Peak(100e9, "derived", "d"), Peak(120e9, "measured", "m"))
    assert roof.roof.value == 120e9 and roof.peak.value == 100e9


def test_the_runner_places_each_record_at_its_level():
    from flopbench.workloads import make_workload
    from tests.helpers import FixedTimer, runner

    r = runner(
        cpu(), {"bandwidth": Peak(30e9, "measured", "s")}, levels=measured_levels(), threads=2, timer=FixedTimer(1e-4)
    )
    record = r.run_one(make_workload("elementwise", {"kind": "add", "numel": 1 << 18}))  # 3 MiB
    assert (record.level, record.bound, record.dram_bound) == ("L3", "memory", "memory")
    assert record.working_set_bytes == 3 * MIB and record.bandwidth_bytes_per_s == 120e9
    cold = runner(
        cpu(),
        {"bandwidth": Peak(30e9, "measured", "s")},
        levels=measured_levels(),
        threads=2,
        timer=FixedTimer(1e-4),
        cache="cold",
    ).run_one(make_workload("elementwise", {"kind": "add", "numel": 1 << 18}))
    assert cold.level == MEMORY and cold.bandwidth_bytes_per_s == 30e9


def test_a_clock_measured_while_other_work_shares_the_cpus_reads_it_per_cpu_second(tmp_path, monkeypatch):
    """A chain on its CPU 70% of the time (the rest: another process's turn): its rate per CPU-second is the clock,
    not the wall-clock rate 30% lower; and the clock says the CPUs were shared. The thread's CPU clock is a fake one
    the fake chain moves: no test may depend on how busy the machine running it is."""
    from flopbench.machine import clock

    cpu = [0.0]

    class SharedChain:
        def chain_seconds(self, iterations):
            seconds = iterations * clock.ADDS / 3e9  # a 3 GHz core's time for the adds alone...
            cpu[0] += seconds
            return seconds / 0.7  # ...on its CPU only 70% of the wall time

    monkeypatch.setattr(clock.time, "thread_time", lambda: cpu[0])
    monkeypatch.setattr(clock, "library", lambda cache: (SharedChain(), "a fake chain"))
    rate, share = clock._all_cores(SharedChain(), 1000, 1)
    assert share == pytest.approx(0.7) and rate == pytest.approx(3e9)
    found = clock.measure(1, tmp_path)
    assert found.hz == pytest.approx(3e9) and "other work shared the CPUs" in found.how and "70%" in found.how


def test_a_clock_the_probe_reads_at_5x_the_nominal_is_refused(tmp_path, monkeypatch):
    """A core that folds the chain's adds (several a cycle: Golden Cove's immediate adds) reads several times its
    clock: outside 0.5-2x the nominal clock, the reading is refused with the reason, and the nominal clock stays."""
    from flopbench.machine import clock

    cpu = [0.0]

    class FoldingChain:
        def chain_seconds(self, iterations):
            seconds = iterations * clock.ADDS / (5 * 2.45e9)  # five adds a cycle at 2.45 GHz
            cpu[0] += seconds
            return seconds

    monkeypatch.setattr(clock.time, "thread_time", lambda: cpu[0])
    monkeypatch.setattr(clock, "library", lambda cache: (FoldingChain(), "a fake chain"))
    found = clock.measure(1, tmp_path, nominal_hz=2.45e9)
    assert found.hz is None
    assert found.how == (
        "the clock probe read 12.2 GHz, 5x the nominal 2.45 GHz (outside 0.5-2x): not believed; the nominal clock stays"
    )
    fine = clock.measure(1, tmp_path, nominal_hz=12.25e9 / 1.5)  # within 2x of it: believed
    assert fine.hz == pytest.approx(12.25e9)
    assert "%1" in clock.source() and "$1" not in clock.source()  # register to register, never an immediate
