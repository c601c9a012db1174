"""Do back-to-back runs agree? Three runs of a suite of >= 1 ms workloads, one after the other, as `flopbench run`
measures them for a user (default options: rounds, --on-busy).

Prints per workload: each run's median, the spread across runs ((max - min) / min), and whether any run flagged it
unstable or disturbed, or measured it slowest in a run called slow as a whole (its canaries' median more than 5%
slower than the quietest earlier run's, the runs sharing one ceilings cache); then each run's canary median.
Targets (issue 12): every workload's medians within 5% of each other, or flagged; at least 60% of workloads within 5%
(flagging everything is no answer).

Then, unless --no-floor, the machine's own floor: after each flopbench run, a plain process as long as that run
took (the two share the machine's state of the moment) times the same workloads in the gentlest way there is: inputs
built once, the workloads taking turns every FLOOR_SLOT_S, each one's figure the median of its turns' medians over the
whole process, no canary, no checks, freed memory kept for the next call as flopbench keeps it
(flopbench.measuring.memory). Whatever spread those show is the machine's, not the harness's: the column "floor" beside
flopbench's spread says how much of a miss flopbench could have avoided. (On a 2-vCPU AMD EPYC Zen 3 KVM guest,
2026-12-02, five such 15 s processes left 0 of 10 workloads within 5%: a 512^3 GEMM 6.9% apart, a depthwise conv 54%;
that conv's calls were then 8 ms with page faults or 0.8 ms without, by chance, before freed memory was kept.)

    .venv/bin/python benchmarks/stability.py [--suite benchmarks/suites/steady.toml] [--runs 3] [-- RUN OPTIONS]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WITHIN = 0.05
FLOOR_SLOT_S = 0.03  # each workload's turn in the floor measurement: short, so its turns spread over the whole process


def floor_child(suite: str, seconds: float, threads: int) -> None:
    """One floor process: the suite's workloads built once, taking turns for `seconds`; prints name -> median (JSON)."""
    import statistics
    import time

    import torch

    from flopbench.measuring.memory import keep_freed_memory
    from flopbench.workloads.suite import load_suite

    keep_freed_memory()  # as flopbench times a CPU: what the allocator does is not the machine's noise
    torch.set_num_threads(threads)
    with torch.no_grad():
        fns = {w.name: w.build("cpu") for w in load_suite(suite).workloads if w.runs_on("cpu")}
        for fn in fns.values():
            fn()  # first-call costs are not the figure
        turns: dict[str, list[float]] = {name: [] for name in fns}
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            for name, fn in fns.items():
                samples: list[float] = []
                started = time.perf_counter()
                while len(samples) < 2 or time.perf_counter() - started < FLOOR_SLOT_S:
                    t0 = time.perf_counter()
                    fn()
                    samples.append(time.perf_counter() - t0)
                turns[name].append(statistics.median(samples))
    print(json.dumps({name: statistics.median(t) for name, t in turns.items()}))


def floor_run(suite: str, seconds: float, threads: int) -> dict[str, float]:
    child = [sys.executable, __file__, "--floor-child", f"{seconds:.3f}", "--threads", str(threads), "--suite", suite]
    result = subprocess.run(child, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"floor measurement failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default=str(HERE / "suites" / "steady.toml"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="keep the runs' results files in DIR")
    parser.add_argument("--no-floor", action="store_true", help="skip the machine's own floor (as many plain runs)")
    parser.add_argument("--floor-child", type=float, metavar="SECONDS", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("extra", nargs="*", help="options for flopbench run (after --)")
    args = parser.parse_args()
    if args.floor_child is not None:
        floor_child(args.suite, args.floor_child, args.threads)
        return 0
    import time

    from flopbench.results.files import read_run
    from flopbench.results.trust import run_speed

    runs, speeds, seconds, threads = [], [], [], 1
    floors: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FLOPBENCH_CACHE_DIR": os.environ.get("FLOPBENCH_CACHE_DIR", str(Path(tmp) / "cache"))}
        for i in range(args.runs):
            out = Path(args.keep or tmp) / f"run{i}.jsonl"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.unlink(missing_ok=True)
            started = time.perf_counter()
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "flopbench",
                    "run",
                    args.suite,
                    "--device",
                    "cpu",
                    "--out",
                    str(out),
                    *args.extra,
                ],
                capture_output=True,
                text=True,
                env=env,
            )
            if result.returncode != 0:
                sys.exit(f"flopbench run failed:\n{result.stderr[-3000:]}")
            seconds.append(time.perf_counter() - started)
            run = read_run(out)
            threads = run.header.threads or threads
            runs.append({r.name: r for r in run.records if r.time_s})
            quiet = run.header.quiet_check or {}
            speeds.append(run_speed(run.records, quiet.get("canary_baseline_s"), quiet.get("canary_run_reference_s")))
            if not args.no_floor:  # right after its run, as long: a drift of the machine's speed reaches both alike
                floors.append(floor_run(args.suite, seconds[-1], threads))
    names = [n for n in runs[0] if all(n in r for r in runs)]
    span = sorted(seconds)[len(seconds) // 2]
    floor_within = 0
    rows, within, flagged_only, neither = [], 0, 0, []
    for name in names:
        records = [r[name] for r in runs]
        times = [r.time_s or 0.0 for r in records]  # every one measured: runs keep only records with a time
        spread = max(times) / min(times) - 1
        flags = sorted(
            {
                ("unstable" if r.stable is False else "")
                or ("disturbed" if r.disturbed else "")
                or ("slow run" if speed is not None and speed.slow and r.time_s == max(times) else "")
                for r, speed in zip(records, speeds)
            }
            - {""}
        )
        if spread <= WITHIN:
            within += 1
        elif flags:
            flagged_only += 1
        else:
            neither.append(name)
        floor = ""
        if floors and all(name in f for f in floors):
            plain = [f[name] for f in floors]
            floor_spread = max(plain) / min(plain) - 1
            floor_within += floor_spread <= WITHIN
            floor = f"{floor_spread:.1%}"
        rows.append([name, *(f"{t * 1e3:.3f}" for t in times), f"{spread:.1%}", ", ".join(flags) or "-", floor])
    header = ["workload", *(f"run {i + 1} ms" for i in range(args.runs)), "spread", "flagged in some run", "floor"]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    for row in (header, ["-" * w for w in widths], *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    for i, speed in enumerate(speeds):
        if speed is not None:
            print(
                f"run {i + 1}: {speed.sentence()}"
                + (f" (median canary {speed.median_s * 1e3:.3f} ms)" if speed.median_s else "")
            )
    share = within / len(names) if names else 0.0
    print(
        f"\n{within} of {len(names)} workloads ({share:.0%}) within {WITHIN:.0%} across {args.runs} runs (target:"
        f" >= 60%); {flagged_only} more flagged; {len(neither)} neither (target: 0)."
    )
    if floors:
        print(
            f"the machine's floor: {floor_within} of {len(names)} workloads within {WITHIN:.0%} across {args.runs}"
            f" plain processes of {span:.0f} s each, one after each run (inputs built once, workloads taking turns"
            f" every {FLOOR_SLOT_S * 1e3:.0f} ms): what no harness could do better than here"
        )
    ok = not neither and share >= 0.6
    print("verdict:", "ok" if ok else f"NOT MET: {', '.join(neither) or f'only {share:.0%} within'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
