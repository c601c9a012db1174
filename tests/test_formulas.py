"""Counts against hand-derived expressions and the worked examples of the source documents."""

import itertools

import pytest

from flopbench import formulas
from flopbench.workloads import make_workload


def counts(op, dtype="float32", **params):
    return make_workload(op, params, dtype=dtype).counts


# --- the source documents' worked examples, exactly ----------------------------------------------


def test_keras_mlp_784_100_100_10():
    # 001: Dense layers 156,800 + 20,000 + 2,000 = 178,800; ReLU 1 and softmax 5 per unit add 250.
    # The notebook leaves the bias adds out (Keras' Dense has them), hence bias=false here.
    c = counts("mlp", layers=[784, 100, 100, 10], activations=["relu", "relu", "softmax"], bias=False)
    assert c.flops == 178_800
    assert c.flops + c.elementwise_flops == 179_050


def test_keras_mlp_784_50_50_10():
    c = counts("mlp", layers=[784, 50, 50, 10], activations=["relu", "relu", "softmax"], bias=False)
    assert c.flops + c.elementwise_flops == 84_550


def test_mlp_bias_adds_are_elementwise():
    with_bias = counts("mlp", layers=[784, 100, 100, 10], activations=["relu", "relu", "softmax"])
    assert with_bias.elementwise_flops == 250 + 100 + 100 + 10


def test_thop_mlp_128_64_10_batch_32():
    # 003: thop reports 282,624 MACs = (128*64 + 64*10) * 32; it counts only the linear layers.
    c = counts("mlp", batch=32, layers=[128, 64, 10], activations=["relu", "none"])
    assert c.macs == 282_624
    assert c.flops == 2 * 282_624


def test_thop_conv2d_3_32_3_on_128():
    # 003: Conv2d(3, 32, kernel_size=3) on 1x3x128x128: 126*126 * 3 * 9 * 32 MACs.
    c = counts("conv2d", batch=1, in_channels=3, out_channels=32, height=128, width=128, kernel=3)
    assert c.macs == 13_716_864


def test_dense_4096_to_1000():
    # 004: a 4096 -> 1000 fully connected layer is 8,192,000 FLOPs.
    assert counts("linear", tokens=1, in_features=4096, out_features=1000).flops == 8_192_000


def test_conv_224_3_to_64_is_0_17_gflops_not_0_55():
    # 004 says "about 0.55 GFLOPs" for this layer; the formula it states gives 173,408,256.
    c = counts("conv2d", batch=1, in_channels=3, out_channels=64, height=224, width=224, kernel=3, padding=1)
    assert c.flops == 2 * 224 * 224 * 3 * 3 * 3 * 64 == 173_408_256


@pytest.mark.parametrize("b,length,d,h", [(1, 128, 64, 2), (2, 512, 768, 12), (3, 7, 96, 3), (8, 2048, 1024, 16)])
def test_transformer_layer_formula(b, length, d, h):
    # 002: one layer = 4*B*L^2*d + 24*B*L*d^2 (non-causal, d_ff = 4d).
    c = counts("transformer_layer", batch=b, seq_len=length, d_model=d, heads=h)
    assert c.flops == 4 * b * length**2 * d + 24 * b * length * d**2


@pytest.mark.parametrize("b,length,d,h", [(1, 128, 64, 4), (2, 333, 768, 12)])
def test_mha_and_ffn_formulas(b, length, d, h):
    # 002: attention 8*B*L*d^2 + 4*B*L^2*d; FFN 16*B*L*d^2.
    assert (
        counts("mha", batch=b, seq_len=length, d_model=d, heads=h).flops
        == 8 * b * length * d**2 + 4 * b * length**2 * d
    )
    assert counts("ffn", batch=b, seq_len=length, d_model=d).flops == 16 * b * length * d**2
    assert counts("ffn", batch=b, seq_len=length, d_model=d, d_ff=3 * d, gated=True).flops == 18 * b * length * d**2


def test_separable_is_depthwise_plus_pointwise():
    # 002: 2*B*Cin*K*Hout*Wout + 2*B*Cin*Cout*Hout*Wout
    b, cin, cout, h, k = 2, 32, 64, 56, 3
    c = counts("separable_conv2d", batch=b, in_channels=cin, out_channels=cout, height=h, width=h, kernel=k, padding=1)
    assert c.flops == 2 * b * cin * k * k * h * h + 2 * b * cin * cout * h * h


def test_depthwise_and_pointwise():
    c = counts("depthwise_conv2d", batch=1, channels=32, height=112, width=112, kernel=3, padding=1, stride=2)
    assert c.flops == 2 * 32 * 56 * 56 * 9
    c = counts("pointwise_conv2d", batch=1, in_channels=32, out_channels=16, height=112, width=112)
    assert c.flops == 2 * 32 * 16 * 112 * 112


# --- attention pairs and causal masks --------------------------------------------------------


@pytest.mark.parametrize("q,kv", [(1, 1), (5, 5), (3, 8), (8, 3), (64, 64), (17, 100)])
def test_causal_pairs_match_a_top_left_mask(q, kv):
    # Query i sees keys 0..i (PyTorch's is_causal): count the ones of tril(ones(q, kv)).
    brute = sum(1 for i, j in itertools.product(range(q), range(kv)) if j <= i)
    assert formulas.attention_pairs(q, kv, causal=True) == brute
    assert formulas.attention_pairs(q, kv, causal=False) == q * kv


def test_causal_attention_counts_half_the_square_plus_diagonal():
    b, h, length, d = 2, 8, 1024, 64
    c = counts("attention", batch=b, heads=h, seq_len=length, head_dim=d, causal=True)
    assert c.flops == 4 * b * h * d * length * (length + 1) // 2
    full = counts("attention", batch=b, heads=h, seq_len=length, head_dim=d)
    assert full.flops == 4 * b * h * length * length * d


def test_grouped_query_attention_changes_bytes_not_flops():
    mha = counts("attention", batch=1, heads=32, seq_len=256, head_dim=128)
    gqa = counts("attention", batch=1, heads=32, kv_heads=8, seq_len=256, head_dim=128)
    assert gqa.flops == mha.flops
    q_and_out = 2 * 32 * 256 * 128 * 4
    assert mha.bytes == q_and_out + 2 * 32 * 256 * 128 * 4
    assert gqa.bytes == q_and_out + 2 * 8 * 256 * 128 * 4


# --- bytes, elementwise and conventions ------------------------------------------------------


def test_matmul_bytes_and_intensity():
    c = counts("matmul", m=1024, n=1024, k=1024, dtype="bfloat16")
    assert c.bytes == 3 * 1024 * 1024 * 2
    assert c.intensity == pytest.approx(2 * 1024**3 / (3 * 1024**2 * 2))
    gemv = counts("matmul", m=4096, n=1, k=4096)
    assert gemv.intensity < 0.51  # GEMV: each weight is used once


def test_conv_bytes_are_input_weight_bias_output():
    c = counts("conv2d", batch=2, in_channels=3, out_channels=8, height=10, width=10, kernel=3)
    assert c.bytes == (2 * 3 * 100 + 8 * 3 * 9 + 8 + 2 * 8 * 8 * 8) * 4
    assert c.elementwise_flops == 2 * 8 * 8 * 8  # the bias add


@pytest.mark.parametrize(
    "kind,flops_per_element,tensors",
    [("copy", 0, 2), ("add", 1, 3), ("triad", 2, 3), ("relu", 1, 2), ("gelu", 5, 2), ("div", 1, 3)],
)
def test_elementwise(kind, flops_per_element, tensors):
    c = counts("elementwise", kind=kind, numel=1000, dtype="float16")
    assert (c.flops, c.macs) == (0, 0)
    assert c.elementwise_flops == flops_per_element * 1000
    assert c.bytes == tensors * 1000 * 2


def test_norms_and_softmax():
    assert counts("softmax", rows=10, cols=100).elementwise_flops == 5 * 1000
    ln = counts("layernorm", rows=10, cols=100)
    assert ln.elementwise_flops == 7 * 1000 + 4 * 10
    assert ln.bytes == (2 * 1000 + 2 * 100) * 4


def test_conv_transpose_counts_from_the_input():
    c = counts(
        "conv_transpose2d", batch=2, in_channels=8, out_channels=6, height=10, width=10, kernel=3, stride=2, groups=2
    )
    assert c.flops == 2 * 2 * 8 * 100 * 3 * 9


def test_macs_are_half_the_core_flops_everywhere():
    for op, params in [
        ("matmul", dict(m=3, n=5, k=7)),
        ("attention", dict(batch=1, heads=2, seq_len=5, head_dim=3, causal=True)),
        ("conv1d", dict(batch=1, in_channels=2, out_channels=3, length=9, kernel=3)),
    ]:
        c = counts(op, **params)
        assert c.flops == 2 * c.macs


def test_dtype_scales_bytes_not_flops():
    f32 = counts("matmul", m=64, n=64, k=64)
    f64 = counts("matmul", m=64, n=64, k=64, dtype="float64")
    assert (f64.flops, f64.bytes) == (f32.flops, 2 * f32.bytes)


def test_llama_7b_forward_is_about_13_5_gflops_per_token():
    # docs/flops.md: 2 FLOPs per parameter in the matmuls; 32 layers of d=4096, SwiGLU d_ff=11008.
    layer = counts("transformer_layer", batch=1, seq_len=1, d_model=4096, heads=32, d_ff=11008, gated=True, bias=False)
    lm_head = counts("linear", tokens=1, in_features=4096, out_features=32000, bias=False)
    total = 32 * layer.flops + lm_head.flops
    assert 13.0e9 < total < 13.6e9
