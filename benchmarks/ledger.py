"""The loss ledger on this machine (flopbench.measuring.ledger): does every placed record of a run have one that
multiplies out, do the losses land where the hardware says they should, how does measured thread scaling compare with
the ledger's derived parallelism, and can a busy machine fool the clock behind the derived peaks?

    .venv/bin/python benchmarks/ledger.py RESULTS          # a run of the default suite (flopbench run default)
    .venv/bin/python benchmarks/ledger.py RESULTS --scaling --clock

1. The ledgers of RESULTS: per record, the product of its factors against achieved / peak, and the factors of the
   GEMMs, convolutions, GEMV and depthwise convolution the done-when names.
2. --scaling: `flopbench ab quick --threads 1,P` (P: every CPU this process may use) on GEMMs, a convolution, an
   attention and elementwise kernels, paired: E(P) = T1 / (P x TP) with the pairs' interval, the Karp-Flatt serial
   fraction e = (1/S - 1/P) / (1 - 1/P), beside the ledger's derived parallelism factor at P threads.
3. --clock: the sustained clock measured quietly, then with as many busy processes as CPUs beside it.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flopbench.reading.losses import STEP_NAMES, achieved_share  # noqa: E402
from flopbench.results.files import read_run  # noqa: E402


def ledgers(path: Path) -> None:
    run = read_run(path)
    placed = [r for r in run.records if r.status == "ok" and r.bound is not None]
    missing = [r.name for r in placed if not r.ledger]
    worst = 0.0
    for record in placed:
        if record.ledger:
            product = math.prod(s.factor for s in record.ledger if s.factor is not None)
            worst = max(worst, abs(product / achieved_share(record) - 1))
    print(f"# Ledgers of {path.name}\n")
    print(
        f"{len(placed) - len(missing)} of {len(placed)} placed records have a ledger"
        + (f" (missing: {', '.join(missing)})" if missing else "")
        + f"; the factors multiply to achieved / peak (a copy's: achieved / its roof) within {worst:.2e} (relative)\n"
    )
    print("| workload | % peak | " + " | ".join(STEP_NAMES) + " | largest loss |")
    print("|---|---:|" + "---:|" * len(STEP_NAMES) + "---|")
    for record in placed:
        if not record.ledger:
            continue
        factors = {s.name: s.factor for s in record.ledger}
        cells = " | ".join("-" if factors.get(n) is None else f"{factors[n]:.2f}" for n in STEP_NAMES)
        share = f"{achieved_share(record):.1%}" + ("" if record.total_flops else " roof")
        print(f"| {record.name} | {share} | {cells} | {record.largest_loss or '-'} |")


def scaling(threads: int) -> None:
    from flopbench.reading.comparison import compare
    from flopbench.reading.view import load_views

    with tempfile.TemporaryDirectory(prefix="ledger-scaling-") as scratch:
        out = Path(scratch) / "ab"
        only = "^gemm-m512-n512-k512|^gemm-m256-n256-k256|resnet50-layer1|attention-l512|^add$|^softmax$|^gemv$"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "flopbench",
                "ab",
                "quick",
                "--threads",
                f"1,{threads}",
                "--only",
                only,
                "-o",
                str(out),
                "-q",
                "--format",
                "csv",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if done.returncode not in (0, 2):
            sys.exit(f"flopbench ab failed: {done.stderr.strip()[-300:]}")
        result = compare(load_views([out / "A.jsonl", out / "B.jsonl"]))
        derived = {
            r.name: next((s.factor for s in r.ledger or () if s.name == "parallelism"), None)
            for r in read_run(out / "B.jsonl").records
        }
    print(f"\n# Thread scaling, 1 against {threads} threads, paired (flopbench ab --threads 1,{threads})\n")
    print(f"| workload | speedup S (95%) | E({threads}) = S/{threads} (95%) | Karp-Flatt e | ledger parallelism |")
    print("|---|---:|---:|---:|---:|")
    for _, r in result.table.iterrows():
        s, low, high = r["speedup[B]"], r["speedup_low[B]"], r["speedup_high[B]"]
        karp = (1 / s - 1 / threads) / (1 - 1 / threads)
        factor = derived.get(r["name"])
        print(
            f"| {r['name']} | {s:.2f} ({low:.2f}-{high:.2f}) | {s / threads:.2f} ({low / threads:.2f}-"
            f"{high / threads:.2f}) | {karp:.2f} | {'-' if factor is None else f'{factor:.2f}'} |"
        )
    print(
        "\nE(P): the parallel efficiency; e: the serial fraction that efficiency implies. The ledger's parallelism is"
        " derived (the op's work units over the cores, waves and all), the rest of a poor E is the kernel's or the"
        " shared bandwidth's (a memory-bound op cannot scale past its bandwidth)."
    )


def clock_under_load() -> None:
    from flopbench.machine import clock
    from flopbench.machine.cache import cache_dir

    threads = len(os.sched_getaffinity(0))
    quiet = clock.measure(threads, cache_dir())
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(threads)]
    try:
        time.sleep(0.5)
        busy = clock.measure(threads, cache_dir())
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    print(f"\n# The sustained clock, quiet and beside {threads} busy processes\n")
    print(f"- quiet: {quiet.hz / 1e9:.3f} GHz ({quiet.how})")
    print(f"- busy:  {busy.hz / 1e9:.3f} GHz ({busy.how})")
    print(f"- busy / quiet: {busy.hz / quiet.hz:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="?", help="a run of the default suite")
    parser.add_argument("--scaling", action="store_true", help="measure thread scaling (flopbench ab)")
    parser.add_argument("--clock", action="store_true", help="the sustained clock, quiet and under load")
    args = parser.parse_args()
    if args.results:
        ledgers(args.results)
    if args.scaling:
        scaling(len(os.sched_getaffinity(0)))
    if args.clock:
        clock_under_load()
    return 0


if __name__ == "__main__":
    sys.exit(main())
