"""How faithful and how cheap flopbench's measurements are, measured side by side in one process.

    .venv/bin/python benchmarks/fidelity.py [--device cpu|cuda] [--rounds 5]

1. Timer fidelity: flopbench's timer against torch.utils.benchmark's blocked_autorange (and, on a GPU,
   triton.testing.do_bench) on the same built workloads, alternating, ratio of medians.
   Targets: within 3% for workloads of 1 ms and longer, within 10% under 20 us; on a GPU at least 0.98x
   do_bench's FLOP/s on a bf16 8192^3 matmul.
2. Ceilings: the measured float32 compute ceiling against the best torch.matmul of a separate sweep
   (target >= 0.97), and the bandwidth ceiling against a plain numpy triad on large arrays (>= 0.95).
3. Harness overhead: wall time not spent inside timed samples, over the quick suite (target < 20%).

Targets live here, not in the unit tests: the machines are shared and noisy, so these are numbers to read.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.benchmark import Timer

from flopbench.machine.device import describe
from flopbench.machine.roofline import Roofline
from flopbench.measuring.ceilings import Timed, measure_ceilings, stream_numel
from flopbench.measuring.runner import Runner, make_timer
from flopbench.results.schema import RunSettings
from flopbench.workloads import make_workload
from flopbench.workloads.suite import load_suite

TIMER_WORKLOADS = [
    ("matmul", dict(m=16, n=16, k=16)),  # a few microseconds
    ("elementwise", dict(kind="add", numel=4096)),
    ("matmul", dict(m=128, n=128, k=128)),
    ("conv2d", dict(batch=1, in_channels=16, out_channels=16, height=28, width=28, kernel=3, padding=1)),
    ("matmul", dict(m=512, n=512, k=512)),  # about a millisecond and more
    ("matmul", dict(m=1024, n=1024, k=1024)),
    ("conv2d", dict(batch=1, in_channels=64, out_channels=64, height=56, width=56, kernel=3, padding=1)),
    ("conv2d", dict(batch=8, in_channels=64, out_channels=64, height=56, width=56, kernel=3, padding=1)),
]


def table(title, header, rows):
    print(f"\n## {title}\n")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in (header, ["-" * w for w in widths], *rows):
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths)))


def timer_fidelity(device, settings, rounds, min_time):
    ours_timer = make_timer(device, settings.run)
    rows = []
    for op, params in TIMER_WORKLOADS:
        w = make_workload(op, params)
        fn = w.build(device.torch_device)
        ratios, ours, theirs = [], [], []
        for _ in range(rounds):  # alternate, so that drifts in the machine hit both timers alike
            a = ours_timer.measure(fn).median_s
            b = (
                Timer("fn()", globals={"fn": fn}, num_threads=settings.threads)
                .blocked_autorange(min_run_time=min_time)
                .median
            )
            ours.append(a)
            theirs.append(b)
            ratios.append(a / b)
        ratio = statistics.median(ratios)
        t = statistics.median(theirs)
        target = 0.03 if t >= 1e-3 else 0.10 if t < 20e-6 else None
        verdict = "-" if target is None else ("ok" if abs(ratio - 1) <= target else "OUTSIDE")
        rows.append(
            [
                w.name,
                f"{statistics.median(ours) * 1e6:.2f}",
                f"{t * 1e6:.2f}",
                f"{ratio:.3f}",
                f"{min(ratios):.3f}..{max(ratios):.3f}",
                f"+-{target:.0%}" if target else "(none)",
                verdict,
            ]
        )
    table(
        f"Timer: flopbench vs torch.utils.benchmark.blocked_autorange ({device.label}, {settings.threads} threads,"
        f" median of {rounds} alternating rounds)",
        ["workload", "flopbench us", "blocked_autorange us", "ratio", "range", "target", "verdict"],
        rows,
    )


def triton_fidelity(device, settings):
    try:
        from triton.testing import do_bench
    except ImportError:
        print("\n(triton is not installed: the do_bench comparison is skipped)")
        return
    w = make_workload("matmul", dict(m=8192, n=8192, k=8192), dtype="bfloat16")
    fn = w.build(device.torch_device)
    rows = []
    for _ in range(3):
        ours = make_timer(device, settings.run).measure(fn).median_s
        theirs = do_bench(fn, return_mode="median") / 1e3
        rows.append(
            [
                w.name,
                f"{w.counts.total_flops / ours / 1e12:.1f}",
                f"{w.counts.total_flops / theirs / 1e12:.1f}",
                f"{theirs / ours:.3f}",
                ">= 0.98",
                "ok" if theirs / ours >= 0.98 else "BELOW",
            ]
        )
    table(
        "GPU: flopbench FLOP/s vs triton.testing.do_bench",
        ["workload", "flopbench TFLOP/s", "do_bench TFLOP/s", "ratio", "target", "verdict"],
        rows,
    )


def best_matmul(device, threads, sizes, min_time):
    best = 0.0
    for s in sizes:
        a = torch.randn(s, s, device=device.torch_device)
        b = torch.randn(s, s, device=device.torch_device)
        stmt = "torch.matmul(a, b)" + ("; torch.cuda.synchronize()" if device.type == "cuda" else "")
        t = (
            Timer(stmt, globals={"a": a, "b": b, "torch": torch}, num_threads=threads)
            .blocked_autorange(min_run_time=min_time)
            .median
        )
        best = max(best, 2 * s**3 / t)
    return best


def numpy_triad(n):
    a, b, c = np.random.rand(n), np.random.rand(n), np.empty(n)
    times = []
    for _ in range(10):
        start = time.perf_counter()
        np.add(a, 3.0 * b, out=c)  # c = a + s*b, as plain numpy code writes it
        times.append(time.perf_counter() - start)
    return 3 * n * 8 / min(times)


def ceilings(device, settings):
    short = RunSettings(min_time_s=0.1, max_time_s=1.0)
    runner = Runner(device, Roofline.build(device), short, lambda r: None)

    def time_workload(workload, tf32):
        r = runner.run_one(workload)
        return Timed(r.time_s, r.total_flops_per_s or 0.0, r.bytes_per_s or 0.0)

    measured = measure_ceilings(device, time_workload).ceilings
    sizes = (256, 512, 1024, 2048, 3072, 4096) if device.type == "cpu" else (4096, 8192, 12288, 16384)
    sweep = best_matmul(device, settings.threads, sizes, 0.3)
    rows = [
        [
            "float32 compute",
            f"{measured['float32'].value / 1e9:.1f} GFLOP/s",
            "best torch.matmul of a sweep",
            f"{sweep / 1e9:.1f} GFLOP/s",
            f"{measured['float32'].value / sweep:.3f}",
            ">= 0.97",
            "ok" if measured["float32"].value >= 0.97 * sweep else "BELOW",
        ]
    ]
    if device.type == "cpu":
        triad = numpy_triad(stream_numel(device))
        rows.append(
            [
                "bandwidth",
                f"{measured['bandwidth'].value / 1e9:.1f} GB/s",
                "numpy triad (float64)",
                f"{triad / 1e9:.1f} GB/s",
                f"{measured['bandwidth'].value / triad:.3f}",
                ">= 0.95",
                "ok" if measured["bandwidth"].value >= 0.95 * triad else "BELOW",
            ]
        )
    table(
        "Ceilings: flopbench --measure vs separate measurements",
        ["ceiling", "flopbench", "against", "value", "ratio", "target", "verdict"],
        rows,
    )


def overhead(device, settings):
    suite = load_suite("quick")
    records = []
    runner = Runner(device, Roofline.build(device), RunSettings(min_time_s=0.2, max_time_s=1.0), records.append)
    start = time.perf_counter()
    runner.run([w for w in suite.workloads if w.runs_on(device.type)])
    wall = time.perf_counter() - start
    timed = sum(r.timed_s or 0 for r in records)
    share = 1 - timed / wall
    table(
        "Harness overhead over the quick suite",
        ["wall s", "inside timed samples s", "overhead", "target", "verdict"],
        [[f"{wall:.1f}", f"{timed:.1f}", f"{share:.1%}", "< 20%", "ok" if share < 0.2 else "ABOVE"]],
    )


@dataclass(frozen=True)
class Bench:
    threads: int
    run: RunSettings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.2)
    parser.add_argument("--skip", nargs="*", default=[], choices=["timer", "ceilings", "overhead"])
    args = parser.parse_args()
    threads = torch.get_num_threads()
    device = describe(args.device, threads)
    settings = Bench(threads, RunSettings(min_time_s=args.min_time, max_time_s=5 * args.min_time))
    print(f"# flopbench fidelity on {device.label}, torch {torch.__version__}, {threads} threads")
    if "timer" not in args.skip:
        timer_fidelity(device, settings, args.rounds, args.min_time)
        if device.type == "cuda":
            triton_fidelity(device, settings)
    if "ceilings" not in args.skip:
        ceilings(device, settings)
    if "overhead" not in args.skip:
        overhead(device, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
