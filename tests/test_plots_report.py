"""Figures, report and compare, end to end on result files made by the tests (matplotlib's Agg backend)."""

import json
import re

import matplotlib.pyplot as plt
import pytest

from flopbench import plots
from flopbench.analysis import compare, measured, study
from flopbench.results import load_results
from tests.fakes import fake_device, workloads, write_run
from tests.test_cli import assert_one_line_error, flopbench


@pytest.fixture
def results(tmp_path):
    return write_run(tmp_path / "run.jsonl", fake_device())


@pytest.fixture
def run(results):
    return load_results(results)


def test_roofline_figure(run):
    fig = plots.roofline(run)
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_xlabel().startswith("Arithmetic intensity (FLOP/byte")
    assert ax.get_ylabel().startswith("Achieved FLOP/s")
    assert "cpu (Test CPU)" in ax.get_title() and "float32" in ax.get_title()
    ok = measured(run)
    assert len(ax.collections) == ok.groupby(["family", "dtype"]).ngroups  # one scatter per family and dtype
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"matmul", "conv", "attention", "elementwise", "float32"} <= set(legend)
    assert any("float32 peak 100 GFLOP/s (spec)" in t for t in legend)
    ridges = [t.get_text() for t in ax.texts if t.get_text().startswith("ridge")]
    assert ridges == ["ridge 10"]  # 100 GFLOP/s over 10 GB/s
    assert any("not shown (0 FLOPs): elementwise-copy" in t.get_text() for t in ax.texts)
    plt.close(fig)


def test_flops_vs_latency_names_the_least_efficient(run):
    fig = plots.flops_vs_latency(run, label=3)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "FLOPs per call (core + elementwise)"
    assert ax.get_ylabel() == "Median time per call"
    labels = [t.get_text() for t in ax.texts]
    lowest = measured(run).nsmallest(3, "utilization")["name"]
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
    assert len(ax.get_yticklabels()) == len(measured(run))
    assert "% (solid: of the dtype's peak" in ax.get_xlabel()
    assert "float32: 100 GFLOP/s (spec)" in ax.get_title()
    plt.close(fig)


def test_comparison_figure(tmp_path):
    a = write_run(tmp_path / "a.jsonl", fake_device())
    b = write_run(tmp_path / "b.jsonl", fake_device("Fast CPU", float32=200e9))
    result = compare(load_results([a, b]))
    fig = plots.comparison(result)
    ax = fig.axes[0]
    assert len(ax.patches) == len(result.table)
    assert "Speedup over run A" in ax.get_xlabel() and "B: cpu (Fast CPU)" in ax.get_title()
    plt.close(fig)


def test_plot_command_writes_every_figure(results, tmp_path):
    out = tmp_path / "figs"
    result = flopbench("plot", str(results), "--out", str(out))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["flops_vs_latency.png", "roofline.png", "sweeps.png", "utilization.png"]
    assert all((out / n).read_bytes()[:4] == b"\x89PNG" for n in names)
    svg = flopbench("plot", str(results), "--out", str(tmp_path / "svg"), "--format", "svg")
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
    assert f"Spearman rank correlation between FLOPs and median time is **{s.spearman:.2f}**" in md
    assert f"a factor of **{s.spread:.0f}**" in md
    for contrast in s.contrasts:
        assert f"| {contrast.title} | {contrast.a['name']} | {contrast.b['name']} |" in md
        assert f"{contrast.per_flop:.3g}x" in md
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(figures) == ["flops_vs_latency.png", "roofline.png", "sweeps.png", "utilization.png"]
    assert all((out / f).exists() for f in figures)
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4  # self-contained
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
