"""Do back-to-back runs agree? Three runs of a suite of >= 1 ms workloads, one after the other, as `flopbench run`
measures them for a user (default options: rounds, --on-busy).

Prints per workload: each run's median, the spread across runs ((max - min) / min), and whether any run flagged it
unstable or disturbed, or measured it slowest in a run called slow as a whole (its canaries' median more than 5%
slower than the quietest earlier run's, the runs sharing one ceilings cache); then each run's canary median.
Targets (issue 12): every workload's medians within 5% of each other, or flagged; at least 60% of workloads within 5%
(flagging everything is no answer).

    .venv/bin/python benchmarks/stability.py [--suite benchmarks/suites/steady.toml] [--runs 3] [-- RUN OPTIONS]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WITHIN = 0.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default=str(HERE / "suites" / "steady.toml"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="keep the runs' results files in DIR")
    parser.add_argument("extra", nargs="*", help="options for flopbench run (after --)")
    args = parser.parse_args()
    from flopbench.interference import run_speed
    from flopbench.results import read_run

    runs, speeds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FLOPBENCH_CACHE_DIR": os.environ.get("FLOPBENCH_CACHE_DIR", str(Path(tmp) / "cache"))}
        for i in range(args.runs):
            out = Path(args.keep or tmp) / f"run{i}.jsonl"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.unlink(missing_ok=True)
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
            run = read_run(out)
            runs.append({r.name: r for r in run.records if r.time_s})
            quiet = run.header.quiet_check or {}
            speeds.append(run_speed(run.records, quiet.get("canary_baseline_s"), quiet.get("canary_run_reference_s")))
    names = [n for n in runs[0] if all(n in r for r in runs)]
    rows, within, flagged_only, neither = [], 0, 0, []
    for name in names:
        records = [r[name] for r in runs]
        times = [r.time_s for r in records]
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
        rows.append([name, *(f"{t * 1e3:.3f}" for t in times), f"{spread:.1%}", ", ".join(flags) or "-"])
    header = ["workload", *(f"run {i + 1} ms" for i in range(args.runs)), "spread", "flagged in some run"]
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
    ok = not neither and share >= 0.6
    print("verdict:", "ok" if ok else f"NOT MET: {', '.join(neither) or f'only {share:.0%} within'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
