"""Collectives: all_reduce, all_gather, reduce_scatter and broadcast, measured in bytes per second.

Sizes follow nccl-tests: `numel` is the message, S = numel x dtype size: the buffer of all_reduce and broadcast,
all ranks' data together for all_gather (its output) and reduce_scatter (its input). Algorithm bandwidth is
S / time; bus bandwidth scales it by the traffic each link carries in a ring (nccl-tests' PERFORMANCE.md):
2(n-1)/n for all_reduce, (n-1)/n for all_gather and reduce_scatter, 1 for broadcast. Collectives run only in a
distributed run (torchrun ... flopbench run SUITE --distributed), every rank calling them in lockstep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flopbench import formulas
from flopbench.workloads.base import Counts, Op, register
from flopbench.workloads.params import Int

if TYPE_CHECKING:
    import torch

BUS_FACTOR = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
}


def _group() -> tuple[int, int]:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "a collective needs a distributed run: torchrun --nproc-per-node N -m flopbench run SUITE --distributed"
        )
    return dist.get_rank(), dist.get_world_size()


def _contribution(rank: int, numel: int, dtype: torch.dtype, device) -> torch.Tensor:
    """Rank `rank`'s data, the same wherever it is generated: the check recomputes every rank's locally."""
    import torch

    generator = torch.Generator().manual_seed(1000 + rank)
    return torch.randn(numel, generator=generator).to(device=device, dtype=dtype)


class Collective(Op):
    family = "comm"
    collective = True
    placed = False
    trainable = False
    impls = ("eager",)
    example = dict(numel=4096)  # run by every rank: the distributed tests' instance

    def __init__(self, name: str, doc: str):
        self.name = name
        self.doc = doc
        self.params = (Int("numel", short="n", doc="elements of the message (nccl-tests' size / dtype size)"),)

    def counts(self, p, dtype):
        # No arithmetic is attributed to a collective; its bytes are the message size S of nccl-tests.
        return Counts(flops=0, elementwise_flops=0, bytes=p["numel"] * formulas.DTYPE_BYTES[dtype])

    def figures(self, counts, judged):
        """nccl-tests' algorithm and bus bandwidth: S / time, and that times the ring's traffic factor. A collective
        is not placed on a roofline: it moves data between devices, not through one device's memory."""
        from flopbench.results.schema import CollectiveFigures

        algbw = counts.bytes / judged.time_s
        factor = BUS_FACTOR[self.name](judged.world_size)
        return CollectiveFigures(
            message_bytes=counts.bytes, algbw_bytes_per_s=algbw, bus_factor=factor, busbw_bytes_per_s=algbw * factor
        )

    def _per_rank(self, p) -> int:
        rank, n = _group()
        if self.name in ("all_gather", "reduce_scatter") and p["numel"] % n:
            raise ValueError(f"numel {p['numel']} is not divisible by the {n} ranks; {self.name} splits it evenly")
        return p["numel"] // n

    def inputs(self, p, dtype, device, generator):
        import torch
        import torch.distributed as dist  # noqa: F401  (initialized: _group checked it)

        rank, n = _group()
        per_rank = self._per_rank(p)
        if self.name == "all_gather":
            return {
                "input": _contribution(rank, per_rank, dtype, device),
                "out": torch.empty(p["numel"], dtype=dtype, device=device),
            }
        if self.name == "reduce_scatter":
            return {
                "input": _contribution(rank, p["numel"], dtype, device),
                "out": torch.empty(per_rank, dtype=dtype, device=device),
            }
        return {"buf": _contribution(rank, p["numel"], dtype, device)}

    def forward(self, p, t):
        import torch.distributed as dist

        if self.name == "all_reduce":  # in place, as nccl-tests: repeated calls keep summing into the buffer
            dist.all_reduce(t["buf"])
            return t["buf"]
        if self.name == "broadcast":
            dist.broadcast(t["buf"], src=0)
            return t["buf"]
        if self.name == "all_gather":
            dist.all_gather_into_tensor(t["out"], t["input"])
            return t["out"]
        reduce_scatter = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
        reduce_scatter(t["out"], t["input"])
        return t["out"]

    def reference(self, p, t):
        import torch

        rank, n = _group()
        per_rank = self._per_rank(p)
        f64 = torch.float64
        if self.name == "broadcast":
            return _contribution(0, p["numel"], torch.float32, "cpu").to(f64)
        if self.name == "all_gather":
            return torch.cat([_contribution(r, per_rank, torch.float32, "cpu").to(f64) for r in range(n)])
        total = torch.stack([_contribution(r, p["numel"], torch.float32, "cpu").to(f64) for r in range(n)]).sum(0)
        return total if self.name == "all_reduce" else total[rank * per_rank : (rank + 1) * per_rank]

    def small(self, p):
        _, n = _group()
        return {**p, "numel": n * min(p["numel"] // n, 1024)}


OPS = register(
    Collective("all_reduce", "Sum a buffer across ranks, in place; bus bandwidth = algorithm bandwidth x 2(n-1)/n."),
    Collective("all_gather", "Concatenate every rank's 1/n of the message; bus bandwidth = algorithm x (n-1)/n."),
    Collective(
        "reduce_scatter", "Sum the message across ranks, each keeping 1/n; bus bandwidth = algorithm x (n-1)/n."
    ),
    Collective("broadcast", "Copy rank 0's buffer to every rank; bus bandwidth = algorithm bandwidth."),
)
