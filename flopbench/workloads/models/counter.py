"""Per-layer FLOPs of any nn.Module, by flopbench's own formulas, beside PyTorch's own counter.

A forward pass runs (on the meta device by default: shapes only, nothing allocated) under two modes:
- a TorchFunctionMode that sees each functional call (F.linear, F.conv2d, F.scaled_dot_product_attention with
  its is_causal, x + y, softmax, ...) once, at the level the model's code calls it, and maps it to a flopbench
  workload (linear, conv2d, attention, ...) or to the elementwise cost table;
- PyTorch's FlopCounterMode underneath, read before and after every call, so each row carries PyTorch's count
  of exactly the same call.
Module hooks attribute each call to the innermost module running, which gives the per-layer table. A call
flopbench cannot count is listed as unsupported, never counted as zero in silence.

Backward FLOPs (training): a contraction costs its forward FLOPs once per operand that needs a gradient
(dX = dY W^T and dW = X^T dY are each as large as Y = X W), so 2x forward inside a network and 1x for a first
layer whose input needs none; the attention core is 2x forward; elementwise work is counted once more.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from flopbench import formulas
from flopbench.workloads.base import make_workload

# --- what one call costs -----------------------------------------------------------------------------


@dataclass
class Cost:
    workload: str  # the flopbench workload (or elementwise kind) the call was counted as
    flops: int = 0  # core
    elementwise_flops: int = 0
    grads: int = 0  # operands of a contraction that need a gradient: backward core = grads x flops
    note: str = ""
    bytes: int = 0  # compulsory traffic of the call: every tensor argument read once, the output written once


def _arg(args: Sequence, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _needs_grad(*tensors: Any) -> int:
    return sum(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)


def _cost(workload, grads: int, note: str = "") -> Cost:
    c = workload.counts
    return Cost(workload.name, c.flops, c.elementwise_flops, grads, note)


def _linear(args, kwargs, out):
    x, w, b = args[0], _arg(args, kwargs, 1, "weight"), _arg(args, kwargs, 2, "bias")
    workload = make_workload(
        "linear",
        {
            "tokens": x.numel() // x.shape[-1],
            "in_features": w.shape[1],
            "out_features": w.shape[0],
            "bias": b is not None,
        },
    )
    return _cost(workload, _needs_grad(x, w))


def _matmul_shapes(a: torch.Tensor, b: torch.Tensor) -> dict[str, int]:
    a_shape = (1, *a.shape) if a.dim() == 1 else tuple(a.shape)
    b_shape = (*b.shape, 1) if b.dim() == 1 else tuple(b.shape)
    batch = math.prod(torch.broadcast_shapes(a_shape[:-2], b_shape[:-2]))
    return {"m": a_shape[-2], "k": a_shape[-1], "n": b_shape[-1], "batch": batch}


def _matmul(args, kwargs, out, swap=False):
    a, b = (args[1], args[0]) if swap else (args[0], args[1])
    return _cost(make_workload("matmul", _matmul_shapes(a, b)), _needs_grad(a, b))


def _addmm(args, kwargs, out):
    """input + a @ b: a matmul and one add per output element (beta and alpha scalings left out)."""
    a, b = args[1], args[2]
    cost = _cost(make_workload("matmul", _matmul_shapes(a, b)), _needs_grad(a, b))
    cost.elementwise_flops += out.numel()
    return cost


def _einsum(args, kwargs, out):
    equation = args[0]
    operands = args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) else args[1:]
    inputs = equation.replace(" ", "").split("->")[0].split(",")
    if len(operands) != 2 or "..." in equation:
        return None
    sizes: dict[str, int] = {}
    for letters, operand in zip(inputs, operands):
        sizes.update(zip(letters, operand.shape))
    macs = math.prod(sizes.values())  # one multiply-accumulate per combination of every index
    return Cost(f"einsum {equation}", 2 * macs, 0, _needs_grad(*operands))


def _conv(ndim: int):
    def rule(args, kwargs, out):
        x, w, b = args[0], _arg(args, kwargs, 1, "weight"), _arg(args, kwargs, 2, "bias")
        stride, padding = _arg(args, kwargs, 3, "stride", 1), _arg(args, kwargs, 4, "padding", 0)
        dilation, groups = _arg(args, kwargs, 5, "dilation", 1), _arg(args, kwargs, 6, "groups", 1)
        x_shape = tuple(x.shape) if x.dim() == ndim + 2 else (1, *x.shape)
        names = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}[ndim]
        params = {
            "batch": x_shape[0],
            "in_channels": x_shape[1],
            "out_channels": w.shape[0],
            **dict(zip(names, x_shape[2:])),
            "kernel": list(w.shape[2:]),
            "groups": groups,
            "bias": b is not None,
        }
        for key, value in (("stride", stride), ("padding", padding), ("dilation", dilation)):
            params[key] = value if isinstance(value, (int, str)) else list(value)
        note = (
            f"PyTorch's counter counts this weight gradient {groups}x: its formula multiplies by every input"
            f" channel, not a group's (pytorch/pytorch#183405)"
            if groups > 1 and w.requires_grad
            else ""
        )
        return _cost(make_workload(f"conv{ndim}d", params), _needs_grad(x, w), note)

    return rule


def _conv_transpose(ndim: int):
    def rule(args, kwargs, out):
        x, w, b = args[0], _arg(args, kwargs, 1, "weight"), _arg(args, kwargs, 2, "bias")
        batch = x.shape[0] if x.dim() == ndim + 2 else 1
        in_size = x.shape[-ndim:]
        flops = formulas.conv_transpose_flops(batch, w.shape[0], in_size, w.shape[1], w.shape[2:])
        bias = out.numel() if b is not None else 0
        return Cost(f"conv_transpose{ndim}d", flops, bias, _needs_grad(x, w))

    return rule


def _mask_pairs(mask: Any, lq: int, lk: int, allowed_when: bool) -> int | None:
    """Attending pairs per (batch, head) of an explicit mask: its allowed entries (a bool mask allows where it equals
    `allowed_when`; a float mask where it is not -inf), averaged over the mask's leading dims. None when the mask's
    values cannot be read (the meta device) or its shape is not (..., lq, lk)."""
    if not isinstance(mask, torch.Tensor) or mask.device.type == "meta" or tuple(mask.shape[-2:]) != (lq, lk):
        return None
    allowed = (mask == allowed_when) if mask.dtype == torch.bool else (mask != float("-inf"))
    return int(allowed.sum().item()) // max(1, allowed.numel() // (lq * lk))


def _attention_cost(
    name: str,
    batch: int,
    heads: int,
    lq: int,
    lk: int,
    d: int,
    dv: int,
    mask: Any,
    causal: bool,
    grads: int,
    allowed_when: bool = True,
) -> Cost:
    """The attention core of SDPA or MHA: the attending pairs from is_causal, a CausalBias, or the mask's values."""
    alignment = "top_left"
    variant = getattr(mask, "variant", None)  # torch.nn.attention.bias.CausalBias (causal_upper_left / _lower_right)
    if variant is not None:
        lower_right = getattr(variant, "name", str(variant)) == "LOWER_RIGHT"  # an IntEnum: str() is its number
        causal, alignment, mask = True, "bottom_right" if lower_right else "top_left", None
    pairs = formulas.attention_pairs(lq, lk, causal, alignment) if mask is None or causal else None
    note = ""
    if causal:
        note = "causal: the unmasked pairs only; PyTorch's counter counts the full square"
        if alignment == "bottom_right":
            note = "causal, aligned bottom-right: the unmasked pairs only; PyTorch's counter counts the full square"
    elif mask is not None:
        pairs = _mask_pairs(mask, lq, lk, allowed_when)
        note = (
            "attn_mask: the pairs it allows, read off its values; PyTorch's counter counts the full square"
            if pairs is not None and pairs != lq * lk
            else "attn_mask: every pair counted (its values are unknown on the meta device)"
            if pairs is None
            else ""
        )
        pairs = lq * lk if pairs is None else pairs
    assert pairs is not None
    total = batch * heads * pairs
    elementwise = (formulas.ELEMENTWISE_FLOPS["scale"] + formulas.ELEMENTWISE_FLOPS["softmax"]) * total
    return Cost(name, 2 * total * d + 2 * total * dv, elementwise, grads, note)


def _sdpa(args, kwargs, out):
    q, k, v = args[0], args[1], args[2]
    mask = _arg(args, kwargs, 3, "attn_mask")
    causal = bool(_arg(args, kwargs, 5, "is_causal", False))
    heads = q.shape[-3] if q.dim() >= 3 else 1
    batch = q.numel() // (heads * q.shape[-2] * q.shape[-1])
    lq, lk, d, dv = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
    name = f"attention-b{batch}-h{heads}-l{lq}-lkv{lk}-d{d}" + (f"-dv{dv}" if dv != d else "")
    cost = _attention_cost(name, batch, heads, lq, lk, d, dv, mask, causal, 2 if _needs_grad(q, k, v) else 0)
    if cost.note.startswith("causal"):
        cost.workload += "-causal"
    return cost


def _multi_head_attention(args, kwargs, out):
    """F.multi_head_attention_forward, as nn.MultiheadAttention calls it (sequence-first shapes): the four
    projections read off the weights it was given (packed in_proj_weight, or separate q/k/v weights when kdim or
    vdim differ from embed_dim), then the attention core."""
    query, key = args[0], args[1]
    embed, heads = args[3], args[4]
    in_weight, in_bias = _arg(args, kwargs, 5, "in_proj_weight"), _arg(args, kwargs, 6, "in_proj_bias")
    out_weight, out_bias = _arg(args, kwargs, 11, "out_proj_weight"), _arg(args, kwargs, 12, "out_proj_bias")
    if kwargs.get("use_separate_proj_weight"):
        weights = [kwargs["q_proj_weight"], kwargs["k_proj_weight"], kwargs["v_proj_weight"]]
    else:
        weights = [in_weight[:embed], in_weight[embed : 2 * embed], in_weight[2 * embed :]]
    batched = query.dim() == 3
    length, source = query.shape[0], key.shape[0]
    batch = query.shape[1] if batched else 1
    tokens = {"q": batch * length, "k": batch * source, "v": batch * source}
    projections = (
        sum(2 * tokens[n] * w.numel() for n, w in zip("qkv", weights)) + 2 * batch * length * out_weight.numel()
    )
    bias_adds = (sum(tokens.values()) * embed if in_bias is not None else 0) + (
        batch * length * embed if out_bias is not None else 0
    )
    causal = bool(kwargs.get("is_causal", False))  # PyTorch's hint that attn_mask is the causal mask
    mask = kwargs.get("attn_mask")
    grads = 2 if _needs_grad(query, in_weight if in_weight is not None else weights[0]) else 0
    core = _attention_cost(
        "multi_head_attention",
        batch,
        heads,
        length,
        source,
        embed // heads,
        embed // heads,
        mask,
        causal,
        grads,
        allowed_when=False,
    )  # MHA's bool masks mark what is NOT allowed
    notes = [core.note] if core.note else []
    if not grads:
        notes.append(
            "in inference (eval, no_grad) PyTorch may run this through a fused kernel that its counter reports as 0"
        )
    name = f"mha-b{batch}-l{length}" + (f"-s{source}" if source != length else "") + f"-dm{embed}-h{heads}"
    return Cost(name, projections + core.flops, core.elementwise_flops + bias_adds, grads, "; ".join(notes))


def _recurrent(kind: str):
    """torch.lstm / gru / rnn_tanh / rnn_relu (nn.LSTM, nn.GRU, nn.RNN): every layer and direction, read off the
    flat weights (per layer and direction: w_ih, w_hh, then b_ih, b_hh with biases, then w_hr with proj_size):
    each token is one MAC per weight, and the gates' elementwise work per hidden unit (formulas.py)."""

    def rule(args, kwargs, out):
        at = next(i for i, a in enumerate(args) if isinstance(a, bool))  # has_biases follows the weights
        weights, has_biases, layers, bidirectional = args[at - 1], args[at], args[at + 1], bool(args[at + 4])
        x = args[0]
        tokens = x.numel() // x.shape[-1]  # (T, B, I), (B, T, I), (T, I), or packed: (sum of lengths, I)
        group = len(weights) // (layers * (2 if bidirectional else 1))
        macs = elementwise = 0
        for i in range(0, len(weights), group):
            matrices = [w for w in weights[i : i + group] if w.dim() == 2]  # w_ih, w_hh (and w_hr)
            macs += sum(w.numel() for w in matrices)
            hidden = matrices[0].shape[0] // formulas.RECURRENT_GATES[kind]
            elementwise += formulas.recurrent_elementwise_flops(kind, tokens, hidden, has_biases)
        # Training: the weights' gradients and the recurrent state's (through time) are each as large as the forward.
        grads = 2 if _needs_grad(*weights) else 0
        return Cost(
            f"{kind}-t{tokens}-layers{layers}" + ("-bi" if bidirectional else ""), 2 * tokens * macs, elementwise, grads
        )

    return rule


def _recurrent_cell(kind: str):
    """torch.lstm_cell / gru_cell / rnn_*_cell (nn.LSTMCell, nn.GRUCell, nn.RNNCell): one step."""

    def rule(args, kwargs, out):
        x, w_ih, w_hh = args[0], args[2], args[3]
        bias = len(args) > 4 and args[4] is not None
        tokens = x.numel() // x.shape[-1]
        hidden = w_ih.shape[0] // formulas.RECURRENT_GATES[kind]
        return Cost(
            f"{kind}_cell-t{tokens}",
            2 * tokens * (w_ih.numel() + w_hh.numel()),
            formulas.recurrent_elementwise_flops(kind, tokens, hidden, bias),
            _needs_grad(x, w_ih),
        )

    return rule


def _elementwise(kind: str, of: str = "output"):
    """A per-element cost from formulas.ELEMENTWISE_FLOPS, over the output's (or the input's) elements."""

    def rule(args, kwargs, out):
        tensor = out if of == "output" else args[0]
        numel = tensor.numel() if isinstance(tensor, torch.Tensor) else 0
        return Cost(kind, 0, formulas.ELEMENTWISE_FLOPS[kind] * numel)

    return rule


def _layer_norm(args, kwargs, out):
    shape = _arg(args, kwargs, 1, "normalized_shape")
    cols = math.prod(shape)
    return Cost("layernorm", 0, formulas.norm_flops("layernorm", args[0].numel() // cols, cols))


def _rms_norm(args, kwargs, out):
    shape = _arg(args, kwargs, 1, "normalized_shape")
    cols = math.prod(shape)
    return Cost("rmsnorm", 0, formulas.norm_flops("rmsnorm", args[0].numel() // cols, cols))


def _batch_norm(args, kwargs, out):
    training = bool(_arg(args, kwargs, 5, "training", False))
    channels = args[0].shape[1] if args[0].dim() > 1 else 1
    return Cost(
        "batchnorm_train" if training else "batchnorm", 0, formulas.batch_norm_flops(out.numel(), channels, training)
    )


def _group_norm(args, kwargs, out):
    groups = _arg(args, kwargs, 1, "num_groups")
    x = args[0]
    rows = x.shape[0] * groups
    return Cost("groupnorm", 0, formulas.norm_flops("groupnorm", rows, x.numel() // rows))


def _pool(kind: str, ndim: int):
    def rule(args, kwargs, out):
        kernel = _arg(args, kwargs, 1, "kernel_size")
        window = math.prod(kernel) if isinstance(kernel, (list, tuple)) else kernel**ndim
        first = out[0] if isinstance(out, tuple) else out  # max pooling may return (values, indices)
        return Cost(f"{kind}_pool", 0, formulas.pool_flops(kind, window, first.numel()))

    return rule


def _adaptive_pool(args, kwargs, out):
    return Cost("adaptive_pool", 0, formulas.pool_flops("adaptive_avg", 0, out.numel(), args[0].numel()))


def _dropout(args, kwargs, out):
    training = bool(_arg(args, kwargs, 2, "training", True))
    p = _arg(args, kwargs, 1, "p", 0.5)
    return Cost("dropout", 0, out.numel() if training and p > 0 else 0)


Rule = Callable[[Sequence, dict, Any], "Cost | None"]

RULES: dict[str, Rule] = {
    "linear": _linear,
    "matmul": _matmul,
    "__matmul__": _matmul,
    "mm": _matmul,
    "bmm": _matmul,
    "__rmatmul__": lambda a, k, o: _matmul(a, k, o, swap=True),
    "addmm": _addmm,
    "baddbmm": _addmm,
    "einsum": _einsum,
    "conv1d": _conv(1),
    "conv2d": _conv(2),
    "conv3d": _conv(3),
    "conv_transpose1d": _conv_transpose(1),
    "conv_transpose2d": _conv_transpose(2),
    "conv_transpose3d": _conv_transpose(3),
    "scaled_dot_product_attention": _sdpa,
    "lstm": _recurrent("lstm"),
    "gru": _recurrent("gru"),
    "rnn_tanh": _recurrent("rnn_tanh"),
    "rnn_relu": _recurrent("rnn_relu"),
    "lstm_cell": _recurrent_cell("lstm"),
    "gru_cell": _recurrent_cell("gru"),
    "rnn_tanh_cell": _recurrent_cell("rnn_tanh"),
    "rnn_relu_cell": _recurrent_cell("rnn_relu"),
    "multi_head_attention_forward": _multi_head_attention,
    "layer_norm": _layer_norm,
    "rms_norm": _rms_norm,
    "group_norm": _group_norm,
    "batch_norm": _batch_norm,
    "softmax": _elementwise("softmax"),
    "log_softmax": _elementwise("softmax"),
    "_softmax": _elementwise("softmax"),
    "max_pool1d": _pool("max", 1),
    "max_pool2d": _pool("max", 2),
    "max_pool3d": _pool("max", 3),
    "avg_pool1d": _pool("avg", 1),
    "avg_pool2d": _pool("avg", 2),
    "avg_pool3d": _pool("avg", 3),
    "adaptive_avg_pool1d": _adaptive_pool,
    "adaptive_avg_pool2d": _adaptive_pool,
    "adaptive_avg_pool3d": _adaptive_pool,
    "adaptive_max_pool2d": _adaptive_pool,
    "dropout": _dropout,
    "sum": _elementwise("sum", of="input"),
    "mean": _elementwise("sum", of="input"),
    "amax": _elementwise("max", of="input"),
    "max": _elementwise("max", of="input"),
    "outer": _elementwise("mul"),
}
_ELEMENTWISE_NAMES = {
    "add": ["add", "add_", "__add__", "__radd__", "__iadd__"],
    "sub": ["sub", "sub_", "rsub", "__sub__", "__rsub__", "__isub__"],
    "mul": ["mul", "mul_", "__mul__", "__rmul__", "__imul__"],
    "div": ["div", "div_", "true_divide", "__truediv__", "__rtruediv__", "__itruediv__", "__rdiv__"],
    "relu": ["relu", "relu_"],
    "relu6": ["relu6", "hardtanh", "hardtanh_"],
    "gelu": ["gelu"],
    "silu": ["silu", "silu_"],
    "sigmoid": ["sigmoid", "sigmoid_"],
    "tanh": ["tanh", "tanh_"],
    "exp": ["exp", "exp_"],
    "neg": ["neg", "__neg__"],
    "abs": ["abs"],
    "sqrt": ["sqrt"],
    "rsqrt": ["rsqrt"],
    "reciprocal": ["reciprocal"],
    "pow": ["pow", "__pow__", "__rpow__"],
    "log": ["log"],
    "erf": ["erf"],
    "sin": ["sin"],
    "cos": ["cos"],
    "hardswish": ["hardswish"],
    "hardsigmoid": ["hardsigmoid"],
}
for _kind, _names in _ELEMENTWISE_NAMES.items():
    RULES.update({name: _elementwise(_kind) for name in _names})

# Calls that move or create data and do no arithmetic.
ZERO = frozenset(
    """
view view_as reshape reshape_as permute transpose t flatten unflatten contiguous cat concat concatenate stack
split split_with_sizes chunk narrow select unbind __getitem__ __setitem__ expand expand_as repeat
repeat_interleave unsqueeze squeeze movedim roll flip to type float half bfloat16 double long int bool clone
detach detach_ copy_ zero_ fill_ new_zeros new_ones new_empty new_full new_tensor zeros ones empty full
zeros_like ones_like empty_like full_like arange linspace masked_fill masked_fill_ where triu tril pad embedding
index_select gather scatter normal_ uniform_ randn rand randint randperm requires_grad_ cpu cuda
""".split()
)


# --- the table ---------------------------------------------------------------------------------------


@dataclass
class Row:
    """One call of one module: the functional calls it made itself (not those of its children)."""

    path: str
    type: str
    leaf: bool
    input_shape: str = ""
    output_shape: str = ""
    params: int = 0
    costs: list[tuple[str, Cost, int]] = field(default_factory=list)  # (function, cost, PyTorch's count)
    note: str = ""

    def total(self, attribute: str) -> int:
        return sum(getattr(cost, attribute) for _, cost, _ in self.costs)

    @property
    def backward_flops(self) -> int:
        return sum(cost.grads * cost.flops for _, cost, _ in self.costs)


@dataclass
class LayerCounts:
    model: str
    rows: list[Row]
    unsupported: Counter
    torch_forward: int  # PyTorch's FlopCounterMode over the whole forward pass
    torch_backward: int | None  # and over the backward pass, when training was counted
    train: bool
    parameters: int
    input_elements: int
    output_elements: int

    @property
    def flops(self) -> int:
        return sum(r.total("flops") for r in self.rows)

    @property
    def elementwise_flops(self) -> int:
        return sum(r.total("elementwise_flops") for r in self.rows)

    @property
    def backward_flops(self) -> int:
        return sum(r.backward_flops for r in self.rows)

    @property
    def backward_elementwise_flops(self) -> int:
        return self.elementwise_flops if self.train else 0

    @property
    def macs(self) -> int:
        return self.flops // 2

    def frame(self):
        """The per-layer table as a DataFrame."""
        import pandas as pd

        total = (self.flops + self.elementwise_flops) or 1
        records = []
        for r in self.rows:
            flops, elementwise = r.total("flops"), r.total("elementwise_flops")
            torch_flops = sum(t for _, _, t in r.costs)
            notes = sorted({c.note for _, c, _ in r.costs if c.note} | ({r.note} if r.note else set()))
            if torch_flops != flops and not notes:
                notes.append(f"PyTorch's counter: {torch_flops:,}")
            traffic = r.total("bytes")
            records.append(
                {
                    "path": r.path,
                    "type": r.type,
                    "input": r.input_shape,
                    "output": r.output_shape,
                    "params": r.params,
                    "macs": flops // 2,
                    "core_flops": flops,
                    "elementwise_flops": elementwise,
                    "bytes": traffic,
                    "intensity": (flops + elementwise) / traffic if traffic else None,
                    "backward_flops": r.backward_flops if self.train else None,
                    "share": (flops + elementwise) / total,
                    "torch_flops": torch_flops,
                    "workloads": ", ".join(dict.fromkeys(c.workload for _, c, _ in r.costs)),
                    "calls": ", ".join(dict.fromkeys(name for name, _, _ in r.costs)),
                    "note": "; ".join(notes),
                }
            )
        return pd.DataFrame(records)


def _shape(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return "x".join(map(str, value.shape))
    if isinstance(value, (tuple, list)) and value:
        return _shape(value[0])
    return ""


def _tensors(value: Any):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _traffic(args, kwargs, out) -> int:
    seen, total = set(), 0
    for tensor in (*_tensors(args), *_tensors(kwargs), *_tensors(out)):
        if id(tensor) not in seen:  # x + x reads x once
            seen.add(id(tensor))
            total += tensor.numel() * tensor.element_size()
    return total


class _Counting(TorchFunctionMode):
    def __init__(self, counter: FlopCounterMode, stack: list[Row], unsupported: Counter):
        super().__init__()
        self.counter, self.stack, self.unsupported = counter, stack, unsupported

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        before = self.counter.get_total_flops()
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        rule = RULES.get(name)
        if rule is not None:
            cost = rule(args, kwargs, out)
            if cost is None:
                self.unsupported[name] += 1
            elif self.stack:
                cost.bytes = _traffic(args, kwargs, out)
                self.stack[-1].costs.append((name, cost, self.counter.get_total_flops() - before))
        elif name not in ZERO and not name.startswith("__get") and next(_tensors(out), None) is not None:
            # A call flopbench has no rule for that returns tensors (alone, or in a tuple, list or named tuple).
            self.unsupported[name] += 1
        return out


def count_layers(
    model: nn.Module, inputs: Sequence[torch.Tensor], *, train: bool = False, name: str | None = None
) -> LayerCounts:
    """Run `model(*inputs)` once and count every layer. With train=True, parameters require gradients, the
    backward pass of `output.sum()` runs too, and PyTorch's counter reports it for comparison."""
    rows: list[Row] = []
    stack: list[Row] = []
    unsupported: Counter = Counter()
    names = {module: path for path, module in model.named_modules()}
    leaves = {m for m in names if not any(True for _ in m.children())}
    owners: dict[int, str] = {}  # parameter -> the first layer that used it (tied weights count once)

    def own_parameters(module, path) -> tuple[int, str]:
        count, shared = 0, []
        for parameter in module.parameters(recurse=False):
            if id(parameter) in owners:
                shared.append(owners[id(parameter)])
            else:
                owners[id(parameter)] = path
                count += parameter.numel()
        return count, f"parameters shared with {', '.join(shared)}" if shared else ""

    def pre(module, args):
        path = names[module] or type(module).__name__
        params, note = own_parameters(module, path)
        row = Row(path, type(module).__name__, module in leaves, input_shape=_shape(args), params=params, note=note)
        rows.append(row)
        stack.append(row)

    def post(module, args, output):
        stack.pop().output_shape = _shape(output)

    handles = [m.register_forward_pre_hook(pre) for m in names] + [m.register_forward_hook(post) for m in names]
    model.train(train)
    for parameter in model.parameters():
        parameter.requires_grad_(train)
    try:
        with FlopCounterMode(display=False) as counter:
            with _Counting(counter, stack, unsupported), torch.set_grad_enabled(train):
                output = model(*inputs)
            forward = counter.get_total_flops()
            if train:  # the backward pass of the first tensor the model returns (MHA returns (output, weights))
                first = next(_tensors(output), None)
                if first is not None:
                    first.float().sum().backward()
        torch_backward = counter.get_total_flops() - forward if train else None
    finally:
        for handle in handles:
            handle.remove()
    called = {r.path for r in rows}
    for path, module in model.named_modules():  # parameters of modules never called (e.g. a projection used
        if (path or type(module).__name__) not in called:  # through its weight) go to the nearest caller
            owner = next((r for r in rows if path.startswith(r.path + ".") or r.path == type(model).__name__), None)
            if owner is not None:
                owner.params += own_parameters(module, owner.path)[0]
    kept = [r for r in rows if r.costs or r.params or r.leaf]
    output_elements = sum(t.numel() for t in _tensors(output))
    return LayerCounts(
        name or type(model).__name__,
        kept,
        unsupported,
        forward,
        torch_backward,
        train,
        sum(p.numel() for p in model.parameters()),
        sum(x.numel() for x in inputs),
        output_elements,
    )


def parse_shape(text: str) -> tuple[tuple[int, ...], torch.dtype]:
    """'1,3,224,224' or '1,128:int64' -> (shape, dtype) for count-model's --input."""
    shape_text, _, dtype_text = text.partition(":")
    if not re.fullmatch(r"\d+(,\d+)*", shape_text.replace(" ", "")):
        raise ValueError(f"'{text}' is not a shape; write comma-separated sizes, e.g. 1,3,224,224 (or 1,128:int64)")
    dtypes = {
        "": torch.float32,
        "float32": torch.float32,
        "int64": torch.int64,
        "long": torch.int64,
        "int32": torch.int32,
        "float16": torch.float16,
        "bfloat16": torch.bfloat16,
        "float64": torch.float64,
    }
    if dtype_text not in dtypes:
        raise ValueError(f"'{dtype_text}' in '{text}' is not a dtype; use one of {', '.join(d for d in dtypes if d)}")
    return tuple(int(s) for s in shape_text.split(",")), dtypes[dtype_text]


def record_layers(counted: LayerCounts, dtype: str) -> list[Any]:
    """The counts as a record's layers (flopbench.results.schema.Layer): every module with all its calls in the pass (a
    module called more than once has them all), their FLOPs and compulsory bytes at `dtype`. The counter counts float32
    bytes; integer inputs such as token ids keep their float32-sized count."""
    from flopbench import formulas
    from flopbench.results.schema import Call, Layer

    scale = formulas.DTYPE_BYTES[dtype] / 4
    layers: dict[str, Layer] = {}
    for row in counted.rows:
        if not row.costs:
            continue
        layer = layers.setdefault(row.path, Layer(path=row.path, type=row.type, calls=[]))
        layer.calls += [
            Call(name=name, core_flops=cost.flops, elementwise_flops=cost.elementwise_flops, bytes=cost.bytes * scale)
            for name, cost, _ in row.costs
        ]
    return list(layers.values())
