"""Whole models: published totals, per-layer tables, PyTorch's counter forward and backward, user models."""

import json
import math
import textwrap

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from flopbench import formulas
from flopbench.errors import SpecError
from flopbench.results import read_run
from flopbench.workloads import make_workload
from flopbench.workloads.check import check_output
from flopbench.workloads.models import MODELS
from flopbench.workloads.models.counter import count_layers
from flopbench.workloads.ops.model import layer_counts
from tests.helpers import assert_one_line_error, flopbench


def counted(model, **params):
    return layer_counts(make_workload("model", {"model": model, **params}).p)


@pytest.mark.parametrize(
    "model,published", [("resnet18", 1.81e9), ("resnet50", 4.09e9), ("mobilenet_v2", 0.30e9), ("vit_b_16", 17.56e9)]
)
def test_totals_agree_with_the_published_mac_counts(model, published):
    # torchvision prints these MACs under the name "GFLOPS".
    w = make_workload("model", {"model": model})
    assert w.counts.macs == pytest.approx(published, rel=0.01)
    assert w.counts.flops == 2 * w.counts.macs


def test_source_document_mlps():
    assert make_workload("model", {"model": "keras_mlp"}).counts.flops == 178_800
    assert make_workload("model", {"model": "thop_mlp", "batch": 32}).counts.macs == 282_624
    small = make_workload("model", {"model": "keras_mlp_small"}).counts
    assert small.flops + small.elementwise_flops - (50 + 50 + 10) == 84_550  # less the bias adds Keras leaves out


def test_llama_7b_is_about_13_5_gflops_per_token():
    layers = counted("llama", seq_len=1)
    assert layers.parameters == pytest.approx(6.74e9, rel=0.01)
    assert 13.0e9 < layers.flops < 13.6e9  # 2 FLOPs per parameter, less the embedding table
    # and the layer model agrees with the transformer_layer workload's formula for the same shapes
    layer = counted("llama_decoder_layer", seq_len=1).flops
    assert (
        layer
        == make_workload(
            "transformer_layer",
            dict(batch=1, seq_len=1, d_model=4096, heads=32, d_ff=11008, gated=True, bias=False, causal=True),
        ).counts.flops
    )


@pytest.mark.parametrize("model", list(MODELS))
def test_per_layer_rows_add_up_to_the_total(model):
    layers = counted(model, seq_len=16) if "seq_len" in MODELS[model].sizes else counted(model)
    frame = layers.frame()
    assert (
        frame["core_flops"].sum()
        == layers.flops
        == make_workload(
            "model", {"model": model, **({"seq_len": 16} if "seq_len" in MODELS[model].sizes else {})}
        ).counts.flops
    )
    assert frame["elementwise_flops"].sum() == layers.elementwise_flops
    assert frame["params"].sum() == layers.parameters
    assert frame["share"].sum() == pytest.approx(1.0)
    assert set(frame.columns) >= {
        "path",
        "type",
        "input",
        "output",
        "params",
        "macs",
        "core_flops",
        "elementwise_flops",
        "share",
        "torch_flops",
        "note",
    }
    assert not layers.unsupported


@pytest.mark.parametrize("model", list(MODELS))
def test_each_layer_matches_pytorchs_counter_or_says_why(model):
    layers = counted(model, seq_len=16) if "seq_len" in MODELS[model].sizes else counted(model)
    for row in layers.frame().itertuples():
        if "causal" in row.note:
            assert row.torch_flops > row.core_flops  # PyTorch counts the full square
        else:
            assert row.torch_flops == row.core_flops, (row.path, row.note)
    causal_rows = [r for r in layers.rows if any("causal" in c.note for _, c, _ in r.costs)]
    assert bool(causal_rows) == (model in ("gpt2_small", "llama", "llama_decoder_layer"))


def test_causal_difference_is_exactly_the_masked_pairs():
    layers = counted("gpt2_small", seq_len=64, layers=1)
    b, h, length, d = 1, 12, 64, 64
    masked = length * length - formulas.attention_pairs(length, length, True)
    assert layers.torch_forward - layers.flops == 4 * b * h * masked * d


def test_pytorchs_counter_sees_zero_for_the_fused_attention_of_inference():
    from flopbench.workloads.models.vision import vit_b_16

    model = vit_b_16(32).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad(), FlopCounterMode(display=False) as fused:
        model(x)
    ours = counted("vit_b_16", image_size=32)
    attention = [r for r in ours.frame().itertuples() if r.type == "MultiheadAttention"]
    assert len(attention) == 12 and all("fused kernel" in r.note for r in attention)
    # PyTorch's count misses exactly the attention blocks (projections and core).
    assert fused.get_total_flops() == ours.flops - sum(r.core_flops for r in attention)


def _mlp():
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 4))


def _cnn(groups=1):
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, groups=groups),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


@pytest.mark.parametrize("build,shape", [(_mlp, (5, 16)), (_cnn, (2, 3, 16, 16))])
def test_backward_flops_match_pytorchs_counter_with_autograd(build, shape):
    layers = count_layers(build(), (torch.randn(shape),), train=True)
    assert layers.flops == layers.torch_forward
    assert layers.backward_flops == layers.torch_backward
    # The first layer's input needs no gradient: only its weight gradient is computed.
    first = next(r for r in layers.rows if r.costs)
    assert first.backward_flops == first.total("flops")
    assert 1.5 * layers.flops < layers.backward_flops < 2 * layers.flops


def test_pytorch_counts_a_grouped_convs_weight_gradient_groups_times():
    layers = count_layers(_cnn(groups=2), (torch.randn(2, 3, 16, 16),), train=True)
    grouped = next(r for r in layers.rows if r.path == "3")
    assert "pytorch/pytorch#183405" in grouped.costs[0][1].note
    weight_gradient = grouped.total("flops")
    assert layers.torch_backward - layers.backward_flops == (2 - 1) * weight_gradient


def test_training_workload_counts_forward_and_backward():
    infer = make_workload("model", {"model": "resnet18"}).counts
    train = make_workload("model", {"model": "resnet18", "train": True}).counts
    layers = counted("resnet18", train=True)
    assert train.flops == infer.flops + layers.backward_flops
    assert layers.backward_flops == layers.torch_backward  # no grouped convs in a ResNet
    assert train.bytes > infer.bytes  # gradients are written


def test_model_workloads_check_and_name_themselves():
    w = make_workload("model", {"model": "mobilenet_v2", "batch": 2})
    assert w.name == "mobilenet_v2-b2" and w.family == "model"
    assert check_output(w, "cpu").ok
    trained = make_workload("model", {"model": "keras_mlp", "train": True})
    step = trained.build("cpu")
    step()  # forward and backward run


@pytest.mark.parametrize(
    "params,key,fragment",
    [
        ({"model": "resnet50", "seq_len": 128}, "seq_len", "does not apply to model resnet50; it takes image_size"),
        ({"model": "vit_b_16", "image_size": 100}, "image_size", "multiple of the 16-pixel patch"),
        ({"model": "llama", "heads": 7}, "heads", "not divisible"),
        ({"model": "resnet5"}, "model", "did you mean 'resnet50'"),
    ],
)
def test_bad_model_parameters(params, key, fragment):
    with pytest.raises(SpecError) as info:
        make_workload("model", params)
    assert info.value.key == key and fragment in str(info.value)


# --- count-model: any user model, named by its factory ----------------------------------------------

USER_MODULE = """
import torch
from torch import nn

def tiny():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))

def two_inputs():
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 4)
        def forward(self, a, b):
            return self.proj(a) @ b
    return Pair()

def inputs():
    return torch.randn(3, 8)

def not_a_model():
    return 42

def broken():
    raise RuntimeError("no weights here")

def classifier_for_32():
    return nn.Sequential(nn.Conv2d(3, 1, 1), nn.Flatten(), nn.Linear(1024, 10))

class DataDependent(nn.Module):
    def __init__(self, features=8):
        super().__init__()
        self.lin = nn.Linear(features, features)
    def forward(self, x):
        keep = int((x > 0).sum().item()) % 3 + 1  # a value read from the data: the meta device has none
        return self.lin(x)[:, :keep]

def data_dependent():
    return DataDependent()

def data_dependent_and_huge():
    return DataDependent(features=200_000)  # 160 GB of weights: built on the meta device, never for real
"""


@pytest.fixture
def user_dir(tmp_path):
    (tmp_path / "mymodels.py").write_text(textwrap.dedent(USER_MODULE))
    (tmp_path / "raises.py").write_text("raise ValueError('bad module')\n")
    return tmp_path


def test_count_model_on_a_user_model(user_dir):
    result = flopbench("count-model", "mymodels:tiny", "--input", "3,8", "--format", "json", cwd=user_dir)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["core_flops"] == 2 * 3 * (8 * 16 + 16 * 2) == data["torch_flops"]
    assert [layer["type"] for layer in data["layers"]] == ["Linear", "ReLU", "Linear"]
    table = flopbench("count-model", "mymodels:tiny", "--input", "3,8", cwd=user_dir)
    assert "mymodels:tiny" in table.stdout and "PyTorch's counter" in table.stdout and "MAC" in table.stdout


def test_count_model_with_several_inputs_or_an_input_factory(user_dir):
    pair = flopbench(
        "count-model", "mymodels:two_inputs", "--input", "2,4", "--input", "4,5", "--format", "json", cwd=user_dir
    )
    assert pair.returncode == 0, pair.stderr
    assert json.loads(pair.stdout)["core_flops"] == 2 * 2 * 4 * 4 + 2 * 2 * 4 * 5
    made = flopbench("count-model", "mymodels:tiny", "--input-factory", "mymodels:inputs", "--train", cwd=user_dir)
    assert made.returncode == 0, made.stderr
    assert "Training step: backward" in made.stdout


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["nosuchmodule:tiny", "--input", "1,8"], ["cannot import nosuchmodule"]),
        (["raises:tiny", "--input", "1,8"], ["cannot import raises", "ValueError: bad module"]),
        (["mymodels:tiney", "--input", "1,8"], ["has no 'tiney'", "did you mean 'tiny'"]),
        (["mymodels", "--input", "1,8"], ["expected package.module:function"]),
        (["mymodels:not_a_model", "--input", "1,8"], ["returned int, not a torch.nn.Module"]),
        (["mymodels:broken", "--input", "1,8"], ["failed: RuntimeError: no weights here"]),
        (["mymodels:tiny", "--input", "1,9"], ["failed on inputs of shape 1x9", "check --input"]),
        (["mymodels:tiny", "--input", "1x8"], ["is not a shape"]),
        (["mymodels:tiny", "--input", "1,8:complex"], ["is not a dtype"]),
        (["mymodels:tiny"], ["no input"]),
    ],
)
def test_count_model_errors_are_one_line(user_dir, args, fragments):
    assert_one_line_error(flopbench("count-model", *args, cwd=user_dir), *fragments)


def test_a_shape_error_at_a_huge_size_is_the_shape_error_and_nothing_is_allocated(user_dir):
    """The meta device raises the model's own shape error as real tensors would: no fallback to allocating 6 TB."""
    huge = ["mymodels:classifier_for_32", "--input", "100000,3,2240,2240"]
    for command in ("count-model", "profile-model"):
        result = flopbench(command, *huge, cwd=user_dir)
        assert_one_line_error(result, "failed on inputs of shape 100000x3x2240x2240", "check --input")
        assert "allocate" not in result.stderr and "GiB" not in result.stderr
    assert flopbench("count-model", "mymodels:classifier_for_32", "--input", "1,3,32,32", cwd=user_dir).returncode == 0


def test_only_the_meta_devices_own_failures_fall_back_to_real_tensors_and_only_if_they_fit(user_dir):
    small = flopbench("count-model", "mymodels:data_dependent", "--input", "4,8", "--format", "json", cwd=user_dir)
    assert small.returncode == 0, small.stderr
    assert json.loads(small.stdout)["core_flops"] == 2 * 4 * 8 * 8
    (note,) = small.stderr.strip().splitlines()  # which cause, said once
    assert "on real CPU tensors" in note and "meta" in note and "item()" in note
    for args in (
        ["mymodels:data_dependent", "--input", "100000000000,8"],
        ["mymodels:data_dependent_and_huge", "--input", "4,200000"],
    ):
        result = flopbench("count-model", *args, cwd=user_dir)
        assert_one_line_error(result, "needs", "is free on cpu", "to count it on real tensors", "meta")


def test_no_command_ends_in_a_traceback_on_an_input_too_large_to_allocate(user_dir, tmp_path):
    """Every command that builds tensors from what the user gives refuses what would not fit, or skips it."""
    suite = tmp_path / "huge.toml"
    suite.write_text('[[workload]]\nop = "matmul"\nm = 1000000\nn = 1000000\nk = 64\n')
    sweeps = [
        (["count-model", "mymodels:data_dependent_and_huge", "--input", "1,200000"], 2),
        (["profile-model", "mymodels:data_dependent_and_huge", "--input", "1,200000", "--bandwidth", "1e10"], 2),
        (["profile-model", "mymodels:tiny", "--input", "100000000000,8", "--bandwidth", "1e10"], 2),
        (["count", "matmul", "m=10000000", "n=10000000", "k=10000000"], 0),
        (["count", "model", "model=resnet18", "batch=1000000", "--per-layer"], 0),
        (["run", str(suite), "--bandwidth", "1e10", "--rounds", "1", "--out", str(tmp_path / "r.jsonl")], 0),
    ]
    for args, code in sweeps:
        result = flopbench(*args, cwd=user_dir)
        assert result.returncode == code and "Traceback" not in result.stderr, (args, result.stderr)
    (skipped,) = read_run(tmp_path / "r.jsonl").records
    assert skipped.status == "skipped" and skipped.cause == "memory" and "is free on cpu" in skipped.reason


def test_count_per_layer_for_a_suite_model():
    result = flopbench("count", "model", "model=mobilenet_v2", "--per-layer")
    assert result.returncode == 0, result.stderr
    assert "features.1.conv.0.0" in result.stdout  # the first depthwise convolution
    assert "301 MMAC = 602 MFLOP core" in result.stdout
    data = json.loads(flopbench("count", "model", "model=resnet18", "--per-layer", "--format", "json").stdout)
    assert sum(layer["core_flops"] for layer in data[0]["layers"]) == data[0]["core_flops"]


def test_layerwise_roofline_time_by_hand():
    from flopbench.machine.roofline import Roofline
    from flopbench.results.schema import Device, Peak

    layers = count_layers(nn.Sequential(nn.Linear(64, 32), nn.ReLU()), (torch.randn(8, 64),))
    linear, relu = (r.costs[0][1] for r in layers.rows if r.costs)
    assert linear.bytes == (8 * 64 + 32 * 64 + 32 + 8 * 32) * 4  # input, weight, bias, output
    assert relu.bytes == 2 * 8 * 32 * 4
    peak, bandwidth = 1e9, 1e8
    stored = [
        {"calls": [{"core_flops": c.flops, "elementwise_flops": c.elementwise_flops, "bytes": c.bytes}]}
        for c in (linear, relu)
    ]
    cpu = Device("cpu", None, "CPU", {}, {"float32": Peak(peak, "spec", "x")}, Peak(bandwidth, "spec", "x"))
    calls = [(c["core_flops"] + c["elementwise_flops"], c["bytes"]) for layer in stored for c in layer["calls"]]
    total, memory = Roofline.build(cpu).calls_time_s(calls, "float32")
    expected = [max((c.flops + c.elementwise_flops) / peak, c.bytes / bandwidth) for c in (linear, relu)]
    assert total == pytest.approx(sum(expected))
    assert memory == pytest.approx(
        sum(c.bytes / bandwidth for c in (linear, relu) if c.bytes / bandwidth > (c.flops + c.elementwise_flops) / peak)
    )
    assert layers.frame()["intensity"].iloc[1] == pytest.approx(relu.elementwise_flops / relu.bytes)


def test_model_records_carry_their_layers_at_the_run_dtype():
    from flopbench.workloads.ops.model import model_layers

    p = make_workload("model", {"model": "thop_mlp", "batch": 2}).p
    f32, bf16 = model_layers(p, "float32"), model_layers(p, "bfloat16")
    assert [layer.path for layer in f32] == ["0", "1", "2"]  # linear, relu, linear
    assert f32[0].calls[0].name == "linear" and f32[0].calls[0].core_flops == 2 * 2 * 128 * 64
    assert bf16[0].calls[0].bytes == f32[0].calls[0].bytes / 2


def test_mobilenet_against_resnet_is_explained_layer_by_layer(tmp_path):
    from flopbench.reading.analysis import contrasts
    from flopbench.reading.view import load_view
    from tests import fakes

    models = [("model", {"model": "mobilenet_v2"}, "m", ()), ("model", {"model": "resnet50"}, "r", ())]
    original = fakes.WORKLOADS
    fakes.WORKLOADS = models
    try:
        device = fakes.fake_device(float32=300e9, bandwidth=50e9)
        # Measured like the reference machine: MobileNet-V2 takes 0.3x ResNet-50's time for 0.076x its FLOPs.
        frame = load_view(fakes.write_run(tmp_path / "a.jsonl", device, {"mobilenet_v2": 13.8e-3, "resnet50": 45.4e-3}))
    finally:
        fakes.WORKLOADS = original
    (contrast,) = contrasts(frame)
    assert contrast.cause == "memory traffic inside the model"
    (ta, ma), (tb, mb) = contrast.layerwise
    assert ma / ta > mb / tb + 0.1
    assert contrast.flops_ratio < ta / tb < contrast.time_ratio  # closer than FLOPs, not all the way
    assert "layer-wise roofline predicts a time ratio" in contrast.conclusion()


# --- MFU under other FLOP conventions -----------------------------------------------------------------------------


def test_convention_flops_of_a_transformer_by_hand():
    from flopbench.workloads.ops.model import convention_flops

    w = make_workload("model", {"model": "gpt2_small", "seq_len": 16, "layers": 2, "batch": 2})
    p = w.p
    with torch.device("meta"):
        model = MODELS["gpt2_small"].build(p)
    embedding = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Embedding))
    n = sum(x.numel() for x in model.parameters()) - embedding  # tied LM head: its weight is the token embedding
    tokens, q = 2 * 16, 768 // 12
    flops = convention_flops(dict(p))
    assert flops["palm"] == (2 * n + 4 * 2 * 12 * q * 16) * tokens
    masked = 16 * 16 - 16 * 17 // 2
    assert flops["full_square"] == w.counts.flops + 4 * 2 * 2 * 12 * masked * q
    train = make_workload("model", {"model": "gpt2_small", "seq_len": 16, "layers": 2, "batch": 2, "train": True})
    trained = convention_flops(dict(train.p))
    assert trained["palm"] == (6 * n + 12 * 2 * 12 * q * 16) * tokens
    assert trained["full_square"] == train.counts.flops + 3 * 4 * 2 * 2 * 12 * masked * q
    assert convention_flops(dict(make_workload("model", {"model": "resnet18"}).p)) is None  # no attention heads


def test_mfu_is_quoted_under_each_convention():
    import pandas as pd

    from flopbench.reading.analysis import mfu_conventions

    run = pd.DataFrame(
        [
            {
                "status": "ok",
                "name": "gpt",
                "dtype": "float32",
                "mfu": 0.5,
                "time_s": 2.0,
                "peak_flops_per_s": 1e9,
                "convention_flops": {"palm": 6e8, "full_square": 1.2e9},
            },
            {
                "status": "ok",
                "name": "cnn",
                "dtype": "float32",
                "mfu": 0.3,
                "time_s": 1.0,
                "peak_flops_per_s": 1e9,
                "convention_flops": None,
            },
        ]
    )
    table = mfu_conventions(run).set_index("name")
    assert table.loc["gpt", "mfu_palm"] == pytest.approx(0.3)
    assert table.loc["gpt", "mfu_full_square"] == pytest.approx(0.6)
    assert math.isnan(table.loc["cnn", "mfu_palm"])
