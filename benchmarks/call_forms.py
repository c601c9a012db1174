"""The call forms of one GEMM, timed side by side with torch.utils.benchmark (issue 47: implementations compared on
like forms): eager into a preallocated output (`out=`, what `flopbench run` times for eager), eager returning a new
output, compiled into `out=`, compiled returning (what a compiled function's user writes, and what flopbench times for
compile). Rounds take turns so the machine's drift falls on every form alike; every round's median is printed.

    .venv/bin/python benchmarks/call_forms.py [--m 512 --n 256 --k 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from torch.utils.benchmark import Timer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flopbench.workloads import make_workload  # noqa: E402
from flopbench.workloads.impls import IMPLS  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=512)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--k", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    workload = make_workload("matmul", {"m": args.m, "n": args.n, "k": args.k})
    p, tensors = workload.inputs_for("cpu")
    forms = {}
    for impl in ("eager", "compile"):
        for returning in (False, True):
            op = workload.spec
            fn = op.returning(p, tensors) if returning else op.timed(p, tensors)
            fn = IMPLS[impl].wrap(fn)
            with torch.no_grad():
                fn()  # compiles
            forms[f"{impl} {'returning' if returning else 'out='}"] = fn
    print(f"# {workload.name}: four call forms, {torch.get_num_threads()} threads, torch {torch.__version__}\n")
    print("| form | " + " | ".join(f"round {r + 1}" for r in range(args.rounds)) + " | median |")
    print("|---|" + "---:|" * (args.rounds + 1))
    medians: dict[str, list[float]] = {name: [] for name in forms}
    for _ in range(args.rounds):
        for name, fn in forms.items():
            with torch.no_grad():
                medians[name].append(Timer("fn()", globals={"fn": fn}).blocked_autorange(min_run_time=0.5).median)
    for name, values in medians.items():
        cells = " | ".join(f"{v * 1e6:.0f} µs" for v in values)
        print(f"| {name} | {cells} | {statistics.median(values) * 1e6:.0f} µs |")
    eager = statistics.median(medians["eager out="])
    for name in ("compile out=", "compile returning", "eager returning"):
        print(f"\n{name} / eager out=: {statistics.median(medians[name]) / eager:.3f}", end="")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
