"""The roofline's rules against answers worked by hand (issue 41): every field of a placement, every warning's words,
each boundary (the 2% above a roof, the 5% of a stale ceiling, the half-call floor, STREAM's 4x), and which value of a
roof each predictor reads. One small machine, its numbers chosen so that each rule gives a different answer:

    float32: peak 100 GFLOP/s (spec), measured ceiling 120 GFLOP/s: the ceiling judges
    bfloat16: peak 400 GFLOP/s (derived), never measured
    L2: 1 MiB, measured 80 GB/s;  L3: 32 MiB, measured 40 GB/s, plateau 16 MiB
    DRAM: 10 GB/s (spec), measured 8 GB/s: the spec judges
    per-call floor: 1 ms
"""

import pytest

from flopbench.machine.roofline import (
    MEMORY,
    ComputeRoof,
    Level,
    Placement,
    Roofline,
    SweepPoint,
    judge,
    level_time_s,
    ridge,
)
from flopbench.results.schema import Peak
from tests.helpers import device

KIB, MIB = 2**10, 2**20
UNMEASURED = Peak(None, "unknown", "not measured")


def machine(overhead_s=1e-3, **changes):
    dev = device(bandwidth=10e9, facts={"l2_bytes": MIB, "l2_instances": 1, "l3_bytes": 32 * MIB, "l3_instances": 1})
    levels = (
        Level("L2", MIB, UNMEASURED, Peak(80e9, "measured", "sweep")),
        Level("L3", 32 * MIB, UNMEASURED, Peak(40e9, "measured", "sweep"), "", 16 * MIB),
    )
    ceilings = {"float32": Peak(120e9, "measured", "gemm"), "bandwidth": Peak(8e9, "measured", "stream")}
    return Roofline.build(dev, {**ceilings, **changes}, levels, overhead_s, threads=1)


# --- placing: every field, by hand ----------------------------------------------------------------------------------


def test_every_field_of_a_placement_by_hand():
    """2 GFLOP over 400 MB in 50 ms, a 512 KiB working set: 40 GFLOP/s, 8 GB/s, 5 FLOP/B. In L2 (ridge 120/80 = 1.5)
    it is compute-bound under 120 GFLOP/s; under DRAM (ridge 120/10 = 12) memory-bound, 8 of 10 GB/s."""
    placed = machine().place(2_000_000_000, 1_500_000_000, 400_000_000, "float32", 0.05, working_set=512 * KIB)
    assert placed.placement.model_dump() == pytest.approx(
        {
            "core_flops_per_s": 30e9,
            "total_flops_per_s": 40e9,
            "bytes_per_s": 8e9,
            "peak_key": "float32",
            "peak_flops_per_s": 100e9,
            "peak_source": "spec",
            "peak_detail": "test sheet",
            "utilization": 0.4,  # against the peak, as labelled, though the ceiling judges the roof
            "ceiling_flops_per_s": 120e9,
            "ceiling_utilization": 1 / 3,
            "working_set_bytes": 512 * KIB,
            "level": "L2",
            "bandwidth_bytes_per_s": 80e9,
            "bandwidth_source": "measured",
            "roofline_flops_per_s": 120e9,
            "roofline_efficiency": 1 / 3,
            "ridge_intensity": 1.5,
            "bound": "compute",
            "overhead_s": 1e-3,
            "dram_bandwidth_bytes_per_s": 10e9,
            "dram_roofline_flops_per_s": 50e9,  # 5 FLOP/B x 10 GB/s
            "dram_roofline_efficiency": 0.8,  # 8 of 10 GB/s
            "dram_bound": "memory",
        }
    )
    assert placed.warnings == ()


def test_a_working_set_in_dram_shares_the_dram_placement_and_cold_caches_always_do():
    big = machine().place(2_000_000_000, 0, 400_000_000, "float32", 0.05, working_set=64 * MIB).placement
    cold = machine().place(2_000_000_000, 0, 400_000_000, "float32", 0.05, working_set=KIB, cache="cold").placement
    for p in (big, cold):
        assert (p.level, p.bound, p.bandwidth_bytes_per_s, p.bandwidth_source) == (MEMORY, "memory", 10e9, "spec")
        assert (p.roofline_flops_per_s, p.ridge_intensity) == pytest.approx((50e9, 12.0))
        assert p.roofline_efficiency == pytest.approx(0.8) == p.dram_roofline_efficiency


def test_without_a_working_set_the_traffic_is_one():
    p = machine().place(2_000_000_000, 0, 20 * MIB, "float32", 0.05).placement
    assert (p.working_set_bytes, p.level) == (20 * MIB, MEMORY)  # 20 MiB: past L3's 16 MiB plateau
    p = machine().place(2_000_000_000, 0, 8 * MIB, "float32", 0.05).placement
    assert (p.working_set_bytes, p.level) == (8 * MIB, "L3")


def test_the_overhead_regime_begins_past_half_the_call():
    """A 2 ms call beside a 1 ms floor is half floor: not yet overhead-bound; a hair shorter, it is."""
    at_half = machine().place(1000, 1000, 1000, "float32", 2e-3, working_set=KIB).placement
    past = machine().place(1000, 1000, 1000, "float32", 1.999e-3, working_set=KIB).placement
    assert (at_half.bound, past.bound) == ("memory", "overhead")
    assert past.dram_bound == "memory"  # DRAM's bound never says overhead
    unmeasured = machine(overhead_s=None).place(1000, 1000, 1000, "float32", 1e-9, working_set=KIB).placement
    assert unmeasured.bound == "memory" and unmeasured.overhead_s is None


def test_work_without_bytes_or_roofs_is_placed_nowhere_and_says_why():
    no_bytes = machine().place(1000, 1000, 0, "float32", 1.0)
    p = no_bytes.placement
    assert (p.bytes_per_s, p.level, p.bound, p.ridge_intensity, p.dram_bound) == (None, None, None, None, None)
    assert (p.total_flops_per_s, p.utilization) == (1000.0, 1e-8)
    assert no_bytes.warnings == ()  # nothing to place: no roofline is missing

    no_peak = machine().place(1000, 1000, 1000, "float64", 1.0)
    assert no_peak.placement.peak_flops_per_s is None and no_peak.placement.utilization is None
    assert no_peak.placement.bandwidth_bytes_per_s is None and no_peak.placement.dram_bandwidth_bytes_per_s is None
    assert no_peak.warnings == (
        "no roofline: the float64 peak is unknown (flopbench peak --measure, or --peak/--bandwidth)",
    )
    dev = device(bandwidth=None)
    no_bandwidth = Roofline.build(dev).place(1000, 1000, 1000, "float32", 1.0)
    assert no_bandwidth.warnings == (
        "no roofline: the bandwidth is unknown (flopbench peak --measure, or --peak/--bandwidth)",
    )
    assert Roofline.build(dev).place(1000, 1000, 1000, "float32", 1.0).placement.ceiling_utilization is None


# --- the warnings' words and their boundaries ---------------------------------------------------------------------


def test_above_the_peak_by_more_than_two_percent_and_why_by_the_peaks_source():
    """bfloat16's derived peak is 400 GFLOP/s: 408 is within the 2%, 410 is not."""
    within = machine().place(408_000_000_000, 0, 1, "bfloat16", 1.0, working_set=KIB)
    assert not any(w.startswith("above the peak") for w in within.warnings)
    above = machine().place(410_000_000_000, 0, 1, "bfloat16", 1.0, working_set=KIB)
    assert above.warnings[-1] == (
        "above the peak: achieved 0.41 TFLOP/s is above the derived bfloat16 peak (0.4 TFLOP/s): one of the factors it"
        " was derived from is low for this machine (most often a clock read as the base clock, with boost above it;"
        " see the peak's detail in `flopbench peak`) (set the right one with --peak bfloat16=FLOPS)"
    )
    spec = machine(float32=Peak(50e9, "measured", "x")).place(110e9, 0, 1, "float32", 1.0, working_set=KIB)
    assert spec.warnings[-1].startswith("above the peak: achieved 0.11 TFLOP/s is above the spec float32 peak (0.1")
    assert "the datasheet table is wrong for this device" in spec.warnings[-1]
    odd = Roofline.build(device(peaks={"float32": Peak(1e9, "vendor", "x")})).place(2e9, 0, 1, "float32", 1.0)
    assert odd.warnings[-1].endswith(
        "(0.001 TFLOP/s): the peak is too low (set the right one with --peak float32=FLOPS)"
    )


def test_above_its_own_roof_by_more_than_two_percent_with_each_reason():
    """A copy (no FLOPs) of 2 MiB in L3 at 40.8 GB/s is within the 2%; at 48 GB/s it is above L3's roof."""
    roofs = machine()
    ws = 2 * MIB
    assert roofs.place(1, 0, ws, "float32", ws / 40.8e9, working_set=ws).warnings == ()
    (warning,) = roofs.place(1, 0, ws, "float32", ws / 48e9, working_set=ws).warnings
    assert warning == (
        "above its roof: achieved 48 GB/s, above the measured L3 bandwidth (40 GB/s): its 2.1 MB working set ran"
        " faster than L3's measured roof"
    )
    # In DRAM: a cache that holds it but was never measured, caches within 4x, or a low ceiling.
    unmeasured = Roofline.build(device(bandwidth=10e9, facts={"l3_bytes": 32 * MIB}))
    (warning,) = unmeasured.place(1, 0, 8 * MIB, "float32", 8 * MIB / 20e9).warnings
    assert warning == (
        "above its roof: achieved 20 GB/s, above the spec DRAM bandwidth (10 GB/s): the working set stays in a cache:"
        " its 8.39 MB fit in L3 (33.6 MB), whose roof is not measured (flopbench peak --measure)"
    )
    (warning,) = unmeasured.place(1, 0, 100 * MIB, "float32", 100 * MIB / 20e9).warnings
    assert warning.endswith(": the working set stays in a cache in part: its 105 MB are within 4x of the caches")
    (warning,) = unmeasured.place(1, 0, 200 * MIB, "float32", 200 * MIB / 20e9).warnings
    assert warning.endswith(": the DRAM ceiling is low (measured on a slower machine, or by a slower kernel)")


def test_compute_bound_work_is_never_above_its_bandwidth_roof():
    """Past the ridge the efficiency is FLOP/s over the compute roof: fast bytes there are not a warning."""
    ws = 512 * KIB
    placed = machine().place(100_000_000_000, 0, ws, "float32", 1.0, working_set=ws)  # 100 GFLOP/s, 0.5 MB/s
    assert placed.placement.bound == "compute" and placed.warnings == ()


# --- a stale measured ceiling ---------------------------------------------------------------------------------------


def placement(**fields):
    return Placement(**{"peak_key": "float32", "bound": "compute", "total_flops_per_s": 0.0, **fields})


def test_a_record_more_than_five_percent_past_a_measured_ceiling_calls_it_stale():
    roofs = machine()
    assert roofs.stale(placement(total_flops_per_s=126e9)) is None  # 5% over 120: not yet
    assert roofs.stale(placement(total_flops_per_s=127e9)) == (
        "float32",
        "stale ceiling: reached 127 GFLOP/s, 6% above the cached float32 ceiling (120 GFLOP/s): it is stale;"
        " refresh it with flopbench peak --measure",
    )
    assert roofs.stale(placement(peak_key="bfloat16", total_flops_per_s=1e15)) is None  # no ceiling for bfloat16
    assert roofs.stale(placement(peak_key=None, total_flops_per_s=1e15)) is None
    assert roofs.stale(placement(bound="overhead", total_flops_per_s=1e15)) is None


def test_a_stale_bandwidth_ceiling_only_for_memory_bound_work_in_dram_past_the_caches():
    roofs = machine()  # measured DRAM ceiling 8 GB/s; the largest cache is 32 MiB

    def memory(bytes_per_s, working_set=200 * MIB, level=MEMORY):
        return placement(bound="memory", level=level, working_set_bytes=working_set, bytes_per_s=bytes_per_s)

    assert roofs.stale(memory(8.4e9)) is None
    assert roofs.stale(memory(8.5e9)) == (
        "bandwidth",
        "stale ceiling: reached 8.5 GB/s, 6% above the cached bandwidth ceiling (8 GB/s): it is stale;"
        " refresh it with flopbench peak --measure",
    )
    assert roofs.stale(memory(8.5e9, working_set=128 * MIB)) is None  # within 4x of L3: the cache may help
    assert roofs.stale(memory(8.5e9, level="L3")) is None  # judged by L3's roof, not DRAM's
    assert roofs.stale(memory(8.5e9, working_set=None)) is not None  # no cache is known to hold an unknown set
    assert roofs.stale(placement(bound="compute", total_flops_per_s=0.0, bytes_per_s=1e12)) is None
    assert Roofline.build(device()).stale(memory(1e12)) is None  # nothing measured: nothing stale


# --- which value of a roof each predictor reads ----------------------------------------------------------------------


def test_the_predictors_read_the_rule_the_peak_or_the_measured_value():
    """2 GFLOP and 400 MB under float32 (peak 100, ceiling 120 GFLOP/s) and DRAM (10 GB/s spec, 8 measured)."""
    roofs = machine()
    assert roofs.least_time_s(2e9, 0, "float32") == pytest.approx(2e9 / 120e9)  # judge: the higher
    assert roofs.least_time_s(2e9, 0, "float32", source="peak") == pytest.approx(2e9 / 100e9)
    assert roofs.least_time_s(2e9, 0, "float32", source="measured") == pytest.approx(2e9 / 120e9)
    assert roofs.least_time_s(0, 4e8, "float32") == pytest.approx(4e8 / 10e9)
    assert roofs.least_time_s(0, 4e8, "float32", source="peak") == pytest.approx(4e8 / 10e9)
    assert roofs.least_time_s(0, 4e8, "float32", source="measured") == pytest.approx(4e8 / 8e9)
    assert roofs.least_time_s(2e9, 4e8, "float32", source="measured") == pytest.approx(0.05)  # the longer
    # Where one value is missing, each source falls back to the other.
    assert roofs.least_time_s(4e9, 0, "bfloat16", source="measured") == pytest.approx(4e9 / 400e9)
    no_peak = machine(float64=Peak(50e9, "measured", "x"))
    assert no_peak.least_time_s(1e9, 0, "float64", source="peak") == pytest.approx(1e9 / 50e9)
    assert no_peak.least_time_s(1e9, 0, "float64", source="measured") == pytest.approx(1e9 / 50e9)
    user = Roofline.build(
        device(peaks={"float32": Peak(60e9, "user", "cli")}), {"float32": Peak(120e9, "measured", "")}
    )
    assert user.least_time_s(6e9, 0, "float32") == pytest.approx(0.1)  # what the user said judges
    assert user.least_time_s(6e9, 0, "float32", source="measured") == pytest.approx(0.05)
    assert machine().least_time_s(1e9, 1e9, "float64") == pytest.approx(0.1)  # no compute roof: the bytes alone
    assert Roofline.build(device(bandwidth=None, peaks={})).least_time_s(1e9, 1e9, "float32") is None
    assert machine().least_time_s(0, 0, "float32") is None


def test_a_measured_ceiling_with_no_value_is_no_ceiling():
    roofs = machine(float32=Peak(None, "unknown", "the kernel failed"))
    assert roofs.least_time_s(1e9, 0, "float32", source="measured") == pytest.approx(1e9 / 100e9)
    assert roofs.least_time_s(1e9, 0, "float32", source="peak") == pytest.approx(1e9 / 100e9)


def test_the_cache_aware_time_reads_the_levels_measured_value_and_the_floor():
    roofs = machine(overhead_s=1e-4)
    assert roofs.cache_time_s(0, 4e8, 512 * KIB, "float32") == pytest.approx(4e8 / 80e9)  # L2's roof
    assert roofs.cache_time_s(0, 4e8, None, "float32") == pytest.approx(4e8 / 8e9)  # DRAM, measured first
    assert roofs.cache_time_s(0, 4e8, None, "float32", source="peak") == pytest.approx(4e8 / 10e9)
    assert roofs.cache_time_s(6e9, 4e8, 512 * KIB, "float32") == pytest.approx(6e9 / 120e9)  # compute: longer
    assert roofs.cache_time_s(1, 1, 512 * KIB, "float32") == pytest.approx(1e-4)  # the floor
    assert Roofline.build(device(bandwidth=None, peaks={})).cache_time_s(1, 1, None, "float32") is None
    assert roofs.cache_time_s(4e9, 0, 512 * KIB, "bfloat16") == pytest.approx(4e9 / 400e9)  # never measured: its peak


def test_a_source_that_is_none_of_the_three_is_refused():
    with pytest.raises(ValueError, match=r"^unknown roof source 'spec': judge, peak or measured$"):
        machine().bound(1e9, 1e9, "float32", source="spec")  # type: ignore[arg-type]


def test_the_bound_on_the_dram_roofline_with_a_tie_to_compute():
    roofs = machine()  # judge: 120 GFLOP/s over 10 GB/s, ridge 12 FLOP/B
    assert roofs.bound(12e9, 1e9, "float32") == "compute"  # exactly on the ridge
    assert roofs.bound(11e9, 1e9, "float32") == "memory"
    assert roofs.bound(11e9, 1e9, "float32", source="peak") == "compute"  # 100/10: ridge 10
    assert roofs.bound(14e9, 1e9, "float32", source="measured") == "memory"  # 120/8: ridge 15
    assert roofs.bound(16e9, 1e9, "float32", source="measured") == "compute"
    assert roofs.bound(1e9, 1e9, "float64") is None
    assert Roofline.build(device(bandwidth=None)).bound(1e9, 1e9, "float32") is None


def test_attainable_under_a_level():
    roofs = machine()
    assert roofs.attainable(5.0, "float32") == pytest.approx(50e9)  # 5 x 10 GB/s under 120
    assert roofs.attainable(100.0, "float32") == pytest.approx(120e9)
    assert roofs.attainable(1.0, "float32", roofs.levels[0]) == pytest.approx(80e9)  # L2
    assert roofs.attainable(1.0, "float64") is None
    assert Roofline.build(device(bandwidth=None)).attainable(1.0, "float32") == pytest.approx(100e9)


def test_a_models_calls_each_on_the_dram_roofline():
    """120 GFLOP/s and 10 GB/s: (12 GFLOP, 0.5 GB) is 0.1 s of compute; (1.2 GFLOP, 2 GB) 0.2 s of memory."""
    roofs = machine()
    total, memory = roofs.calls_time_s([(12e9, 0.5e9), (1.2e9, 2e9), (12e9, 1e9)], "float32")
    assert (total, memory) == pytest.approx((0.4, 0.2))  # the tie (0.1 s each) counts as compute
    assert roofs.calls_time_s([], "float32") == (0.0, 0.0)
    assert roofs.calls_time_s([(1, 1)], "float64") is None
    assert Roofline.build(device(bandwidth=None)).calls_time_s([(1, 1)], "float32") is None


def test_within_four_times_the_largest_cache_the_cache_may_help():
    roofs = machine()
    assert roofs.cached(128 * MIB) and not roofs.cached(128 * MIB + 1)
    assert not roofs.cached(None)
    assert not Roofline.build(device()).cached(1)  # no caches at all


def test_ridge_level_time_describe_and_an_unknown_key():
    assert ridge(Peak(120e9, "m", ""), Peak(10e9, "s", "")) == pytest.approx(12.0)
    assert ridge(UNMEASURED, Peak(10e9, "s", "")) is None and ridge(Peak(1.0, "s", ""), UNMEASURED) is None
    assert level_time_s(4e8, placement(bandwidth_bytes_per_s=8e9)) == pytest.approx(0.05)
    assert level_time_s(0, placement(bandwidth_bytes_per_s=8e9)) == 0.0
    assert level_time_s(4e8, placement()) is None
    assert machine().describe("float32") == "float32 120 GFLOP/s (measured: gemm)"
    unknown = machine().roof("int4")
    assert (unknown.key, unknown.ceiling) == ("int4", None)
    assert unknown.peak.detail == "no int4 peak known; pass --peak int4=FLOPS"


# --- the rule and the building ---------------------------------------------------------------------------------------


def test_judge_with_nothing_known_keeps_what_it_was_given():
    unknown_peak, unknown_ceiling = Peak(None, "unknown", "p"), Peak(None, "unknown", "c")
    assert judge(unknown_peak, unknown_ceiling) is unknown_peak
    assert judge(None, unknown_ceiling) is unknown_ceiling
    assert judge(None, None) == Peak(None, "unknown", "neither a peak nor a measured ceiling is known")
    assert judge(Peak(None, "user", "u"), Peak(5.0, "measured", "m")).value == 5.0  # an unknown user value: not a rule
    assert judge(None, Peak(5.0, "measured", "m")).value == 5.0


def test_building_keeps_each_key_the_thread_count_the_order_and_the_sweep():
    dev = device(facts={"l1_bytes": 32 * KIB, "l1_instances": 4, "l3_bytes": 8 * MIB, "l3_instances": 1})
    ceilings = {"int8": Peak(1e12, "measured", "x"), "bandwidth": Peak(8e9, "measured", "stream")}
    odd = Level("L2", None, UNMEASURED, Peak(50e9, "measured", "sweep"))  # a measured level of unknown size
    points = [SweepPoint(4096, 1e9, 4e-6)]
    roofs = Roofline.build(dev, ceilings, (odd,), 1e-6, points, threads=2)
    assert list(roofs.compute) == ["float32", "bfloat16", "int8"]  # bandwidth is no compute key
    assert all(key == roof.key for key, roof in roofs.compute.items())
    assert roofs.compute["int8"] == ComputeRoof("int8", dev.peak("int8"), ceilings["int8"])
    assert [(level.name, level.capacity_bytes) for level in roofs.levels] == [
        ("L2", None),  # no size sorts first
        ("L1", 64 * KIB),  # two of four private L1s
        ("L3", 8 * MIB),
        (MEMORY, None),
    ]
    assert roofs.memory.ceiling == ceilings["bandwidth"] and roofs.memory.peak == dev.bandwidth
    assert (roofs.overhead_s, roofs.sweep) == (1e-6, tuple(points))
    assert Roofline.build(dev).levels[0].capacity_bytes == 128 * KIB  # no thread count: all four instances


def test_new_ceilings_replace_the_old_and_keep_the_peaks():
    roofs = machine().with_ceilings({"float32": Peak(90e9, "measured", "new"), "int8": Peak(1e12, "measured", "i")})
    assert roofs.compute["float32"] == ComputeRoof(
        "float32", Peak(100e9, "spec", "test sheet"), Peak(90e9, "measured", "new")
    )
    assert roofs.compute["int8"].peak == Peak(None, "unknown", "no int8 peak known")
    assert roofs.memory.ceiling == Peak(8e9, "measured", "stream")  # untouched
    assert "bandwidth" not in roofs.compute
    fresh = machine().with_ceilings(
        {"bandwidth": Peak(9e9, "measured", "again"), "float32": Peak(90e9, "measured", "")}
    )
    assert fresh.memory.ceiling == Peak(9e9, "measured", "again") and fresh.memory.peak.value == 10e9
    assert "bandwidth" not in fresh.compute and fresh.compute["float32"].ceiling.value == 90e9  # read past it
    assert [level.name for level in fresh.levels] == ["L2", "L3", MEMORY]
