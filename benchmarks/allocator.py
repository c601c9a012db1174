"""What keeping freed memory changes (flopbench.measuring.memory): each CPU workload of a suite timed alone in a fresh
process, with glibc as it is and with freed memory kept for the next call, the two taking turns; per workload the median
call, the page faults per call, and the ratio of the two medians.

A workload whose calls allocate (a convolution's output, oneDNN's reordered copies) pays page faults with glibc as it
is when its freed blocks go back to the OS; one with preallocated outputs (GEMMs, `out=`) should read the same both
ways (a ratio of 1.00 within the machine's noise).

    .venv/bin/python benchmarks/allocator.py [--suite benchmarks/suites/steady.toml] [--pairs 2] [--seconds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WARMUP_S = (
    0.2  # untimed calls first: lazy initialization, and the kept heap's first growth (flopbench.measuring.memory)
)


def child(suite: str, name: str, keep: bool, seconds: float) -> None:
    """One workload in this fresh process: prints {"ms": median call, "faults": page faults per timed call}."""
    import time

    import torch

    from flopbench.measuring.memory import keep_freed_memory, page_faults
    from flopbench.workloads.suite import load_suite

    if keep:
        keep_freed_memory()
    workload = next(w for w in load_suite(suite).workloads if w.name == name)
    with torch.no_grad():
        fn = workload.build("cpu")
        end = time.perf_counter() + WARMUP_S
        while time.perf_counter() < end:
            fn()
        times: list[float] = []
        faults = page_faults()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end or len(times) < 5:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        faults = page_faults() - faults
    print(json.dumps({"ms": statistics.median(times) * 1e3, "faults": faults / len(times)}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default=str(HERE / "suites" / "steady.toml"))
    parser.add_argument("--pairs", type=int, default=2, help="processes per workload and way, taking turns")
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per process")
    parser.add_argument("--child", nargs=2, metavar=("NAME", "WAY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.suite, args.child[0], args.child[1] == "kept", args.seconds)
        return 0
    from flopbench.measuring.memory import _libc
    from flopbench.workloads.suite import load_suite

    if _libc() is None:
        sys.exit("this benchmark compares glibc's two ways; this process has no glibc")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    names = [w.name for w in load_suite(args.suite).workloads if w.runs_on("cpu")]
    rows = []
    for name in names:
        got: dict[str, list[dict[str, float]]] = {"plain": [], "kept": []}
        for _ in range(args.pairs):
            for way in got:
                command = [sys.executable, __file__, "--suite", args.suite, "--seconds", str(args.seconds)]
                result = subprocess.run(
                    [*command, "--child", name, way], capture_output=True, text=True, env=env, timeout=600
                )
                if result.returncode != 0:
                    sys.exit(f"{name} ({way}) failed:\n{result.stderr[-2000:]}")
                got[way].append(json.loads(result.stdout.splitlines()[-1]))
        plain = statistics.median(g["ms"] for g in got["plain"])
        kept = statistics.median(g["ms"] for g in got["kept"])
        rows.append(
            [
                name,
                f"{plain:.3f}",
                f"{statistics.median(g['faults'] for g in got['plain']):,.0f}",
                f"{kept:.3f}",
                f"{statistics.median(g['faults'] for g in got['kept']):,.0f}",
                f"{plain / kept:.2f}",
            ]
        )
    header = ["workload", "glibc as is ms", "faults/call", "kept ms", "faults/call", "as is / kept"]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    for row in (header, ["-" * w for w in widths], *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    print(
        f"\neach workload alone in a fresh process, {args.pairs} per way taking turns, {args.seconds:g} s timed after"
        f" {WARMUP_S:g} s of untimed calls; medians over the processes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
