"""Workloads build, run and check their output; a wrong kernel is caught before it is timed."""

import pytest
import torch

from flopbench import formulas
from flopbench.errors import SpecError
from flopbench.workloads import OPS, make_workload
from flopbench.workloads.check import check_output
from flopbench.workloads.ops.elementwise import kernels
from tests.conftest import EXAMPLES

# Collectives run only across processes: tests/test_distributed.py covers them.
LOCAL_OPS = [name for name, op in OPS.items() if not op.collective]


def test_every_op_has_an_example_that_is_valid():
    """An op without its small instance would be left out of every op-wide test: refuse it here (docs/extending.md)."""
    assert set(EXAMPLES) == set(LOCAL_OPS) and all(OPS[name].example for name in OPS)
    for name, op in OPS.items():
        make_workload(name, op.example)  # its keys are the op's, its values valid


def test_collectives_outside_a_distributed_run_say_how_to_start_one():
    with pytest.raises(RuntimeError, match="torchrun --nproc-per-node N"):
        check_output(make_workload("all_reduce", {"numel": 64}), "cpu")


def test_every_elementwise_kind_has_a_kernel():
    assert set(kernels()) == set(formulas.ELEMENTWISE_KINDS)


@pytest.mark.parametrize("op", LOCAL_OPS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_output_check_passes_on_cpu(op, dtype):
    check = check_output(make_workload(op, EXAMPLES[op], dtype=dtype), "cpu")
    assert check.ok, check.describe()
    assert 0 <= check.error <= check.tolerance


@pytest.mark.parametrize("op", ["matmul", "conv2d", "attention", "elementwise", "layernorm"])
def test_output_check_catches_a_wrong_kernel(op, monkeypatch):
    workload = make_workload(op, EXAMPLES[op])
    spec = workload.spec
    real = spec.forward
    monkeypatch.setattr(spec, "forward", lambda p, t: torch.zeros_like(real(p, t)))  # skips the work
    assert not check_output(workload, "cpu").ok
    monkeypatch.setattr(spec, "forward", lambda p, t: real(p, t) * 1.01)  # a 1% error
    assert not check_output(workload, "cpu").ok


def test_build_runs_the_full_size_workload():
    workload = make_workload("matmul", dict(m=70, n=50, k=30))
    fn = workload.build("cpu")
    out = fn()
    assert out.shape == (70, 50)
    assert fn() is out  # the output buffer is preallocated and reused


def test_check_runs_a_small_version_of_a_large_workload():
    workload = make_workload("matmul", dict(m=8192, n=8192, k=8192))
    check = check_output(workload, "cpu")
    assert check.ok
    assert check.shape["m"] <= 64 and check.shape["k"] <= 128


def test_small_versions_stay_valid_for_awkward_shapes():
    awkward = [
        (
            "conv2d",
            dict(
                batch=1, in_channels=96, out_channels=192, height=40, width=40, kernel=11, stride=4, padding=2, groups=3
            ),
        ),
        (
            "conv_transpose2d",
            dict(batch=1, in_channels=16, out_channels=8, height=30, width=30, kernel=2, stride=1, padding=10),
        ),
        ("attention", dict(batch=1, heads=48, kv_heads=8, seq_len=3, kv_seq_len=500, head_dim=256)),
        ("depthwise_conv2d", dict(batch=1, channels=960, height=7, width=7, kernel=7, dilation=2, padding=6)),
    ]
    for op, params in awkward:
        assert check_output(make_workload(op, params), "cpu").ok, op


def test_generated_names_are_readable_and_default_free():
    w = make_workload(
        "conv2d", dict(batch=1, in_channels=3, out_channels=64, height=224, width=224, kernel=3, padding=1)
    )
    assert w.name == "conv2d-b1-cin3-cout64-h224-w224-k3-p1"
    assert make_workload("matmul", dict(m=1, n=2, k=3), dtype="bfloat16").name == "matmul-m1-n2-k3-bfloat16"
    causal = make_workload("attention", dict(batch=1, heads=2, seq_len=3, head_dim=4, causal=True))
    assert causal.name == "attention-b1-h2-l3-d4-causal"


def test_identity_ignores_the_name_and_normalizes_values():
    a = make_workload("conv2d", dict(batch=1, in_channels=3, out_channels=4, height=8, width=8, kernel=3), name="a")
    b = make_workload(
        "conv2d", dict(batch=1, in_channels=3, out_channels=4, height=8, width=8, kernel=[3, 3], stride=1), name="b"
    )
    assert a.identity == b.identity
    assert a.params_json["kernel"] == [3, 3]


@pytest.mark.parametrize(
    "op,params,key,fragment",
    [
        ("matmul", dict(m=0, n=1, k=1), "m", "integer >= 1"),
        ("matmul", dict(m=1.5, n=1, k=1), "m", "integer >= 1"),
        ("matmul", dict(m=True, n=1, k=1), "m", "boolean"),
        ("matmul", dict(m=1, n=1), "k", "missing"),
        ("matmul", dict(m=1, n=1, k=1, kk=2), "kk", "did you mean 'k'"),
        (
            "conv2d",
            dict(batch=1, in_channels=3, out_channels=4, height=8, width=8, kernel=3, groups=2),
            "groups",
            "not divisible",
        ),
        (
            "conv2d",
            dict(batch=1, in_channels=3, out_channels=3, height=8, width=8, kernel=[3, 3, 3]),
            "kernel",
            "list of 2",
        ),
        (
            "conv2d",
            dict(batch=1, in_channels=3, out_channels=3, height=8, width=2, kernel=5, padding=1),
            "kernel",
            "padded input along width is 4",
        ),
        (
            "conv2d",
            dict(batch=1, in_channels=3, out_channels=3, height=8, width=8, kernel=3, stride=2, padding="same"),
            "padding",
            "stride 1",
        ),
        (
            "conv2d",
            dict(batch=1, in_channels=3, out_channels=3, height=8, width=8, kernel=3, padding="sam"),
            "padding",
            "did you mean 'same'",
        ),
        (
            "conv_transpose2d",
            dict(batch=1, in_channels=2, out_channels=2, height=4, width=4, kernel=3, output_padding=1),
            "output_padding",
            "smaller than the stride",
        ),
        ("attention", dict(batch=1, heads=6, kv_heads=4, seq_len=8, head_dim=8), "kv_heads", "not divisible"),
        ("mha", dict(batch=1, seq_len=8, d_model=30, heads=4), "heads", "not divisible"),
        ("mlp", dict(layers=[4, 3, 2], activations=["relu"]), "activations", "one entry per linear layer"),
        ("mlp", dict(layers=[4, 3, 2], activations=["relu", "rleu"]), "activations", "did you mean 'relu'"),
        ("elementwise", dict(kind="gelu2", numel=8), "kind", "did you mean 'gelu'"),
    ],
)
def test_bad_parameters_name_the_key(op, params, key, fragment):
    with pytest.raises(SpecError) as info:
        make_workload(op, params)
    assert info.value.key == key
    assert fragment in str(info.value)


def test_unknown_op_and_dtype():
    with pytest.raises(SpecError, match="did you mean 'conv2d'"):
        make_workload("conv2", {})
    with pytest.raises(SpecError, match="did you mean 'float16'"):
        make_workload("matmul", dict(m=1, n=1, k=1), dtype="flaot16")


# The conv references are hand-written: drive them over generated shapes against PyTorch's kernels.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.helpers import conv_params  # noqa: E402


@pytest.mark.parametrize("ndim", [1, 2, 3])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_conv_reference_agrees_with_pytorch(ndim, data):
    check = check_output(make_workload(f"conv{ndim}d", data.draw(conv_params(ndim)), dtype="float64"), "cpu")
    assert check.ok, check.describe()


@settings(max_examples=25, deadline=None)
@given(
    groups=st.integers(1, 3),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    kernel=st.integers(1, 4),
    padding=st.integers(0, 2),
    size=st.integers(3, 9),
    data=st.data(),
)
def test_conv_transpose_reference_agrees_with_pytorch(groups, stride, dilation, kernel, padding, size, data):
    output_padding = data.draw(st.integers(0, max(stride, dilation) - 1))
    params = dict(
        batch=1,
        in_channels=2 * groups,
        out_channels=3 * groups,
        height=size,
        width=size + 1,
        kernel=kernel,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        groups=groups,
    )
    try:
        workload = make_workload("conv_transpose2d", params, dtype="float64")
    except SpecError:
        return  # padding leaves no output
    assert check_output(workload, "cpu").ok


def test_same_padding_with_an_even_kernel_counts_the_padded_copy_pytorch_makes():
    """kernel 2, padding "same": 1 in total per dimension, at the end, so PyTorch convolves a zero-padded copy of the
    input: 1x3x9x9 written and read instead of the 1x3x8x8 input (float32)."""
    w = make_workload(
        "conv2d", dict(batch=1, in_channels=3, out_channels=4, height=8, width=8, kernel=2, padding="same", bias=False)
    )
    compulsory = (3 * 8 * 8 + 4 * 3 * 2 * 2 + 4 * 8 * 8) * 4
    assert w.counts.bytes == compulsory
    assert w.counts.eager_bytes == compulsory + (2 * 3 * 9 * 9 - 3 * 8 * 8) * 4
    odd = make_workload(
        "conv2d", dict(batch=1, in_channels=3, out_channels=4, height=8, width=8, kernel=3, padding="same")
    )
    assert odd.counts.eager_bytes is None  # symmetric padding: no copy
