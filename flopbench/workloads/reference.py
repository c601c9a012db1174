"""Independent float64 definitions of every op, for the output check.

Each is the op's mathematical definition written with elementary tensor operations (products, sums,
exp, erf), never the library kernel the workload times: a check must not compare a kernel with itself.
They run on small shapes only, so clarity beats speed here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Broadcast-multiply-sum: sum_k a[..., m, k] * b[..., k, n]."""
    return (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(-2)


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    y = matmul(x, w.transpose(0, 1))
    return y if b is None else y + b


def activation(x: torch.Tensor, name: str) -> torch.Tensor:
    if name == "none":
        return x
    if name == "relu":
        return torch.where(x > 0, x, torch.zeros_like(x))
    if name == "gelu":
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    if name == "sigmoid":
        return 1 / (1 + torch.exp(-x))
    if name == "silu":
        return x / (1 + torch.exp(-x))
    if name == "tanh":
        return 1 - 2 / (torch.exp(2 * x) + 1)
    if name == "exp":
        return torch.exp(x)
    if name == "softmax":
        return softmax(x)
    raise KeyError(name)


def softmax(x: torch.Tensor) -> torch.Tensor:
    e = torch.exp(x - x.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, alignment: str = "top_left"
) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d) + mask) V, key/value heads shared by groups of query heads."""
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    scores = matmul(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    if causal:  # top-left: query i sees keys 0..i; bottom-right: keys 0..kv_len - q_len + i
        lq, lk = q.shape[-2], k.shape[-2]
        allowed = torch.ones(lq, lk, dtype=torch.bool).tril(diagonal=lk - lq if alignment == "bottom_right" else 0)
        scores = scores.masked_fill(~allowed, float("-inf"))
    return matmul(softmax(scores), v)


def sdpa(q, k, v, is_causal=False):
    """`attention` with F.scaled_dot_product_attention's signature, to stand in for it in blocks."""
    return attention(q, k, v, is_causal)


def _last(index: Sequence[slice | int]) -> tuple[Any, ...]:
    """An index into the last dimensions of a tensor: (..., *index)."""
    return (..., *index)


def _broadcastable(tap: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    """(groups, a, b) weights -> (1, groups, a, b, 1, ...) to multiply (batch, groups, ..., *spatial) slices."""
    return tap.reshape(1, *tap.shape, *([1] * spatial_dims))


def conv(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    stride: Sequence[int],
    padding: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    groups: int,
) -> torch.Tensor:
    """N-d convolution as a sum over kernel offsets of strided input slices times weight slices.

    padding holds (before, after) per spatial dimension.
    """
    batch, cin = x.shape[:2]
    cout, cin_g, *kernel = w.shape
    pads = [p for pair in reversed(padding) for p in pair]  # F.pad wants the last dimension first
    x = torch.nn.functional.pad(x, pads)
    sizes = x.shape[2:]
    out_size = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(sizes, kernel, stride, dilation)]
    x = x.reshape(batch, groups, cin_g, *sizes)
    w = w.reshape(groups, cout // groups, cin_g, *kernel)
    out = x.new_zeros(batch, groups, cout // groups, *out_size)
    for offsets in itertools.product(*(range(k) for k in kernel)):
        window = tuple(
            slice(o * d, o * d + (n - 1) * s + 1, s) for o, d, s, n in zip(offsets, dilation, stride, out_size)
        )
        patch = x[_last(window)]  # batch, groups, cin_g, *out_size
        tap = w[_last(offsets)]  # groups, cout_g, cin_g
        out += (patch.unsqueeze(2) * _broadcastable(tap, len(kernel))).sum(3)
    out = out.reshape(batch, cout, *out_size)
    return out if b is None else out + b.reshape(1, cout, *([1] * len(kernel)))


def conv_transpose(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    stride: Sequence[int],
    padding: Sequence[int],
    output_padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> torch.Tensor:
    """Transposed convolution as a scatter: input element i adds w * x to output i*stride + k*dilation."""
    batch, cin, *in_size = x.shape
    _, cout_g, *kernel = w.shape
    full = [
        (n - 1) * s + d * (k - 1) + 1 + op for n, s, d, k, op in zip(in_size, stride, dilation, kernel, output_padding)
    ]
    x = x.reshape(batch, groups, cin // groups, *in_size)
    w = w.reshape(groups, cin // groups, cout_g, *kernel)
    out = x.new_zeros(batch, groups, cout_g, *full)
    for offsets in itertools.product(*(range(k) for k in kernel)):
        window = tuple(
            slice(o * d, o * d + (n - 1) * s + 1, s) for o, d, s, n in zip(offsets, dilation, stride, in_size)
        )
        tap = w[_last(offsets)]  # groups, cin_g, cout_g
        out[_last(window)] += (x.unsqueeze(3) * _broadcastable(tap, len(kernel))).sum(2)
    crop = tuple(slice(p, n - p) for p, n in zip(padding, full))
    out = out[_last(crop)].reshape(batch, groups * cout_g, *[n - 2 * p for p, n in zip(padding, full)])
    return out if b is None else out + b.reshape(1, -1, *([1] * len(kernel)))


def recurrent(kind: str, module: Any, x: torch.Tensor) -> torch.Tensor:
    """nn.LSTM / nn.GRU / nn.RNN (batch_first, zero initial state) from their equations, token by token, with the
    module's weights: LSTM gates i, f, g, o; GRU r, z, n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""
    directions = 2 if module.bidirectional else 1
    hidden = module.hidden_size
    layer_input = x
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            w_ih, w_hh = getattr(module, "weight_ih" + suffix), getattr(module, "weight_hh" + suffix)
            b_ih = getattr(module, "bias_ih" + suffix, None)
            b_hh = getattr(module, "bias_hh" + suffix, None)
            h = x.new_zeros(x.shape[0], hidden)
            c = x.new_zeros(x.shape[0], hidden)
            steps = range(x.shape[1] - 1, -1, -1) if direction else range(x.shape[1])
            out: list[torch.Tensor] = [h] * x.shape[1]  # every step is written below
            for step in steps:
                gi, gh = linear(layer_input[:, step], w_ih, b_ih), linear(h, w_hh, b_hh)
                if kind == "lstm":
                    i, f, g, o = (gi + gh).chunk(4, dim=-1)
                    c = activation(f, "sigmoid") * c + activation(i, "sigmoid") * activation(g, "tanh")
                    h = activation(o, "sigmoid") * activation(c, "tanh")
                elif kind == "gru":
                    ir, iz, in_ = gi.chunk(3, dim=-1)
                    hr, hz, hn = gh.chunk(3, dim=-1)
                    r, z = activation(ir + hr, "sigmoid"), activation(iz + hz, "sigmoid")
                    n = activation(in_ + r * hn, "tanh")
                    h = (1 - z) * n + z * h
                else:
                    h = activation(gi + gh, "tanh" if kind == "rnn_tanh" else "relu")
                out[step] = h
            outputs.append(torch.stack(out, dim=1))
        layer_input = torch.cat(outputs, dim=-1)
    return layer_input


# --- building blocks, twice ----------------------------------------------------------------------
# Blocks (MLP, MHA, FFN, transformer layer) are written once against these building blocks: with
# LIBRARY they run PyTorch's kernels (what is timed), with REFERENCE the definitions above (the check).


class Fns(NamedTuple):
    linear: Callable
    sdpa: Callable
    activation: Callable  # (x, name)
    layer_norm: Callable  # (x, weight, bias, eps)


_LIBRARY_ACTIVATIONS = {
    "none": lambda x: x,
    "relu": F.relu,
    "gelu": F.gelu,
    "silu": F.silu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "exp": torch.exp,
    "softmax": lambda x: torch.softmax(x, dim=-1),
}

LIBRARY = Fns(
    linear=F.linear,
    sdpa=F.scaled_dot_product_attention,
    activation=lambda x, name: _LIBRARY_ACTIVATIONS[name](x),
    layer_norm=lambda x, weight, bias, eps: F.layer_norm(x, (x.shape[-1],), weight, bias, eps),
)
REFERENCE = Fns(linear=linear, sdpa=sdpa, activation=activation, layer_norm=layer_norm)
