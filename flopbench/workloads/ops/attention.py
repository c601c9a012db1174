"""Attention and transformer blocks: the SDPA core, multi-head attention, FFN and a whole layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flopbench import formulas
from flopbench.errors import SpecError
from flopbench.workloads.base import Counts, Op, implementation, register
from flopbench.workloads.params import Bool, Choice, Int

if TYPE_CHECKING:
    import torch

    from flopbench.workloads import reference as ref


class Attention(Op):
    name = "attention"
    example = dict(batch=2, heads=4, kv_heads=2, seq_len=20, kv_seq_len=24, head_dim=16, causal=True)
    family = "attention"
    impls = (*Op.impls, "sdpa-math", "sdpa-flash", "sdpa-efficient", "sdpa-cudnn")
    sdpa = True
    doc = (
        "Scaled dot-product attention core, softmax(Q K^T / sqrt(d)) V. Core FLOPs = 2*batch*heads*pairs*(head_dim"
        " + head_dim_v) with pairs = seq_len*kv_seq_len, or only the unmasked pairs when causal (aligned top-left as"
        " PyTorch's is_causal, or bottom-right as FlashAttention and causal_lower_right: a decode step attends"
        " kv_seq_len pairs)."
    )
    params = (
        Int("batch", short="b"),
        Int("heads", short="h"),
        Int("seq_len", short="l", doc="query length"),
        Int("kv_seq_len", None, short="lkv", doc="key/value length (default: seq_len)"),
        Int("head_dim", short="d", doc="query and key head size (d_k)"),
        Int("head_dim_v", None, short="dv", doc="value head size (d_v; default: head_dim)"),
        Int("kv_heads", None, short="hkv", doc="key/value heads (default: heads; fewer is grouped-query attention)"),
        Bool("causal", False),
        Choice(
            "causal_alignment",
            "top_left",
            short="align",
            choices=formulas.ALIGNMENTS,
            doc="where a causal mask's diagonal sits: top_left (query i sees keys 0..i) or bottom_right (the"
            " queries are the last seq_len of kv_seq_len positions)",
        ),
    )

    def complete(self, p):
        if p["kv_seq_len"] is None:
            p["kv_seq_len"] = p["seq_len"]
        if p["kv_heads"] is None:
            p["kv_heads"] = p["heads"]
        if p["head_dim_v"] is None:
            p["head_dim_v"] = p["head_dim"]

    def validate(self, p):
        if p["heads"] % p["kv_heads"]:
            raise SpecError(
                "kv_heads",
                f"heads {p['heads']} is not divisible by kv_heads {p['kv_heads']};"
                f" each key/value head must serve a whole group of query heads",
            )
        if p["causal"] and p["causal_alignment"] == "bottom_right" and p["seq_len"] > p["kv_seq_len"]:
            raise SpecError(
                "causal_alignment",
                f"bottom_right with seq_len {p['seq_len']} > kv_seq_len {p['kv_seq_len']} leaves the first queries"
                f" no key to attend; use top_left, or a seq_len up to kv_seq_len",
            )

    def _shape(self, p):
        return tuple(p[k] for k in ("batch", "heads", "kv_heads", "seq_len", "kv_seq_len", "head_dim", "head_dim_v"))

    def parallel_work(self, p, device_type):
        """Query blocks per head: batch x heads x ceil(seq_len / block), the way flash-style kernels split it (128
        queries a block on a GPU, 64 on a CPU): a short sequence with few heads keeps few SMs busy (decode)."""
        from flopbench.workloads.parallel import Work

        block = 128 if device_type == "cuda" else 64
        blocks = p["batch"] * p["heads"] * -(-p["seq_len"] // block)
        return Work(blocks, f"query blocks of {block}", f"batch x heads x query blocks of {block} assumed")

    def counts(self, p, dtype):
        b, h, hkv, lq, lk, d, dv = self._shape(p)
        causal, align = p["causal"], p["causal_alignment"]
        return Counts(
            flops=formulas.attention_flops(b, h, lq, lk, d, causal, align, dv),
            elementwise_flops=formulas.attention_elementwise_flops(b, h, lq, lk, causal, align),
            bytes=(b * h * lq * (d + dv) + b * hkv * lk * (d + dv)) * formulas.DTYPE_BYTES[dtype],
        )

    def inputs(self, p, dtype, device, generator):
        from flopbench.workloads.check import randn

        b, h, hkv, lq, lk, d, dv = self._shape(p)
        tensors = {
            "q": randn((b, h, lq, d), dtype, device, generator),
            "k": randn((b, hkv, lk, d), dtype, device, generator),
            "v": randn((b, hkv, lk, dv), dtype, device, generator),
        }
        if p["causal"] and p["causal_alignment"] == "bottom_right":
            from torch.nn.attention.bias import causal_lower_right

            tensors["mask"] = causal_lower_right(lq, lk)  # lets SDPA pick a fused causal kernel
        return tensors

    def forward(self, p, t):
        from flopbench.workloads import reference as ref

        gqa = p["kv_heads"] != p["heads"]
        if "mask" in t:
            return ref.LIBRARY.sdpa(t["q"], t["k"], t["v"], attn_mask=t["mask"], enable_gqa=gqa)
        return ref.LIBRARY.sdpa(t["q"], t["k"], t["v"], is_causal=p["causal"], enable_gqa=gqa)

    @implementation("flex")
    def flex(self, p, t):
        """FlexAttention on the same tensors: the causal mask as a block mask (aligned as the workload says)."""
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        q, k, v = t["q"], t["k"], t["v"]
        mask = None
        if p["causal"]:
            offset = p["kv_seq_len"] - p["seq_len"] if p["causal_alignment"] == "bottom_right" else 0

            def causal(batch, head, query, key):
                return query + offset >= key

            mask = create_block_mask(causal, None, None, p["seq_len"], p["kv_seq_len"], device=str(q.device))
        gqa = p["kv_heads"] != p["heads"]
        return lambda: flex_attention(q, k, v, block_mask=mask, enable_gqa=gqa)

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        return ref.attention(t["q"], t["k"], t["v"], p["causal"], p["causal_alignment"])

    def small(self, p):
        kv_heads = min(p["kv_heads"], 2)
        small = {
            **p,
            "batch": 1,
            "kv_heads": kv_heads,
            "heads": kv_heads * min(p["heads"] // p["kv_heads"], 3),
            "seq_len": min(p["seq_len"], 40),
            "kv_seq_len": min(p["kv_seq_len"], 48),
            "head_dim": min(p["head_dim"], 64),
            "head_dim_v": min(p["head_dim_v"], 64),
        }
        if p["causal_alignment"] == "bottom_right":  # keep the queries the last positions of the keys
            small["seq_len"] = min(small["seq_len"], small["kv_seq_len"])
        return small


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, length, d = x.shape
    return x.view(b, length, heads, d // heads).transpose(1, 2)


class MHA(Op):
    name = "mha"
    example = dict(batch=2, seq_len=12, d_model=32, heads=4)
    family = "attention"
    doc = (
        "Multi-head self-attention block: Q, K, V and output projections around the attention core. "
        "Non-causal core FLOPs = 8*B*L*d^2 + 4*B*L^2*d."
    )
    params = (
        Int("batch", short="b"),
        Int("seq_len", short="l"),
        Int("d_model", short="dm"),
        Int("heads", short="h"),
        Bool("causal", False),
        Bool("bias", True),
    )

    def validate(self, p):
        if p["d_model"] % p["heads"]:
            raise SpecError("heads", f"d_model {p['d_model']} is not divisible by heads {p['heads']}")

    def weight_count(self, p) -> int:
        d = p["d_model"]
        return 4 * d * d + (4 * d if p["bias"] else 0)

    def counts(self, p, dtype):
        b, length, d, h = p["batch"], p["seq_len"], p["d_model"], p["heads"]
        tokens = b * length
        flops = 4 * formulas.matmul_flops(tokens, d, d) + formulas.attention_flops(
            b, h, length, length, d // h, p["causal"]
        )
        elementwise = formulas.attention_elementwise_flops(b, h, length, length, p["causal"])
        if p["bias"]:
            elementwise += 4 * formulas.elementwise_flops("bias", tokens * d)
        return Counts(
            flops=flops,
            elementwise_flops=elementwise,
            bytes=(2 * tokens * d + self.weight_count(p)) * formulas.DTYPE_BYTES[dtype],
        )

    def inputs(self, p, dtype, device, generator, prefix: str = ""):
        from flopbench.workloads.check import randn, weight

        d = p["d_model"]
        tensors = {} if prefix else {"x": randn((p["batch"], p["seq_len"], d), dtype, device, generator)}
        for name in ("q", "k", "v", "o"):
            tensors[f"{prefix}w{name}"] = weight((d, d), d, dtype, device, generator)
            if p["bias"]:
                tensors[f"{prefix}b{name}"] = randn((d,), dtype, device, generator, std=0.1)
        return tensors

    def attend(self, p, t, x, fns: ref.Fns, prefix: str = ""):
        h = p["heads"]
        q, k, v = (_split_heads(fns.linear(x, t[f"{prefix}w{n}"], t.get(f"{prefix}b{n}")), h) for n in "qkv")
        o = fns.sdpa(q, k, v, is_causal=p["causal"])
        o = o.transpose(1, 2).reshape(x.shape)
        return fns.linear(o, t[f"{prefix}wo"], t.get(f"{prefix}bo"))

    def forward(self, p, t):
        from flopbench.workloads import reference as ref

        return self.attend(p, t, t["x"], ref.LIBRARY)

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        return self.attend(p, t, t["x"], ref.REFERENCE)

    def small(self, p):
        heads = min(p["heads"], 4)
        return {
            **p,
            "batch": 1,
            "seq_len": min(p["seq_len"], 24),
            "heads": heads,
            "d_model": heads * min(p["d_model"] // p["heads"], 16),
        }


class FFN(Op):
    name = "ffn"
    example = dict(batch=2, seq_len=6, d_model=16, gated=True)
    family = "attention"
    doc = (
        "Transformer feed-forward block: x W1 -> GELU -> W2 (4*B*L*d*d_ff FLOPs), or gated (SwiGLU: "
        "silu(x Wg) * (x Wu) -> W2, three matmuls, 6*B*L*d*d_ff)."
    )
    params = (
        Int("batch", short="b"),
        Int("seq_len", short="l"),
        Int("d_model", short="dm"),
        Int("d_ff", None, short="dff", doc="hidden width (default 4*d_model)"),
        Bool("gated", False),
        Bool("bias", True),
    )

    def complete(self, p):
        if p["d_ff"] is None:
            p["d_ff"] = 4 * p["d_model"]

    def _mats(self, p) -> int:
        return 3 if p["gated"] else 2

    def weight_count(self, p) -> int:
        d, dff = p["d_model"], p["d_ff"]
        bias = (self._mats(p) - 1) * dff + d if p["bias"] else 0
        return self._mats(p) * d * dff + bias

    def counts(self, p, dtype):
        tokens, d, dff = p["batch"] * p["seq_len"], p["d_model"], p["d_ff"]
        flops = self._mats(p) * formulas.matmul_flops(tokens, dff, d)
        hidden = tokens * dff
        if p["gated"]:
            elementwise = formulas.elementwise_flops("silu", hidden) + formulas.elementwise_flops("mul", hidden)
        else:
            elementwise = formulas.elementwise_flops("gelu", hidden)
        if p["bias"]:
            elementwise += formulas.elementwise_flops("bias", (self._mats(p) - 1) * hidden + tokens * d)
        return Counts(
            flops=flops,
            elementwise_flops=elementwise,
            bytes=(2 * tokens * d + self.weight_count(p)) * formulas.DTYPE_BYTES[dtype],
        )

    def inputs(self, p, dtype, device, generator, prefix: str = ""):
        from flopbench.workloads.check import randn, weight

        d, dff = p["d_model"], p["d_ff"]
        tensors = {} if prefix else {"x": randn((p["batch"], p["seq_len"], d), dtype, device, generator)}
        shapes = {"w1": ((dff, d), d), "w2": ((d, dff), dff)}
        if p["gated"]:
            shapes["wu"] = ((dff, d), d)
        for name, (shape, fan_in) in shapes.items():
            tensors[prefix + name] = weight(shape, fan_in, dtype, device, generator)
            if p["bias"]:
                tensors[prefix + "b" + name[1:]] = randn((shape[0],), dtype, device, generator, std=0.1)
        return tensors

    def apply(self, p, t, x, fns: ref.Fns, prefix: str = ""):
        def linear(name):
            return fns.linear(x, t[prefix + "w" + name], t.get(prefix + "b" + name))

        if p["gated"]:
            hidden = fns.activation(linear("1"), "silu") * linear("u")
        else:
            hidden = fns.activation(linear("1"), "gelu")
        return fns.linear(hidden, t[prefix + "w2"], t.get(prefix + "b2"))

    def forward(self, p, t):
        from flopbench.workloads import reference as ref

        return self.apply(p, t, t["x"], ref.LIBRARY)

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        return self.apply(p, t, t["x"], ref.REFERENCE)

    def small(self, p):
        return {
            **p,
            "batch": 1,
            "seq_len": min(p["seq_len"], 16),
            "d_model": min(p["d_model"], 32),
            "d_ff": min(p["d_ff"], 64),
        }


class TransformerLayer(Op):
    name = "transformer_layer"
    example = dict(batch=1, seq_len=10, d_model=32, heads=4, causal=True)
    family = "attention"
    doc = (
        "Pre-norm transformer layer: x + MHA(LN(x)), then + FFN(LN(.)). Non-causal, d_ff = 4d: "
        "core FLOPs = 4*B*L^2*d + 24*B*L*d^2."
    )
    params = (
        Int("batch", short="b"),
        Int("seq_len", short="l"),
        Int("d_model", short="dm"),
        Int("heads", short="h"),
        Int("d_ff", None, short="dff", doc="FFN hidden width (default 4*d_model)"),
        Bool("causal", False),
        Bool("gated", False),
        Bool("bias", True),
    )
    mha = MHA()
    ffn = FFN()
    eps = 1e-5

    def _parts(self, p):
        mha = {k: p[k] for k in self.mha.keys}
        ffn = {k: p[k] for k in self.ffn.keys}
        return mha, ffn

    def complete(self, p):
        self.ffn.complete(p)

    def validate(self, p):
        self.mha.validate(self._parts(p)[0])

    def counts(self, p, dtype):
        mha, ffn = self._parts(p)
        a, f = self.mha.counts(mha, dtype), self.ffn.counts(ffn, dtype)
        tokens, d = p["batch"] * p["seq_len"], p["d_model"]
        norms_and_residuals = 2 * formulas.norm_flops("layernorm", tokens, d) + 2 * formulas.elementwise_flops(
            "residual", tokens * d
        )
        weights = self.mha.weight_count(mha) + self.ffn.weight_count(ffn) + 4 * d  # two LayerNorms: gamma, beta
        return Counts(
            flops=a.flops + f.flops,
            elementwise_flops=a.elementwise_flops + f.elementwise_flops + norms_and_residuals,
            bytes=(2 * tokens * d + weights) * formulas.DTYPE_BYTES[dtype],
        )

    def inputs(self, p, dtype, device, generator):
        from flopbench.workloads.check import randn

        mha, ffn = self._parts(p)
        d = p["d_model"]
        tensors = {"x": randn((p["batch"], p["seq_len"], d), dtype, device, generator)}
        tensors.update(self.mha.inputs(mha, dtype, device, generator, prefix="attn_"))
        tensors.update(self.ffn.inputs(ffn, dtype, device, generator, prefix="ffn_"))
        for norm in ("ln1", "ln2"):
            tensors[f"{norm}_w"] = 1 + randn((d,), dtype, device, generator, std=0.1)
            tensors[f"{norm}_b"] = randn((d,), dtype, device, generator, std=0.1)
        return tensors

    def _layer(self, p, t, fns: ref.Fns):
        mha, ffn = self._parts(p)
        x = t["x"]
        h = x + self.mha.attend(mha, t, fns.layer_norm(x, t["ln1_w"], t["ln1_b"], self.eps), fns, "attn_")
        return h + self.ffn.apply(ffn, t, fns.layer_norm(h, t["ln2_w"], t["ln2_b"], self.eps), fns, "ffn_")

    def forward(self, p, t):
        from flopbench.workloads import reference as ref

        return self._layer(p, t, ref.LIBRARY)

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        return self._layer(p, t, ref.REFERENCE)

    def small(self, p):
        heads = min(p["heads"], 4)
        return {
            **p,
            "batch": 1,
            "seq_len": min(p["seq_len"], 16),
            "heads": heads,
            "d_model": heads * min(p["d_model"] // p["heads"], 8),
            "d_ff": min(p["d_ff"], 64),
        }


OPS = register(Attention(), MHA(), FFN(), TransformerLayer())
