"""The layer ops beyond GEMMs and 2-d convolutions: transposed 1-d/3-d convolutions, LSTM/GRU/RNN, RMS, batch and
group norm, pooling and embedding lookups. Each is counted against PyTorch's counter where it counts the op, by hand
always, and against the model counter's count of the same layer inside a network (one formula, two paths)."""

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from flopbench import formulas
from flopbench.errors import SpecError
from flopbench.workloads import make_workload
from flopbench.workloads.check import check_output
from flopbench.workloads.models.counter import count_layers
from tests.conftest import EXAMPLES


def torch_flops(workload):
    """PyTorch's count of the op's forward on small real CPU tensors (recurrent kernels do not run on meta). oneDNN's
    fused LSTM kernel is counted as 0 by it: the default implementation decomposes into the matmuls it counts."""
    op, p = workload.spec, workload.p
    tensors = op.inputs(p, torch.float32, torch.device("cpu"), torch.Generator().manual_seed(0))
    with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as mode:
        op.forward(p, tensors)
    return mode.get_total_flops()


@pytest.mark.parametrize(
    "op, params",
    [
        ("conv_transpose1d", dict(batch=2, in_channels=4, out_channels=6, length=9, kernel=4, stride=3, groups=2)),
        ("conv_transpose1d", dict(batch=1, in_channels=3, out_channels=5, length=7, kernel=3, dilation=2, padding=1)),
        (
            "conv_transpose3d",
            dict(batch=2, in_channels=4, out_channels=2, depth=3, height=4, width=5, kernel=[2, 3, 3]),
        ),
        (
            "conv_transpose3d",
            dict(
                batch=1,
                in_channels=2,
                out_channels=4,
                depth=4,
                height=4,
                width=4,
                kernel=3,
                stride=2,
                padding=1,
                output_padding=1,
                groups=2,
            ),
        ),
    ],
)
def test_transposed_convolutions_count_as_pytorchs_counter(op, params):
    workload = make_workload(op, params)
    assert torch_flops(workload) == workload.counts.flops > 0
    out = workload.spec.forward(workload.p, workload.spec.inputs(workload.p, torch.float32, "cpu", torch.Generator()))
    assert tuple(out.shape[2:]) == workload.spec.out_size(workload.p)


def test_a_transposed_convolution_by_hand():
    # Every input element scatters into out_channels/groups x kernel MACs: 2 * 2*4*9 * 3*4.
    w = make_workload("conv_transpose1d", dict(batch=2, in_channels=4, out_channels=6, length=9, kernel=4, groups=2))
    assert w.counts.flops == 2 * (2 * 4 * 9) * (3 * 4)
    out_len = (9 - 1) * 1 + (4 - 1) + 1
    assert w.counts.elementwise_flops == 2 * 6 * out_len  # the bias
    assert w.counts.bytes == (2 * 4 * 9 + 4 * 3 * 4 + 6 + 2 * 6 * out_len) * 4


@pytest.mark.parametrize(
    "op, params",
    [
        ("lstm", dict(batch=2, seq_len=5, input_size=6, hidden_size=8, layers=2, bidirectional=True)),
        ("lstm", dict(batch=1, seq_len=3, input_size=4, hidden_size=4, bias=False)),
        ("gru", dict(batch=2, seq_len=4, input_size=5, hidden_size=7, layers=3)),
        ("rnn", dict(batch=3, seq_len=4, input_size=5, hidden_size=6, bidirectional=True)),
    ],
)
def test_recurrent_ops_count_as_pytorchs_counter_and_the_model_counter(op, params):
    workload = make_workload(op, params)
    assert torch_flops(workload) == workload.counts.flops > 0
    t = workload.spec.inputs(workload.p, torch.float32, torch.device("cpu"), torch.Generator())
    inside = count_layers(t["m"], (t["x"],))
    assert inside.flops == workload.counts.flops
    assert inside.elementwise_flops == workload.counts.elementwise_flops


def test_an_lstm_by_hand():
    """2 layers, bidirectional, 10 tokens: layer 1 reads 6 inputs, layer 2 both directions' 8 outputs."""
    w = make_workload("lstm", dict(batch=2, seq_len=5, input_size=6, hidden_size=8, layers=2, bidirectional=True))
    tokens = 10
    assert w.counts.flops == 2 * (2 * tokens * 4 * 8 * (6 + 8) + 2 * tokens * 4 * 8 * (16 + 8))
    assert w.counts.elementwise_flops == 2 * 2 * tokens * 8 * (22 + 8)


@pytest.mark.parametrize(
    "op, params, module, x",
    [
        ("rmsnorm", dict(rows=6, cols=10), nn.RMSNorm(10), torch.randn(6, 10)),
        ("batchnorm", dict(batch=2, channels=3, height=4, width=5), nn.BatchNorm2d(3).eval(), torch.randn(2, 3, 4, 5)),
        (
            "groupnorm",
            dict(batch=2, channels=6, groups=3, height=4, width=5),
            nn.GroupNorm(3, 6),
            torch.randn(2, 6, 4, 5),
        ),
        (
            "pool2d",
            dict(kind="max", batch=2, channels=3, height=9, width=9, kernel=3, stride=2, padding=1),
            nn.MaxPool2d(3, 2, 1),
            torch.randn(2, 3, 9, 9),
        ),
        (
            "pool2d",
            dict(kind="avg", batch=2, channels=3, height=8, width=8, kernel=2),
            nn.AvgPool2d(2),
            torch.randn(2, 3, 8, 8),
        ),
        (
            "pool2d",
            dict(kind="adaptive_avg", batch=2, channels=3, height=7, width=7, output=3),
            nn.AdaptiveAvgPool2d(3),
            torch.randn(2, 3, 7, 7),
        ),
    ],
)
def test_memory_bound_layers_count_as_the_model_counter(op, params, module, x):
    workload = make_workload(op, params)
    assert count_layers(module, (x,)).elementwise_flops == workload.counts.elementwise_flops > 0
    assert workload.counts.flops == 0


def test_batchnorm_in_training_counts_the_batch_statistics():
    w = make_workload("batchnorm", dict(batch=2, channels=3, height=4, width=5, train=True))
    assert w.counts.elementwise_flops == 7 * 120 + 4 * 3
    inside = count_layers(nn.BatchNorm2d(3), (torch.randn(2, 3, 4, 5),), train=True)
    # The module also counts its batches (num_batches_tracked += 1: one add), outside the functional batch norm.
    assert inside.elementwise_flops == w.counts.elementwise_flops + 1


def test_memory_bound_layers_by_hand():
    assert make_workload("rmsnorm", dict(rows=6, cols=10)).counts.elementwise_flops == 4 * 60 + 3 * 6
    assert make_workload("rmsnorm", dict(rows=6, cols=10)).counts.bytes == (2 * 60 + 10) * 4
    norm = make_workload("batchnorm", dict(batch=2, channels=3, height=4, width=5))
    assert norm.counts.elementwise_flops == 2 * 120 and norm.counts.bytes == (2 * 120 + 4 * 3) * 4
    group = make_workload("groupnorm", dict(batch=2, channels=6, groups=3, height=4, width=5))
    assert group.counts.elementwise_flops == 7 * 240 + 4 * (2 * 3)
    pool = make_workload("pool2d", dict(kind="max", batch=1, channels=1, height=4, width=4, kernel=2))
    assert pool.counts.elementwise_flops == 3 * 4 and pool.counts.bytes == (16 + 4) * 4
    avg = make_workload("pool2d", dict(kind="avg", batch=1, channels=1, height=4, width=4, kernel=2))
    assert avg.counts.elementwise_flops == 4 * 4
    adaptive = make_workload("pool2d", dict(kind="adaptive_avg", batch=1, channels=2, height=4, width=4, output=1))
    assert adaptive.counts.elementwise_flops == 32 + 2


def test_an_embedding_lookup_is_no_flops_but_real_bytes():
    w = make_workload("embedding", dict(tokens=128, vocab=50257, dim=768), dtype="bfloat16")
    assert w.counts.flops == w.counts.elementwise_flops == 0
    assert w.counts.bytes == 128 * 8 + 2 * 128 * 768 * 2 == formulas.embedding_bytes(128, 768, "bfloat16")
    t = w.spec.inputs(w.p, torch.float32, torch.device("cpu"), torch.Generator())
    with FlopCounterMode(display=False) as mode:
        w.spec.forward(w.p, t)
    assert mode.get_total_flops() == 0  # PyTorch's counter agrees: a gather computes nothing


@pytest.mark.parametrize(
    "params",
    [
        dict(kind="avg", batch=2, channels=3, height=9, width=7, kernel=3, stride=2, padding=1),
        dict(kind="adaptive_avg", batch=2, channels=3, height=7, width=9, output=4),
        dict(kind="max", batch=1, channels=2, height=5, width=5, kernel=2, stride=1),
    ],
)
def test_every_pooling_kind_passes_its_output_check(params):
    check = check_output(make_workload("pool2d", params, dtype="float64"), "cpu")
    assert check.ok, check.describe()


def test_batchnorm_training_passes_its_output_check():
    assert check_output(make_workload("batchnorm", {**EXAMPLES["batchnorm"], "train": True}), "cpu").ok


@pytest.mark.parametrize(
    "op, params, key, fragment",
    [
        ("pool2d", dict(kind="max", batch=1, channels=1, height=4, width=4), "kernel", "needs a window side"),
        ("pool2d", dict(kind="adaptive_avg", batch=1, channels=1, height=4, width=4), "output", "needs the output"),
        (
            "pool2d",
            dict(kind="avg", batch=1, channels=1, height=4, width=4, kernel=2, output=2),
            "output",
            "does not apply",
        ),
        (
            "pool2d",
            dict(kind="max", batch=1, channels=1, height=4, width=4, kernel=2, padding=2),
            "padding",
            "more than half",
        ),
        (
            "pool2d",
            dict(kind="max", batch=1, channels=1, height=1, width=1, kernel=4, padding=1),
            "kernel",
            "larger than the padded input",
        ),
        ("groupnorm", dict(batch=1, channels=6, groups=4, height=2, width=2), "groups", "not divisible"),
        (
            "conv_transpose3d",
            dict(batch=1, in_channels=2, out_channels=2, depth=1, height=1, width=1, kernel=1, padding=1),
            "padding",
            "leaves an output",
        ),
    ],
)
def test_bad_layer_parameters_name_their_key(op, params, key, fragment):
    with pytest.raises(SpecError) as info:
        make_workload(op, params)
    assert info.value.key == key and fragment in str(info.value)


# --- training counts of single ops (count --train) -----------------------------------------------------------------


def torch_training_flops(workload):
    """PyTorch's count of forward + backward with every floating input (and weight) needing a gradient."""
    op, p = workload.spec, workload.p
    tensors = op.inputs(p, torch.float32, torch.device("cpu"), torch.Generator().manual_seed(0))
    leaves = []
    for key, value in tensors.items():
        if isinstance(value, nn.Module):
            value.train()
            leaves += list(value.parameters())
        elif value.is_floating_point() and key not in op.OUTPUT_BUFFERS:
            value.requires_grad_(True)
            leaves.append(value)
    with torch.backends.mkldnn.flags(enabled=False), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as c:
        # Kernels that write into a preallocated output (matmul's out=) do not differentiate: the same product without.
        out = torch.matmul(tensors["a"], tensors["b"]) if op.name == "matmul" else op.forward(p, tensors)
        out.sum().backward()
    assert all(leaf.grad is not None for leaf in leaves)
    return c.get_total_flops()


@pytest.mark.parametrize(
    "op, params",
    [
        ("matmul", dict(m=16, n=24, k=8, batch=3)),
        ("linear", dict(tokens=9, in_features=24, out_features=12)),
        ("conv2d", dict(batch=2, in_channels=3, out_channels=8, height=10, width=9, kernel=3, padding=1)),
        ("conv_transpose1d", dict(batch=2, in_channels=4, out_channels=6, length=9, kernel=4, stride=3)),
        ("attention", dict(batch=2, heads=4, seq_len=12, head_dim=8)),
        ("mlp", dict(batch=4, layers=[20, 16, 8], activations=["gelu", "none"])),
        ("lstm", dict(batch=2, seq_len=5, input_size=6, hidden_size=8, layers=2)),
    ],
)
def test_training_counts_of_single_ops_match_pytorchs_counter(op, params):
    workload = make_workload(op, params)
    step = workload.spec.training_counts(workload.p, workload.dtype)
    assert step.flops == torch_training_flops(workload)
    if op != "lstm":  # a recurrence's initial state needs no gradient (test_an_lstm_training_step_by_hand)
        assert step.flops == 3 * workload.counts.flops
    assert step.elementwise_flops == 2 * workload.counts.elementwise_flops


def test_an_lstm_training_step_by_hand():
    w = make_workload("lstm", dict(batch=2, seq_len=5, input_size=6, hidden_size=8, layers=2, bidirectional=True))
    # Backward: dW_ih, dx, dW_hh at every step, dh_prev at every step but the first of each layer and direction.
    unused = 2 * 2 * (2 * 2 * 4 * 8 * 8)
    assert w.spec.training_counts(w.p, w.dtype).flops == 3 * w.counts.flops - unused == torch_training_flops(w)


def test_training_bytes_by_hand():
    # Forward: A and B read, C written (3 * 64 * 64 * 4). Backward: dC, A and B read, dA and dB written.
    w = make_workload("matmul", dict(m=64, n=64, k=64))
    assert w.spec.training_counts(w.p, w.dtype).bytes == 3 * 64 * 64 * 4 + 5 * 64 * 64 * 4
    # The preallocated output buffer of an elementwise kernel is no input: add reads a, b and writes the sum.
    add = make_workload("elementwise", dict(kind="add", numel=1000))
    assert add.spec.training_counts(add.p, add.dtype).bytes == 3 * 4000 + 5 * 4000
    # A model counts its own training step; a collective has none.
    model = make_workload("model", dict(model="keras_mlp", batch=2))
    assert (
        model.spec.training_counts(model.p, model.dtype)
        == make_workload("model", dict(model="keras_mlp", batch=2, train=True)).counts
    )
    assert not make_workload("all_reduce", dict(numel=64)).spec.trainable


def test_count_train_on_the_command_line():
    from tests.helpers import flopbench

    result = flopbench(
        "count",
        "conv2d",
        "batch=1",
        "in_channels=3",
        "out_channels=8",
        "height=8",
        "width=8",
        "kernel=3",
        "--train",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    (row,) = __import__("json").loads(result.stdout)
    assert row["train_core_flops"] == 3 * row["core_flops"] and row["train_bytes"] > 2 * row["bytes"]
    table = flopbench("count", "comm", "--train")
    assert table.returncode == 0, table.stderr
    assert "training FLOPs" in table.stdout and "│              - │" in table.stdout
