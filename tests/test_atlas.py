"""The atlas (flopbench.reading.atlas): references named from their own facts, a run placed against them (against
itself: the same; against another machine: what an independent computation from the two files gives), the score, the
checks a reference must pass, and the commands."""

import gzip
import math
import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from flopbench.reading import atlas
from flopbench.reading.atlas import Reference, admit, machine_name, references, score, standing
from flopbench.reading.intervals import Ratio
from flopbench.reading.view import load_view
from flopbench.results.files import read_run
from tests.helpers import assert_one_line_error, header

ZEN3 = "cpu-amd-epyc-zen3-2vcpu-vm"


def _cpu_header(vendor, family, model, isa, name="AMD EPYC", logical=2, threads=2, vm=True):
    from flopbench.results.schema import Device, Peak

    facts = dict(vendor=vendor, family=family, model=model, isa=isa, model_name=name, logical_cpus=logical)
    facts["virtual_machine"] = vm
    device = Device("cpu", None, name, facts, {}, Peak(None, "unknown", "none"))
    return header(device=device, threads=threads)


@pytest.mark.parametrize(
    "facts, name",
    [
        (("AuthenticAMD", 25, 1, "avx2 fma"), "cpu-amd-epyc-zen3-2vcpu-vm"),
        (("AuthenticAMD", 25, 17, "avx2 fma avx512f avx512_bf16"), "cpu-amd-epyc-zen4-2vcpu-vm"),  # this VM's kind
        (("AuthenticAMD", 26, 2, "avx2 avx512f"), "cpu-amd-epyc-zen5-2vcpu-vm"),
        (("GenuineIntel", 6, 143, "avx2 avx512f amx_bf16", "Intel(R) Xeon(R) Platinum"), "cpu-intel-xeon-amx-2vcpu-vm"),
        (("GenuineIntel", 6, 85, "avx2 avx512f", "Intel(R) Xeon(R) Gold"), "cpu-intel-xeon-avx512-2vcpu-vm"),
    ],
)
def test_a_machine_is_named_from_its_own_facts(facts, name):
    assert machine_name(_cpu_header(*facts)) == name


@pytest.mark.parametrize(
    "model, isa, kind",
    [
        (0x11, "avx2 fma", "zen4"),  # a Genoa whose hypervisor hides AVX-512: its model says Zen 4
        (0x01, "avx2 fma avx512f", "zen3"),  # Milan, whatever a flag says
        (0x21, "avx2", "zen3"),
        (0x61, "avx2", "zen4"),
        (0xA0, "avx2", "zen4"),
        (0x90, "avx2 avx512f", "zen4"),  # a model in no range: the flags decide
        (0x90, "avx2", "zen3"),
    ],
)
def test_zen_3_and_zen_4_are_told_apart_by_model_range_first(model, isa, kind):
    from flopbench.reading.atlas import cpu_kind

    facts = dict(vendor="AuthenticAMD", family=25, model=model, isa=isa, model_name="AMD EPYC")
    assert cpu_kind(facts) == f"amd-epyc-{kind}"


def test_fewer_threads_than_cpus_and_bare_metal_say_so():
    assert machine_name(_cpu_header("AuthenticAMD", 25, 1, "avx2", threads=1)) == "cpu-amd-epyc-zen3-1thread-vm"
    assert machine_name(_cpu_header("AuthenticAMD", 26, 2, "avx512f", logical=16, threads=16, vm=False)) == (
        "cpu-amd-epyc-zen5-16cpu"
    )
    from tests.helpers import GPU

    assert machine_name(header(device=GPU)) == "cuda-nvidia-h100-80gb-hbm3"


def test_every_shipped_reference_is_named_from_its_facts_and_is_a_default_run():
    shipped = references()
    assert {r.name for r in shipped} >= {ZEN3, "cpu-amd-epyc-zen5-2vcpu-vm", "cpu-intel-xeon-amx-2vcpu-vm"}
    for reference in shipped:
        assert reference.path.name == f"{machine_name(reference.header)}.jsonl.gz"
        assert [s.name for s in reference.header.suites] == ["default"]
        name, problems = admit(reference.run)
        assert name == reference.name and problems == []


def _copy_as_another_run(reference, tmp_path):
    """The reference's file with another run id: the same machine and numbers, measured 'again'."""
    from flopbench.results.files import ResultsWriter

    path = tmp_path / "again.jsonl"
    run = reference.run
    writer = ResultsWriter.create(path, run.header.model_copy(update={"run_id": "again"}))
    for record in run.records:
        writer.record(record)
    writer.close()
    return path


def test_a_reference_against_itself_is_the_same_in_every_family(tmp_path):
    (zen3,) = [r for r in references() if r.name == ZEN3]
    result = standing(load_view(_copy_as_another_run(zen3, tmp_path)), [zen3])
    assert len(result.rows) >= 4
    for r in result.rows.itertuples():
        assert r.speedup == pytest.approx(1.0)
        assert Ratio(r.speedup, r.low, r.high, "workloads").verdict() in ("same", "unsure")


def _time(record):
    """A workload's time as a comparison divides it: the geometric mean of its round medians, or of its samples where
    it has one round (the Zen 5 reference is a schema 2 file: its records have samples, no rounds)."""
    values = [r.time_s for r in record.rounds] if len(record.rounds) > 1 else record.samples_s
    return math.exp(np.mean(np.log(values)))


def test_against_another_machine_the_family_speedups_are_what_the_two_files_give():
    """Per family, the geometric mean over the workloads both measured of time there / time here, computed here from
    the raw records of the two files."""
    refs = {r.name: r for r in references()}
    here, there = refs["cpu-amd-epyc-zen5-2vcpu-vm"], refs[ZEN3]
    result = standing(here.view, [there]).rows.set_index("family")
    ours = {r.identity: r for r in here.run.records if r.status == "ok"}
    theirs = {r.identity: r for r in there.run.records if r.status == "ok"}
    ratios = pd.DataFrame(
        [{"family": ours[i].family, "log": math.log(_time(theirs[i]) / _time(ours[i]))} for i in ours if i in theirs]
    )
    expected = ratios.groupby("family")["log"].mean().map(math.exp)
    for family, value in expected.items():
        assert result.loc[family, "speedup"] == pytest.approx(value, rel=1e-9)
        assert result.loc[family, "workloads"] == (ratios["family"] == family).sum()
    assert result.loc["all", "speedup"] == pytest.approx(math.exp(ratios["log"].mean()), rel=1e-9)


def test_the_score_is_100_times_the_geometric_mean_over_the_baseline():
    refs = {r.name: r for r in references()}
    ranked = score(refs["cpu-amd-epyc-zen4-2vcpu-vm"].view, list(refs.values()))
    table = standing(refs["cpu-amd-epyc-zen4-2vcpu-vm"].view, [refs[ZEN3]]).comparisons[ZEN3].table
    native = table[table["dtype"] == "float32"]["speedup[B]"]  # Zen 3 emulates bfloat16: apart
    overall = ranked.rows.set_index("scope").loc["all"]
    assert ranked.baseline == ZEN3 and overall["score"] == pytest.approx(100 * np.exp(np.log(native).mean()))
    assert overall["low"] < overall["score"] < overall["high"]
    assert "geometric mean" in ranked.method and ZEN3 in ranked.method
    assert score(refs[ZEN3].view, list(refs.values())) is None  # the baseline has no score against itself
    # A reference of one round per workload (an older file) has no measurement error to give: its score stands alone.
    old = score(refs["cpu-amd-epyc-zen5-2vcpu-vm"].view, list(refs.values())).rows.set_index("scope").loc["all"]
    assert old["score"] > 0 and math.isnan(old["low"]) and math.isnan(old["high"])


def test_a_run_that_cannot_be_a_reference_says_why(tmp_path):
    (zen3,) = [r for r in references() if r.name == ZEN3]
    run = read_run(zen3.path)  # its own copy: the atlas keeps one read of each reference for the process
    run.footers.clear()
    _, problems = admit(run)
    assert any("did not finish" in p for p in problems)
    disturbed = [r.model_copy(update={"disturbed": True}) for r in zen3.run.records]
    run2 = read_run(zen3.path)
    run2.records[:] = disturbed
    assert any("disturbed machine" in p for p in admit(run2)[1])


def test_compressed_results_read_as_plain_ones(tmp_path):
    (zen3,) = [r for r in references() if r.name == ZEN3]
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(gzip.decompress(zen3.path.read_bytes()))
    assert len(read_run(plain).records) == len(zen3.run.records)
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(Exception, match="not a readable gzip file"):
        read_run(broken)


def test_compare_against_the_atlas_and_its_errors(in_process, tmp_path):
    (zen5,) = [r for r in references() if r.name == "cpu-amd-epyc-zen5-2vcpu-vm"]
    run = tmp_path / "zen5.jsonl"
    run.write_bytes(gzip.decompress(zen5.path.read_bytes()))
    done = in_process("compare", str(run), "--against", "all", "--format", "markdown", "-o", "standing")
    assert done.returncode == 0, done.stderr
    assert re.search(rf"\| {ZEN3} \| [0-9.]+x \|", done.stdout) and "Score against" in done.stdout  # refs x families
    assert "Against cpu-amd-epyc-zen3-2vcpu-vm: attention" in done.stdout
    assert (tmp_path / "standing" / "standing.png").exists()
    assert_one_line_error(in_process("compare", str(run), "--against", "zen9"), "--against zen9", "not in the atlas")
    assert_one_line_error(in_process("compare", str(run), str(run), "--against", "all"), "give one results file")
    listed = in_process("atlas", "--format", "csv")
    assert listed.returncode == 0 and ZEN3 in listed.stdout


def test_atlas_add_checks_then_adds_under_the_facts_name(in_process, tmp_path, monkeypatch):
    monkeypatch.setattr(atlas, "ATLAS", tmp_path / "atlas")
    (tmp_path / "atlas").mkdir()
    (zen3,) = [r for r in references() if r.name == ZEN3]
    good = tmp_path / "zen3.jsonl"
    good.write_bytes(gzip.decompress(zen3.path.read_bytes()))
    added = in_process("atlas", "add", str(good))
    assert added.returncode == 0, added.stderr
    assert (tmp_path / "atlas" / f"{ZEN3}.jsonl.gz").exists()
    # Beside the references: the run under its date and name, its report in the folder of that name; an older file
    # of the same kind goes.
    stale = tmp_path / "results" / "reference" / f"2020-01-01_{ZEN3}_default.jsonl"
    stale.write_text("old")
    (stale.with_suffix("") / "report.md").parent.mkdir(parents=True)
    added = in_process("atlas", "add", str(good))
    assert added.returncode == 0, added.stderr
    (copy,) = (tmp_path / "results" / "reference").glob(f"*_{ZEN3}_default.jsonl")
    assert copy.read_bytes() == good.read_bytes() and (copy.with_suffix("") / "report.md").exists()
    assert not stale.exists() and not stale.with_suffix("").exists() and "older reference files removed" in added.stderr
    unfinished = tmp_path / "cut.jsonl"
    unfinished.write_text("\n".join(good.read_text().splitlines()[:-1]) + "\n")  # no footer
    assert_one_line_error(in_process("atlas", "add", str(unfinished)), "not a reference", "did not finish")
    assert isinstance(Reference(tmp_path / "atlas" / f"{ZEN3}.jsonl.gz").name, str)
    shutil.rmtree(tmp_path / "atlas")


# --- like with like (issue 52) --------------------------------------------------------------------------------------


def test_scores_per_dtype_keep_an_emulated_dtype_apart():
    """Zen 4 against the Zen 3 baseline: Zen 3 has no bfloat16 arithmetic (converted to float32), Zen 4 has: the three
    bfloat16 GEMMs (94-339x faster) are scored apart and named, never folded into 'all', which is the float32
    workloads' score (it read 320 (204-502) with them folded in and the workloads' spread as its interval)."""
    refs = {r.name: r for r in references()}
    ranked = score(refs["cpu-amd-epyc-zen4-2vcpu-vm"].view, list(refs.values()))
    rows = ranked.rows.set_index("scope")
    assert list(rows.index) == ["all", "bfloat16", "float32"]
    assert rows.loc["bfloat16", "emulated"] == ZEN3 and rows.loc["bfloat16", "workloads"] == 3
    assert rows.loc["all", "emulated"] == "" and rows.loc["all", "workloads"] == rows.loc["float32", "workloads"]
    assert rows.loc["all", "score"] == pytest.approx(rows.loc["float32", "score"])
    assert rows.loc["bfloat16", "score"] > 50 * rows.loc["all", "score"]
    all_ = rows.loc["all"]
    assert all_["low"] < all_["score"] < all_["high"] and all_["high"] / all_["low"] < 1.5  # the measurement's
    # How much the workloads differ, beside it: far wider than the measurement's interval.
    assert all_["spread_high"] / all_["spread_low"] > 2 * all_["high"] / all_["low"]
    assert "bfloat16 is scored apart (emulated on cpu-amd-epyc-zen3-2vcpu-vm)" in ranked.method
    assert "Threads: 2 there, 2 here" in ranked.method


def test_roof_ratios_come_from_levels_both_machines_measured():
    """Zen 5's reference has a DRAM roof only; Zen 4's has L2 and L3: keras-mnist and the depthwise convolution live in
    Zen 4's caches, so their predicted ratio is the common DRAM level's (the two DRAM roofs' ratio), not Zen 4's L2
    against the other's DRAM (against the Zen 3 reference of 2026-12-02, also DRAM only: 3.37x, where 9.7x and 5.9x
    were read before), and they are left out of the sentence on the workloads furthest from their roofs."""
    from flopbench.machine.roofline import Roofline

    refs = {r.name: r for r in references()}
    zen5_name = "cpu-amd-epyc-zen5-2vcpu-vm"
    result = standing(refs["cpu-amd-epyc-zen4-2vcpu-vm"].view, [refs[zen5_name]])
    table = result.comparisons[zen5_name].table.set_index("name")
    zen4 = refs["cpu-amd-epyc-zen4-2vcpu-vm"].view.roofline
    zen5 = refs[zen5_name].view.roofline
    dram = zen4.memory.roof.value / zen5.memory.roof.value
    for name in ("keras-mnist", "mobilenetv2-dw-56"):
        assert not table.loc[name, "roof_like[B]"]
        assert table.loc[name, "roof_ratio[B]"] == pytest.approx(dram, rel=0.01)
    (words,) = result.words
    assert "keras-mnist" not in words and "mobilenetv2-dw-56" not in words
    assert "live in a cache level only one run measured" in words
    shared = zen4.shared_with(zen5)
    assert isinstance(shared, Roofline) and not any(level.roof.known for level in shared.caches)
    assert shared.memory == zen4.memory and shared.overhead_s is None  # Zen 5 measured no per-call floor
    assert zen4.shared_with(zen4) == zen4


def test_a_reference_says_its_age_and_what_it_lacks_and_this_machines_kind_is_renewed(monkeypatch):
    import datetime as dt

    from flopbench.reading.atlas import aged

    refs = {r.name: r for r in references()}
    old, new = refs["cpu-amd-epyc-zen5-2vcpu-vm"], refs["cpu-amd-epyc-zen4-2vcpu-vm"]
    assert {"cache roofs", "ledgers", "memory footprints", "rounds"} <= set(old.lacks())
    assert "cache roofs" not in new.lacks() and "ledgers" not in new.lacks()
    assert old.age_days(dt.datetime(2026, 12, 2, 7, 57, 34, tzinfo=dt.timezone.utc)) == 10
    listed = old.describe()
    assert listed["lacks"].startswith("cache roofs") and listed["age"].endswith(" d")
    assert aged(list(refs.values()), old.header.device, 2) is old  # a machine of its kind renews it
    assert aged(list(refs.values()), old.header.device, 1) is None  # one thread: another reference's kind
    zen3 = refs[ZEN3]  # renewed on 2026-12-07: nothing it lacks
    assert zen3.lacks() == [] and aged(list(refs.values()), zen3.header.device, 2) is None


def test_against_in_json_carries_the_notes_and_the_score(in_process, tmp_path):
    import json

    (intel,) = [r for r in references() if r.name == "cpu-intel-xeon-amx-1thread-vm"]
    run = tmp_path / "intel.jsonl"
    run.write_bytes(gzip.decompress(intel.path.read_bytes()))
    done = in_process("compare", str(run), "--against", "all", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert any("the runs differ in threads" in note for note in data["notes"])  # 1 thread against 2: said
    assert data["score"]["baseline"] == ZEN3 and {r["scope"] for r in data["score"]["rows"]} >= {"all", "float32"}
    assert any("threads" in note for note in data["score"]["notes"])
    assert data["words"] and data["standing"]
    from tests.helpers import cli

    table = cli("compare", str(run), "--against", "all", cwd=tmp_path, env={**os.environ, "COLUMNS": "80"})
    assert "Score against cpu-amd-epyc-zen3-2vcpu-vm (the runs differ in threads" in table.stdout.replace("\n", " ")
