"""Whole networks as workloads: `op = "model"` with a model name from flopbench.workloads.models, a batch, and the
size keys that model takes. Counts come from the per-layer counter (flopbench.workloads.models.counter); with
train = true the timed function is a training step (forward and backward, no optimizer)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from flopbench import formulas
from flopbench.errors import SpecError
from flopbench.workloads.base import Counts, Op, register
from flopbench.workloads.models import MODELS
from flopbench.workloads.params import Bool, Choice, Int

if TYPE_CHECKING:
    from flopbench.results.schema import Layer
    from flopbench.workloads.models.counter import LayerCounts

SIZE_KEYS = ("image_size", "seq_len", "d_model", "layers", "heads", "kv_heads", "d_ff", "vocab")


def _sizes(p: dict[str, Any]) -> dict[str, Any]:
    """The parameters with the model's fixed sizes (an MLP's input width) added."""
    return {**MODELS[p["model"]].sizes, **p}


@functools.lru_cache(maxsize=64)
def _layer_counts(key: tuple) -> LayerCounts:
    import torch

    from flopbench.workloads.models.counter import count_layers  # the counter maps calls to workloads: import it late

    p = _sizes(dict(key))
    spec = MODELS[p["model"]]
    meta = torch.device("meta")
    with torch.device(meta):  # shapes only: a 7B configuration costs nothing to count
        model = spec.build(p)
    return count_layers(model, spec.make_inputs(p, meta, torch.float32, None), train=p["train"], name=p["model"])


def layer_counts(p: dict[str, Any]) -> LayerCounts:
    return _layer_counts(tuple(sorted(p.items())))


def model_layers(p: dict[str, Any], dtype: str) -> list[Layer]:
    """Every module of a model's forward pass with its calls and their costs at `dtype` (counter.record_layers)."""
    from flopbench.workloads.models.counter import record_layers

    return record_layers(layer_counts(dict(p)), dtype)


def convention_flops(p: dict[str, Any]) -> dict[str, int] | None:
    """A transformer's contraction FLOPs under PaLM's formula and with causal attention as the full square (None
    for models without attention heads)."""
    if p.get("heads") is None or p.get("seq_len") is None:
        return None
    counted = layer_counts(dict(p))
    train = bool(p["train"])
    embedding = sum(r.params for r in counted.rows if r.type == "Embedding")
    layers, heads, seq_len = p.get("layers") or 1, p["heads"], p["seq_len"]
    head_dim = p["d_model"] // heads
    core = counted.flops + (counted.backward_flops if train else 0)
    return {
        "palm": formulas.palm_flops(
            counted.parameters - embedding, layers, heads, head_dim, seq_len, p["batch"] * seq_len, train
        ),
        "full_square": core + formulas.masked_attention_flops(p["batch"], layers, heads, head_dim, seq_len, train),
    }


class Model(Op):
    name = "model"
    example = dict(model="keras_mlp", batch=2)
    family = "model"
    named_by = "model"
    doc = (
        "A whole network (ResNet-18/50, MobileNet-V2, ViT-B/16, MLPs, GPT-2-small, LLaMA-style), counted layer"
        " by layer; train = true times and counts a training step (backward = 2x forward for contractions)."
    )
    params = (
        Choice("model", choices=tuple(MODELS)),
        Int("batch", 1, short="b"),
        Int("image_size", None, short="px"),
        Int("seq_len", None, short="l"),
        Int("d_model", None, short="dm"),
        Int("layers", None, short="n"),
        Int("heads", None, short="h"),
        Int("kv_heads", None, short="hkv"),
        Int("d_ff", None, short="dff"),
        Int("vocab", None, short="v"),
        Bool("train", False),
    )

    def complete(self, p):
        spec = MODELS[p["model"]]
        for key in SIZE_KEYS:
            if key not in spec.sizes:
                if p[key] is not None:
                    takes = ", ".join(k for k in SIZE_KEYS if k in spec.sizes) or "only batch and train"
                    raise SpecError(key, f"does not apply to model {spec.name}; it takes {takes}")
            elif p[key] is None:
                p[key] = spec.sizes[key]

    def validate(self, p):
        if p["model"] == "vit_b_16" and p["image_size"] % 16:
            raise SpecError("image_size", f"{p['image_size']} is not a multiple of the 16-pixel patch")
        if p["image_size"] is not None and p["image_size"] < 16:
            raise SpecError("image_size", f"{p['image_size']} is too small for {p['model']}; use 16 or more")
        if p["heads"] is not None and p["d_model"] % p["heads"]:
            raise SpecError("heads", f"d_model {p['d_model']} is not divisible by heads {p['heads']}")
        if p["kv_heads"] is not None and p["heads"] % p["kv_heads"]:
            raise SpecError("kv_heads", f"heads {p['heads']} is not divisible by kv_heads {p['kv_heads']}")

    def counts(self, p, dtype):
        layers = layer_counts(dict(p))
        size = formulas.DTYPE_BYTES[dtype]
        train = p["train"]
        inputs = layers.input_elements * (8 if MODELS[p["model"]].inputs == "tokens" else size)
        # Compulsory traffic: inputs, parameters (and, training, their gradients written) and outputs.
        traffic = inputs + (layers.parameters * (2 if train else 1) + layers.output_elements) * size
        return Counts(
            flops=layers.flops + (layers.backward_flops if train else 0),
            elementwise_flops=layers.elementwise_flops + layers.backward_elementwise_flops,
            bytes=traffic,
        )

    def training_counts(self, p, dtype):
        """A model's training step is its own workload (train = true): counted layer by layer (docs/flops.md)."""
        return self.counts({**p, "train": True}, dtype)

    def figures(self, counts, judged):
        """Model FLOP utilization beside the usual placement: the contractions only, forward (and backward when
        training), over the peak."""
        from flopbench.results.schema import ModelFigures

        peak = judged.placement.peak_flops_per_s if judged.placement else None
        return ModelFigures(mfu=counts.flops / judged.time_s / peak if peak else None)

    def record_fields(self, p, dtype):
        """Every layer's calls with their costs, so that views read the layer-wise roofline from the record; the FLOP
        convention, and the same step's FLOPs under the other conventions MFU is quoted in."""
        from flopbench.results.schema import ModelFields

        return ModelFields(
            layers=model_layers(p, dtype),
            layers_source="flopbench run",
            flop_convention=formulas.FLOP_CONVENTIONS["flopbench"],
            convention_flops=convention_flops(p),
            parameters=layer_counts(dict(p)).parameters,
        )

    def profile(self, p, dtype, device, roofline, key):
        """The model's layers with their measured times (flopbench.workloads.models.profile), and how its time
        splits."""
        import torch

        from flopbench.workloads.base import torch_dtype
        from flopbench.workloads.models.profile import profile_model, to_record

        device = torch.device(device)
        t = self.inputs(p, torch_dtype(dtype), device, torch.Generator(device=device).manual_seed(0))
        counted = layer_counts(dict(p))
        measured = profile_model(
            t["model"],
            [t["x"]],
            dtype=dtype,
            train=p["train"],
            roofline=roofline,
            key=key,
            counted=counted,
            name=p["model"],
        )
        layers, split = to_record(measured, counted, dtype)
        from flopbench.results.schema import ModelFields

        return ModelFields(layers=layers, profile=split)

    def inputs(self, p, dtype, device, generator):
        import torch

        spec = MODELS[p["model"]]
        with torch.random.fork_rng(devices=[]):  # the same weights on every device and in the reference
            torch.manual_seed(0)
            model = spec.build(_sizes(p))
        model = model.to(device=device, dtype=dtype).eval()
        return {"model": model, "x": spec.make_inputs(_sizes(p), device, dtype, generator)[0]}

    def forward(self, p, t):
        return t["model"](t["x"])

    def reference(self, p, t):
        return t["model"](t["x"])  # the same network in float64 on the CPU; each layer's kernel is checked alone

    def timed(self, p, t):
        import torch

        if not p["train"]:
            return super().timed(p, t)
        model, x = t["model"], t["x"]
        model.train()
        parameters = list(model.parameters())

        def step():
            # Every step starts and ends without gradients (as a loop that zeroes them with set_to_none does, the
            # freeing moved to the step's end): what a step holds at its peak beyond the model and its input is then
            # all its own, activations and gradients (flopbench.measuring.footprint), on a CPU and on CUDA alike.
            with torch.enable_grad():
                model(x).float().sum().backward()
            for parameter in parameters:
                parameter.grad = None

        return step

    def small(self, p):
        small = {**p, "batch": min(p["batch"], 2)}
        if p["image_size"] is not None:
            small["image_size"] = 32
        if p["seq_len"] is not None:
            small["seq_len"] = min(p["seq_len"], 8)
        if p["d_model"] is not None:
            kv_heads = min(p["kv_heads"] or p["heads"], 2)
            heads = kv_heads * min(p["heads"] // (p["kv_heads"] or p["heads"]), 2)
            small.update(d_model=16 * heads, heads=heads)
            if p["kv_heads"] is not None:
                small["kv_heads"] = kv_heads
        for key, cap in (("d_ff", 96), ("layers", 2), ("vocab", 128)):
            if p[key] is not None:
                small[key] = min(p[key], cap)
        return small


OPS = register(
    Model(),
)
