"""The registry of ops, keyed by the name a suite's `op =` uses, in the order the CLI lists them."""

from __future__ import annotations

from flopbench.errors import SpecError, did_you_mean
from flopbench.workloads import attention, comm, conv, elementwise, matmul, model
from flopbench.workloads.base import DTYPES, Counts, Op, Workload, make_workload

OPS: dict[str, Op] = {op.name: op for module in (matmul, conv, attention, elementwise, model, comm) for op in module.OPS}

FAMILIES = ("matmul", "conv", "attention", "elementwise", "model", "comm")


def get_op(name: str) -> Op:
    try:
        return OPS[name]
    except KeyError:
        raise SpecError("op", f"unknown op {name!r}{did_you_mean(name, OPS)}; known ops: {', '.join(OPS)}") from None


__all__ = ["DTYPES", "FAMILIES", "OPS", "Counts", "Op", "Workload", "get_op", "make_workload"]
