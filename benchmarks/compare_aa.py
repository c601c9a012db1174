"""What comparisons can tell on this machine, measured: how often an A/A comparison calls a change that is not there,
and how large a planted change must be to be caught, for the kinds of comparison flopbench makes.

    .venv/bin/python benchmarks/compare_aa.py separate  [--suite quick] [--repeat 10] [--planted 1.30]
    .venv/bin/python benchmarks/compare_aa.py paired    [--suite quick] [--repeat 10]
    .venv/bin/python benchmarks/compare_aa.py processes [--suite quick] [--rounds 4]

separate: two back-to-back `flopbench run`s of the suite per repetition, compared as separate runs. It prints the
within-run spread (the standard deviation of a workload's log round medians inside one run), the between-run offset
(what two runs differ by beyond that: flopbench.reading.comparison.run_offset), the verdicts and gate of the A/A pair
(want no exit 1 in 10), and of a copy with one workload planted `--planted` times slower; the offset is learnt into
this machine's A/A history (`compare` uses it, with its pairs as degrees of freedom, once it rests on 3).

paired: `flopbench ab SUITE --impl eager,eager --fail-slower 5%` per repetition in its default budget (an A/A in one
process; rows short of the precision the gate needs get more rounds): the gate's exit (want 0 exit 1, at least 8 of 10
exit 0), how long it took, each workload's rounds and the gate's catch point (its MDE column); then for the first three
repetitions a 5% slowdown planted in each workload in turn, judged at --fail-slower 2% (is it called slower, and does
the gate fail naming it?).

processes: `flopbench ab SUITE --python THIS --python THIS` (an A/A across processes): its paired intervals.

Every figure depends on the host's other tenants: quote each run with the machine's floor (its canary and the
within-run spread), never the best of several.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flopbench.reading.comparison import compare, run_offset  # noqa: E402
from flopbench.reading.view import load_views  # noqa: E402
from flopbench.results.files import ResultsWriter, read_run  # noqa: E402


def flopbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flopbench", *args], capture_output=True, text=True, cwd=ROOT)


def checked(*args: str) -> subprocess.CompletedProcess:
    done = flopbench(*args)
    if done.returncode not in (0, 1, 2):
        sys.exit(f"flopbench {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return done


def slowed(path: Path, out: Path, name: str | None, factor: float) -> None:
    """A copy of the run at `path` whose workload `name` (every workload: None) took `factor` times as long in every
    sample and round."""
    run = read_run(path)
    writer = ResultsWriter.create(out, run.header.model_copy(update={"run_id": out.stem}))
    for r in run.records:
        if (name is None or r.name == name) and r.time_s:
            rounds = [
                x.model_copy(update={"time_s": x.time_s * factor, "samples_s": [s * factor for s in x.samples_s]})
                for x in r.rounds
            ]
            rates = {
                k: v / factor
                for k, v in r.model_dump().items()
                if k.endswith("_per_s") and isinstance(v, float) and k != "time_s"
            }
            r = r.model_copy(update={"rounds": rounds, "time_s": r.time_s * factor, **rates})
        writer.record(r)
    writer.close()


def log_rounds(path: Path) -> dict[str, np.ndarray]:
    return {
        r.identity: np.log([x.time_s for x in r.rounds])
        for r in read_run(path).records
        if r.status == "ok" and len(r.rounds) >= 2
    }


def offsets(a: Path, b: Path) -> tuple[float, float]:
    """(within-run spread, between-run offset) of two runs of one suite: the median over workloads of the standard
    deviation of their log round medians, and one run's offset (flopbench.reading.comparison.run_offset: the
    workloads' differences of mean log time, less what the rounds' scatter explains, read robustly)."""
    ra, rb = log_rounds(a), log_rounds(b)
    rounds = min(len(v) for v in (*ra.values(), *rb.values()))
    shared = [k for k in ra if k in rb]
    within = float(np.median([np.std(ra[k], ddof=1) for k in shared] + [np.std(rb[k], ddof=1) for k in shared]))
    first = [ra[k][:rounds] for k in shared], [rb[k][:rounds] for k in shared]  # as many rounds for every workload
    return within, run_offset(*first)


def canary_floor(path: Path) -> str:
    """The run's canary against the machine's quietest run: the floor its numbers stand on."""
    speed = load_views([path])[0].trust.speed
    if speed is None or not (speed.median_s and speed.reference_s):
        return "canary: no reference"
    return f"canary {speed.median_s / speed.reference_s - 1:+.1%} from the quietest run"


def verdict_counts(result) -> str:
    column = result.table["verdict[B]"]
    return ", ".join(f"{v} {int((column == v).sum())}" for v in ("faster", "slower", "same", "unsure"))


def families_excluding_one(result) -> list[str]:
    rows = result.summary.dropna(subset=["geomean_low"])
    return [
        f"{r.family} {r.geomean_speedup:.3g}x" for r in rows.itertuples() if not r.geomean_low <= 1 <= r.geomean_high
    ]


def separate(args: argparse.Namespace, scratch: Path) -> None:
    from flopbench.machine.cache import learn_drift, load_drift

    print(f"# Separate runs: `{args.suite}` run twice back to back, 5% threshold, 95% intervals\n")
    for rep in range(1, args.repeat + 1):
        a, b, planted = (scratch / f"{x}{rep}.jsonl" for x in ("a", "b", "planted"))
        for path in (a, b):
            checked("run", args.suite, "--no-measure", "-q", "--format", "csv", "--out", str(path))
        views = load_views([a, b])
        result = compare(views)
        exit_aa = flopbench("compare", str(a), str(b), "--fail-slower", "5%", "-q", "--format", "csv").returncode
        name = next(n for n in result.table["name"] if args.target in n)
        slowed(b, planted, name, args.planted)
        caught = compare(load_views([a, planted]))
        planted_verdict = dict(zip(caught.table["name"], caught.table["verdict[B]"]))[name]
        exit_planted = flopbench("compare", str(a), str(planted), "--fail-slower", "5%", "-q", "--format", "csv")
        within, between = offsets(a, b)
        mde = float(np.median(result.table["mde[B]"]))  # the gate's catch point at 5%
        print(f"## repetition {rep} ({canary_floor(a)}; {canary_floor(b)})")
        print(f"- {result.notes[0]}")
        print(f"- within-run spread {within:.1%}, between-run offset {between:.1%} a run, median catch point {mde:.0%}")
        print(f"- A/A verdicts: {verdict_counts(result)}; families excluding 1: {families_excluding_one(result) or 0}")
        print(f"- A/A gate --fail-slower 5%: exit {exit_aa}")
        print(f"- {name} planted {args.planted - 1:.0%} slower: {planted_verdict}; gate exit {exit_planted.returncode}")
        device, threads = views[0].header.device, views[0].header.threads
        if device is not None and threads is not None and args.learn:
            sd, pairs = learn_drift(device, threads, between)
            print(f"- learnt: this machine's A/A history is now {sd:.1%} a run over {pairs} pair(s) of runs")
        elif device is not None and threads is not None:
            print(f"- this machine's A/A history: {load_drift(device, threads)}")
        print()


def ab(scratch: Path, name: str, *args: str) -> tuple[Path, Path, int, float]:
    out = scratch / name
    started = time.perf_counter()
    done = checked("ab", *args, "-o", str(out), "-q", "--format", "csv", "--no-measure", "--fail-slower", "5%")
    return out / "A.jsonl", out / "B.jsonl", done.returncode, time.perf_counter() - started


def planted_each(a: Path, b: Path, scratch: Path, factor: float, threshold: float) -> tuple[int, int, int]:
    """A slowdown of `factor` planted in each workload of side B in turn, judged at --fail-slower `threshold`: (how
    many are called slower by their verdict, how many fail the gate naming that workload, how many workloads)."""
    names = [r.name for r in read_run(b).records if r.status == "ok"]
    called = failed = 0
    for i, name in enumerate(names):
        copy = scratch / f"plant-{i}.jsonl"
        slowed(b, copy, name, factor)
        result = compare(load_views([a, copy]), threshold=threshold)
        called += dict(zip(result.table["name"], result.table["verdict[B]"]))[name] == "slower"
        status, lines = result.gate(threshold)
        failed += status == 1 and any(line.startswith(f"{name} (") for line in lines)
        copy.unlink()
    return called, failed, len(names)


def paired(args: argparse.Namespace, scratch: Path) -> None:
    exits, took_s = [], []
    print(
        f"# Paired A/A in one process: `flopbench ab {args.suite} --impl eager,eager --fail-slower 5%`,"
        " its default budget\n"
    )
    print(
        "| rep | took | gate exit | rounds (min-median-max) | median catch point |"
        " 5% planted, at 2%: called / gate fails |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for rep in range(1, args.repeat + 1):
        a, b, status, took = ab(scratch, f"aa{rep}", args.suite, "--impl", "eager,eager")
        exits.append(status)
        took_s.append(took)
        result = compare(load_views([a, b]), threshold=0.05)
        rounds = [len(r.rounds) for r in read_run(a).records if r.status == "ok"]
        planted = "-"
        if rep <= 3:
            called, failed, count = planted_each(a, b, scratch, 1.05, 0.02)
            planted = f"{called}/{count} / {failed}/{count}"
        print(
            f"| {rep} | {took:.0f} s | {status} | {min(rounds)}-{int(np.median(rounds))}-{max(rounds)} |"
            f" {float(np.median(result.table['mde[B]'])):.1%} | {planted} |"
        )
    print(f"\nGate exits over {len(exits)} A/A runs: " + ", ".join(f"exit {e}: {exits.count(e)}" for e in (0, 1, 2)))
    print(f"Time per run: {min(took_s):.0f}-{max(took_s):.0f} s (median {float(np.median(took_s)):.0f} s)")


def processes(args: argparse.Namespace, scratch: Path) -> None:
    a, b, status, took = ab(
        scratch, "py", args.suite, "--python", sys.executable, "--python", sys.executable, "--rounds", str(args.rounds)
    )
    result = compare(load_views([a, b]))
    print(
        f"# Two Pythons (the same one twice), {args.rounds} processes a side, ABBA: {took:.0f} s, gate exit {status}\n"
    )
    print(f"{result.notes[0]}\n")
    for _, r in result.table.iterrows():
        print(
            f"- {r['name']}: {r['speedup[B]']:.3g}x ({r['speedup_low[B]']:.3g}-{r['speedup_high[B]']:.3g}),"
            f" {r['verdict[B]']}, MDE80 {r['mde[B]']:.0%}"
        )
    print(f"\nverdicts: {verdict_counts(result)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["separate", "paired", "processes"])
    parser.add_argument("--suite", default="quick", help="the suite (quick)")
    parser.add_argument("--repeat", type=int, default=10, help="repetitions (10)")
    parser.add_argument("--rounds", type=int, default=4, help="processes: ab --rounds (4)")
    parser.add_argument("--planted", type=float, default=1.30, help="separate: the planted slowdown (1.30)")
    parser.add_argument("--target", default="gemm-m512-n512-k512", help="separate: the workload planted (a name part)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="write the runs into DIR and keep them")
    parser.add_argument("--no-learn", dest="learn", action="store_false", help="separate: leave the A/A history alone")
    args = parser.parse_args()
    started = time.perf_counter()
    kind = {"separate": separate, "paired": paired, "processes": processes}[args.kind]
    if args.keep:  # the runs stay there, to be read again
        args.keep.mkdir(parents=True, exist_ok=True)
        kind(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="compare-aa-") as scratch:
            kind(args, Path(scratch))
    print(f"\n({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
