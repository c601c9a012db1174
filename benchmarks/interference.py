"""Does flopbench notice a busy machine? A suite measured quiet, then beside a CPU hog that this script starts and
stops itself (by PID), as `flopbench run` measures it for a user (default options, a fresh results file each).

Prints per workload: the quiet and the busy median, the slowdown, and whether each record was flagged as disturbed.
Targets (issue 12): every record that moved by more than 15% is flagged; the quiet run flags at most one.

    .venv/bin/python benchmarks/interference.py [--suite benchmarks/suites/steady.toml] [--hogs 1] [-- RUN OPTIONS]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SLOWER = 0.15


def run(suite: str, out: Path, extra: list[str], env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "flopbench", "run", suite, "--device", "cpu", "--out", str(out), *extra]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"flopbench run failed:\n{result.stderr[-3000:]}")


def hog() -> subprocess.Popen:
    """One busy loop in another process: it competes with the run for the CPUs, as a user's other job would."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default=str(HERE / "suites" / "steady.toml"))
    parser.add_argument("--hogs", type=int, default=1, help="busy-looping processes beside the second run")
    parser.add_argument("--keep", metavar="DIR", help="keep the two runs' results files in DIR")
    parser.add_argument("extra", nargs="*", help="options for flopbench run (after --)")
    args = parser.parse_args()
    from flopbench.results.files import read_run

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FLOPBENCH_CACHE_DIR": os.environ.get("FLOPBENCH_CACHE_DIR", str(Path(tmp) / "cache"))}
        where = Path(args.keep or tmp)
        where.mkdir(parents=True, exist_ok=True)
        quiet_path, busy_path = where / "quiet.jsonl", where / "busy.jsonl"
        quiet_path.unlink(missing_ok=True)
        busy_path.unlink(missing_ok=True)
        run(args.suite, quiet_path, args.extra, env)
        hogs = [hog() for _ in range(args.hogs)]
        try:
            run(args.suite, busy_path, args.extra, env)
        finally:
            for process in hogs:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        quiet = {r.name: r for r in read_run(quiet_path).records if r.time_s}
        busy = {r.name: r for r in read_run(busy_path).records if r.time_s}

    rows, missed, quiet_flags = [], [], 0
    for name, q in quiet.items():
        b = busy.get(name)
        if b is None:
            continue
        slowdown = b.time_s / q.time_s - 1
        quiet_flags += q.disturbed
        if slowdown > SLOWER and not b.disturbed:
            missed.append(name)
        why = b.interference.reasons[0] if b.disturbed and b.interference and b.interference.reasons else ""
        rows.append(
            [
                name,
                f"{q.time_s * 1e3:.3f}",
                f"{b.time_s * 1e3:.3f}",
                f"{slowdown:+.0%}",
                "yes" if q.disturbed else "no",
                "yes" if b.disturbed else "no",
                why[:70],
            ]
        )
    header = [
        "workload",
        "quiet ms",
        f"beside {args.hogs} hog ms",
        "slowdown",
        "quiet flagged",
        "busy flagged",
        "why (busy run)",
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    for row in (header, ["-" * w for w in widths], *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    moved = sum(1 for r in rows if float(r[3].rstrip("%")) / 100 > SLOWER)
    print(
        f"\n{moved} of {len(rows)} records moved by more than {SLOWER:.0%} beside the hog;"
        f" {moved - len(missed)} of them flagged (target: all)."
    )
    print(f"The quiet run flagged {quiet_flags} of {len(rows)} (target: at most 1).")
    for name, q in quiet.items():
        if q.disturbed and q.interference:
            print(f"  quiet run, {name}: {'; '.join(q.interference.reasons)}")
    ok = not missed and quiet_flags <= 1
    print("verdict:", "ok" if ok else f"MISSED {', '.join(missed) or '-'}; quiet flags {quiet_flags}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
