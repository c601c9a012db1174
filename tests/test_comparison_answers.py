"""A comparison against answers worked by hand (issue 41): every column of its table, its family summary, its notes
and warnings, for runs written line by line, so that each number can be told from the rounds it came from.

Two machines. A: float32 100 GFLOP/s, tf32 400 GFLOP/s, L2 (1 MiB) 100 GB/s, DRAM 10 GB/s. B: twice A's float32,
four times A's tf32 and L2, twice A's DRAM. Four workloads and one that only A measured:

    g1  matmul, float32 judged by its tf32 peak, compute-bound: the roofs predict 4x, the peaks 4x; B is 2x faster
    g2  matmul, memory-bound, 8 MB of traffic over a 1000-byte working set (in L2): the roofs predict L2's 4x
    g3  matmul, float32, compute-bound: the roofs predict 2x; B kept one round (its samples decide nothing)
    c1  conv, float32, compute-bound: 2x predicted; B's timer ticks 10% of a sample (its resolution floors the spread)
"""

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

from flopbench.machine.roofline import MEMORY, ComputeRoof, Level, Roofline
from flopbench.reading.comparison import Drift, compare, drift_between, same_machine
from flopbench.reading.intervals import family, paired, unpaired
from flopbench.reading.view import load_views
from flopbench.results.files import ResultsWriter
from flopbench.results.schema import Device, Pairing, Peak, Round
from tests.helpers import header, record

MS, MIB = 1e-3, 2**20
FACTS = {"vendor": "AMD", "family": 25, "model": 17, "isa": "avx512", "logical_cpus": 2}


def cpu(name="Test CPU", scale=1, **facts):
    peaks = {"float32": Peak(100e9 * scale, "spec", "s"), "tf32": Peak(400e9 * scale**2, "spec", "s")}
    return Device("cpu", None, name, {**FACTS, **facts}, peaks, Peak(10e9 * scale, "spec", "s"))


def roofs(dev, scale):
    compute = {key: ComputeRoof(key, peak) for key, peak in dev.peaks.items()}
    unknown = Peak(None, "unknown", "")
    l2 = Level("L2", MIB, unknown, Peak(100e9 * scale**2, "measured", "sweep"))
    return Roofline(compute, (l2, Level(MEMORY, None, dev.bandwidth)))


def rounds(times, pairs=None):
    return [
        Round(round=i, position=i, time_s=t, samples_s=[t, t], calls_per_sample=1, pairs=pairs and [pairs[i]] * 2)
        for i, t in enumerate(times)
    ]


def measured(name, times, flops=10**9, **fields):
    defaults = dict(bytes=1000, working_set_bytes=1000, timer_resolution_s=1e-9, calls_per_sample=1)
    time_s = float(np.median(times))
    counts = dict(total_flops=flops, core_flops=flops, macs=flops // 2)
    rates = dict(total_flops_per_s=flops / time_s, core_flops_per_s=flops / time_s)
    return record(name, time_s=time_s, rounds=rounds(times), **counts, **rates, **{**defaults, **fields})


def run_file(path, dev, scale, records, **fields):
    settings = {"run_id": path.stem, "device": dev, "threads": 2, "roofline": roofs(dev, scale), **fields}
    writer = ResultsWriter.create(path, header(**settings))
    for r in records:
        writer.record(r)
    writer.close()
    return path


A = {
    "g1": [1.0 * MS, 1.1 * MS, 1.2 * MS],
    "g2": [2.0 * MS, 2.1 * MS, 2.3 * MS],
    "g3": [1.0 * MS, 1.02 * MS, 1.01 * MS],
    "c1": [1.0 * MS, 1.2 * MS, 1.1 * MS],
}
B = {
    "g1": [0.5 * MS, 0.55 * MS, 0.6 * MS],
    "g2": [1.9 * MS, 2.0 * MS, 2.05 * MS],
    "c1": [1.2 * MS, 1.3 * MS, 1.25 * MS],
}
G3_SAMPLES = [0.5 * MS, 0.52 * MS, 0.49 * MS]  # B's one round of g3


@pytest.fixture
def two_machines(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOPBENCH_CACHE_DIR", str(tmp_path / "cache"))  # no A/A history anywhere
    kinds = {"g2": dict(flops=128, bytes=8_000_000), "c1": dict(family="conv"), "g1": dict(peak_key="tf32")}
    a = [measured(name, times, **kinds.get(name, {})) for name, times in A.items()]
    a.append(measured("only-a", [MS, MS, 1.1 * MS]))
    b = [measured(name, times, **kinds.get(name, {})) for name, times in B.items()]
    b[-1] = b[-1].model_copy(update={"timer_resolution_s": 2.5e-4, "calls_per_sample": 2})  # c1: 10% of a sample
    b.append(measured("g3", [0.5 * MS]).model_copy(update={"rounds": [], "samples_s": G3_SAMPLES}))
    return (
        run_file(tmp_path / "a.jsonl", cpu(), 1, a),
        run_file(tmp_path / "b.jsonl", cpu("Faster CPU", 2), 2, b),
    )


def geomean(values):
    return math.exp(np.mean(np.log(values)))


def test_every_column_of_two_separate_runs_by_hand(two_machines):
    result = compare(load_views(two_machines), level=0.9)
    table = result.table.set_index("name")
    assert list(table.index) == ["g1", "g2", "g3", "c1"]  # only-a has no counterpart
    drift = 0.05  # two machines, no history: the assumed spread, for each run
    resolution = {"c1": 2.5e-4 / (1.25 * MS * 2)}  # B's tick over one sample of c1: 10%
    for name in table.index:
        row = table.loc[name]
        b_times, unit = (B[name], "rounds") if name in B else (G3_SAMPLES, "samples")
        assert row["time_s[A]"] == pytest.approx(geomean(A[name]))
        assert row["time_s[B]"] == pytest.approx(geomean(b_times))
        assert row["total_flops"] == (128 if name == "g2" else 10**9)
        assert row["total_flops_per_s[B]"] == pytest.approx(row["total_flops"] / geomean(b_times))
        assert row["impl"] == "eager"
        expected = unpaired(A[name], b_times, drift, unit, resolution.get(name, 1e-9 / (min(b_times) * 1.0)), 0.9)
        got = [row[f"{k}[B]"] for k in ("speedup", "speedup_low", "speedup_high", "mde")]
        # The gate's catch point at the verdicts' 5%, over its 5 comparisons: 4 rows and run B's geometric mean.
        assert len(result.tests()) == 5
        catch = expected.mde(0.05, 5, 0.9)
        assert got == pytest.approx([expected.value, expected.low, expected.high, catch], rel=1e-6)
        assert row["interval_from[B]"] == unit
        assert (row["decides[B]"], row["drift_limited[B]"]) == (expected.decides, expected.drift_limited)
        assert row["verdict[B]"] == expected.verdict(0.05)
    assert table.loc["g1", "speedup[B]"] == pytest.approx(2.0)
    assert table.loc["g3", "verdict[B]"] == "unsure" and not table.loc["g3", "decides[B]"]
    assert table.loc["c1", "speedup_high[B]"] - table.loc["c1", "speedup_low[B]"] == pytest.approx(
        unpaired(A["c1"], B["c1"], drift, "rounds", 0.1, 0.9).high
        - unpaired(A["c1"], B["c1"], drift, "rounds", 0.1, 0.9).low
    )
    assert table["roof_ratio[B]"].to_dict() == pytest.approx({"g1": 4.0, "g2": 4.0, "g3": 2.0, "c1": 2.0})
    assert table["peak_ratio[B]"].to_dict() == pytest.approx({"g1": 4.0, "g2": 2.0, "g3": 2.0, "c1": 2.0})
    assert (table["vs_roof[B]"] * table["roof_ratio[B]"]).to_dict() == pytest.approx(table["speedup[B]"].to_dict())


def test_the_family_summary_by_hand(two_machines):
    result = compare(load_views(two_machines), level=0.9)
    speedups = result.table.set_index("name")["speedup[B]"]
    summary = result.summary.set_index("family")
    assert list(summary.index) == ["all", "conv", "matmul"] and set(summary["run"]) == {"B"}
    ratios = dict(zip(result.table["name"], result.ratios["B"]))
    for name, members, roof, peak in (
        ("all", ["g1", "g2", "g3", "c1"], geomean([4, 4, 2, 2]), geomean([4, 2, 2, 2])),
        ("matmul", ["g1", "g2", "g3"], geomean([4, 4, 2]), geomean([4, 2, 2])),
        ("conv", ["c1"], 2.0, 2.0),
    ):
        mean = family([ratios[m] for m in members], 0.05, 0.9)
        decided = [m for m in members if m != "g3"]  # g3 decides nothing (one round's samples): left out of the mean
        row = summary.loc[name]
        assert row["workloads"] == len(decided)
        assert row["geomean_speedup"] == pytest.approx(geomean(speedups[decided]))
        assert (row["spread_low"], row["spread_high"]) == pytest.approx(
            (min(speedups[members]), max(speedups[members]))
        )
        assert (row["roof_ratio"], row["peak_ratio"]) == pytest.approx((roof, peak))
        assert (row["geomean_low"], row["geomean_high"]) == pytest.approx((mean.low, mean.high))
        if name == "all":  # the gate's catch point for the geometric mean it judges
            assert row["mde"] == pytest.approx(mean.mde(0.05, 5, 0.9))
        else:
            assert math.isnan(row["mde"])
    assert math.isnan(summary.loc["all", "geomean_energy_ratio"])  # neither run was metered


def test_how_the_runs_were_compared_and_what_was_left_out(two_machines):
    result = compare(load_views(two_machines))
    assert result.notes == [
        "Run B against run A: separate runs: each interval from the round medians plus a between-run term of 5.0% per"
        " run (two machines: each run's own drift, the larger of their A/A histories and the assumed)."
    ]
    assert result.warnings == ["1 measured records have no counterpart in every run and are left out"]
    assert not result.paired
    legend = result.runs.set_index("run")
    assert legend.loc["A", "devices"] == 1 and legend.loc["B", "device"].startswith("cpu")
    given = compare(load_views(two_machines), drift=Drift(0.01, "given"))
    assert "term of 1.0% per run (given)" in given.notes[0]
    mean = family(given.ratios["B"], 0.01)
    assert given.summary.set_index("family").loc["all", "geomean_high"] == pytest.approx(mean.high)


def test_best_impl_warns_of_the_winners_curse(two_machines):
    assert compare(load_views(two_machines), best_impl=True).warnings[-1] == (
        "--best-impl: each run's fastest implementation is picked on the same noisy measurements it is compared on,"
        " which favours the run with more implementations (the winner's curse): read small differences as unsure"
    )
    with pytest.raises(ValueError, match="^compare needs at least two runs$"):
        compare(load_views(two_machines[:1]))


# --- the two sides of a paired run ---------------------------------------------------------------------------------


def test_a_paired_run_compares_the_pairs_both_sides_have(tmp_path):
    """Pairs 0-3 on side A, 1-4 on side B: the interval is over the three pairs both have, at the level asked; a
    workload whose sides share no pair has no speedup at all."""
    times_a = {0: 1.0, 1: 1.1, 2: 0.9, 3: 1.05}
    times_b = {1: 0.52, 2: 0.47, 3: 0.5, 4: 0.6}
    files = []
    for side, times in (("A", times_a), ("B", times_b)):
        pairing = Pairing(session="s", side=side, axis="impl", value="x", other="y", how="interleaved")
        ids = list(times)
        shared = record("w", time_s=MS, rounds=rounds([times[i] * MS for i in ids], ids), pair_key="w")
        apart = record("v", time_s=MS, rounds=rounds([MS], [10 if side == "A" else 20]), pair_key="v")
        files.append(run_file(tmp_path / f"{side}.jsonl", cpu(), 1, [shared, apart], pairing=pairing))
    result = compare(load_views(files), level=0.9)
    assert result.paired and result.notes == [
        "Run B against run A: paired (interleaved in one process): each interval from the pairs' log ratios, each"
        " round's estimate the unit that repeats."
    ]
    row, lone = result.table.iloc[0], result.table.iloc[1]
    expected = paired(  # each pair was a round of its own here (A's rounds 1-3)
        [times_a[p] * MS for p in (1, 2, 3)], [times_b[p] * MS for p in (1, 2, 3)], [1, 2, 3], 1e-9 / (0.5 * MS), 0.9
    )
    assert (row["speedup[B]"], row["speedup_low[B]"], row["speedup_high[B]"]) == pytest.approx(
        (expected.value, expected.low, expected.high)
    )
    assert row["interval_from[B]"] == "rounds"
    assert math.isnan(lone["speedup[B]"]) and lone["verdict[B]"] == "-"
    # The family's interval has no between-run term: pairing cancelled it.
    assert result.summary.iloc[0]["geomean_high"] == pytest.approx(family([expected], 0.0, 0.9).high)


def test_disturbed_sides_of_a_pair_are_said_once_and_instability_is_not(tmp_path):
    files = []
    for side in ("A", "B"):
        pairing = Pairing(session="s", side=side, axis="impl", value="x", other="y", how="processes")
        r = record("w", rounds=rounds([MS, MS], [0, 1]), pair_key="w", disturbed=side == "B", stable=False)
        files.append(run_file(tmp_path / f"{side}.jsonl", cpu(), 1, [r], pairing=pairing))
    result = compare(load_views(files))
    assert result.warnings == [
        "run B: 1 of the compared workloads were measured while the machine was disturbed; both sides of each pair"
        " shared it"
    ]
    assert "paired (alternating processes)" in result.notes[0]


# --- the settings a comparison must name ---------------------------------------------------------------------------


def test_a_setting_only_newer_files_record_is_compared_only_where_every_run_has_it(tmp_path):
    one = [record("w", rounds=rounds([MS, 1.1 * MS]))]
    a = run_file(tmp_path / "a.jsonl", cpu(), 1, one, allocator="kept")
    b = run_file(tmp_path / "b.jsonl", cpu(), 1, one)
    c = run_file(tmp_path / "c.jsonl", cpu(), 1, one, allocator="returned")
    assert compare(load_views([a, b])).warnings == []  # B does not say: nothing to compare
    assert compare(load_views([a, c])).warnings == [
        "the runs differ in what the C allocator did with freed memory (flopbench.measuring.memory): A: kept;"
        " B: returned"
    ]
    d = run_file(tmp_path / "d.jsonl", cpu(), 1, one, torch="2.6")
    e = run_file(tmp_path / "e.jsonl", cpu(), 1, one, torch="2.6", allocator="returned")
    warnings = compare(load_views([a, d, e])).warnings
    assert warnings[0] == "the runs differ in torch version: A: 2.5; B: 2.6; C: 2.6"  # every setting, not the first


def test_an_empty_setting_reads_as_a_dash_and_disturbed_or_unstable_alone_is_said(tmp_path):
    one = [record("w", rounds=rounds([MS, 1.1 * MS]))]
    a = run_file(tmp_path / "a.jsonl", cpu(), 1, one)
    b = run_file(tmp_path / "b.jsonl", cpu(), 1, [one[0].model_copy(update={"disturbed": True})])
    c = run_file(tmp_path / "c.jsonl", cpu(), 1, [one[0].model_copy(update={"stable": False})])
    assert compare(load_views([a, b, c])).warnings == [
        "run B: 1 of the compared workloads were measured while the machine was disturbed and 0 are unstable; their"
        " rounds are kept, so their intervals are wider",
        "run C: 0 of the compared workloads were measured while the machine was disturbed and 1 are unstable; their"
        " rounds are kept, so their intervals are wider",
    ]
    dev = cpu()
    tf = run_file(tmp_path / "tf.jsonl", dev, 1, [one[0].model_copy(update={"world_size": 2, "rank": 0})])
    warnings = compare(load_views([a, tf])).warnings
    assert "the runs differ in device count (each run's ranks folded into their median): A: 1; B: 2" in warnings
    assert compare(load_views([a, tf])).runs.set_index("run")["devices"].to_dict() == {"A": 1, "B": 2}


# --- the between-run term and what makes one machine ---------------------------------------------------------------


class Speed:
    def __init__(self, median_s):
        self.median_s = median_s


def views_with_canaries(tmp_path, monkeypatch, canaries, devices=None):
    monkeypatch.setenv("FLOPBENCH_CACHE_DIR", str(tmp_path / "cache"))
    devices = devices or [cpu(), cpu()]
    one = [record("w", rounds=rounds([MS, 1.1 * MS]))]
    where = Path(tempfile.mkdtemp(dir=tmp_path))
    paths = [run_file(where / f"r{i}.jsonl", d, 1, one) for i, d in enumerate(devices)]
    views = load_views(paths)
    speeds = {id(v): Speed(c) if c else None for v, c in zip(views, canaries)}
    monkeypatch.setattr(type(views[0]), "trust", property(lambda self: type("T", (), {"speed": speeds[id(self)]})))
    return views


def test_the_drift_from_the_canaries_in_words_and_only_with_both(tmp_path, monkeypatch):
    views = views_with_canaries(tmp_path, monkeypatch, [1e-3, 1.1e-3])
    drift = drift_between(*views)
    assert drift == Drift(
        pytest.approx(math.log(1.1) / math.sqrt(2)), "no A/A history on this machine: the runs' canaries, 10.0% apart"
    )
    close = drift_between(*views_with_canaries(tmp_path, monkeypatch, [1e-3, 1.02e-3]))
    assert close == Drift(
        0.05,
        "assumed: no A/A history on this machine; the canaries, 2.0% apart, say no more than that",
    )
    for one_missing in ([1e-3, None], [None, 1e-3]):
        views = views_with_canaries(tmp_path, monkeypatch, one_missing)
        assert drift_between(*views) == Drift(
            0.05, "assumed: no A/A history on this machine and no canaries (benchmarks/compare_aa.py measures it)"
        )


def test_one_machines_history_wins_and_two_machines_take_the_larger(tmp_path, monkeypatch):
    from flopbench.machine.cache import learn_drift

    views = views_with_canaries(tmp_path, monkeypatch, [1e-3, 1.5e-3])
    for _ in range(3):
        learn_drift(views[0].header.device, 2, 0.03)
    assert drift_between(*views) == Drift(pytest.approx(0.03), "this machine's A/A history, 3 pairs of runs", 3.0)
    other = views_with_canaries(tmp_path, monkeypatch, [1e-3, 1e-3], [cpu(), cpu("Other CPU")])
    for _ in range(3):
        learn_drift(other[1].header.device, 2, 0.08)
    assert drift_between(*other) == Drift(
        0.08, "two machines: each run's own drift, the larger of their A/A histories and the assumed"
    )


def test_a_faster_machine_by_more_than_a_run_may_drift_is_said_either_way(tmp_path, monkeypatch):
    from flopbench.results.trust import RUN_SLOW

    slower = views_with_canaries(tmp_path, monkeypatch, [1e-3, 1.2e-3])
    assert compare(slower).warnings == [
        "the canary ran 20% slower in run B than in run A on the same device and threads: the machine itself was"
        " slower, so speedups within about 20% may be the machine's, not the workload's"
    ]
    faster = views_with_canaries(tmp_path, monkeypatch, [1.2e-3, 1e-3])
    assert compare(faster).warnings[0].startswith("the canary ran 17% faster in run B")
    assert "the machine itself was faster, so" in compare(faster).warnings[0]
    within = views_with_canaries(tmp_path, monkeypatch, [1e-3, 1e-3 * (1 + 0.99 * RUN_SLOW)])
    assert compare(within).warnings == []  # within what a run may drift: nothing to say
    two = views_with_canaries(tmp_path, monkeypatch, [1e-3, 2e-3], [cpu(), cpu("Other CPU")])
    assert compare(two).warnings == []  # two machines: their canaries differ by nature


@pytest.mark.parametrize(
    "change, same",
    [
        ({}, True),
        ({"model": 1}, False),  # a Zen 3 and a Zen 4 share the name
        ({"isa": "avx2"}, False),
        ({"logical_cpus": 4}, False),
        ({"threads": 4}, False),
        ({"name": "Other"}, False),
        ({"type": "cuda"}, False),
        ({"device": None}, False),
        ({"uuid": "x"}, True),  # a CPU is not told apart by a GPU's facts
    ],
)
def test_one_machine_is_the_same_device_facts_and_threads(change, same):
    change = dict(change)
    threads = change.pop("threads", 2)
    if "device" in change:
        other = header(device=None, threads=threads)
    else:
        kind, name = change.pop("type", "cpu"), change.pop("name", "Test CPU")
        dev = cpu(name, **change)
        other = header(
            device=Device(kind, None if kind == "cpu" else 0, name, dev.facts, dev.peaks, dev.bandwidth),
            threads=threads,
        )
    mine = header(device=cpu(), threads=2)
    assert same_machine(mine, other) is same and same_machine(other, mine) is same


def test_two_gpus_are_one_machine_by_their_uuid():
    gpu = Device("cuda", 0, "NVIDIA H100", {"uuid": "GPU-1", "multiprocessors": 132}, {}, Peak(3e12, "spec", ""))
    twin = Device("cuda", 0, "NVIDIA H100", {"uuid": "GPU-2", "multiprocessors": 132}, {}, Peak(3e12, "spec", ""))
    assert same_machine(header(device=gpu), header(device=gpu))
    assert not same_machine(header(device=gpu), header(device=twin))


# --- the smaller rules, each by hand ---------------------------------------------------------------------------------


def test_the_table_is_numbered_from_0_and_starts_with_what_each_workload_is(two_machines):
    table = compare(load_views(two_machines)).table
    assert list(table.index) == [0, 1, 2, 3]  # the join's keys are not a column of their own
    assert list(table.columns[:7]) == [
        "name",
        "family",
        "dtype",
        "impl",
        "total_flops",
        "time_s[A]",
        "total_flops_per_s[A]",
    ]


def test_a_run_with_no_records_is_refused_by_name(tmp_path):
    full = run_file(tmp_path / "a.jsonl", cpu(), 1, [record("w", rounds=rounds([MS, MS]))])
    empty = run_file(tmp_path / "b.jsonl", cpu(), 1, [])
    with pytest.raises(ValueError) as caught:
        compare(load_views([full, empty]))
    assert str(caught.value) == f"compare needs records in every run; none in {empty}"
    other = run_file(tmp_path / "c.jsonl", cpu(), 1, [])
    with pytest.raises(ValueError) as caught:
        compare(load_views([empty, full, other]))
    assert str(caught.value) == f"compare needs records in every run; none in {empty}, {other}"


def test_the_sides_of_a_paired_run_join_by_their_pair_key_and_their_family_has_no_between_run_term(tmp_path):
    """Three workloads measured eager on side A and compiled on side B: their identities differ (the implementation is
    part of one), their pair keys do not. Each speedup is the paired interval of pairs 0-3; the family's interval is
    their measurement's (fixed effect) with no between-run term (pairing cancelled it), at the level asked."""
    times = {  # per workload, side -> its four pairs' times (ms)
        "w1": {"A": [1.0, 1.1, 0.9, 1.05], "B": [0.5, 0.56, 0.44, 0.52]},
        "w2": {"A": [2.0, 2.1, 1.9, 2.2], "B": [1.0, 1.1, 0.9, 1.0]},
        "w3": {"A": [1.0, 1.0, 1.1, 1.2], "B": [0.8, 0.85, 0.9, 1.0]},
    }
    files = []
    for side, impl in (("A", "eager"), ("B", "compiled")):
        pairing = Pairing(session="s", side=side, axis="impl", value=impl, other="x", how="interleaved")
        records = [
            record(
                name,
                time_s=MS,
                impl=impl,
                identity=f"{name}|{impl}",
                pair_key=name,
                rounds=rounds([t * MS for t in sides[side]], [0, 1, 2, 3]),
            )
            for name, sides in times.items()
        ]
        files.append(run_file(tmp_path / f"{side}.jsonl", cpu(), 1, records, pairing=pairing))
    result = compare(load_views(files), level=0.9)
    assert result.paired and list(result.table["name"]) == ["w1", "w2", "w3"]
    found = []
    for sides, (_, row) in zip(times.values(), result.table.iterrows()):
        resolution = 1e-9 / (min(sides["B"]) * MS)
        expected = paired([t * MS for t in sides["A"]], [t * MS for t in sides["B"]], [0, 1, 2, 3], resolution, 0.9)
        assert (row["speedup[B]"], row["speedup_low[B]"], row["speedup_high[B]"]) == pytest.approx(
            (expected.value, expected.low, expected.high)
        )
        found.append(expected)
    summary = result.summary.set_index("family").loc["all"]
    mean = family(found, 0.0, 0.9)
    assert (summary["geomean_speedup"], summary["geomean_low"], summary["geomean_high"]) == pytest.approx(
        (mean.value, mean.low, mean.high)
    )
    assert summary["workloads"] == 3 and mean.drift_share == 0.0


def test_a_device_without_known_roofs_or_peaks_has_no_ratios_and_no_numpy_noise(tmp_path):
    import warnings

    unknown = Device("cpu", None, "Test CPU", FACTS, {}, Peak(None, "unknown", "not measured"))
    one = [record("w", rounds=rounds([MS, 1.1 * MS]))]
    a = run_file(tmp_path / "a.jsonl", cpu(), 1, one)
    b = run_file(tmp_path / "b.jsonl", unknown, 1, one, roofline=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a mean of nothing is NaN, said quietly
        result = compare(load_views([a, b]))
    row, summary = result.table.iloc[0], result.summary.iloc[0]
    assert math.isnan(row["roof_ratio[B]"]) and math.isnan(row["peak_ratio[B]"])
    assert math.isnan(summary["roof_ratio"]) and math.isnan(summary["peak_ratio"])


def test_a_setting_a_run_holds_two_values_of_or_none_is_listed_as_it_is(tmp_path):
    both = [record("w", rounds=rounds([MS, MS]), tf32=False), record("v", rounds=rounds([MS, MS]), tf32=True)]
    a = run_file(tmp_path / "a.jsonl", cpu(), 1, both)
    b = run_file(tmp_path / "b.jsonl", cpu(), 1, [r.model_copy(update={"tf32": True}) for r in both])
    assert compare(load_views([a, b])).warnings == ["the runs differ in TF32: A: False, True; B: True"]
    c = run_file(tmp_path / "c.jsonl", cpu(), 1, both, threads=None)
    warnings = compare(load_views([a, c])).warnings
    assert warnings[0] == "the runs differ in threads: A: 2; B: -"


def test_memory_ratios_need_a_baseline_that_used_some(tmp_path):
    def run(name, peaks):
        records = [record(w, rounds=rounds([MS, MS]), peak_memory_bytes=p) for w, p in zip(("w", "v", "u"), peaks)]
        return run_file(tmp_path / f"{name}.jsonl", cpu(), 1, records)

    table = compare(load_views([run("a", [1, 0, 4096]), run("b", [3, 8, 1024])])).table.set_index("name")
    assert table["peak_memory_bytes[A]"].to_dict() == {"w": 1, "v": 0, "u": 4096}
    assert table.loc["w", "memory_ratio[B]"] == 3.0 and table.loc["u", "memory_ratio[B]"] == 0.25
    assert math.isnan(table.loc["v", "memory_ratio[B]"])  # nothing to divide by


def test_a_workload_s_repetitions_are_its_round_medians_from_two_rounds_else_its_samples():
    from flopbench.reading.comparison import repetitions

    two = record("w", rounds=rounds([1.0 * MS, 3.0 * MS]))
    assert repetitions([two]) == ([1.0 * MS, 3.0 * MS], "rounds")
    ranks = [two, record("w", rounds=rounds([2.0 * MS, 5.0 * MS]), rank=1, world_size=2)]
    assert repetitions(ranks) == ([1.5 * MS, 4.0 * MS], "rounds")  # each round's median over the ranks
    one = record("w", time_s=2 * MS, rounds=rounds([2 * MS]), samples_s=[1 * MS, 2 * MS, 4 * MS])
    assert repetitions([one]) == ([1 * MS, 2 * MS, 4 * MS], "samples")
    bare = record("w", time_s=2 * MS, rounds=[], samples_s=[])  # only its median: one value
    assert repetitions([bare]) == ([2 * MS], "samples")


def test_the_timer_s_share_of_a_sample_is_the_largest_over_the_records():
    from flopbench.reading.comparison import relative_resolution

    blocks = record("w", time_s=1e-3, timer_resolution_s=1e-6, calls_per_sample=10)  # 1e-6 / 1e-2
    single = record("w", time_s=1e-4, timer_resolution_s=2e-6, calls_per_sample=None)  # 2e-6 / 1e-4: one call
    untimed = record("w", time_s=1e-3, timer_resolution_s=None, calls_per_sample=1)
    failed = untimed.model_copy(update={"status": "error", "time_s": None, "timer_resolution_s": 1.0})
    assert relative_resolution([blocks]) == pytest.approx(1e-4)
    assert relative_resolution([blocks, single, untimed, failed]) == pytest.approx(0.02)
    assert relative_resolution([untimed]) == 0.0 and relative_resolution([]) == 0.0


@pytest.mark.parametrize(
    "value, low, high, text",
    [
        (math.nan, math.nan, math.nan, "-"),
        (1.5, math.nan, math.nan, "1.5x"),  # no interval (fewer than 3 workloads)
        (1.5, 1.5, 1.5, "1.5x"),  # a point: nothing to show
        (1.5, 1.25, 1.75, "1.5x (1.25-1.75)"),
    ],
)
def test_a_family_s_text_is_its_mean_with_an_interval_where_it_has_one(value, low, high, text):
    from flopbench.reading.comparison import family_text

    assert family_text(value, low, high) == text


def test_a_device_kind_with_no_machine_facts_is_one_machine_by_name_and_threads():
    mps = Device("mps", 0, "Apple M3", {}, {}, Peak(None, "unknown", ""))
    assert same_machine(header(device=mps), header(device=mps))
    assert not same_machine(header(device=mps), header(device=mps, threads=8))


def test_a_run_that_does_not_say_its_threads_has_no_history_to_look_up(tmp_path, monkeypatch):
    from flopbench.machine import cache
    from flopbench.reading.comparison import _history

    looked = []
    monkeypatch.setattr(cache, "load_drift", lambda device, threads: looked.append(threads) or (0.02, 3))
    one = [record("w", rounds=rounds([MS, MS]))]
    unsaid = run_file(tmp_path / "n.jsonl", cpu(), 1, one, threads=None)
    assert _history(load_views([unsaid])[0]) is None and looked == []
    assert _history(load_views([run_file(tmp_path / "t.jsonl", cpu(), 1, one)])[0]) == (0.02, 3) and looked == [2]
