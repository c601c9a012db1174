"""Matrix products: matmul (GEMM, batched GEMM, GEMV), linear layers and MLPs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flopbench import formulas
from flopbench.errors import SpecError
from flopbench.workloads.base import Counts, Op, implementation, register
from flopbench.workloads.params import Bool, ChoiceList, Int, IntList

if TYPE_CHECKING:
    from flopbench.workloads import reference as ref


# The output tile a GEMM's work is counted in (flopbench.measuring.ledger): an assumption, stated where it is used.
TILE = {"cuda": 128, "cpu": 64}


class Matmul(Op):
    name = "matmul"
    example = dict(m=33, n=17, k=40, batch=2)
    family = "matmul"
    doc = (
        "C[batch, m, n] = A[batch, m, k] @ B[batch, k, n]; n = 1 is a GEMV. FLOPs = 2*batch*m*n*k. In int8"
        " (torch._int_mm, int32 out) and float8 e4m3 (torch._scaled_mm, bfloat16 out) it is one 2-d product."
    )
    params = (
        Int("m", doc="rows of A and C"),
        Int("n", doc="columns of B and C"),
        Int("k", doc="the contracted dimension"),
        Int("batch", 1, doc="independent products (batch > 1 is a batched GEMM)", short="b"),
    )
    dtypes = formulas.FLOAT_DTYPES + formulas.LOW_PRECISION_DTYPES

    @implementation("onednn")
    def onednn(self, p, t):
        """C = A B as oneDNN's inner product of mkldnn tensors (A, and B transposed: the weight), laid out
        once, outside the timed call; its output is an mkldnn tensor (to_dense() for the check)."""
        import torch

        if p["batch"] != 1 or t["a"].dtype not in (torch.float32, torch.bfloat16):
            raise ValueError("onednn: a 2-d product in float32 or bfloat16 has an mkldnn_linear form; this has none")
        a, w = t["a"].to_mkldnn(), t["b"].t().contiguous().to_mkldnn()
        return lambda: torch.ops.aten.mkldnn_linear(a, w, None)

    def validate_dtype(self, p, dtype):
        if dtype not in formulas.LOW_PRECISION_DTYPES:
            return
        kernel = "torch._int_mm" if dtype == "int8" else "torch._scaled_mm"
        if p["batch"] != 1:
            raise SpecError("batch", f"{dtype} products ({kernel}) are 2-d: give batch = 1")
        if p["m"] <= 16 or p["k"] % 16 or p["n"] % 16:
            raise SpecError(
                "m" if p["m"] <= 16 else "k" if p["k"] % 16 else "n",
                f"{kernel} on CUDA needs m > 16 and k and n multiples of 16 (got m={p['m']}, k={p['k']},"
                f" n={p['n']}); round them up",
            )

    def parallel_work(self, p, device_type):
        """Output tiles: 128 x 128 on a GPU (a CUTLASS / cuBLAS-sized block per SM), 64 x 64 on a CPU (a BLAS
        block per core)."""
        from flopbench.workloads.parallel import tile_work

        tile = TILE[device_type]
        what, assumption = f"{tile}x{tile} output tiles", f"{tile}x{tile} tiles assumed"
        return tile_work(p["m"], p["n"], p["batch"], tile, what, assumption, padded=device_type == "cuda")

    def counts(self, p, dtype):
        b, m, n, k = p["batch"], p["m"], p["n"], p["k"]
        size = formulas.DTYPE_BYTES[dtype]
        out = formulas.LOW_PRECISION_OUTPUT_BYTES.get(dtype, size)
        return Counts(
            flops=formulas.matmul_flops(m, n, k, b),
            elementwise_flops=0,
            bytes=b * ((m * k + k * n) * size + m * n * out),
        )

    def inputs(self, p, dtype, device, generator):
        import torch

        from flopbench.workloads.check import randn, weight

        b, m, n, k = p["batch"], p["m"], p["n"], p["k"]
        if dtype == torch.int8:  # B column-major, the layout cuBLASLt's int8 kernels want (row-major is copied first)
            return {
                "a": torch.randint(-8, 8, (m, k), dtype=torch.int8, device=device, generator=generator),
                "b": torch.randint(-8, 8, (n, k), dtype=torch.int8, device=device, generator=generator).t(),
                "out": torch.empty((m, n), dtype=torch.int32, device=device),
            }
        if dtype == torch.float8_e4m3fn:  # B column-major, as _scaled_mm needs; unit scales
            return {
                "a": randn((m, k), dtype, device, generator),
                "b": weight((n, k), k, dtype, device, generator).t(),
                "scale": torch.ones((), dtype=torch.float32, device=device),
                "out": torch.empty((m, n), dtype=torch.bfloat16, device=device),
            }
        lead = (b,) if b > 1 else ()
        return {
            "a": randn((*lead, m, k), dtype, device, generator),
            "b": weight((*lead, k, n), k, dtype, device, generator),
            "out": torch.empty((*lead, m, n), dtype=dtype, device=device),
        }

    writes_output = True

    def forward(self, p, t):
        return self._call(t, t["out"])

    def returning(self, p, t):
        return lambda: self._call(t, None)

    @staticmethod
    def _call(t, out):
        """The product, into `out` (a preallocated output) or, with out None, into a new tensor."""
        import torch

        a, b = t["a"], t["b"]
        more = {} if out is None else {"out": out}
        if a.dtype == torch.int8:
            return torch._int_mm(a, b, **more)
        if a.dtype == torch.float8_e4m3fn:
            # use_fast_accum=False, torch's default: partial sums promoted to fp32 as they go, the accurate mode (and
            # the one inference and training gradients use); fast accumulation keeps them in the tensor cores'
            # narrower accumulator a while longer: faster on Hopper, less exact. docs/flops.md, "Low precision".
            return torch._scaled_mm(
                a, b, t["scale"], t["scale"], out_dtype=torch.bfloat16, use_fast_accum=False, **more
            )
        return torch.matmul(a, b, **more)

    def reference(self, p, t):
        import torch

        from flopbench.workloads import reference as ref

        return ref.matmul(t["a"].to(torch.float64), t["b"].to(torch.float64))  # int8 ids stay int8 in the copy

    def small(self, p):
        return {**p, "m": min(p["m"], 48), "n": min(p["n"], 48), "k": min(p["k"], 96), "batch": min(p["batch"], 2)}


class Linear(Op):
    name = "linear"
    example = dict(tokens=9, in_features=24, out_features=12)
    family = "matmul"

    @implementation("onednn")
    def onednn(self, p, t):
        """y = x W^T + b as oneDNN's inner product of mkldnn tensors, laid out once outside the timed call."""
        import torch

        x, w = t["x"].to_mkldnn(), t["w"].to_mkldnn()
        b = t["b"].to_mkldnn() if "b" in t else None
        return lambda: torch.ops.aten.mkldnn_linear(x, w, b)

    doc = "y = x W^T + b for `tokens` rows. Core FLOPs = 2*tokens*in*out; the bias add is elementwise."
    params = (
        Int("tokens", doc="rows of x (batch times sequence length)", short="t"),
        Int("in_features", short="in"),
        Int("out_features", short="out"),
        Bool("bias", True),
    )

    def counts(self, p, dtype):
        t, i, o = p["tokens"], p["in_features"], p["out_features"]
        bias = o if p["bias"] else 0
        return Counts(
            flops=formulas.matmul_flops(t, o, i),
            elementwise_flops=formulas.elementwise_flops("bias", t * o) if p["bias"] else 0,
            bytes=(t * i + o * i + bias + t * o) * formulas.DTYPE_BYTES[dtype],
        )

    def inputs(self, p, dtype, device, generator):
        from flopbench.workloads.check import randn, weight

        t, i, o = p["tokens"], p["in_features"], p["out_features"]
        tensors = {"x": randn((t, i), dtype, device, generator), "w": weight((o, i), i, dtype, device, generator)}
        if p["bias"]:
            tensors["b"] = randn((o,), dtype, device, generator)
        return tensors

    def forward(self, p, t):
        from flopbench.workloads import reference as ref

        return ref.LIBRARY.linear(t["x"], t["w"], t.get("b"))

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        return ref.linear(t["x"], t["w"], t.get("b"))

    def small(self, p):
        return {
            **p,
            "tokens": min(p["tokens"], 32),
            "in_features": min(p["in_features"], 96),
            "out_features": min(p["out_features"], 48),
        }


class MLP(Op):
    name = "mlp"
    example = dict(batch=4, layers=[20, 16, 8], activations=["gelu", "softmax"])
    family = "matmul"
    doc = (
        "A stack of linear layers: layers = widths [in, hidden..., out]; activations[i] follows "
        "layer i (default relu after each hidden layer, none after the last)."
    )
    params = (
        Int("batch", 1, short="b"),
        IntList("layers", min_length=2, doc="widths, input first, e.g. [784, 100, 100, 10]"),
        ChoiceList("activations", None, choices=formulas.ACTIVATIONS, doc="one per linear layer (len(layers) - 1)"),
        Bool("bias", True),
    )

    def complete(self, p):
        if p["activations"] is None:
            p["activations"] = ("relu",) * (len(p["layers"]) - 2) + ("none",)

    def validate(self, p):
        if len(p["activations"]) != len(p["layers"]) - 1:
            raise SpecError(
                "activations",
                f"needs one entry per linear layer: {len(p['layers']) - 1} "
                f"for layers {list(p['layers'])}, got {len(p['activations'])}",
            )

    def _layers(self, p):
        return list(zip(p["layers"][:-1], p["layers"][1:], p["activations"]))

    def counts(self, p, dtype):
        b = p["batch"]
        flops = elementwise = params = 0
        for i, o, act in self._layers(p):
            flops += formulas.matmul_flops(b, o, i)
            elementwise += formulas.activation_flops(act, b * o)
            if p["bias"]:
                elementwise += formulas.elementwise_flops("bias", b * o)
            params += i * o + (o if p["bias"] else 0)
        traffic = b * p["layers"][0] + params + b * p["layers"][-1]
        return Counts(flops=flops, elementwise_flops=elementwise, bytes=traffic * formulas.DTYPE_BYTES[dtype])

    def inputs(self, p, dtype, device, generator):
        from flopbench.workloads.check import randn, weight

        tensors = {"x": randn((p["batch"], p["layers"][0]), dtype, device, generator)}
        for n, (i, o, _) in enumerate(self._layers(p)):
            tensors[f"w{n}"] = weight((o, i), i, dtype, device, generator)
            if p["bias"]:
                tensors[f"b{n}"] = randn((o,), dtype, device, generator, std=0.1)
        return tensors

    def _compute(self, p, t, fns: ref.Fns):
        x = t["x"]
        for n, (_, _, act) in enumerate(self._layers(p)):
            x = fns.activation(fns.linear(x, t[f"w{n}"], t.get(f"b{n}")), act)
        return x

    def forward(self, p, t):
        from flopbench.workloads import reference as ref

        return self._compute(p, t, ref.LIBRARY)

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        return self._compute(p, t, ref.REFERENCE)

    def small(self, p):
        return {
            **p,
            "batch": min(p["batch"], 8),
            "layers": [min(w, 64) for w in p["layers"]],
            "activations": list(p["activations"]),
        }


OPS = register(Matmul(), Linear(), MLP())
