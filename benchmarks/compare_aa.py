"""A/A honesty of `flopbench compare`: does it call an unchanged machine unchanged, and does it catch a real slowdown?

Each repetition:
1. two back-to-back runs of the same suite on this machine (`flopbench run`, default settings: 3 rounds), compared
   at the default threshold (5%): how many workloads were called faster or slower (false alarms; the target is at
   most 1 in 20), and the exit status of `flopbench compare A B --fail-slower 5%` (the target: 0);
2. a copy of the second run with one workload's every sample, round median and figure made 15% slower (the planted
   slowdown): whether it is called slower, and the exit status of the gate on it (the target: 1). Beside it, how many
   of all the workloads would be caught had the same slowdown been planted in each (the comparison's power here).

    .venv/bin/python benchmarks/compare_aa.py [--suite quick] [--repeat 3] [--rounds 3] [--planted REGEX]

Then the machine's own floor: the spread of a workload's round medians within a run (the median over workloads of
the standard deviation of their logarithms), and the smallest slowdown a comparison of two such runs can call
slower at that spread (the threshold, times the reach of a 95% Welch interval of that many rounds a side).

The runs reuse this machine's cached ceilings where there are some and measure none (--no-measure): the roofs do
not enter a verdict.
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flopbench.reading.comparison import compare  # noqa: E402
from flopbench.reading.view import load_views  # noqa: E402
from flopbench.results.files import ResultsWriter, read_run  # noqa: E402

SLOWDOWN = 1.15
THRESHOLD = "5%"


def flopbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flopbench", *args], capture_output=True, text=True, cwd=ROOT)


def run_suite(suite: str, out: Path, rounds: int) -> float:
    started = time.perf_counter()
    done = flopbench("run", suite, "--no-measure", "--rounds", str(rounds), "--out", str(out), "-q", "--format", "csv")
    if done.returncode != 0:
        sys.exit(f"flopbench run failed ({done.returncode}): {done.stderr.strip()}")
    return time.perf_counter() - started


def slowed(path: Path, out: Path, name: str, factor: float = SLOWDOWN) -> None:
    """A copy of the run at `path` whose workload `name` took `factor` times as long in every sample and round."""
    run = read_run(path)
    writer = ResultsWriter.create(out, run.header.model_copy(update={"run_id": out.stem}))
    for r in run.records:
        if r.name == name and r.time_s:
            rounds = [
                x.model_copy(update={"time_s": x.time_s * factor, "samples_s": [s * factor for s in x.samples_s]})
                for x in r.rounds
            ]
            update = {
                "rounds": rounds,
                "time_s": r.time_s * factor,
                "samples_s": [s * factor for s in r.samples_s],
                "total_flops_per_s": r.total_flops / (r.time_s * factor),
                "core_flops_per_s": r.core_flops / (r.time_s * factor),
            }
            r = r.model_copy(update=update)
        writer.record(r)
    writer.close()


def round_spread(paths: list[Path]) -> float:
    """The median over workloads of the standard deviation of the logarithms of their round medians, within a run."""
    spreads = []
    for path in paths:
        for r in read_run(path).records:
            if r.status == "ok" and len(r.rounds) >= 2:
                spreads.append(float(np.std(np.log([x.time_s for x in r.rounds]), ddof=1)))
    return float(np.median(spreads))


def gate(base: Path, other: Path) -> int:
    return flopbench("compare", str(base), str(other), "--fail-slower", THRESHOLD, "-q", "--format", "csv").returncode


def verdicts(base: Path, other: Path) -> dict[str, str]:
    table = compare(load_views([base, other])).table
    return dict(zip(table["name"], table["verdict[B]"], strict=True))


def power(base: Path, other: Path, scratch: Path) -> tuple[int, int]:
    """How many workloads would be called slower had the slowdown been planted in each (in turn)."""
    names = [n for n, v in verdicts(base, other).items() if v != "-"]
    caught = 0
    for i, name in enumerate(names):
        copy = scratch / f"power-{i}.jsonl"
        slowed(other, copy, name)
        caught += verdicts(base, copy)[name] == "slower"
        copy.unlink()
    return caught, len(names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="quick", help="the suite run twice (quick)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (3)")
    parser.add_argument("--rounds", type=int, default=3, help="flopbench run --rounds (3, its default)")
    parser.add_argument(
        "--planted", default=r"^gemm-m512-n512-k512-", help="the workload made slower: the first name matching"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="compare-aa-") as scratch:
        scratch = Path(scratch)
        for rep in range(1, args.repeat + 1):
            a, b, planted = scratch / f"a{rep}.jsonl", scratch / f"b{rep}.jsonl", scratch / f"planted{rep}.jsonl"
            took = run_suite(args.suite, a, args.rounds) + run_suite(args.suite, b, args.rounds)
            aa = verdicts(a, b)
            alarms = sorted(f"{n} ({v})" for n, v in aa.items() if v in ("faster", "slower"))
            name = next((n for n in aa if re.search(args.planted, n)), None)
            if name is None:
                sys.exit(f"--planted {args.planted!r}: no workload of {args.suite} matches; names: {', '.join(aa)}")
            slowed(b, planted, name)
            planted_verdict = verdicts(a, planted)[name]
            caught, measured = power(a, b, scratch)
            rows.append(
                {
                    "rep": rep,
                    "workloads": sum(v != "-" for v in aa.values()),
                    "alarms": alarms,
                    "same": sum(v == "same" for v in aa.values()),
                    "unsure": sum(v == "unsure" for v in aa.values()),
                    "gate_aa": gate(a, b),
                    "name": name,
                    "planted": planted_verdict,
                    "gate_planted": gate(a, planted),
                    "power": f"{caught}/{measured}",
                    "took": took,
                    "spread": round_spread([a, b]),
                }
            )
            print(f"repetition {rep}: two runs in {took:.0f} s", file=sys.stderr)
    print(f"# A/A comparisons: `{args.suite}` run twice back to back, threshold {THRESHOLD}, 95% intervals\n")
    print(
        "| rep | workloads | called faster or slower (A/A) | same | unsure | gate A/A (want 0) |"
        f" planted: {SLOWDOWN - 1:.0%} slower | gate planted (want 1) | caught if planted in each |"
    )
    print("|---:|---:|---|---:|---:|---:|---|---:|---:|")
    for r in rows:
        alarms = f"{len(r['alarms'])}: " + ", ".join(r["alarms"]) if r["alarms"] else "0"
        print(
            f"| {r['rep']} | {r['workloads']} | {alarms} | {r['same']} | {r['unsure']} | {r['gate_aa']} |"
            f" {r['name']}: {r['planted']} | {r['gate_planted']} | {r['power']} |"
        )
    spread = float(np.median([r["spread"] for r in rows]))
    t = stats.t.ppf(0.975, 2 * args.rounds - 2)
    smallest = (1 + float(THRESHOLD[:-1]) / 100) * math.exp(t * spread * math.sqrt(2 / args.rounds)) - 1
    print(
        f"\nThe machine's floor: a workload's round medians spread {spread:.1%} within a run (the median over workloads"
        f" and repetitions of the standard deviation of their logarithms), so with {args.rounds} rounds a side"
        f" `compare` can call a slowdown from about {smallest:.0%} on (the interval's half-width at that spread, past"
        f" the {THRESHOLD} threshold)"
    )
    ok_aa = all(len(r["alarms"]) * 20 <= r["workloads"] for r in rows) and all(r["gate_aa"] == 0 for r in rows)
    ok_planted = all(r["planted"] == "slower" and r["gate_planted"] == 1 for r in rows)
    print(f"\nA/A: at most 1 in 20 called faster or slower and the gate passing, every repetition: {ok_aa}")
    print(f"Planted {SLOWDOWN - 1:.0%} slowdown called slower and failing the gate, every repetition: {ok_planted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
