"""Per-layer profiling: where a model's time goes, joined with its counts (flopbench.workloads.models.profile, run
--per-layer, profile-model, the report's section). Timing accuracy is a benchmark's (benchmarks/per_layer.py); these
check that the time is attributed where it belongs and that the parts add up."""

import json
import textwrap
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from flopbench.machine.roofline import Roofline
from flopbench.reading.analysis import layer_times, time_split
from flopbench.results.files import load_results
from flopbench.results.schema import LayerProfile, Record
from flopbench.workloads import make_workload
from flopbench.workloads.models.counter import count_layers
from flopbench.workloads.models.profile import CALL, LAYER, OUTSIDE, _attribute, profile_model, to_record
from tests.helpers import FixedTimer, assert_one_line_error, device, flopbench, runner


def event(name, self_us, parent=None):
    return SimpleNamespace(name=name, self_cpu_time_total=self_us, self_device_time_total=0, cpu_parent=parent)


def test_attribution_goes_to_the_innermost_layer_and_the_outermost_call():
    block = event(LAYER + "block", 5)  # a range's own time is the profiler's: never counted
    conv = event(LAYER + "block.conv", 1, block)
    call = event(CALL + "conv2d", 2, conv)
    inner_call = event(CALL + "pad", 1, call)  # a call made inside another call belongs to the outer one
    mkldnn = event("aten::mkldnn_convolution", 400, inner_call)
    add = event("aten::add", 30, event(CALL + "add", 0, block))
    loose = event("aten::empty", 7)
    by_layer, by_call = _attribute([block, conv, call, inner_call, mkldnn, add, loose], cuda=False, iterations=2)
    assert by_layer == {"block.conv": 200e-6, "block": 15e-6, OUTSIDE: 3.5e-6}
    assert by_call == {"conv2d": 200e-6, "add": 15e-6, OUTSIDE: 3.5e-6}


def test_attribution_on_cuda_uses_the_kernels_time():
    launch = SimpleNamespace(
        name="aten::mm", self_cpu_time_total=50, self_device_time_total=900, cpu_parent=event(LAYER + "fc", 0)
    )
    by_layer, _ = _attribute([launch], cuda=True, iterations=1)
    assert by_layer == {"fc": 900e-6}


class WithUncounted(nn.Module):
    """A linear layer, then a call flopbench has no formula for (cumsum) and a view."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)

    def forward(self, x):
        return self.fc(x).cumsum(dim=1).reshape(-1)


def test_a_profile_adds_up_and_names_what_no_formula_covers():
    model, x = WithUncounted(), torch.randn(256, 64)
    measured = profile_model(model, [x], iterations=3)
    assert measured.whole_s > 0 and measured.iterations == 3
    layers = {layer.path: layer for layer in measured.layers}
    assert layers["fc"].time_s > 0 and layers["fc"].core_flops == 2 * 256 * 64 * 64
    assert "cumsum" in measured.without_formula_s and measured.without_formula_s["cumsum"] > 0
    # Every op's time is in exactly one layer (or outside all), and in exactly one kind of call.
    by_call = measured.counted_calls_s + measured.movement_s + sum(measured.without_formula_s.values())
    assert measured.ops_s == pytest.approx(sum(layer.time_s for layer in measured.layers) + measured.outside_layers_s)
    assert by_call <= measured.ops_s * (1 + 1e-9)
    assert measured.remainder_s == pytest.approx(measured.whole_s - measured.ops_s)


def test_a_profiled_model_becomes_record_fields_with_its_counts():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 14 * 14, 10))
    x = torch.randn(2, 3, 16, 16)
    counted = count_layers(model, [x])
    layers, split = to_record(profile_model(model, [x], iterations=2, counted=counted), counted, "float32")
    assert isinstance(split, LayerProfile) and split.timer == "torch.profiler CPU self time"
    by_path = {layer.path: layer for layer in layers}
    assert by_path["0"].calls[0].name == "conv2d" and by_path["0"].time_s > 0
    assert by_path["0"].calls[0].core_flops == 2 * 2 * 8 * 14 * 14 * 3 * 9
    assert all(layer.time_s is not None for layer in layers)


def test_training_keeps_the_backward_pass_apart():
    model, x = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1)), torch.randn(64, 32)
    measured = profile_model(model, [x], train=True, iterations=2)
    assert measured.backward_s > 0 and measured.backward_s == measured.outside_layers_s
    assert any("backward" in note for note in measured.notes)


def test_layer_times_by_hand():
    layers = [
        {
            "path": "a",
            "type": "Linear",
            "time_s": 3e-3,
            "calls": [{"name": "linear", "core_flops": 200e6, "elementwise_flops": 0, "bytes": 1e6}],
        },
        {
            "path": "b",
            "type": "ReLU",
            "time_s": 1e-3,
            "calls": [{"name": "relu", "core_flops": 0, "elementwise_flops": 1e6, "bytes": 8e6}],
        },
        {"path": "c", "type": "Block", "time_s": 0.0, "calls": []},
        {"path": "old", "type": "Linear", "calls": []},  # not profiled: no time, not shown
    ]
    roofline = Roofline.build(device(bandwidth=10e9))  # float32 100 GFLOP/s
    table = layer_times(layers, roofline, "float32").set_index("path")
    assert list(table.index) == ["a", "b", "c"]
    assert table.loc["a", "predicted_s"] == pytest.approx(2e-3) and table.loc["a", "bound"] == "compute"
    assert table.loc["b", "predicted_s"] == pytest.approx(8e-4) and table.loc["b", "bound"] == "memory"
    assert table.loc["a", "time_share"] == pytest.approx(0.75) and table.loc["a", "flop_share"] == pytest.approx(
        200 / 201
    )
    assert table.loc["a", "flops_per_s"] == pytest.approx(200e6 / 3e-3)
    assert table.loc["a", "over_roofline"] == pytest.approx(1.5)
    assert table["time_share"].sum() == pytest.approx(1)
    unplaced = layer_times(layers, Roofline.build(device(bandwidth=None)), "float32")
    assert unplaced["predicted_s"].isna().all() and (unplaced["bound"] == "").all()


def test_time_split_in_words():
    split = LayerProfile(
        iterations=3,
        timer="torch.profiler CPU self time",
        whole_s=10e-3,
        ops_s=9e-3,
        outside_layers_s=0.0,
        without_formula_s={"cumsum": 1e-3},
        movement_s=0.5e-3,
        counted_calls_s=7.5e-3,
    )
    text = time_split(split.model_dump())
    assert "10 ms alone" in text and "cumsum 1 ms" in text and "(10%)" in text
    assert "the rest, 1 ms (10%), is Python and dispatch" in text
    over = time_split(split.model_copy(update={"ops_s": 11e-3}))
    assert "the profiler's own cost" in over


# --- run --per-layer, the report ------------------------------------------------------------------------------------


def test_the_runner_profiles_models_and_a_failed_profile_costs_only_a_warning(monkeypatch):
    model = make_workload("model", {"model": "resnet18", "batch": 1, "image_size": 32})
    gemm = make_workload("matmul", {"m": 32, "n": 32, "k": 32})
    records: list[Record] = []
    runner(device(), per_layer=True, timer=FixedTimer(1e-3), on_record=records.append).run([model, gemm])
    profiled, plain = records
    assert profiled.profile is not None and profiled.profile.whole_s > 0
    assert all(layer.time_s is not None for layer in profiled.layers)
    assert sum(layer.time_s for layer in profiled.layers) > 0
    assert plain.profile is None

    def broken(*args, **kwargs):
        raise RuntimeError("profiler unavailable")

    monkeypatch.setattr(type(model.spec), "profile", broken)
    records.clear()
    runner(device(), per_layer=True, timer=FixedTimer(1e-3), on_record=records.append).run([model])
    (record,) = records
    assert record.status == "ok" and record.time_s == 1e-3 and record.profile is None
    assert any("--per-layer: the profile failed: RuntimeError: profiler unavailable" in w for w in record.warnings)


def test_run_per_layer_writes_profiles_and_the_report_shows_them(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text('name = "tiny"\n[[workload]]\nop = "model"\nmodel = "resnet18"\nimage_size = 32\n')
    out = tmp_path / "run.jsonl"
    result = flopbench(
        "run", str(suite), "--per-layer", "--quick", "--out", str(out), "--bandwidth", "10e9", "--no-measure"
    )
    assert result.returncode == 0, result.stderr
    (row,) = load_results([out]).to_dict(orient="records")
    assert row["profile"]["whole_s"] > 0 and any(layer["time_s"] for layer in row["layers"])
    report = flopbench("report", str(out), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Where the time goes, layer by layer" in text and "| layer4.0.conv2 |" in text
    assert (tmp_path / "report" / "layers_resnet18-px32.png").stat().st_size > 10_000
    again = flopbench("run", str(suite), "--quick", "--resume", str(out), "--bandwidth", "10e9", "--no-measure")
    assert again.returncode == 2 and "per_layer" in again.stderr


# --- profile-model --------------------------------------------------------------------------------------------------

USER_MODULE = """
import torch
from torch import nn

def net():
    return nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 8))
"""


@pytest.fixture
def user_dir(tmp_path):
    (tmp_path / "nets.py").write_text(textwrap.dedent(USER_MODULE))
    return tmp_path


def test_profile_model_on_a_user_model(user_dir):
    result = flopbench(
        "profile-model",
        "nets:net",
        "--input",
        "16,32",
        "--iterations",
        "2",
        "--format",
        "json",
        "--bandwidth",
        "10e9",
        cwd=user_dir,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["profile"]["iterations"] == 2 and data["bandwidth_bytes_per_s"] == 10e9
    paths = {layer["path"] for layer in data["layers"]}
    assert {"0", "1", "2"} <= paths
    linear = next(layer for layer in data["layers"] if layer["path"] == "0")
    assert linear["total_flops"] == 2 * 16 * 32 * 64 + 16 * 64  # the matmul and the bias
    assert linear["time_s"] > 0 and linear["predicted_s"] > 0
    table = flopbench("profile-model", "nets:net", "--input", "16,32", "--iterations", "1", cwd=user_dir)
    assert table.returncode == 0, table.stderr
    assert "where the time goes" in table.stdout and "the rest," in table.stdout


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["nets:net", "--input", "16,33"], "failed on inputs of shape 16x33"),
        (["nets:nett", "--input", "16,32"], "did you mean 'net'"),
        (["nets:net", "--input", "16,32", "--iterations", "0"], "--iterations"),
        (["nets:net", "--input", "16,32", "--dtype", "int8"], "not a floating dtype"),
        (["nets:net"], "no input"),
    ],
)
def test_profile_model_errors_are_one_line(user_dir, args, fragment):
    result = flopbench("profile-model", *args, cwd=user_dir)
    assert_one_line_error(result, fragment)
