"""Compute ceilings from the best kernel: does flopbench's float32 ceiling match the best kernel measured directly,
and are a fresh machine's ceilings cached quiet?

1. flopbench's ceilings measured in this process (as `flopbench peak --measure` does), and each of its kernels
   (the GEMM through torch's default BLAS, the same GEMM as a 1x1 convolution through oneDNN, a 3x3 convolution)
   timed directly with torch.utils.benchmark in the same process just before and just after it, written here
   without flopbench's code (the better of the two kept: a shared machine's speed drifts over minutes). The
   float32 ceiling beside the best direct figure: the target is within 10%, and the ceiling names its kernel.
2. `flopbench peak --measure` N times (--fresh, 3), each into an empty cache of its own, as a fresh `make bench`
   measures: how many were cached as disturbed, and why (the target: at most one, with a reason its kept
   measurement shows).
3. With --results FILE (a default-suite run): the records above their measured ceiling by more than 5%, each with
   the cause its warnings name (the target: none without one).

    .venv/bin/python benchmarks/ceilings.py [--fresh 3] [--results results/RUN.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.benchmark import Timer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flopbench.commands.common import measure_now  # noqa: E402
from flopbench.machine.device import describe  # noqa: E402
from flopbench.machine.resolve import default_threads  # noqa: E402
from flopbench.units import si  # noqa: E402


def direct(kernel: str, threads: int) -> tuple[float, str]:
    """The best FLOP/s of `kernel` in float32 over flopbench's CPU sizes, timed by torch.utils.benchmark."""
    best, where = 0.0, ""
    cases = []
    if kernel == "gemm":
        for s in (512, 1024, 2048):
            a, b, c = torch.randn(s, s), torch.randn(s, s), torch.empty(s, s)
            cases.append((f"{s}^3", 2 * s**3, lambda a=a, b=b, c=c: torch.matmul(a, b, out=c)))
    elif kernel == "gemm-as-1x1-conv":
        for s in (512, 1024, 2048):
            x, w = torch.randn(1, s, s // 32, 32), torch.randn(s, s, 1, 1)
            cases.append((f"{s} channels, {s} positions", 2 * s**3, lambda x=x, w=w: F.conv2d(x, w)))
    elif kernel == "conv3x3":
        for batch in (8, 32):
            x, w = torch.randn(batch, 64, 56, 56), torch.randn(64, 64, 3, 3)
            flops = 2 * batch * 64 * 56 * 56 * 64 * 9
            cases.append((f"batch {batch}", flops, lambda x=x, w=w: F.conv2d(x, w, padding=1)))
    for name, flops, fn in cases:
        with torch.no_grad():
            timer = Timer("fn()", globals={"fn": fn}, num_threads=threads)
            seconds = min(timer.blocked_autorange(min_run_time=0.5).median for _ in range(3))
        if flops / seconds > best:
            best, where = flops / seconds, name
    return best, where


def ceilings(threads: int) -> None:
    device = describe("cpu", threads)
    print(f"# Compute ceilings on {device.label}, {threads} threads, torch {torch.__version__}\n")
    print("## 1. The float32 ceiling against each kernel timed directly (torch.utils.benchmark, same process)\n")
    kernels = ("gemm", "gemm-as-1x1-conv", "conv3x3")
    # Directly before and after flopbench's measurement, the best kept: on a shared machine the speed drifts over
    # minutes, and both sides then get the same chance at its quiet moments.
    before = {kernel: direct(kernel, threads) for kernel in kernels}
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FLOPBENCH_CACHE_DIR"] = cache
        entry = measure_now(device, threads)
    after = {kernel: direct(kernel, threads) for kernel in kernels}
    ceiling = entry.ceilings["float32"]
    print("| kernel | library | flopbench (its best) | direct before | direct after | at (best) | ratio to best |")
    print("|---|---|---:|---:|---:|---|---:|")
    best_direct = 0.0
    for rate in entry.kernels.get("float32", []):
        first, second = before[rate.kernel], after[rate.kernel]
        figure, at = max(first, second)
        best_direct = max(best_direct, figure)
        print(
            f"| {rate.kernel} | {rate.library} | {si(rate.flops_per_s, 'FLOP/s')} | {si(first[0], 'FLOP/s')} |"
            f" {si(second[0], 'FLOP/s')} | {at} | {rate.flops_per_s / figure:.3f} |"
        )
    ratio = (ceiling.value or 0) / best_direct
    drift = max(abs(before[k][0] - after[k][0]) / max(before[k][0], after[k][0]) for k in kernels)
    print(
        f"\nThe machine's own floor: the same direct measurement before and after differs by up to {drift:.1%};"
        " a ratio further from 1 than that is flopbench's, not the machine's."
    )
    print(
        f"\nThe float32 ceiling: {si(ceiling.value, 'FLOP/s')} ({ceiling.detail}); the best kernel timed directly:"
        f" {si(best_direct, 'FLOP/s')}; ratio {ratio:.3f}: within 10%: {abs(ratio - 1) <= 0.10}."
        f" Disturbed: {entry.disturbed or 'no'}"
    )


def fresh(times: int) -> None:
    print(f"\n## 2. `flopbench peak --measure` {times} times, each into an empty cache\n")
    print("| measurement | seconds | cached as disturbed | why |")
    print("|---:|---:|---|---|")
    flagged = 0
    for i in range(1, times + 1):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "FLOPBENCH_CACHE_DIR": cache}
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "flopbench", "peak", "--measure", "-q", "--format", "csv"],
                env=env,
                capture_output=True,
                text=True,
            )
            took = time.perf_counter() - started
            if done.returncode != 0:
                print(f"| {i} | {took:.0f} | failed | {done.stderr.strip()[:200]} |")
                continue
            entries = json.loads((Path(cache) / "ceilings.json").read_text())["entries"]
            (entry,) = entries.values()
            why = entry.get("disturbed")
            flagged += bool(why)
            print(f"| {i} | {took:.0f} | {'yes' if why else 'no'} | {why or ''} |")
    print(f"\n{flagged} of {times} cached as disturbed (the target: at most one, with a reason)")


def above_ceiling(path: Path) -> None:
    from flopbench.results.files import read_run

    print(f"\n## 3. Records of {path.name} above their measured ceiling by more than 5%\n")
    run = read_run(path)
    found = 0
    for r in run.records:
        if r.status == "ok" and r.ceiling_utilization and r.ceiling_utilization > 1.05:
            found += 1
            cause = "; ".join(w for w in r.warnings if "ceiling" in w or "above" in w) or "NO CAUSE NAMED"
            print(f"- {r.name} ({r.dtype}): {r.ceiling_utilization:.0%} of its ceiling: {cause}")
    measured = sum(r.status == "ok" for r in run.records)
    print(f"{found} of {measured} measured records above their ceiling by more than 5%")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", type=int, default=3, help="fresh measurements into empty caches (3)")
    parser.add_argument("--results", type=Path, help="a default-suite run to check against its ceilings")
    args = parser.parse_args()
    threads = default_threads()
    torch.set_num_threads(threads)
    ceilings(threads)
    if args.fresh:
        fresh(args.fresh)
    if args.results:
        above_ceiling(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
