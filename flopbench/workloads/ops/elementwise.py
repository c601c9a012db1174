"""Memory-bound workloads: elementwise kernels, softmax and layer norm, the low end of the roofline.

Every kernel writes into a preallocated output (the aten `.out` overloads), so a timing measures the
kernel's memory traffic, not the allocator: on a CPU a fresh large output costs page faults.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flopbench import formulas
from flopbench.workloads.base import Counts, Op, register
from flopbench.workloads.params import Choice, Int

TRIAD_SCALAR = 3.0


@functools.cache
def kernels() -> dict[str, Callable[[dict[str, Any]], Any]]:
    """Each kind's kernel, writing into the preallocated t["out"] (torch is imported when a kernel is first needed)."""
    import torch

    aten = torch.ops.aten
    return {
        "copy": lambda t: t["out"].copy_(t["a"]),
        "add": lambda t: torch.add(t["a"], t["b"], out=t["out"]),
        "sub": lambda t: torch.sub(t["a"], t["b"], out=t["out"]),
        "mul": lambda t: torch.mul(t["a"], t["b"], out=t["out"]),
        "div": lambda t: torch.div(t["a"], t["b"], out=t["out"]),
        "triad": lambda t: torch.add(t["a"], t["b"], alpha=TRIAD_SCALAR, out=t["out"]),
        "relu": lambda t: aten.relu.out(t["a"], out=t["out"]),
        "exp": lambda t: aten.exp.out(t["a"], out=t["out"]),
        "tanh": lambda t: aten.tanh.out(t["a"], out=t["out"]),
        "sigmoid": lambda t: aten.sigmoid.out(t["a"], out=t["out"]),
        "silu": lambda t: aten.silu.out(t["a"], out=t["out"]),
        "gelu": lambda t: aten.gelu.out(t["a"], out=t["out"]),
    }


@functools.cache
def returning_kernels() -> dict[str, Callable[[dict[str, Any]], Any]]:
    """Each kind as its users write it: a call that returns a new tensor (flopbench.workloads.base.Op.returning)."""
    import torch
    import torch.nn.functional as F

    return {
        "copy": lambda t: t["a"].clone(),
        "add": lambda t: torch.add(t["a"], t["b"]),
        "sub": lambda t: torch.sub(t["a"], t["b"]),
        "mul": lambda t: torch.mul(t["a"], t["b"]),
        "div": lambda t: torch.div(t["a"], t["b"]),
        "triad": lambda t: torch.add(t["a"], t["b"], alpha=TRIAD_SCALAR),
        "relu": lambda t: torch.relu(t["a"]),
        "exp": lambda t: torch.exp(t["a"]),
        "tanh": lambda t: torch.tanh(t["a"]),
        "sigmoid": lambda t: torch.sigmoid(t["a"]),
        "silu": lambda t: F.silu(t["a"]),
        "gelu": lambda t: F.gelu(t["a"]),
    }


# Elements per unit of parallel work (flopbench.measuring.ledger): PyTorch's CPU grain size (at::internal::GRAIN_SIZE,
# below which a loop is not split), a GPU block of 256 threads x 4 elements.
CHUNK = {"cpu": 32768, "cuda": 1024}


def chunks(numel: int, device_type: str) -> Any:
    from flopbench.workloads.parallel import Work

    size = CHUNK[device_type]
    return Work(max(1, -(-numel // size)), f"chunks of {size} elements", f"{size} elements per unit assumed")


def rows_work(rows: int) -> Any:
    """A row-wise kernel (softmax, a norm): one row a unit."""
    from flopbench.workloads.parallel import Work

    return Work(rows, "rows", "one row a unit of work")


class Elementwise(Op):
    name = "elementwise"
    example = dict(kind="triad", numel=5000)
    family = "elementwise"
    doc = (
        "One elementwise kernel over numel elements: reads one tensor (two for add, sub, mul, div, "
        "triad) and writes one. FLOPs per element from the cost table (copy 0, relu 1, gelu 5, ...)."
    )
    params = (
        Choice("kind", choices=formulas.ELEMENTWISE_KINDS),
        Int("numel", short="n"),
    )

    def parallel_work(self, p, device_type):
        return chunks(p["numel"], device_type)

    def counts(self, p, dtype):
        n = p["numel"]
        tensors = 3 if p["kind"] in formulas.BINARY_KINDS else 2
        return Counts(
            flops=0,
            elementwise_flops=formulas.elementwise_flops(p["kind"], n),
            bytes=tensors * n * formulas.DTYPE_BYTES[dtype],
        )

    def inputs(self, p, dtype, device, generator):
        import torch

        from flopbench.workloads.check import randn

        n = p["numel"]
        tensors = {"a": randn((n,), dtype, device, generator)}
        if p["kind"] in formulas.BINARY_KINDS:
            # Away from zero, so that div is well conditioned.
            tensors["b"] = randn((n,), dtype, device, generator).abs_().add_(0.5)
        tensors["out"] = torch.empty(n, dtype=dtype, device=device)
        return tensors

    writes_output = True

    def forward(self, p, t):
        return kernels()[p["kind"]](t)

    def returning(self, p, t):
        kernel = returning_kernels()[p["kind"]]
        return lambda: kernel(t)

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        a, b = t["a"], t.get("b")
        return {
            "copy": lambda: a.clone(),
            "add": lambda: a + b,
            "sub": lambda: a - b,
            "mul": lambda: a * b,
            "div": lambda: a / b,
            "triad": lambda: a + TRIAD_SCALAR * b,
        }.get(p["kind"], lambda: ref.activation(a, p["kind"]))()

    def small(self, p):
        return {**p, "numel": min(p["numel"], 4096)}


class Softmax(Op):
    name = "softmax"
    example = dict(rows=8, cols=100)
    family = "elementwise"
    doc = "Softmax over the last dimension of a rows x cols matrix: 5 FLOPs per element."
    params = (Int("rows", short="r"), Int("cols", short="c"))

    def parallel_work(self, p, device_type):
        return rows_work(p["rows"])

    def counts(self, p, dtype):
        n = p["rows"] * p["cols"]
        return Counts(
            flops=0,
            elementwise_flops=formulas.elementwise_flops("softmax", n),
            bytes=2 * n * formulas.DTYPE_BYTES[dtype],
        )

    def inputs(self, p, dtype, device, generator):
        import torch

        from flopbench.workloads.check import randn

        x = randn((p["rows"], p["cols"]), dtype, device, generator)
        return {"x": x, "out": torch.empty_like(x)}

    def forward(self, p, t):
        import torch

        aten = torch.ops.aten
        return aten._softmax.out(t["x"], -1, False, out=t["out"])

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        return ref.softmax(t["x"])

    def small(self, p):
        return {**p, "rows": min(p["rows"], 16), "cols": min(p["cols"], 256)}


class LayerNorm(Op):
    name = "layernorm"
    example = dict(rows=8, cols=100)
    family = "elementwise"
    doc = (
        "Layer norm over the last dimension of a rows x cols matrix, with weight and bias: "
        "7 FLOPs per element and 4 per row."
    )
    params = (Int("rows", short="r"), Int("cols", short="c"))
    eps = 1e-5

    def parallel_work(self, p, device_type):
        return rows_work(p["rows"])

    def counts(self, p, dtype):
        rows, cols = p["rows"], p["cols"]
        return Counts(
            flops=0,
            elementwise_flops=formulas.norm_flops("layernorm", rows, cols),
            bytes=(2 * rows * cols + 2 * cols) * formulas.DTYPE_BYTES[dtype],
        )

    def inputs(self, p, dtype, device, generator):
        import torch

        from flopbench.workloads.check import randn

        cols = p["cols"]
        tensors = {
            "x": randn((p["rows"], cols), dtype, device, generator),
            "w": 1 + randn((cols,), dtype, device, generator, std=0.1),
            "b": randn((cols,), dtype, device, generator, std=0.1),
        }
        # Output buffers shaped and typed as this device's kernel makes them (mean and rstd per row).
        out, mean, rstd = torch.native_layer_norm(tensors["x"], [cols], tensors["w"], tensors["b"], self.eps)
        return {**tensors, "out": out, "mean": mean, "rstd": rstd}

    def forward(self, p, t):
        import torch

        aten = torch.ops.aten
        return aten.native_layer_norm.out(
            t["x"], [p["cols"]], t["w"], t["b"], self.eps, out0=t["out"], out1=t["mean"], out2=t["rstd"]
        )[0]

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        return ref.layer_norm(t["x"], t["w"], t["b"], self.eps)

    def small(self, p):
        return {**p, "rows": min(p["rows"], 16), "cols": min(p["cols"], 256)}


OPS = register(Elementwise(), Softmax(), LayerNorm())
