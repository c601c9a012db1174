"""The reference models, by the names suites use (torchvision's names where torchvision has the model)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    build: Callable[[dict[str, Any]], nn.Module]  # from the size parameters
    inputs: str  # "image", "tokens", "hidden" or "vector"
    sizes: dict[str, int] = field(default_factory=dict)  # the size keys the model takes, with their defaults
    published_macs: tuple[float, int, str] | None = None  # (MACs, at batch, where the figure comes from)

    def make_inputs(
        self, p: dict[str, Any], device, dtype, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, ...]:
        import torch

        b = p["batch"]
        shape: tuple[int, ...]
        if self.inputs == "image":
            shape = (b, 3, p["image_size"], p["image_size"])
        elif self.inputs == "vector":
            shape = (b, p["in_features"])
        elif self.inputs == "hidden":
            shape = (b, p["seq_len"], p["d_model"])
        else:
            ids = torch.randint(0, p["vocab"], (b, p["seq_len"]), device=device, generator=generator)
            return (ids,)
        x = torch.randn(shape, device=device, dtype=torch.float32, generator=generator)
        return (x.to(dtype),)


def _mlp(widths: list[int], activations: list[str]) -> Callable[[dict[str, Any]], nn.Module]:
    """An MLP builder: linear layers with the named activation modules (relu, softmax, none) after each."""

    def build(p: dict[str, Any]) -> nn.Module:
        from torch import nn

        make: dict[str, Callable[[], nn.Module]] = {
            "relu": nn.ReLU,
            "softmax": lambda: nn.Softmax(dim=-1),
            "none": nn.Identity,
        }
        layers: list[nn.Module] = []
        for i, o, act in zip(widths[:-1], widths[1:], activations):
            layers += [nn.Linear(i, o), make[act]()]
        return nn.Sequential(*layers)

    return build


def _vision(name: str, *args: str) -> Callable[[dict[str, Any]], nn.Module]:
    def build(p: dict[str, Any]) -> nn.Module:
        from flopbench.workloads.models import vision

        return getattr(vision, name)(*(p[a] for a in args))

    return build


def _gpt2(p: dict[str, Any]) -> nn.Module:
    from flopbench.workloads.models import language

    return language.GPT2(p["vocab"], max(1024, p["seq_len"]), p["d_model"], p["layers"], p["heads"])


def _llama_layer(p: dict[str, Any]) -> nn.Module:
    from flopbench.workloads.models import language

    return language.LlamaDecoderLayer(p["d_model"], p["heads"], p["kv_heads"], p["d_ff"])


def _llama(p: dict[str, Any]) -> nn.Module:
    from flopbench.workloads.models import language

    return language.Llama(p["vocab"], p["d_model"], p["layers"], p["heads"], p["kv_heads"], p["d_ff"])


TORCHVISION = "torchvision model documentation (GFLOPS there are MACs)"

MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in [
        ModelSpec(
            "resnet18",
            "ResNet-18 (torchvision)",
            _vision("resnet18"),
            "image",
            {"image_size": 224},
            (1.814e9, 1, TORCHVISION),
        ),
        ModelSpec(
            "resnet50",
            "ResNet-50 v1.5 (torchvision)",
            _vision("resnet50"),
            "image",
            {"image_size": 224},
            (4.089e9, 1, TORCHVISION),
        ),
        ModelSpec(
            "mobilenet_v2",
            "MobileNet-V2 (torchvision)",
            _vision("mobilenet_v2"),
            "image",
            {"image_size": 224},
            (0.301e9, 1, TORCHVISION),
        ),
        ModelSpec(
            "vit_b_16",
            "ViT-B/16 (torchvision)",
            _vision("vit_b_16", "image_size"),
            "image",
            {"image_size": 224},
            (17.564e9, 1, TORCHVISION),
        ),
        ModelSpec(
            "keras_mlp",
            "784-100-100-10 MLP with ReLU, ReLU, softmax (the Keras MNIST notebook)",
            _mlp([784, 100, 100, 10], ["relu", "relu", "softmax"]),
            "vector",
            {"in_features": 784},
            (89_400, 1, "Keras notebook: 178,800 core FLOPs"),
        ),
        ModelSpec(
            "keras_mlp_small",
            "784-50-50-10 MLP with ReLU, ReLU, softmax (the Keras MNIST notebook)",
            _mlp([784, 50, 50, 10], ["relu", "relu", "softmax"]),
            "vector",
            {"in_features": 784},
        ),
        ModelSpec(
            "thop_mlp",
            "128-64-10 MLP with ReLU (thop's example)",
            _mlp([128, 64, 10], ["relu", "none"]),
            "vector",
            {"in_features": 128},
            (282_624, 32, "thop's example at batch 32"),
        ),
        ModelSpec(
            "gpt2_small",
            "GPT-2-small-style decoder: pre-norm, causal attention, GELU MLP, tied LM head",
            _gpt2,
            "tokens",
            {"seq_len": 128, "vocab": 50257, "d_model": 768, "layers": 12, "heads": 12},
        ),
        ModelSpec(
            "llama_decoder_layer",
            "LLaMA-style decoder layer: RMSNorm, rotary embeddings, grouped-query"
            " attention, SwiGLU (default: the 7B layer)",
            _llama_layer,
            "hidden",
            {"seq_len": 128, "d_model": 4096, "heads": 32, "kv_heads": 32, "d_ff": 11008},
        ),
        ModelSpec(
            "llama",
            "LLaMA-style decoder (default: the 7B configuration, for counting)",
            _llama,
            "tokens",
            {"seq_len": 128, "vocab": 32000, "d_model": 4096, "layers": 32, "heads": 32, "kv_heads": 32, "d_ff": 11008},
        ),
    ]
}
