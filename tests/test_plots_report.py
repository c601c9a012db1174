"""Figures, report and compare, end to end on result files made by the tests (matplotlib's Agg backend)."""

import json
import re

import matplotlib.pyplot as plt
import pytest

from flopbench.reading import plots
from flopbench.reading.analysis import study
from flopbench.reading.comparison import compare
from flopbench.reading.view import load_view, load_views
from tests.fakes import fake_device, workloads, write_run
from tests.helpers import assert_one_line_error, flopbench


@pytest.fixture
def results(tmp_path):
    return write_run(tmp_path / "run.jsonl", fake_device())


@pytest.fixture
def run(results):
    return load_view(results)


def test_roofline_figure(run):
    fig = plots.roofline(run)
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_xlabel().startswith("Arithmetic intensity (FLOP/byte")
    assert ax.get_ylabel().startswith("Achieved FLOP/s")
    assert "cpu (Test CPU)" in ax.get_title() and "float32" in ax.get_title()
    ok = run.measured
    assert len(ax.collections) == ok.groupby(["family", "dtype"]).ngroups  # one scatter per family and dtype
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"matmul", "conv", "attention", "elementwise", "float32"} <= set(legend)
    assert any("float32 peak 100 GFLOP/s (spec)" in t for t in legend)
    ridges = [t.get_text() for t in ax.texts if t.get_text().startswith("DRAM ridge")]
    assert ridges == ["DRAM ridge 10"]  # 100 GFLOP/s over 10 GB/s
    assert any("not shown (0 FLOPs): elementwise-copy" in t.get_text() for t in ax.texts)
    plt.close(fig)


def test_flops_vs_latency_names_the_least_efficient(run):
    fig = plots.flops_vs_latency(run, label=3)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "FLOPs per call (core + elementwise)"
    assert ax.get_ylabel() == "Median time per call"
    labels = [t.get_text() for t in ax.texts]
    lowest = run.measured.nsmallest(3, "utilization")["name"]
    assert len(labels) == 3 and all(any(name in label for label in labels) for name in lowest)
    plt.close(fig)


def test_sweeps_have_a_panel_per_swept_entry(run):
    fig = plots.sweeps(run)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["square (matmul)", "attention (attention)"]
    assert panels[0].get_xlabel() == "m = n = k" and panels[1].get_xlabel() == "seq_len"
    assert all(ax.get_ylabel() == "Achieved FLOP/s" for ax in panels)
    assert any("float32 peak" in t.get_text() for t in panels[0].get_legend().get_texts())
    plt.close(fig)


def test_utilization_has_a_row_per_measured_workload(run):
    fig = plots.utilization(run)
    ax = fig.axes[0]
    assert len(ax.get_yticklabels()) == len(run.measured)
    assert "% (solid: of the dtype's peak" in ax.get_xlabel()
    assert "float32: 100 GFLOP/s (spec)" in ax.get_title()
    plt.close(fig)


def test_comparison_figure(tmp_path):
    a = write_run(tmp_path / "a.jsonl", fake_device())
    b = write_run(tmp_path / "b.jsonl", fake_device("Fast CPU", float32=200e9))
    result = compare(load_views([a, b]))
    fig = plots.comparison(result)
    ax = fig.axes[0]
    assert len(ax.patches) == len(result.table) + 1  # a bar each, and the grey band of "the same"
    assert "Speedup over run A" in ax.get_xlabel() and "B: cpu (Fast CPU)" in ax.get_title()
    plt.close(fig)


def test_plot_command_writes_every_figure(results, tmp_path):
    out = tmp_path / "figs"
    result = flopbench("plot", str(results), "--out", str(out))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["flops_vs_latency.png", "predictors.png", "roofline.png", "sweeps.png", "utilization.png"]
    assert all((out / n).read_bytes()[:4] == b"\x89PNG" for n in names)
    svg = flopbench("plot", str(results), "--out", str(tmp_path / "svg"), "--figure-format", "svg")
    assert svg.returncode == 0 and (tmp_path / "svg" / "roofline.svg").read_text().lstrip().startswith("<?xml")


def test_report_holds_the_device_the_tables_the_figures_and_the_study(results, run, tmp_path):
    out = tmp_path / "report"
    result = flopbench("report", str(results), "--out", str(out))
    assert result.returncode == 0, result.stderr
    md = (out / "report.md").read_text()
    s = study(run)
    assert "# flopbench: cpu (Test CPU)" in md
    assert "| float32 | 100 GFLOP/s | spec |" in md
    for family in ("matmul", "conv", "attention", "elementwise"):
        assert f"### {family}" in md
    # The study's two headline numbers, computed here from the raw records (not by the code under test).
    from scipy import stats

    measured = [r for r in run.records if r.status == "ok" and r.total_flops > 0]
    rho = stats.spearmanr([r.total_flops for r in measured], [r.time_s for r in measured]).statistic
    rates = [r.total_flops / r.time_s for r in measured]
    assert f"Spearman rank correlation between FLOPs and median time is **{rho:.2f}**" in md
    assert f"a factor of **{max(rates) / min(rates):.0f}**" in md
    for contrast in s.contrasts:
        assert f"| {contrast.title} | {contrast.a['name']} | {contrast.b['name']} |" in md
        assert f"{contrast.per_flop:.3g}x" in md
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(figures) == [
        "flops_vs_latency.png",
        "predictors.png",
        "roofline.png",
        "standing.png",  # its workloads that the shipped references measured too: where this machine stands
        "sweeps.png",
        "utilization.png",
    ]
    assert "## How well do FLOPs predict latency? Five predictors" in md and "| fitted |" in md
    assert "## Where this machine stands" in md and "| cpu-amd-epyc-zen3-2vcpu-vm | all |" in md
    assert all((out / f).exists() for f in figures)
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 6  # self-contained
    assert "<strong>" in page and "How far do FLOPs predict latency?" in page


def test_compare_command(tmp_path):
    times = {w.name: 0.5e-3 for w in workloads()}
    base = {w.name: 1e-3 for w in workloads()}
    a = write_run(tmp_path / "a.jsonl", fake_device(), base)
    b = write_run(tmp_path / "b.jsonl", fake_device("Fast CPU", float32=200e9), times, threads=4)
    result = flopbench("compare", str(a), str(b), "--out", str(tmp_path / "cmp"))
    assert result.returncode == 0, result.stderr
    assert "speedup B" in result.stdout and "2x" in result.stdout
    assert "the runs differ in threads: A: 2; B: 4" in result.stderr
    assert {p.name for p in (tmp_path / "cmp").iterdir()} == {"compare.csv", "compare_summary.csv", "comparison.png"}
    data = json.loads(flopbench("compare", str(a), str(b), "--format", "json").stdout)
    assert {w["speedup[B]"] for w in data["workloads"]} == {2.0}
    assert [r["device"] for r in data["runs"]] == ["cpu (Test CPU)", "cpu (Fast CPU)"]


def test_compare_errors(tmp_path):
    a = write_run(tmp_path / "a.jsonl", fake_device())
    assert_one_line_error(flopbench("compare", str(a)), "at least two results files")
    assert_one_line_error(flopbench("compare", str(a), str(a)), "two different runs")
    assert_one_line_error(flopbench("compare", str(a), str(tmp_path / "missing.jsonl")), "cannot read")


def _with_trust(path, out, busy=(), unstable=(), canary=0.01, baseline_s=1e-3, run_reference_s=None):
    """The run at `path` as a 3-round run in which some workloads were disturbed or unstable, and every quiet window's
    canary ran `canary` slower than the baseline."""
    from flopbench.results.files import ResultsWriter, read_run
    from flopbench.results.schema import Interference, Round

    run = read_run(path)
    quiet = Interference(
        window_s=1.0,
        usable_cpus=2,
        threads=2,
        other_cpus=0.0,
        canary_slowdown=canary,
        canary_threshold=0.15,
        busy=False,
    )
    loud = Interference(
        window_s=1.0,
        usable_cpus=2,
        threads=2,
        other_cpus=0.9,
        busy=True,
        reasons=["busy: other processes used 0.9 of 2 CPUs during this measurement"],
    )
    writer = ResultsWriter.create(
        out,
        run.header.model_copy(
            update={
                "settings": None,
                "quiet_check": {
                    "canary_baseline_s": baseline_s,
                    "canary_noise": 0.02,
                    "canary_run_reference_s": run_reference_s,
                },
            }
        ),
    )
    for r in run.records:
        spread = 0.12 if r.name in unstable else 0.01
        rounds = [
            Round(
                round=i,
                position=i,
                time_s=r.time_s,
                samples_s=r.samples_s,
                calls_per_sample=1,
                interference=loud if r.name in busy and i == 0 else quiet,
            )
            for i in range(3)
        ]
        writer.record(
            r.model_copy(
                update={
                    "rounds": rounds,
                    "round_spread": spread,
                    "stable": spread <= 0.05,
                    "disturbed": r.name in busy,
                    "interference": loud if r.name in busy else quiet,
                }
            )
        )
    writer.close()
    return out


def test_the_report_says_how_far_each_figure_can_be_trusted(tmp_path):
    from flopbench.reading.report import write_report

    plain = write_run(tmp_path / "plain.jsonl", fake_device())
    names = [w.name for w in workloads()]
    run = _with_trust(plain, tmp_path / "trust.jsonl", busy=[names[0]], unstable=[names[1]])
    md = write_report([run], tmp_path / "r")[0].read_text()
    assert "## Trust: the machine during the run" in md and "**1 of" in md and "**1** are unstable" in md
    rows = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert "busy 0.9 CPU" in rows[names[0]] and "unstable 12%" in rows[names[1]]
    assert "ok (3 rounds within 1.0%)" in rows[names[2]]
    # A run without trust data (an old file) has neither the section nor the column.
    old = write_report([plain], tmp_path / "old")[0].read_text()
    assert "Trust" not in old and "| trust |" not in old


def test_compare_warns_when_a_run_was_disturbed_or_unstable(tmp_path):
    a = write_run(tmp_path / "a.jsonl", fake_device())
    b_plain = write_run(tmp_path / "b_plain.jsonl", fake_device(), run_id="b")
    names = [w.name for w in workloads()]
    b = _with_trust(b_plain, tmp_path / "b.jsonl", busy=names[:2], unstable=names[2:3])
    result = compare(load_views([a, b]))
    assert any(
        w.startswith(
            "run B: 2 of the compared workloads were measured while the machine was disturbed and 1 are unstable"
        )
        for w in result.warnings
    ), result.warnings
    assert not any(w.startswith("run A:") for w in result.warnings)


def test_shares_near_a_threshold_keep_a_decimal_and_counts_their_number():
    from flopbench.units import count, percent

    assert percent(0.0529) == "5.3%" and percent(0.123) == "12%" and percent(0.008) == "0.8%"
    assert count(1, "thread") == "1 thread" and count(2, "thread") == "2 threads" and count(0, "round") == "0 rounds"


def test_a_run_whose_canary_ran_slow_throughout_is_called_slow_in_the_report(tmp_path):
    from flopbench.reading.report.document import to_markdown
    from flopbench.reading.report.run import trust_blocks

    plain = write_run(tmp_path / "plain.jsonl", fake_device())

    def report(name, canary, reference):  # the report's trust section alone: its figures are not the point here
        run = _with_trust(plain, tmp_path / f"{name}.jsonl", canary=canary, run_reference_s=reference)
        return to_markdown(trust_blocks(load_view(run)), tmp_path)

    steady = report("steady", 0.01, 1e-3)
    assert "+1.0% from the quietest earlier run on this machine (1 ms)" in steady
    assert "the machine was slower for the whole run" not in steady
    assert re.search(r"\*\*The canary's median .* \+8\.0% from .* slower for the whole run", report("slow", 0.08, 1e-3))
    first = report("first", 0.08, None)  # no earlier run: no verdict, however far the windows sit from the start
    assert "the first such figure on this machine" in first and "slower for the whole run" not in first


def test_compare_says_when_the_machine_itself_ran_at_another_speed(tmp_path):
    a_plain = write_run(tmp_path / "a_plain.jsonl", fake_device())
    b_plain = write_run(tmp_path / "b_plain.jsonl", fake_device(), run_id="b")
    a = _with_trust(a_plain, tmp_path / "a.jsonl", canary=0.0, baseline_s=1.00e-3)
    near = _with_trust(b_plain, tmp_path / "near.jsonl", canary=0.0, baseline_s=1.04e-3)
    slower = _with_trust(b_plain, tmp_path / "slower.jsonl", canary=0.02, baseline_s=1.06e-3)  # 8.1% in all
    assert not [w for w in compare(load_views([a, near])).warnings if "canary" in w]
    (warning,) = [w for w in compare(load_views([a, slower])).warnings if "canary" in w]
    assert warning.startswith("the canary ran 8% slower in run B than in run A on the same device and threads")
    assert "speedups within about 8% may be the machine's" in warning


def test_report_and_plot_write_under_results_never_beside_their_input(tmp_path, in_process):
    """A committed reference run is read, never written next to: the default is ./results/<its name>."""
    reference = tmp_path / "reference"
    reference.mkdir()
    run = write_run(reference / "ref.jsonl", fake_device())
    assert in_process("report", str(run)).returncode == 0
    assert in_process("plot", str(run)).returncode == 0
    assert sorted(p.name for p in reference.iterdir()) == ["ref.jsonl"]
    written = tmp_path / "results" / "ref"
    assert (written / "report.html").is_file() and (written / "roofline.png").is_file()
