"""Norms beyond layer norm, pooling and embedding lookups: memory-bound layers every network has.

Counted with the same formulas the model counter uses for the calls inside a network (formulas.py), so a layer
counted alone and inside a model agree.
"""

from __future__ import annotations

import math

from flopbench import formulas
from flopbench.errors import SpecError
from flopbench.workloads.base import Counts, Op, register
from flopbench.workloads.params import Bool, Choice, Int

EPS = 1e-5


def _image(p) -> tuple[int, ...]:
    return (p["batch"], p["channels"], p["height"], p["width"])


class RMSNorm(Op):
    name = "rmsnorm"
    example = dict(rows=8, cols=100)
    family = "elementwise"
    doc = "RMS norm over the last dimension of a rows x cols matrix, with a weight: 4 FLOPs per element, 3 per row."
    params = (Int("rows", short="r"), Int("cols", short="c"))

    def counts(self, p, dtype):
        rows, cols = p["rows"], p["cols"]
        return Counts(
            flops=0,
            elementwise_flops=formulas.norm_flops("rmsnorm", rows, cols),
            bytes=(2 * rows * cols + cols) * formulas.DTYPE_BYTES[dtype],
        )

    def inputs(self, p, dtype, device, generator):
        from flopbench.workloads.check import randn

        return {
            "x": randn((p["rows"], p["cols"]), dtype, device, generator),
            "w": 1 + randn((p["cols"],), dtype, device, generator, std=0.1),
        }

    def forward(self, p, t):
        import torch.nn.functional as F

        return F.rms_norm(t["x"], (p["cols"],), t["w"], EPS)

    def reference(self, p, t):
        x = t["x"]
        return x / (x.pow(2).mean(dim=-1, keepdim=True) + EPS).sqrt() * t["w"]

    def small(self, p):
        return {**p, "rows": min(p["rows"], 16), "cols": min(p["cols"], 256)}


class BatchNorm(Op):
    name = "batchnorm"
    example = dict(batch=2, channels=6, height=5, width=7)
    family = "elementwise"
    doc = (
        "Batch norm of a batch x channels x height x width tensor with weight and bias: in inference 2 FLOPs per"
        " element (running statistics folded into a multiply and an add); with train = true the batch statistics,"
        " 7 per element and 4 per channel."
    )
    params = (
        Int("batch", short="b"),
        Int("channels", short="c"),
        Int("height", short="h"),
        Int("width", short="w"),
        Bool("train", False),
    )

    def counts(self, p, dtype):
        numel = math.prod(_image(p))
        # The input read, the output written, and per channel weight, bias, running mean and variance (read; in
        # training the running statistics are written back too).
        per_channel = 4 + (2 if p["train"] else 0)
        return Counts(
            flops=0,
            elementwise_flops=formulas.batch_norm_flops(numel, p["channels"], p["train"]),
            bytes=(2 * numel + per_channel * p["channels"]) * formulas.DTYPE_BYTES[dtype],
        )

    def inputs(self, p, dtype, device, generator):
        from flopbench.workloads.check import randn

        c = p["channels"]
        return {
            "x": randn(_image(p), dtype, device, generator),
            "w": 1 + randn((c,), dtype, device, generator, std=0.1),
            "b": randn((c,), dtype, device, generator, std=0.1),
            "mean": randn((c,), dtype, device, generator, std=0.1),
            "var": 1 + randn((c,), dtype, device, generator, std=0.1).abs(),
        }

    def forward(self, p, t):
        import torch.nn.functional as F

        # Training updates running statistics in place: a copy keeps every timed call the same call.
        mean, var = (t["mean"].clone(), t["var"].clone()) if p["train"] else (t["mean"], t["var"])
        return F.batch_norm(t["x"], mean, var, t["w"], t["b"], training=p["train"], eps=EPS)

    def reference(self, p, t):
        x, shape = t["x"], (1, -1, 1, 1)
        if p["train"]:
            mean = x.mean(dim=(0, 2, 3), keepdim=True)
            var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        else:
            mean, var = t["mean"].reshape(shape), t["var"].reshape(shape)
        return (x - mean) / (var + EPS).sqrt() * t["w"].reshape(shape) + t["b"].reshape(shape)

    def small(self, p):
        return {**p, "batch": min(p["batch"], 2), "channels": min(p["channels"], 8), "height": 6, "width": 6}


class GroupNorm(Op):
    name = "groupnorm"
    example = dict(batch=2, channels=12, groups=3, height=5, width=4)
    family = "elementwise"
    doc = (
        "Group norm of a batch x channels x height x width tensor with weight and bias: layer norm over each group"
        " of channels/groups channels and their positions, 7 FLOPs per element and 4 per (sample, group)."
    )
    params = (
        Int("batch", short="b"),
        Int("channels", short="c"),
        Int("groups", short="g"),
        Int("height", short="h"),
        Int("width", short="w"),
    )

    def validate(self, p):
        if p["channels"] % p["groups"]:
            raise SpecError("groups", f"channels {p['channels']} is not divisible by groups {p['groups']}")

    def counts(self, p, dtype):
        numel = math.prod(_image(p))
        rows = p["batch"] * p["groups"]
        return Counts(
            flops=0,
            elementwise_flops=formulas.norm_flops("groupnorm", rows, numel // rows),
            bytes=(2 * numel + 2 * p["channels"]) * formulas.DTYPE_BYTES[dtype],
        )

    def inputs(self, p, dtype, device, generator):
        from flopbench.workloads.check import randn

        c = p["channels"]
        return {
            "x": randn(_image(p), dtype, device, generator),
            "w": 1 + randn((c,), dtype, device, generator, std=0.1),
            "b": randn((c,), dtype, device, generator, std=0.1),
        }

    def forward(self, p, t):
        import torch.nn.functional as F

        return F.group_norm(t["x"], p["groups"], t["w"], t["b"], EPS)

    def reference(self, p, t):
        x = t["x"]
        grouped = x.reshape(p["batch"], p["groups"], -1)
        mean = grouped.mean(dim=-1, keepdim=True)
        var = ((grouped - mean) ** 2).mean(dim=-1, keepdim=True)
        y = ((grouped - mean) / (var + EPS).sqrt()).reshape(x.shape)
        return y * t["w"].reshape(1, -1, 1, 1) + t["b"].reshape(1, -1, 1, 1)

    def small(self, p):
        groups = min(p["groups"], 4)
        per_group = min(p["channels"] // p["groups"], 4)
        return {
            **p,
            "batch": min(p["batch"], 2),
            "groups": groups,
            "channels": groups * per_group,
            "height": 6,
            "width": 6,
        }


class Pool2d(Op):
    name = "pool2d"
    example = dict(kind="max", batch=2, channels=3, height=11, width=9, kernel=3, stride=2, padding=1)
    family = "elementwise"
    doc = (
        "Max or average pooling of a batch x channels x height x width tensor (square window, stride, padding):"
        " max window - 1 comparisons per output, avg window adds-and-a-divide per output; adaptive_avg (output ="
        " the output side) adds every input once and divides every output once."
    )
    params = (
        Choice("kind", choices=("max", "avg", "adaptive_avg")),
        Int("batch", short="b"),
        Int("channels", short="c"),
        Int("height", short="h"),
        Int("width", short="w"),
        Int("kernel", None, short="k", doc="window side (max, avg)"),
        Int("stride", None, short="s", doc="default: the kernel (max, avg)"),
        Int("padding", 0, minimum=0, short="p"),
        Int("output", None, short="o", doc="output side (adaptive_avg)"),
    )

    def complete(self, p):
        adaptive = p["kind"] == "adaptive_avg"
        for key in ("kernel", "stride") if adaptive else ("output",):
            if p[key] is not None:
                raise SpecError(key, f"does not apply to {p['kind']} pooling")
        if adaptive and p["output"] is None:
            raise SpecError("output", "adaptive_avg pooling needs the output side, e.g. output=1")
        if not adaptive:
            if p["kernel"] is None:
                raise SpecError("kernel", f"{p['kind']} pooling needs a window side, e.g. kernel=2")
            if p["stride"] is None:
                p["stride"] = p["kernel"]

    def validate(self, p):
        if p["kind"] != "adaptive_avg" and p["padding"] * 2 > p["kernel"]:
            raise SpecError("padding", f"{p['padding']} is more than half the kernel {p['kernel']} (PyTorch's limit)")
        if any(size < 1 for size in self.out_size(p)):
            raise SpecError("kernel", f"{p['kernel']} is larger than the padded input; use a smaller kernel")

    def out_size(self, p) -> tuple[int, int]:
        if p["kind"] == "adaptive_avg":
            return p["output"], p["output"]
        k, s, pad = p["kernel"], p["stride"], p["padding"]
        return tuple(formulas.conv_output_size(n, k, s, pad, 1) for n in (p["height"], p["width"]))  # type: ignore[return-value]

    def counts(self, p, dtype):
        numel = math.prod(_image(p))
        out = p["batch"] * p["channels"] * math.prod(self.out_size(p))
        window = (p["kernel"] or 0) ** 2
        return Counts(
            flops=0,
            elementwise_flops=formulas.pool_flops(p["kind"], window, out, numel),
            bytes=(numel + out) * formulas.DTYPE_BYTES[dtype],
        )

    def inputs(self, p, dtype, device, generator):
        from flopbench.workloads.check import randn

        return {"x": randn(_image(p), dtype, device, generator)}

    def forward(self, p, t):
        import torch.nn.functional as F

        if p["kind"] == "adaptive_avg":
            return F.adaptive_avg_pool2d(t["x"], p["output"])
        pool = F.max_pool2d if p["kind"] == "max" else F.avg_pool2d
        return pool(t["x"], p["kernel"], p["stride"], p["padding"])

    def reference(self, p, t):
        import torch

        x = t["x"]
        h, w = x.shape[-2:]
        if p["kind"] == "adaptive_avg":  # PyTorch's windows: [floor(i*n/o), ceil((i+1)*n/o))
            o = p["output"]
            rows = [x[..., (i * h) // o : -(-((i + 1) * h) // o), :] for i in range(o)]
            return torch.stack(
                [
                    torch.stack(
                        [r[..., (j * w) // o : -(-((j + 1) * w) // o)].mean(dim=(-2, -1)) for j in range(o)], -1
                    )
                    for r in rows
                ],
                -2,
            )
        k, s, pad = p["kernel"], p["stride"], p["padding"]
        fill = float("-inf") if p["kind"] == "max" else 0.0
        x = torch.nn.functional.pad(x, (pad, pad, pad, pad), value=fill)
        oh, ow = self.out_size(p)
        taps = [x[..., i : i + (oh - 1) * s + 1 : s, j : j + (ow - 1) * s + 1 : s] for i in range(k) for j in range(k)]
        stacked = torch.stack(taps)
        return stacked.amax(0) if p["kind"] == "max" else stacked.sum(0) / (k * k)  # avg counts the padding

    def small(self, p):
        side = max(8, 2 * (p["kernel"] or 1), p["output"] or 1)
        return {
            **p,
            "batch": 1,
            "channels": min(p["channels"], 4),
            "height": min(p["height"], side),
            "width": min(p["width"], side),
        }


class Embedding(Op):
    name = "embedding"
    example = dict(tokens=40, vocab=50, dim=16)
    family = "elementwise"
    doc = (
        "Embedding lookup of tokens ids in a vocab x dim table: 0 FLOPs; reads each id (int64) and the row it"
        " names, writes the row."
    )
    params = (Int("tokens", short="t"), Int("vocab", short="v"), Int("dim", short="d"))

    def counts(self, p, dtype):
        return Counts(flops=0, elementwise_flops=0, bytes=formulas.embedding_bytes(p["tokens"], p["dim"], dtype))

    def inputs(self, p, dtype, device, generator):
        import torch

        from flopbench.workloads.check import randn

        ids = torch.randint(0, p["vocab"], (p["tokens"],), device=device, generator=generator)
        return {"ids": ids, "table": randn((p["vocab"], p["dim"]), dtype, device, generator)}

    def forward(self, p, t):
        import torch.nn.functional as F

        return F.embedding(t["ids"], t["table"])

    def reference(self, p, t):
        import torch

        one_hot = (t["ids"].unsqueeze(-1) == torch.arange(p["vocab"])).to(t["table"].dtype)
        return one_hot @ t["table"]  # the definition, not the gather kernel

    def small(self, p):
        return {**p, "tokens": min(p["tokens"], 64), "vocab": min(p["vocab"], 100), "dim": min(p["dim"], 32)}


OPS = register(RMSNorm(), BatchNorm(), GroupNorm(), Pool2d(), Embedding())
