"""Fusion chains: short chains of ops as people write them, whose point is traffic. Each counts its FLOPs exactly
and carries two byte counts (flopbench.formulas): the compulsory bytes (inputs once, the output once: what a fused
kernel moves) and the eager traffic (op by op, every intermediate written and read again). Run eager they move the
second; compiled (flopbench.workloads.impls) they can move the first, for the same FLOPs.

- ln_gelu_residual: y = gelu(layer_norm(x) * gamma + beta) + x, a transformer block's norm, affine, activation and
  residual;
- linear_bias_gelu: y = gelu(x @ W^T + b), the bias and activation after a linear, written apart;
- attention_by_hand: softmax(Q K^T / sqrt(d)) V as written by hand, the scores materialized.
"""

from __future__ import annotations

import math

from flopbench import formulas
from flopbench.workloads.base import Counts, Op, register
from flopbench.workloads.params import Int

EPS = 1e-5


def _bytes(elements: int, dtype: str) -> int:
    return elements * formulas.DTYPE_BYTES[dtype]


class LnGeluResidual(Op):
    name = "ln_gelu_residual"
    example = dict(rows=6, cols=40)
    family = "fusion"
    doc = (
        "y = gelu(layer_norm(x) * gamma + beta) + x over a rows x cols matrix, op by op: 13 FLOPs per element and 4"
        " per row; eager traffic 11 rc + 2c + 2r elements against 2 rc + 2c compulsory."
    )
    params = (Int("rows", short="r"), Int("cols", short="c"))

    def counts(self, p, dtype):
        flops, compulsory, eager, _ = formulas.ln_gelu_residual(p["rows"], p["cols"])
        return Counts(0, flops, _bytes(compulsory, dtype), _bytes(eager, dtype))

    def working_set(self, p, dtype, impl="eager"):
        return _bytes(formulas.ln_gelu_residual(p["rows"], p["cols"])[3], dtype) if impl == "eager" else None

    def inputs(self, p, dtype, device, generator):
        from flopbench.workloads.check import randn

        cols = p["cols"]
        return {
            "x": randn((p["rows"], cols), dtype, device, generator),
            "gamma": 1 + randn((cols,), dtype, device, generator, std=0.1),
            "beta": randn((cols,), dtype, device, generator, std=0.1),
        }

    def forward(self, p, t):
        import torch.nn.functional as F

        x = t["x"]
        return F.gelu(F.layer_norm(x, (p["cols"],), eps=EPS) * t["gamma"] + t["beta"]) + x

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        x = t["x"]
        return ref.activation(ref.layer_norm(x, t["gamma"], t["beta"], EPS), "gelu") + x

    def small(self, p):
        return {**p, "rows": min(p["rows"], 16), "cols": min(p["cols"], 256)}


class LinearBiasGelu(Op):
    name = "linear_bias_gelu"
    example = dict(tokens=5, in_features=12, out_features=7)
    family = "fusion"
    doc = (
        "y = gelu(x @ W^T + b) for `tokens` rows, the product, the bias add and GELU op by op: core FLOPs"
        " 2*tokens*in*out, 6 elementwise FLOPs per output; eager traffic writes and reads the product twice more."
    )
    params = (
        Int("tokens", short="t"),
        Int("in_features", short="in"),
        Int("out_features", short="out"),
    )

    def counts(self, p, dtype):
        core, elementwise, compulsory, eager, _ = formulas.linear_bias_gelu(
            p["tokens"], p["in_features"], p["out_features"]
        )
        return Counts(core, elementwise, _bytes(compulsory, dtype), _bytes(eager, dtype))

    def working_set(self, p, dtype, impl="eager"):
        if impl != "eager":
            return None
        return _bytes(formulas.linear_bias_gelu(p["tokens"], p["in_features"], p["out_features"])[4], dtype)

    def inputs(self, p, dtype, device, generator):
        from flopbench.workloads.check import randn, weight

        t, i, o = p["tokens"], p["in_features"], p["out_features"]
        return {
            "x": randn((t, i), dtype, device, generator),
            "w": weight((o, i), i, dtype, device, generator),
            "b": randn((o,), dtype, device, generator, std=0.1),
        }

    def forward(self, p, t):
        import torch.nn.functional as F

        return F.gelu(t["x"] @ t["w"].t() + t["b"])

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        return ref.activation(ref.linear(t["x"], t["w"], t["b"]), "gelu")

    def small(self, p):
        return {
            **p,
            "tokens": min(p["tokens"], 32),
            "in_features": min(p["in_features"], 96),
            "out_features": min(p["out_features"], 48),
        }


class AttentionByHand(Op):
    name = "attention_by_hand"
    example = dict(batch=1, heads=2, seq_len=12, head_dim=8)
    family = "fusion"
    doc = (
        "softmax(Q K^T / sqrt(d)) V written op by op (not causal), the scores materialized: the FLOPs of the attention"
        " op, eager traffic 4 bhld + 6 bhl^2 elements against 4 bhld compulsory."
    )
    params = (
        Int("batch", short="b"),
        Int("heads", short="h"),
        Int("seq_len", short="l"),
        Int("head_dim", short="d"),
    )

    def _shape(self, p):
        return p["batch"], p["heads"], p["seq_len"], p["head_dim"]

    def counts(self, p, dtype):
        core, elementwise, compulsory, eager, _ = formulas.attention_by_hand(*self._shape(p))
        return Counts(core, elementwise, _bytes(compulsory, dtype), _bytes(eager, dtype))

    def working_set(self, p, dtype, impl="eager"):
        return _bytes(formulas.attention_by_hand(*self._shape(p))[4], dtype) if impl == "eager" else None

    def inputs(self, p, dtype, device, generator):
        from flopbench.workloads.check import randn

        b, h, length, d = self._shape(p)
        return {key: randn((b, h, length, d), dtype, device, generator) for key in ("q", "k", "v")}

    def forward(self, p, t):
        scores = t["q"] @ t["k"].transpose(-2, -1)
        scores = scores * (1 / math.sqrt(p["head_dim"]))
        return scores.softmax(-1) @ t["v"]

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        return ref.attention(t["q"], t["k"], t["v"], False, "top_left")

    def small(self, p):
        return {**p, "batch": 1, "heads": min(p["heads"], 2), "seq_len": min(p["seq_len"], 40)}


OPS = register(LnGeluResidual(), LinearBiasGelu(), AttentionByHand())
