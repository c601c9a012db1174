"""The workloads: every op (one module per family under flopbench/workloads/ops, each registering its ops when
imported), the implementations they run under, the output check and the suites.

Importing this package registers every op module it finds under ops/: a new op is its module and a test example
(docs/extending.md), never an edit here.
"""

from __future__ import annotations

import importlib
import pkgutil

from flopbench.workloads import ops
from flopbench.workloads.base import (
    DTYPES,
    OPS,
    Counts,
    Op,
    Workload,
    collective,
    families,
    get_op,
    make_workload,
    placed,
)

for _module in sorted(m.name for m in pkgutil.iter_modules(ops.__path__)):
    importlib.import_module(f"{ops.__name__}.{_module}")

__all__ = ["DTYPES", "OPS", "Counts", "Op", "Workload", "collective", "families", "get_op", "make_workload", "placed"]
