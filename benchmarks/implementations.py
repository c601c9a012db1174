"""Implementations, timed two ways: for each workload of the `impls` suite and each implementation that runs here,
flopbench's timer (the run's, under its settings) beside torch.utils.benchmark's blocked_autorange on the very same
callable (compiled once), in the same process, taking turns over several rounds. The target: medians within 5% for
calls of 1 ms or more. Then the layer-norm chain's speedup from compilation, and what the bytes say of it.

    .venv/bin/python benchmarks/implementations.py [--rounds 3] [--only REGEX]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.benchmark import Timer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flopbench.machine.device import describe  # noqa: E402
from flopbench.measuring.memory import keep_freed_memory  # noqa: E402
from flopbench.measuring.runner import make_timer  # noqa: E402
from flopbench.results.schema import RunSettings  # noqa: E402
from flopbench.units import seconds  # noqa: E402
from flopbench.workloads.impls import IMPLS  # noqa: E402
from flopbench.workloads.suite import load_suite  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds, the two timers taking turns (5)")
    parser.add_argument("--only", help="only the workloads whose name matches")
    args = parser.parse_args()
    keep_freed_memory()  # as flopbench run times a CPU: both timers see the same allocator
    threads = torch.get_num_threads()
    cpu = describe("cpu", threads)
    settings = RunSettings(min_time_s=0.2, max_time_s=1.0)
    ours = make_timer(cpu, settings)
    suite = load_suite("impls")
    print(f"# Implementations on {cpu.label}, {threads} threads, torch {torch.__version__}\n")
    print("| workload | impl | compile | flopbench median | torch.utils.benchmark | ratio | within 5% |")
    print("|---|---|---:|---:|---:|---:|---|")
    medians: dict[str, float] = {}
    for workload in suite.workloads:
        if not workload.runs_on("cpu") or (args.only and not re.search(args.only, workload.name)):
            continue
        if reason := IMPLS[workload.impl].unavailable(workload.spec, "cpu", workload.dtype):
            print(f"| {workload.name} | {workload.impl} | - | skipped: {reason} | | | |")
            continue
        try:
            fn = workload.build("cpu")
            started = time.perf_counter()
            with torch.no_grad():
                fn()  # a compiled implementation compiles here
            first = time.perf_counter() - started
        except RuntimeError as exc:
            print(f"| {workload.name} | {workload.impl} | - | skipped: {str(exc).splitlines()[0][:90]} | | | |")
            continue
        flopbench_s, tub_s = [], []
        for _ in range(args.rounds):
            with torch.no_grad():
                flopbench_s.append(ours.measure(fn).median_s)
                timer = Timer("fn()", globals={"fn": fn}, num_threads=threads)
                tub_s.append(timer.blocked_autorange(min_run_time=0.2).median)
        a, b = statistics.median(flopbench_s), statistics.median(tub_s)
        medians[workload.name] = a
        compiled = seconds(first) if IMPLS[workload.impl].compiled else "-"
        verdict = ("yes" if abs(a / b - 1) <= 0.05 else "NO") if b >= 1e-3 else "(under 1 ms)"
        cells = [workload.name, workload.impl, compiled, seconds(a), seconds(b), f"{a / b:.3f}", verdict]
        print("| " + " | ".join(cells) + " |")
    eager, compiled = medians.get("ln-chain-eager"), medians.get("ln-chain-compile")
    if eager and compiled:
        chain = next(w for w in suite.workloads if w.name == "ln-chain-eager").counts
        print(
            f"\nThe layer-norm chain: compiled {eager / compiled:.2f}x faster than eager ({seconds(compiled)} against"
            f" {seconds(eager)}); eager moves {chain.eager_bytes / chain.bytes:.1f}x the compulsory bytes"
            f" ({chain.eager_bytes / 2**20:.0f} MiB against {chain.bytes / 2**20:.0f} MiB)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
