"""The reference models, by the names suites use (torchvision's names where torchvision has the model)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from flopbench.models import language, vision


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    build: Callable[[dict[str, Any]], nn.Module]  # from the size parameters
    inputs: str  # "image", "tokens", "hidden" or "vector"
    sizes: dict[str, int] = field(default_factory=dict)  # the size keys the model takes, with their defaults
    published_macs: tuple[float, int, str] | None = None  # (MACs, at batch, where the figure comes from)

    def make_inputs(self, p: dict[str, Any], device, dtype, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        b = p["batch"]
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


def _mlp(widths: list[int], activations: list[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, o, act in zip(widths[:-1], widths[1:], activations):
        layers += [nn.Linear(i, o), act]
    return nn.Sequential(*layers)


TORCHVISION = "torchvision model documentation (GFLOPS there are MACs)"

MODELS: dict[str, ModelSpec] = {m.name: m for m in [
    ModelSpec("resnet18", "ResNet-18 (torchvision)", lambda p: vision.resnet18(), "image", {"image_size": 224},
              (1.814e9, 1, TORCHVISION)),
    ModelSpec("resnet50", "ResNet-50 v1.5 (torchvision)", lambda p: vision.resnet50(), "image", {"image_size": 224},
              (4.089e9, 1, TORCHVISION)),
    ModelSpec("mobilenet_v2", "MobileNet-V2 (torchvision)", lambda p: vision.mobilenet_v2(), "image",
              {"image_size": 224}, (0.301e9, 1, TORCHVISION)),
    ModelSpec("vit_b_16", "ViT-B/16 (torchvision)", lambda p: vision.vit_b_16(p["image_size"]), "image",
              {"image_size": 224}, (17.564e9, 1, TORCHVISION)),
    ModelSpec("keras_mlp", "784-100-100-10 MLP with ReLU, ReLU, softmax (the Keras MNIST notebook)",
              lambda p: _mlp([784, 100, 100, 10], [nn.ReLU(), nn.ReLU(), nn.Softmax(dim=-1)]), "vector",
              {"in_features": 784}, (89_400, 1, "Keras notebook: 178,800 core FLOPs")),
    ModelSpec("keras_mlp_small", "784-50-50-10 MLP with ReLU, ReLU, softmax (the Keras MNIST notebook)",
              lambda p: _mlp([784, 50, 50, 10], [nn.ReLU(), nn.ReLU(), nn.Softmax(dim=-1)]), "vector",
              {"in_features": 784}),
    ModelSpec("thop_mlp", "128-64-10 MLP with ReLU (thop's example)",
              lambda p: _mlp([128, 64, 10], [nn.ReLU(), nn.Identity()]), "vector", {"in_features": 128},
              (282_624, 32, "thop's example at batch 32")),
    ModelSpec("gpt2_small", "GPT-2-small-style decoder: pre-norm, causal attention, GELU MLP, tied LM head",
              lambda p: language.GPT2(p["vocab"], max(1024, p["seq_len"]), p["d_model"], p["layers"], p["heads"]),
              "tokens", {"seq_len": 128, "vocab": 50257, "d_model": 768, "layers": 12, "heads": 12}),
    ModelSpec("llama_decoder_layer", "LLaMA-style decoder layer: RMSNorm, rotary embeddings, grouped-query"
              " attention, SwiGLU (default: the 7B layer)",
              lambda p: language.LlamaDecoderLayer(p["d_model"], p["heads"], p["kv_heads"], p["d_ff"]), "hidden",
              {"seq_len": 128, "d_model": 4096, "heads": 32, "kv_heads": 32, "d_ff": 11008}),
    ModelSpec("llama", "LLaMA-style decoder (default: the 7B configuration, for counting)",
              lambda p: language.Llama(p["vocab"], p["d_model"], p["layers"], p["heads"], p["kv_heads"], p["d_ff"]),
              "tokens", {"seq_len": 128, "vocab": 32000, "d_model": 4096, "layers": 32, "heads": 32,
                         "kv_heads": 32, "d_ff": 11008}),
]}
