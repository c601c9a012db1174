"""FLOPs, MACs and bytes of each op, as pure functions of its shape. No torch here.

Conventions (derived in docs/flops.md):
- 1 multiply-accumulate (MAC) = 2 FLOPs. "Core" FLOPs are the MACs of the contraction (matmul,
  convolution, attention products) times 2, independent of the kernel's algorithm.
- Elementwise work (bias adds, activations, softmax, norms, residual adds) is counted separately,
  from the per-element costs in ELEMENTWISE_FLOPS, a table written once.
- Bytes are the compulsory traffic: every input (weights included) read once, every output written
  once, at the dtype's size. Intermediates inside a block are not compulsory and are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "float8": 1, "int8": 1}
# Every op runs in these; float8 (e4m3) and int8 only where an op says so (matmul: torch._scaled_mm, torch._int_mm).
FLOAT_DTYPES = ("float64", "float32", "float16", "bfloat16")
LOW_PRECISION_DTYPES = ("float8", "int8")
# What a low-precision product writes: int8 accumulates into int32; float8 is scaled into bfloat16.
LOW_PRECISION_OUTPUT_BYTES = {"int8": 4, "float8": 2}

# The keys a device has peaks for: FLOP/s per dtype (OP/s for int8), and TF32 for float32 contractions on tensor
# cores (flopbench.machine.device, flopbench.results.schema).
PEAK_KEYS = ("float64", "float32", "tf32", "float16", "bfloat16", "float8", "int8")

# FLOPs per element. A transcendental (exp, tanh, erf) counts as one operation, as the Keras
# notebook of the source documents counts softmax (exp, sum, divide: 5 per unit).
ELEMENTWISE_FLOPS = {
    "copy": 0,  # moves bytes, computes nothing: the bandwidth probe
    "add": 1,
    "sub": 1,
    "mul": 1,
    "div": 1,
    "bias": 1,  # adding a bias: one add per output element
    "scale": 1,  # attention's 1/sqrt(head_dim)
    "residual": 1,
    "relu": 1,  # max(x, 0)
    "exp": 1,
    "tanh": 1,
    "triad": 2,  # a + s*b (STREAM triad): one multiply, one add
    "sigmoid": 4,  # 1 / (1 + exp(-x)): negate, exp, add, divide
    "silu": 5,  # x * sigmoid(x)
    "gelu": 5,  # x/2 * (1 + erf(x/sqrt 2)): scale, erf, add, multiply, halve
    "softmax": 5,  # max, subtract, exp, sum, divide
    "layernorm": 7,  # sum, subtract mean, square, sum, multiply by 1/std, multiply gamma, add beta
    "rmsnorm": 4,  # square, sum, multiply by 1/rms, multiply gamma
    # Also met inside models (flopbench.workloads.models.counter):
    "neg": 1,
    "abs": 1,
    "sqrt": 1,
    "rsqrt": 1,
    "reciprocal": 1,
    "pow": 1,
    "log": 1,
    "erf": 1,
    "sin": 1,
    "cos": 1,
    "sum": 1,  # a reduction: one add per input element
    "max": 1,  # one comparison per input element (reductions, max pooling)
    "relu6": 2,  # min(max(x, 0), 6)
    "hardsigmoid": 4,  # min(max(x + 3, 0), 6) / 6
    "hardswish": 5,  # x * hardsigmoid(x)
    "batchnorm": 2,  # inference: running statistics folded into one multiply and one add
    "batchnorm_train": 7,  # batch statistics, as layernorm
    "groupnorm": 7,  # as layernorm, over each group of channels and positions
    "dropout": 1,  # training: one multiply by the scaled mask
}

# Per-row scalar work of the norms, on top of the per-element cost: layernorm divides the sum by n
# for the mean and for the variance, adds eps and takes a reciprocal square root; rmsnorm the same
# without the mean.
ROW_FLOPS = {"layernorm": 4, "rmsnorm": 3, "groupnorm": 4, "batchnorm_train": 4}

# Elementwise kinds that read two tensors (the rest read one); every kind writes one.
BINARY_KINDS = frozenset({"add", "sub", "mul", "div", "triad"})
ELEMENTWISE_KINDS = ("copy", "add", "sub", "mul", "div", "triad", "relu", "exp", "tanh", "sigmoid", "silu", "gelu")
ACTIVATIONS = ("none", "relu", "gelu", "silu", "sigmoid", "tanh", "softmax")


# Recurrent layers: gates per hidden unit (each a row of w_ih and of w_hh), and elementwise FLOPs per hidden unit per
# token, biases apart (derived in docs/flops.md): LSTM: 4 gate sums, 3 sigmoids (4 each), tanh of the candidate,
# c = f*c + i*g (3), tanh(c) and h = o*tanh(c): 4 + 12 + 1 + 3 + 1 + 1 = 22; GRU: 2 gate sums, 2 sigmoids (8),
# r*(W_hn h + b_hn), its add to W_in x, tanh, h = (1 - z)*n + z*h (4): 2 + 8 + 1 + 1 + 1 + 4 = 17; RNN: the sum
# and the activation: 2. Biases add 2 per gate (b_ih and b_hh).
RECURRENT_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
RECURRENT_ELEMENTWISE = {"lstm": 22, "gru": 17, "rnn_tanh": 2, "rnn_relu": 2}


def recurrent_flops(kind: str, tokens: int, input_size: int, hidden_size: int, proj_size: int = 0) -> int:
    """One layer and direction: every token multiplies its input by w_ih (gates*hidden x input) and the previous
    output by w_hh (gates*hidden x output), and with proj_size the hidden state by w_hr (proj x hidden)."""
    gates, out = RECURRENT_GATES[kind], proj_size or hidden_size
    macs = gates * hidden_size * (input_size + out) + (proj_size * hidden_size if proj_size else 0)
    return 2 * tokens * macs


def recurrent_elementwise_flops(kind: str, tokens: int, hidden_size: int, bias: bool) -> int:
    per_unit = RECURRENT_ELEMENTWISE[kind] + (2 * RECURRENT_GATES[kind] if bias else 0)
    return tokens * hidden_size * per_unit


def elementwise_flops(kind: str, numel: int) -> int:
    return ELEMENTWISE_FLOPS[kind] * numel


def norm_flops(kind: str, rows: int, cols: int) -> int:
    return ELEMENTWISE_FLOPS[kind] * rows * cols + ROW_FLOPS[kind] * rows


def batch_norm_flops(numel: int, channels: int, training: bool) -> int:
    """Inference: running statistics folded into one multiply and one add per element. Training: each channel's
    statistics over its batch and positions, as layer norm over rows = channels."""
    if not training:
        return ELEMENTWISE_FLOPS["batchnorm"] * numel
    return ELEMENTWISE_FLOPS["batchnorm_train"] * numel + ROW_FLOPS["batchnorm_train"] * channels


def pool_flops(kind: str, window: int, out_numel: int, in_numel: int = 0) -> int:
    """max: window - 1 comparisons per output; avg: window - 1 adds and a divide per output; adaptive_avg: every
    input added once and every output divided once (its windows may overlap or differ in size)."""
    if kind == "max":
        return (window - 1) * out_numel
    if kind == "avg":
        return window * out_numel
    return in_numel + out_numel


def embedding_bytes(tokens: int, dim: int, dtype: str, index_bytes: int = 8) -> int:
    """A lookup computes nothing: it reads each token's id and the row it names, and writes the row."""
    return tokens * index_bytes + 2 * tokens * dim * DTYPE_BYTES[dtype]


def activation_flops(activation: str, numel: int) -> int:
    return 0 if activation == "none" else ELEMENTWISE_FLOPS[activation] * numel


def matmul_flops(m: int, n: int, k: int, batch: int = 1) -> int:
    """(batch, m, k) @ (batch, k, n): every output element is k MACs."""
    return 2 * batch * m * n * k


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """PyTorch's output length of one spatial dimension (floor division; may be <= 0 if invalid)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_output_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int, output_padding: int
) -> int:
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def same_padding(kernel: int, dilation: int) -> tuple[int, int]:
    """PyTorch's padding="same" (stride 1): dilation*(kernel-1) in total, the extra one at the end."""
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def conv_flops(
    batch: int, out_channels: int, out_size: Sequence[int], in_channels_per_group: int, kernel: Sequence[int]
) -> int:
    """Each output element is (in_channels/groups) * prod(kernel) MACs, padding included."""
    return 2 * batch * out_channels * math.prod(out_size) * in_channels_per_group * math.prod(kernel)


def conv_transpose_flops(
    batch: int, in_channels: int, in_size: Sequence[int], out_channels_per_group: int, kernel: Sequence[int]
) -> int:
    """Each input element scatters into (out_channels/groups) * prod(kernel) MACs."""
    return 2 * batch * in_channels * math.prod(in_size) * out_channels_per_group * math.prod(kernel)


ALIGNMENTS = ("top_left", "bottom_right")


def attention_pairs(q_len: int, kv_len: int, causal: bool, alignment: str = "top_left") -> int:
    """Query-key pairs that attend, per (batch, head).

    A causal mask aligned top-left (PyTorch's is_causal) lets query i see keys 0..i; aligned bottom-right
    (FlashAttention's convention, PyTorch's causal_lower_right: the queries are the last q_len positions of the
    kv_len, as in decoding with a cache) lets query i see keys 0..kv_len - q_len + i.
    """
    if not causal:
        return q_len * kv_len
    if alignment == "bottom_right":
        if q_len <= kv_len:
            return q_len * kv_len - q_len * (q_len - 1) // 2
        return kv_len * (kv_len + 1) // 2  # the first q_len - kv_len queries see no key
    if q_len <= kv_len:
        return q_len * (q_len + 1) // 2
    return kv_len * (kv_len + 1) // 2 + (q_len - kv_len) * kv_len


def attention_flops(
    batch: int,
    heads: int,
    q_len: int,
    kv_len: int,
    head_dim: int,
    causal: bool,
    alignment: str = "top_left",
    head_dim_v: int | None = None,
) -> int:
    """QK^T (head_dim MACs per attending pair) and AV (head_dim_v MACs per pair; the value head size may differ)."""
    pairs = batch * heads * attention_pairs(q_len, kv_len, causal, alignment)
    return 2 * pairs * head_dim + 2 * pairs * (head_dim_v if head_dim_v is not None else head_dim)


def attention_elementwise_flops(
    batch: int, heads: int, q_len: int, kv_len: int, causal: bool, alignment: str = "top_left"
) -> int:
    """Scaling and softmax of every attending score."""
    pairs = batch * heads * attention_pairs(q_len, kv_len, causal, alignment)
    return (ELEMENTWISE_FLOPS["scale"] + ELEMENTWISE_FLOPS["softmax"]) * pairs


# How a model's FLOPs are counted, named beside every MFU (flopbench's own count, and two others it can be recomputed
# under: docs/flops.md, "MFU conventions").
FLOP_CONVENTIONS = {
    "flopbench": "contractions as counted layer by layer: causal attention over its unmasked pairs, embedding lookups"
    " 0 FLOPs, backward 2x forward (1x for a first layer, whose input needs no gradient)",
    "palm": "PaLM's 6N + 12LHQT per token for a training step, 2N + 4LHQT for a forward pass (N non-embedding"
    " parameters, L layers, H heads, Q head size, T tokens of context; attention over the full square)",
    "full_square": "as counted, but causal attention over the full L x S square of query-key pairs, as PyTorch's"
    " counter and FlashAttention's benchmarks count it",
}


def palm_flops(
    non_embedding_params: int, layers: int, heads: int, head_dim: int, seq_len: int, tokens: int, train: bool
) -> int:
    """PaLM (Chowdhery et al. 2022, appendix B): per token 6N + 12·L·H·Q·T training, a third of it forward."""
    per_token = 6 * non_embedding_params + 12 * layers * heads * head_dim * seq_len
    return per_token * tokens // (1 if train else 3)


def masked_attention_flops(batch: int, layers: int, heads: int, head_dim: int, seq_len: int, train: bool) -> int:
    """The FLOPs a full-square count adds for causal self-attention: the masked pairs' two products, forward (and
    backward, 2x, when training)."""
    masked = seq_len * seq_len - attention_pairs(seq_len, seq_len, causal=True)
    forward = 4 * batch * layers * heads * masked * head_dim
    return forward * (3 if train else 1)


# --- fusion chains: the same FLOPs, two byte counts (docs/flops.md, "Fusion chains") ----------------------------------
# Elements each chain moves: compulsory (inputs read once, the output written once) and eager (op by op, every
# intermediate written by one op and read by the next). Multiply by the dtype's size.


def ln_gelu_residual(rows: int, cols: int) -> tuple[int, int, int, int]:
    """y = gelu(layer_norm(x) * gamma + beta) + x over rows x cols: (elementwise FLOPs, compulsory elements, eager
    elements, distinct elements an eager call touches). FLOPs per element: layer norm's 7 (its normalization and the
    affine scale and shift) + GELU's 5 + the residual add's 1; 4 per row (mean, variance, eps, rsqrt). Eager: layer_norm
    reads x, writes t1 and its per-row mean and rstd; * gamma, + beta and gelu each read and write a rows x cols tensor
    (and gamma, beta); + x reads two and writes one: 11 rc + 2c + 2r."""
    n = rows * cols
    flops = norm_flops("layernorm", rows, cols) + (ELEMENTWISE_FLOPS["gelu"] + ELEMENTWISE_FLOPS["residual"]) * n
    return flops, 2 * n + 2 * cols, 11 * n + 2 * cols + 2 * rows, 6 * n + 2 * cols + 2 * rows


def linear_bias_gelu(tokens: int, in_features: int, out_features: int) -> tuple[int, int, int, int, int]:
    """y = gelu(x @ W^T + b): (core FLOPs, elementwise FLOPs, compulsory elements, eager elements, distinct elements an
    eager call touches). The product, then the bias add (1 per output) and GELU (5 per output) op by op: the product
    writes t x o, the add reads it and b and writes t x o, gelu reads and writes t x o."""
    t, i, o = tokens, in_features, out_features
    core = matmul_flops(t, o, i)
    elementwise = (ELEMENTWISE_FLOPS["bias"] + ELEMENTWISE_FLOPS["gelu"]) * t * o
    compulsory = t * i + o * i + o + t * o
    return core, elementwise, compulsory, compulsory + 4 * t * o, compulsory + 2 * t * o


def attention_by_hand(batch: int, heads: int, seq_len: int, head_dim: int) -> tuple[int, int, int, int, int]:
    """softmax(Q K^T / sqrt(d)) V written op by op (not causal): (core FLOPs, elementwise FLOPs, compulsory elements,
    eager elements, distinct elements an eager call touches). Q K^T writes the b h l^2 scores; the scale and the
    softmax each read and write them; P V reads them and V: 4 bhld + 6 bhl^2."""
    b, h, length, d = batch, heads, seq_len, head_dim
    core = attention_flops(b, h, length, length, d, False)
    elementwise = attention_elementwise_flops(b, h, length, length, False)
    compulsory = 4 * b * h * length * d
    return core, elementwise, compulsory, compulsory + 6 * b * h * length * length, compulsory + 3 * b * h * length**2


# --- generation: a decoder's prefill and decode steps with a KV cache (docs/flops.md, "Generation") -------------------


@dataclass(frozen=True)
class Decoder:
    """A decoder's shape (flopbench.workloads.models.generation): gpt2 (fused QKV with biases, GELU MLP, learned
    positions, LM head tied to the embedding) or llama (no biases, SwiGLU MLP, rotary positions, its own LM head)."""

    style: str
    vocab: int
    dim: int
    layers: int
    heads: int
    kv_heads: int
    hidden: int
    context: int = 1024  # positions it may hold (GPT-2's learned position table has this many rows)

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def layer_macs(self) -> int:
        """Multiply-accumulates of one layer's projections per token: QKV, the output projection, the MLP."""
        mlp = (2 if self.style == "gpt2" else 3) * self.dim * self.hidden
        return self.dim * (self.dim + 2 * self.kv_dim) + self.dim * self.dim + mlp

    def parameters(self) -> int:
        """Every weight: embeddings (and GPT-2's learned positions), each layer's projections, biases and norms,
        the final norm, and an LM head of its own (GPT-2's is the embedding, counted once)."""
        gpt2 = self.style == "gpt2"
        biases = (self.dim + 2 * self.kv_dim) + self.dim + (self.hidden + self.dim) if gpt2 else 0
        norms = (4 if gpt2 else 2) * self.dim  # LayerNorm: weight and bias; RMSNorm: weight
        per_layer = self.layer_macs + biases + norms
        embedding = self.vocab * self.dim + (self.context * self.dim if gpt2 else 0)
        head = 0 if gpt2 else self.vocab * self.dim
        return embedding + self.layers * per_layer + (2 if gpt2 else 1) * self.dim + head

    def weights_read(self, batch: int, tokens: int) -> int:
        """Parameters one call reads: all but the embedding tables, of which it reads only its tokens' rows (and
        their positions' rows); GPT-2's tied LM head reads the embedding whole."""
        rows = batch * tokens * self.dim * (2 if self.style == "gpt2" else 1)
        tables = self.vocab * self.dim + (self.context * self.dim if self.style == "gpt2" else 0)
        head = self.vocab * self.dim if self.style == "gpt2" else 0  # tied: read again as the LM head
        return self.parameters() - tables + rows + head


def generation_flops(shape: Decoder, batch: int, tokens: int, position: int) -> int:
    """Core FLOPs of one call of `tokens` tokens per sequence whose cache holds `position` already: the projections
    (2 x tokens x layer_macs per layer), attention over the cache (causal within a prompt; a decode step's one query
    sees all position + 1 keys: 4 x head_dim FLOPs per pair and head), and the LM head at the last position only."""
    linear = 2 * batch * tokens * shape.layers * shape.layer_macs
    attention = shape.layers * attention_flops(
        batch, shape.heads, tokens, position + tokens, shape.head_dim, causal=tokens > 1, alignment="bottom_right"
    )
    return linear + attention + 2 * batch * shape.dim * shape.vocab


def kv_cache_bytes(shape: Decoder, batch: int, positions: int, dtype: str) -> int:
    """Keys and values of `positions` positions, every layer and sequence: 2 x layers x batch x kv_heads x head_dim x
    positions elements."""
    return 2 * shape.layers * batch * shape.kv_dim * positions * DTYPE_BYTES[dtype]


def generation_bytes(shape: Decoder, batch: int, tokens: int, position: int, dtype: str, cache_dtype: str) -> int:
    """Compulsory traffic of one call: the weights it reads once, the cache it reads (the `position` cached
    positions) and writes (its tokens' keys and values), its token ids in (int64) and the last position's logits
    out."""
    size = DTYPE_BYTES[dtype]
    weights = shape.weights_read(batch, tokens) * size
    cache = kv_cache_bytes(shape, batch, position + tokens, cache_dtype)
    return weights + cache + batch * tokens * 8 + batch * shape.vocab * size
