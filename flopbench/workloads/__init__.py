"""The workloads: every op, registered by its module, in the order the CLI lists them."""

from __future__ import annotations

# noqa below: they register, in this order
from flopbench.workloads import attention, comm, conv, elementwise, matmul, model, norm, recurrent  # noqa: F401
from flopbench.workloads.base import DTYPES, OPS, Counts, Op, Workload, get_op, make_workload

FAMILIES = ("matmul", "conv", "attention", "recurrent", "elementwise", "model", "comm")

__all__ = ["DTYPES", "FAMILIES", "OPS", "Counts", "Op", "Workload", "get_op", "make_workload"]
