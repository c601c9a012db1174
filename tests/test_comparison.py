"""Comparing runs with confidence (flopbench.reading.comparison): every verdict, separate runs and paired ones joined
and judged, where the between-run term comes from, the CI gate's three exits, --best-impl and many machines. The
intervals' own coverage is tests/test_intervals.py's."""

import json
import math

import numpy as np
import pytest

from flopbench.reading.comparison import compare, drift_between, repetitions
from flopbench.reading.intervals import Ratio, unpaired
from flopbench.reading.view import load_views
from tests.fakes import fake_device, workloads, write_run
from tests.helpers import flopbench


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
    quiet = unpaired([1.0e-3, 1.01e-3, 0.99e-3], [1.0e-3, 1.0e-3, 1.01e-3])
    disturbed = unpaired([1.0e-3, 1.01e-3, 1.5e-3], [1.0e-3, 1.0e-3, 1.01e-3])  # one round 50% slow
    assert disturbed.high - disturbed.low > 5 * (quiet.high - quiet.low)


def test_one_round_falls_back_on_its_samples():
    from tests.helpers import record

    one = record("a", time_s=1e-3, samples_s=[1e-3, 1.1e-3, 0.9e-3])
    assert repetitions([one]) == ([1e-3, 1.1e-3, 0.9e-3], "samples")


# --- whole comparisons ----------------------------------------------------------------------------------------------


def _with_rounds(path, out, factor=1.0, slow=(), spread=0.02, seed=0):
    """The run at `path` with three rounds per record, scattered by `spread`, every time times `factor` (and the
    workloads named in `slow` 30% slower again)."""
    from flopbench.results.files import ResultsWriter, read_run
    from flopbench.results.schema import Round

    rng = np.random.default_rng(seed)
    run = read_run(path)
    writer = ResultsWriter.create(out, run.header.model_copy(update={"run_id": out.stem}))
    for r in run.records:
        scale = factor * (1.30 if r.name in slow else 1.0)
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


def _paired(path, out, side, session, slow=(), factor=1.0, spread=0.01, seed=0):
    """One side of a paired run made from the run at `path`: 5 rounds of 8 samples per record, each sample's pair id
    the same on both sides, every pair sharing a moment offset (the host's state then, up to 10%) that pairing must
    cancel; `slow` workloads `factor` times slower."""
    from flopbench.results.files import ResultsWriter, read_run
    from flopbench.results.schema import Pairing, Round

    moments = np.random.default_rng(99).normal(0, 0.05, 40)  # shared by both sides: the same seed
    rng = np.random.default_rng(seed)
    run = read_run(path)
    pairing = Pairing(session=session, side=side, axis="impl", value="eager", other="eager", how="interleaved")
    writer = ResultsWriter.create(out, run.header.model_copy(update={"run_id": out.stem, "pairing": pairing}))
    for r in run.records:
        scale = factor if r.name in slow else 1.0
        rounds = []
        for i in range(5):
            ids = list(range(8 * i, 8 * i + 8))
            samples = [r.time_s * scale * math.exp(moments[p] + rng.normal(0, spread)) for p in ids]
            rounds.append(
                Round(
                    round=i,
                    position=i,
                    time_s=float(np.median(samples)),
                    samples_s=samples,
                    calls_per_sample=1,
                    pairs=ids,
                )
            )
        writer.record(r.model_copy(update={"rounds": rounds, "pair_key": r.identity}))
    writer.close()
    return out


@pytest.fixture
def paired_pair(tmp_path):
    plain = write_run(tmp_path / "plain.jsonl", fake_device())
    slow = workloads()[2].name
    return (
        _paired(plain, tmp_path / "a.jsonl", "A", "s1", seed=1),
        _paired(plain, tmp_path / "b.jsonl", "B", "s1", seed=2),
        _paired(plain, tmp_path / "c.jsonl", "B", "s1", slow=(slow,), factor=1.08, seed=3),
        slow,
    )


def test_paired_sides_cancel_the_drift_they_share(paired_pair):
    """Moments up to 10% apart, shared by each pair: the paired intervals are a few % wide and call 8% slower; the same
    files read as separate runs would not see it."""
    a, b, planted, slow = paired_pair
    same = compare(load_views([a, b]))
    assert "paired" in same.notes[0] and set(same.table["verdict[B]"]) == {"same"}
    assert (same.table["mde[B]"] < 0.10).all()  # 5 rounds: the gate catches under 10% slower 80% of the time
    assert same.gate(0.05) == (0, [])
    caught = compare(load_views([a, planted]))
    verdicts = dict(zip(caught.table["name"], caught.table["verdict[B]"]))
    assert verdicts[slow] == "slower" and list(verdicts.values()).count("slower") == 1
    assert caught.gate(0.05)[0] == 1


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


def test_separate_runs_an_aa_pair_is_never_called_and_a_planted_30_percent_is(pair):
    """Two separate runs with no A/A history and no canaries: the between-run term is the assumed 5% a run, so an A/A
    pair decides nothing either way (gate exit 2: it could not have seen 5%), and 30% is caught (exit 1)."""
    a, b, planted, slow = pair
    same = compare(load_views([a, b]))
    assert set(same.table["verdict[B]"]) <= {"same", "unsure"}
    assert "assumed" in same.notes[0] and same.table["drift_limited[B]"].all()
    status, lines = same.gate(0.05)
    assert status == 2 and all("drift-limited" in line for line in lines)
    caught = compare(load_views([a, planted]))
    verdicts = dict(zip(caught.table["name"], caught.table["verdict[B]"]))
    assert verdicts[slow] == "slower" and list(verdicts.values()).count("slower") == 1
    status, (line,) = caught.gate(0.05)
    assert status == 1 and line.startswith(f"{slow} (float32): run B is 1.2") and "the time of run A" in line
    assert line.endswith("over the 5% allowed, with Holm's correction over 11 comparisons")  # 10 rows, their mean


def test_the_gate_exits_1_with_a_line_per_slower_workload_and_0_otherwise(paired_pair):
    a, b, planted, slow = paired_pair
    ok = flopbench("compare", str(a), str(b), "--fail-slower", "5%")
    assert ok.returncode == 0, ok.stderr
    assert "paired (interleaved in one process)" in ok.stdout
    failed = flopbench("compare", str(a), str(planted), "--fail-slower", "5%")
    assert failed.returncode == 1
    lines = [line for line in failed.stderr.splitlines() if line.startswith("flopbench: slower:")]
    assert len(lines) == 1 and slow in lines[0]
    bad = flopbench("compare", str(a), str(b), "--fail-slower", "5")
    assert bad.returncode == 2 and "expected a share" in bad.stderr
    both = flopbench("compare", str(a), str(b), "--fail-slower", "5%", "--threshold", "3%")
    assert both.returncode == 2 and "two limits" in both.stderr


def test_the_gate_exits_2_when_an_unsure_row_is_past_the_threshold(tmp_path):
    """Records of one round each compare on their samples, which decide nothing: 30% slower there leaves the answer
    open (exit 2, the line says why), never exit 1."""
    a = write_run(tmp_path / "a.jsonl", fake_device())
    slow = workloads()[1].name
    b = write_run(tmp_path / "b.jsonl", fake_device(), times={slow: 1.3 * _time(a, slow)})
    result = flopbench("compare", str(a), str(b), "--fail-slower", "5%")
    assert result.returncode == 2, result.stderr
    (line,) = [
        line for line in result.stderr.splitlines() if line.startswith("flopbench: inconclusive:") and slow in line
    ]
    assert "decides nothing (no spread on either side" in line


def _time(path, name):
    from flopbench.results.files import read_run

    return next(r.time_s for r in read_run(path).records if r.name == name)


def test_the_between_run_term_comes_from_history_then_canaries_then_an_assumption(pair, tmp_path, monkeypatch):
    from flopbench.machine.cache import learn_drift, load_drift

    monkeypatch.setenv("FLOPBENCH_CACHE_DIR", str(tmp_path / "cache"))
    a, b, _, _ = pair
    views = load_views([a, b])
    assumed = drift_between(*views)
    assert assumed.sd == 0.05 and assumed.source.startswith("assumed")
    device = views[0].header.device
    learn_drift(device, 2, 0.03)
    assert learn_drift(device, 2, 0.04) == (pytest.approx(math.sqrt((0.03**2 + 0.04**2) / 2)), 2)
    short = drift_between(*views)  # two pairs of runs: too few to replace the assumption
    assert short.sd == 0.05 and "rests on 2 pair(s) of runs, under the 3 it needs" in short.source
    learn_drift(device, 2, 0.02)
    learnt = drift_between(*views)
    assert learnt.sd == pytest.approx(load_drift(device, 2)[0]) and "A/A history, 3 pairs of runs" in learnt.source
    assert learnt.df == 3  # its own uncertainty: the pairs it rests on
    other = write_run(tmp_path / "other.jsonl", fake_device("Other CPU"))
    two = drift_between(views[0], load_views([other])[0])
    assert two.sd == 0.05 and "two machines" in two.source  # its own history unknown: the assumed, the larger


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
    assert out.returncode in (0, 2), out.stderr
    assert "machines x families" in out.stdout
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


# --- known answers ---------------------------------------------------------------------------------------------------


def _rounds_record(name, times, rank=0, samples=None):
    from flopbench.results.schema import Round
    from tests.helpers import record

    rounds = [
        Round(round=i, position=i, time_s=t, samples_s=samples or [t, t], calls_per_sample=1)
        for i, t in enumerate(times)
    ]
    return record(name, time_s=float(np.median(times)), rounds=rounds, rank=rank)


def test_a_workloads_repetitions_fold_its_ranks_by_their_median_round_by_round():
    """Three ranks at 1, 2 and 10 ms: each round's value is the median, 2 ms (their mean would be 4.3 ms)."""
    ranks = [_rounds_record("a", [t, t, t], rank=r) for r, t in enumerate((1e-3, 2e-3, 10e-3))]
    assert repetitions(ranks) == ([2e-3, 2e-3, 2e-3], "rounds")


def test_the_time_columns_are_the_geometric_means_of_the_rounds(tmp_path):
    """Rounds of 1, 1 and 4 ms: the time the speedup divides is their geometric mean, 4^(1/3) = 1.587 ms (their
    median, 1 ms, is the run's own figure): time A / time B is the speedup shown."""
    from flopbench.results.files import ResultsWriter
    from tests.helpers import header

    paths = []
    for label, times in (("a", [1e-3, 1e-3, 4e-3]), ("b", [1e-3, 1e-3, 1e-3 + 1e-6])):
        path = tmp_path / f"{label}.jsonl"
        writer = ResultsWriter.create(path, header(run_id=label))
        writer.record(_rounds_record("w", times))
        writer.close()
        paths.append(path)
    result = compare(load_views(paths))
    row = result.table.iloc[0]
    assert row["time_s[A]"] == pytest.approx(4 ** (1 / 3) * 1e-3)
    assert row["speedup[B]"] == pytest.approx(row["time_s[A]"] / row["time_s[B]"])


def test_a_paired_records_value_per_pair_is_the_median_of_its_samples_with_that_id():
    from flopbench.reading.comparison import pair_values
    from flopbench.results.schema import Round
    from tests.helpers import record

    rounds = [
        Round(round=0, position=0, time_s=2.0, samples_s=[1.0, 2.0, 9.0, 4.0], calls_per_sample=1, pairs=[0, 0, 0, 1]),
        Round(round=1, position=0, time_s=3.0, samples_s=[3.0, 5.0], calls_per_sample=1, pairs=[2, 2]),
    ]
    assert pair_values([record("w", rounds=rounds)]) == {0: (0, 2.0), 1: (0, 4.0), 2: (1, 4.0)}


def test_the_relative_resolution_is_the_timer_tick_over_one_sample():
    from flopbench.reading.comparison import relative_resolution
    from tests.helpers import record

    one = record("w", time_s=1e-6, timer_resolution_s=1e-7, calls_per_sample=10)  # a sample of 10 us: 1%
    other = record("v", time_s=1e-3, timer_resolution_s=1e-7, calls_per_sample=1)
    assert relative_resolution([one, other]) == pytest.approx(0.01)


def test_the_canaries_set_the_drift_apart_by_their_ratio_over_root_two(pair, tmp_path, monkeypatch):
    """Canaries 10% apart: one run's offset is log(1.1) / sqrt 2 = 6.7%; 1% apart: never less than the assumed 5% (a
    canary cannot see a workload's own drift)."""
    from flopbench.reading import comparison

    monkeypatch.setenv("FLOPBENCH_CACHE_DIR", str(tmp_path / "cache"))
    a, b, _, _ = pair
    views = load_views([a, b])

    class Speed:
        def __init__(self, median_s):
            self.median_s = median_s

    for ratio, expected in ((1.1, math.log(1.1) / math.sqrt(2)), (1.01, comparison.DRIFT_ASSUMED)):
        speeds = {id(views[0]): Speed(1e-3), id(views[1]): Speed(1e-3 * ratio)}
        trust = property(lambda self, s=speeds: type("Trust", (), {"speed": s[id(self)]}))
        monkeypatch.setattr(type(views[0]), "trust", trust)
        drift = drift_between(*views)
        assert drift.sd == pytest.approx(expected) and "canaries" in drift.source


# --- every part of a comparison, read back -------------------------------------------------------------------------


def _rewritten(path, out, **record_update):
    """The run at `path`, its records updated with `record_update` (the same for each), under another run id."""
    from flopbench.results.files import ResultsWriter, read_run

    run = read_run(path)
    header_update = record_update.pop("header", {})
    writer = ResultsWriter.create(out, run.header.model_copy(update={"run_id": out.stem, **header_update}))
    for record in run.records:
        writer.record(record.model_copy(update=record_update))
    writer.close()
    return out


def test_every_setting_that_differs_is_named_with_each_runs_value(tmp_path):
    a = write_run(tmp_path / "a.jsonl", fake_device(), threads=2, torch_version="2.5.0", allocator="kept")
    b = _rewritten(
        write_run(tmp_path / "b0.jsonl", fake_device(), threads=4, torch_version="2.6.0", allocator="returned"),
        tmp_path / "b.jsonl",
        tf32=True,
    )
    warnings = compare(load_views([a, b])).warnings
    assert "the runs differ in torch version: A: 2.5.0; B: 2.6.0" in warnings
    assert "the runs differ in threads: A: 2; B: 4" in warnings
    assert "the runs differ in TF32: A: False; B: True" in warnings
    assert any(w.startswith("the runs differ in what the C allocator did with freed memory") for w in warnings)
    assert not any("device count" in w for w in warnings)


def test_disturbed_and_unstable_records_are_counted_per_run(tmp_path):
    plain = write_run(tmp_path / "plain.jsonl", fake_device())
    a = _with_rounds(plain, tmp_path / "a.jsonl", seed=1)
    b = _rewritten(
        _with_rounds(plain, tmp_path / "b0.jsonl", seed=2), tmp_path / "b.jsonl", disturbed=True, stable=False
    )
    warnings = compare(load_views([a, b])).warnings
    n = len(read_run_records(b))
    assert (
        f"run B: {n} of the compared workloads were measured while the machine was disturbed and {n} are unstable;"
        " their rounds are kept, so their intervals are wider"
    ) in warnings
    assert not any(w.startswith("run A:") for w in warnings)


def read_run_records(path):
    from flopbench.results.files import read_run

    return read_run(path).records


def test_a_faster_machine_for_the_whole_run_is_said_with_its_canary(pair, monkeypatch):
    from flopbench.reading.comparison import Comparison

    a, b, _, _ = pair
    views = load_views([a, b])

    class Speed:
        def __init__(self, median_s):
            self.median_s = median_s

    speeds = {id(views[0]): Speed(1e-3), id(views[1]): Speed(1.2e-3)}
    monkeypatch.setattr(type(views[0]), "trust", property(lambda self: type("T", (), {"speed": speeds[id(self)]})))
    result: Comparison = compare(views)
    assert (
        "the canary ran 20% slower in run B than in run A on the same device and threads: the machine itself was"
        " slower, so speedups within about 20% may be the machine's, not the workload's"
    ) in result.warnings
    speeds[id(views[1])] = Speed(1.01e-3)  # within RUN_SLOW: nothing to say
    assert not any("canary ran" in w for w in compare(views).warnings)


def test_energy_per_flop_is_compared_where_every_run_was_metered(tmp_path):
    plain = write_run(tmp_path / "plain.jsonl", fake_device())
    a = _rewritten(plain, tmp_path / "a.jsonl", flops_per_joule=2e9)
    b = _rewritten(plain, tmp_path / "b.jsonl", flops_per_joule=3e9)
    result = compare(load_views([a, b]))
    assert (result.table["flops_per_joule[A]"] == 2e9).all() and (result.table["energy_ratio[B]"] == 1.5).all()
    assert result.summary["geomean_energy_ratio"].tolist() == pytest.approx([1.5] * len(result.summary))
    unmetered = compare(load_views([plain, b]))
    assert "energy_ratio[B]" not in unmetered.table.columns
    assert unmetered.summary["geomean_energy_ratio"].isna().all()


def test_the_runs_legend_and_the_json_carry_every_run(pair):
    a, b, _, _ = pair
    result = compare(load_views([a, b]))
    legend = result.runs.set_index("run")
    assert list(legend.index) == ["A", "B"] and legend.loc["B", "file"] == str(b)
    assert legend.loc["A", "run_id"] == "a" and legend.loc["A", "threads"] == 2 and legend.loc["A", "devices"] == 1
    assert legend.loc["A", "host"] == "testhost" and legend.loc["A", "torch"] == "2.5.0"
    data = as_json_of(result)
    assert data["baseline"] == "A" and data["threshold"] == 0.05 and data["confidence"] == 0.95
    assert data["how"] == result.notes and data["warnings"] == result.warnings
    assert [r["run"] for r in data["runs"]] == ["A", "B"] and len(data["workloads"]) == len(result.table)
    assert data["summary"][0]["family"] == "all"


def as_json_of(result):
    from flopbench.reading.comparison import as_json

    return as_json(result)


def test_the_peaks_ratio_and_the_roofs_ratio_of_two_devices(tmp_path):
    a = write_run(tmp_path / "a.jsonl", fake_device(float32=100e9, bandwidth=10e9))
    b = write_run(tmp_path / "b.jsonl", fake_device("Big CPU", float32=250e9, bandwidth=40e9))
    result = compare(load_views([a, b]))
    f32 = result.table[result.table["dtype"] == "float32"]
    assert f32["peak_ratio[B]"].tolist() == pytest.approx([2.5] * len(f32))
    all_row = result.summary[result.summary["family"] == "all"].iloc[0]
    assert all_row["roof_ratio"] == pytest.approx(math.exp(np.log(result.table["roof_ratio[B]"]).mean()))


def test_labels_and_pairing_and_how_each_run_was_compared(tmp_path):
    from flopbench.reading.comparison import is_paired, labels_for
    from flopbench.results.schema import Pairing

    assert labels_for(28)[24:] == ["Y", "Z", "R26", "R27"]
    plain = write_run(tmp_path / "plain.jsonl", fake_device())

    def side(name, session, letter, how="interleaved"):
        pairing = Pairing(session=session, side=letter, axis="impl", value="x", other="y", how=how)
        return _rewritten(plain, tmp_path / f"{name}.jsonl", header={"pairing": pairing})

    a, b = side("a", "s", "A"), side("b", "s", "B")
    views = load_views([a, b, side("c", "t", "B"), side("d", "s", "A"), plain])
    assert is_paired(views[0], views[1]) and not is_paired(views[0], views[2]) and not is_paired(views[0], views[3])
    assert not is_paired(views[0], views[4])
    processes = load_views([side("e", "u", "A", "processes"), side("f", "u", "B", "processes")])
    assert compare(processes).notes == [
        "Run B against run A: paired (alternating processes): each interval from the pairs' log ratios, each pair's"
        " estimate the unit that repeats."
    ]
    assert compare(load_views([a, b])).notes[0].startswith("Run B against run A: paired (interleaved in one process)")
    separate = compare(load_views([plain, a]))
    assert separate.notes[0].startswith("Run B against run A: separate runs: each interval from the round medians plus")


def _some_rewritten(path, out, names, **record_update):
    """The run at `path` under another run id, the records named in `names` updated with `record_update`."""
    from flopbench.results.files import ResultsWriter, read_run

    run = read_run(path)
    writer = ResultsWriter.create(out, run.header.model_copy(update={"run_id": out.stem}))
    for record in run.records:
        writer.record(record.model_copy(update=record_update) if record.name in names else record)
    writer.close()
    return out


def test_each_runs_peak_memory_and_its_ratio_to_the_baseline(tmp_path):
    plain = write_run(tmp_path / "plain.jsonl", fake_device())
    names = [r.name for r in read_run_records(plain)]
    a = _rewritten(plain, tmp_path / "a.jsonl", peak_memory_bytes=1000)
    b = _some_rewritten(
        _rewritten(plain, tmp_path / "b0.jsonl", peak_memory_bytes=3000),
        tmp_path / "b.jsonl",
        names[:1],
        peak_memory_bytes=0,
    )
    table = compare(load_views([a, b])).table
    assert list(table["peak_memory_bytes[A]"]) == [1000] * len(names)
    assert list(table["peak_memory_bytes[B]"]) == [0] + [3000] * (len(names) - 1)
    assert list(table["memory_ratio[B]"].iloc[1:]) == [3.0] * (len(names) - 1)  # B over A, the baseline
    assert "memory_ratio[A]" not in table
    zero_base = compare(load_views([b, a])).table  # now b (labelled A) is the baseline: its zero divides nothing
    assert math.isnan(zero_base["memory_ratio[B]"].iloc[0])
    assert zero_base["memory_ratio[B]"].iloc[1] == pytest.approx(1000 / 3000)
    unmeasured = compare(load_views([plain, a])).table  # one run measured no memory: no memory columns at all
    assert not any(column.startswith(("peak_memory_bytes", "memory_ratio")) for column in unmeasured.columns)


def test_runs_of_other_dtypes_are_said_and_records_without_a_counterpart_counted(tmp_path):
    plain = write_run(tmp_path / "plain.jsonl", fake_device())
    names = [r.name for r in read_run_records(plain)]
    records = read_run_records(plain)
    other = plain
    for i, record in enumerate(records[:2]):  # two workloads measured in bfloat16 instead
        update = dict(dtype="bfloat16", name=record.name + "-bfloat16", identity=record.identity + "-bfloat16")
        other = _some_rewritten(other, tmp_path / f"b{i}.jsonl", [record.name], **update)
    result = compare(load_views([plain, other]))
    assert len(result.table) == len(names) - 2  # the same workload in the same dtype only
    assert (
        "the runs measured different dtypes: A: float32; B: bfloat16, float32"
        " (only the same workload in the same dtype is compared)"
    ) in result.warnings
    assert "4 measured records have no counterpart in every run and are left out" in result.warnings
    same = compare(load_views([plain, _rewritten(plain, tmp_path / "c.jsonl")])).warnings
    assert not any("dtypes" in w or "no counterpart" in w for w in same)


def _gated(result, *ratios, threshold=0.05):
    """The gate of `result` over crafted ratios, one per row of a table cut to their number (and their family)."""
    import dataclasses

    from flopbench.reading.intervals import family

    rows = list(ratios)
    one = dataclasses.replace(
        result, table=result.table.iloc[: len(rows)], ratios={"B": rows}, means={"B": family(rows)}
    )
    return one.gate(threshold)


def test_the_gate_by_hand_at_its_edges(tmp_path):
    """5% allowed, 95% intervals. A decided row at 1.0 with se 0.005 (df 20) is shown not slower by 5% (its one-sided
    bound: exp(1.7247 x 0.005) - 1 = 0.87%): exit 0, even alone. A row that decides nothing never passes, wherever its
    estimate is (exit 2, with why). A decided row whose bound is past 5% (se 0.05, df 4: 11.2%) leaves it open, with
    about how many rounds would tell; a drift-limited one says that pairing would. A sure slowdown outranks them."""
    from flopbench.reading.intervals import Ratio

    result = compare(
        load_views([write_run(tmp_path / "a.jsonl", fake_device()), write_run(tmp_path / "b.jsonl", fake_device())])
    )
    name, second = result.table.iloc[0]["name"], result.table.iloc[1]["name"]
    fine = Ratio(1.0, 0.99, 1.01, "pairs", se=0.005, df=20)
    assert fine.upper_slowdown() == pytest.approx(math.exp(1.724718 * 0.005) - 1, rel=1e-6)
    assert _gated(result, fine) == (0, [])
    for estimate in (1 / 1.05, 1 / 1.06, 1.0):
        undecided = Ratio(estimate, 0.94, 0.96, "samples", se=0.005, df=20, decides=False, why="one round's samples")
        status, lines = _gated(result, undecided)
        assert status == 2 and lines == [
            f"{name} (float32): run B is {1 / estimate:.3g}x the time of run A: it decides nothing (one round's"
            " samples)"
        ]
    blind = Ratio(1.0, 0.9, 1.1, "rounds", se=0.05, df=4, repeats=5)
    status, lines = _gated(result, fine, blind)
    assert status == 2 and lines == [
        f"{second} (float32): run B is 1x the time of run A: up to 11.2% slower (95% one-sided bound), past the 5%"
        " allowed: about 15 rounds would tell",  # 5 x (0.05 / (ln 1.05 / 1.6449))^2 = 14.2
        "the geometric mean of run B's 2 workloads is 1x the time of run A: up to 5.5% slower (95% one-sided bound),"
        " past the 5% allowed: more rounds would tell",  # its least-measured row: fine, whose rounds are not known
    ]
    drifting = Ratio(1.0, 0.9, 1.1, "rounds", se=0.05, df=4, drift_share=0.8)  # mostly the between-run term
    assert _gated(result, drifting)[1] == [
        f"{name} (float32): run B is 1x the time of run A: up to 11.2% slower, past the 5% allowed; drift-limited: the"
        " drift between separate runs hides a change this small, and more rounds would not tell; pair the runs"
        " (flopbench ab)"
    ]
    leaning = Ratio(1 / 1.08, 0.8, 1.05, "rounds", se=0.05, df=4, repeats=5)
    assert _gated(result, leaning)[1][0].endswith(
        "past the 5% allowed, but not with confidence (it catches 22% slower 80% of the time): more rounds would tell"
    )
    slow = Ratio(1 / 1.2, 1 / 1.25, 1 / 1.15, "pairs", se=0.01, df=20)
    status, lines = _gated(result, slow, blind)  # a sure slowdown outranks the inconclusive row
    assert status == 1 and lines == [
        f"{name} (float32): run B is 1.2x the time of run A (95% interval 1.15x-1.25x): over the 5% allowed, with"
        " Holm's correction over 3 comparisons"
    ]
