"""The workloads: every op, registered by its module, in the order the CLI lists them."""

from __future__ import annotations

# noqa below: they register, in this order
from flopbench.workloads import (  # noqa: F401
    attention,
    comm,
    conv,
    elementwise,
    fusion,
    matmul,
    model,
    norm,
    recurrent,
)
from flopbench.workloads.base import DTYPES, OPS, Counts, Op, Workload, get_op, make_workload

FAMILIES = ("matmul", "conv", "attention", "recurrent", "elementwise", "fusion", "model", "comm")

__all__ = ["DTYPES", "FAMILIES", "OPS", "Counts", "Op", "Workload", "get_op", "make_workload"]
