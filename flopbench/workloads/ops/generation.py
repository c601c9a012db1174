"""Generation as serving engines run it: a decoder's prefill (the prompt, filling a preallocated KV cache) and its
decode steps (one new token per sequence against everything cached), each a workload of its own, so that each phase
gets its FLOPs, bytes, time, roofline place and ledger.

`op = "generate"`, `model` gpt2 (GPT-2 small), llama (a LLaMA-style decoder sized for a CPU) or llama-7b (LLaMA-7B's
shapes: for counting, and `large` runs), `phase` prefill or decode, `batch`, `prompt` (the prompt's tokens), `position`
(a decode step's cache length before it: the prompt and the tokens generated so far; default the prompt), `cache_dtype`
(the cache's own dtype; default the model's). The sizes of a model may be set one by one (d_model, layers, heads,
kv_heads, d_ff, vocab).

Counts are formulas of the shape (flopbench.formulas: generation_flops, generation_bytes; docs/flops.md,
"Generation"); elementwise FLOPs (norms, activations, softmax, rotary, residuals) from the layer counter on the meta
device, as the model op counts them. A decode step reads every weight and the whole cache for a handful of FLOPs per
byte: memory-bound at small batch, whatever its FLOPs say (the study: reading/generation.py).
"""

from __future__ import annotations

import functools
from typing import Any

from flopbench import formulas
from flopbench.errors import SpecError
from flopbench.workloads.base import Counts, Op, register
from flopbench.workloads.params import Choice, Int

PRESETS: dict[str, dict[str, Any]] = {
    "gpt2": dict(style="gpt2", vocab=50257, d_model=768, layers=12, heads=12, kv_heads=12, d_ff=3072, context=1024),
    "llama": dict(style="llama", vocab=8192, d_model=512, layers=8, heads=8, kv_heads=2, d_ff=1408, context=4096),
    "llama-7b": dict(
        style="llama", vocab=32000, d_model=4096, layers=32, heads=32, kv_heads=32, d_ff=11008, context=4096
    ),
}
SIZES = ("d_model", "layers", "heads", "kv_heads", "d_ff", "vocab")
CACHE_DTYPES = ("same", "float32", "bfloat16", "float16")


def shape(p: dict[str, Any]) -> formulas.Decoder:
    preset = PRESETS[p["model"]]
    size = {key: p.get(key) or preset[key] for key in SIZES}
    if preset["style"] == "gpt2" and not p.get("kv_heads"):
        size["kv_heads"] = size["heads"]  # GPT-2's attention has as many key/value heads as query heads
    return formulas.Decoder(
        preset["style"],
        size["vocab"],
        size["d_model"],
        size["layers"],
        size["heads"],
        size["kv_heads"],
        size["d_ff"],
        preset["context"],
    )


def tokens_and_position(p: dict[str, Any]) -> tuple[int, int]:
    """(tokens per sequence this call runs, positions cached before it)."""
    if p["phase"] == "prefill":
        return p["prompt"], 0
    return 1, p["position"] if p["position"] is not None else p["prompt"]


def cache_dtype(p: dict[str, Any], dtype: str) -> str:
    return dtype if p["cache_dtype"] == "same" else p["cache_dtype"]


@functools.lru_cache(maxsize=64)
def _elementwise(key: tuple) -> int:
    """The call's elementwise FLOPs by the layer counter (flopbench.workloads.models.counter) on the meta device."""
    import torch

    from flopbench.workloads.models.counter import count_layers

    p = dict(key)
    t = _build(p, torch.float32, torch.device("meta"), None)
    t["model"].position = tokens_and_position(p)[1]
    return count_layers(t["model"], [t["ids"], t["cache_k"], t["cache_v"]], name="generate").elementwise_flops


def _build(p: dict[str, Any], dtype: Any, device: Any, generator: Any, cache: Any = None) -> dict[str, Any]:
    import torch

    from flopbench.workloads.models.generation import CachedDecoder
    from flopbench.workloads.models.generation import cache as make_cache

    s = shape(p)
    tokens, position = tokens_and_position(p)
    with torch.device(device) if device.type == "meta" else torch.random.fork_rng(devices=[]):
        if device.type != "meta":
            torch.manual_seed(0)  # the same weights on every device and in the reference
        model = CachedDecoder(s.style, s.vocab, s.dim, s.layers, s.heads, s.kv_heads, s.hidden, s.context)
    model = model.to(device=device, dtype=dtype).eval()
    model.position = position
    k, v = make_cache(s.layers, p["batch"], s.kv_heads, s.head_dim, position + tokens, cache or dtype, device)
    if device.type != "meta" and position:  # the prompt and the tokens before: any values of their scale
        k[:, :, :, :position].normal_(generator=generator)
        v[:, :, :, :position].normal_(generator=generator)
    ids = (
        torch.zeros((p["batch"], tokens), dtype=torch.long, device=device)
        if device.type == "meta"
        else torch.randint(0, s.vocab, (p["batch"], tokens), device=device, generator=generator)
    )
    return {"model": model, "ids": ids, "cache_k": k, "cache_v": v}


class Generate(Op):
    name = "generate"
    example = dict(
        model="llama", phase="decode", batch=1, prompt=8, d_model=64, layers=2, heads=4, kv_heads=2, d_ff=96, vocab=128
    )
    family = "generation"
    named_by = "model"
    doc = (
        "A decoder generating with a KV cache: its prefill (the prompt) or one decode step at a cache position;"
        " gpt2 (GPT-2 small), llama (LLaMA-style, CPU-sized) or llama-7b shapes."
    )
    params = (
        Choice("model", choices=tuple(PRESETS)),
        Choice("phase", choices=("prefill", "decode")),
        Int("batch", 1, short="b"),
        Int("prompt", 128, short="p"),
        Int("position", None, short="pos"),
        Choice("cache_dtype", "same", choices=CACHE_DTYPES, short="cache"),
        Int("d_model", None, short="dm"),
        Int("layers", None, short="n"),
        Int("heads", None, short="h"),
        Int("kv_heads", None, short="hkv"),
        Int("d_ff", None, short="dff"),
        Int("vocab", None, short="v"),
    )
    trainable = False

    def validate(self, p):
        s = shape(p)
        if s.dim % s.heads:
            raise SpecError("heads", f"d_model {s.dim} is not divisible by heads {s.heads}")
        if s.heads % s.kv_heads:
            raise SpecError("kv_heads", f"heads {s.heads} is not divisible by kv_heads {s.kv_heads}")
        if p["phase"] == "prefill" and p["position"] is not None:
            raise SpecError("position", "a prefill starts at an empty cache; position is for decode steps")
        tokens, position = tokens_and_position(p)
        if position + tokens > s.context:
            raise SpecError("position", f"{position + tokens} positions exceed {p['model']}'s context of {s.context}")

    def counts(self, p, dtype):
        s = shape(p)
        tokens, position = tokens_and_position(p)
        return Counts(
            flops=formulas.generation_flops(s, p["batch"], tokens, position),
            elementwise_flops=_elementwise(tuple(sorted(p.items()))),
            bytes=formulas.generation_bytes(s, p["batch"], tokens, position, dtype, cache_dtype(p, dtype)),
        )

    def figures(self, counts, judged):
        """Serving's figures beside the usual placement: tokens per second, MFU (core FLOPs over the peak) and MBU
        (the weights and cache a step reads, per second, over the memory roof the run was judged by)."""
        from flopbench.results.schema import GenerationFigures

        p, dtype = judged.params, judged.dtype
        if p is None or dtype is None:  # a callable's record: no workload to read
            return None
        placement = judged.placement
        peak = placement.peak_flops_per_s if placement else None
        roof = placement.dram_bandwidth_bytes_per_s if placement else None
        tokens, position = tokens_and_position(dict(p))
        s = shape(dict(p))
        return GenerationFigures(
            phase=p["phase"],
            tokens_per_s=p["batch"] * tokens / judged.time_s,
            mfu=counts.flops / judged.time_s / peak if peak else None,
            mbu=counts.bytes / judged.time_s / roof if roof else None,
            kv_cache_bytes=formulas.kv_cache_bytes(s, p["batch"], position + tokens, cache_dtype(dict(p), dtype)),
        )

    def record_fields(self, p, dtype):
        from flopbench.results.schema import ModelFields

        return ModelFields(parameters=shape(dict(p)).parameters())

    def derivation(self, p, dtype):
        """The counts term by term (docs/flops.md, "Generation")."""
        from flopbench.units import si

        s = shape(dict(p))
        tokens, position = tokens_and_position(dict(p))
        b = p["batch"]
        linear = 2 * b * tokens * s.layers * s.layer_macs
        attention = formulas.generation_flops(s, b, tokens, position) - linear - 2 * b * s.dim * s.vocab
        pairs = formulas.attention_pairs(tokens, position + tokens, tokens > 1, "bottom_right")
        mlp = "2 x d x d_ff" if s.style == "gpt2" else "3 x d x d_ff"
        cache = formulas.kv_cache_bytes(s, b, position + tokens, cache_dtype(dict(p), dtype))
        dense = s.layers * s.layer_macs + s.dim * s.vocab  # multiply-accumulates per token: the projections, the head
        return [
            f"projections: 2 x {b} x {tokens} tokens x {s.layers} layers x {s.layer_macs:,} MACs (QKV d(d + 2 kv_dim),"
            f" output d^2, MLP {mlp}) = {si(linear, 'FLOP')}",
            f"attention over the cache: 4 x {s.layers} layers x {b} x {s.heads} heads x {s.head_dim} x {pairs:,}"
            f" query-key pairs = {si(attention, 'FLOP')}",
            f"LM head, the last position only: 2 x {b} x {s.dim} x {s.vocab} = {si(2 * b * s.dim * s.vocab, 'FLOP')}",
            f"parameters: {si(s.parameters(), '')}, {si(dense, '')} of them outside the embedding table (the LM head"
            f" in): per token 2 x {si(dense, '')} = {si(2 * dense, 'FLOP')}, before attention",
            f"bytes: the weights read once ({si(s.weights_read(b, tokens) * formulas.DTYPE_BYTES[dtype], 'B')}), the KV"
            f" cache read and written ({si(cache, 'B')}), the ids in and the last logits out",
        ]

    def inputs(self, p, dtype, device, generator):
        from flopbench.workloads.base import torch_dtype

        cache = None if p["cache_dtype"] == "same" else torch_dtype(p["cache_dtype"])
        return _build(p, dtype, device, generator, cache)

    def forward(self, p, t):
        return t["model"](t["ids"], t["cache_k"], t["cache_v"])

    def reference(self, p, t):
        return t["model"](t["ids"], t["cache_k"], t["cache_v"])  # the same decoder in float64, its cache copied

    def small(self, p):
        small = {**p, "batch": min(p["batch"], 2), "prompt": min(p["prompt"], 8)}
        if p["position"] is not None:
            small["position"] = min(p["position"], 8)
        gqa = PRESETS[p["model"]]["style"] == "llama" and shape(p).kv_heads < shape(p).heads
        return {**small, "d_model": 64, "heads": 4, "kv_heads": 2 if gqa else 4, "d_ff": 96, "vocab": 128, "layers": 2}


OPS = register(
    Generate(),
)
