"""How fast does flopbench start? Wall time of commands that should not import torch, pandas or matplotlib, beside
Python itself and `import torch`, best of N runs each (a start-up is a minimum: nothing makes it faster).

Target (issue 14): `flopbench --help` and `flopbench count matmul m=64 n=64 k=64` under 0.5 s on 2 cores.

    .venv/bin/python benchmarks/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

TARGET_S = 0.5
COMMANDS = [
    ("python -c pass", [sys.executable, "-c", "pass"], None),
    ("flopbench --help", [sys.executable, "-m", "flopbench", "--help"], TARGET_S),
    (
        "flopbench count matmul m=64 n=64 k=64",
        [sys.executable, "-m", "flopbench", "count", "matmul", "m=64", "n=64", "k=64"],
        TARGET_S,
    ),
    ("flopbench count default (validates the suite)", [sys.executable, "-m", "flopbench", "count", "default"], None),
    ("flopbench run --help", [sys.executable, "-m", "flopbench", "run", "--help"], None),
    ("python -c 'import torch' (for scale)", [sys.executable, "-c", "import torch"], None),
]
HEAVY = ("torch", "pandas", "matplotlib")


def best(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return min(times)


def imported(command: list[str]) -> list[str]:
    """Which heavy libraries a flopbench command imports (python -X importtime)."""
    if command[1:3] != ["-m", "flopbench"]:
        return []
    result = subprocess.run([command[0], "-X", "importtime", *command[1:]], capture_output=True, text=True)
    names = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")}
    return [lib for lib in HEAVY if lib in names]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base = best(COMMANDS[0][1], args.runs)
    rows, ok = [], True
    for label, command, target in COMMANDS:
        seconds = best(command, args.runs)
        heavy = imported(command)
        verdict = ""
        if target is not None:
            good = seconds < target and not heavy
            ok &= good
            verdict = "ok" if good else "TOO SLOW"
        rows.append(
            [
                label,
                f"{seconds:.3f}",
                f"{seconds / base:.1f}x",
                ", ".join(heavy) or "-",
                f"< {target} s" if target else "",
                verdict,
            ]
        )
    header = ["command", f"best of {args.runs} s", "vs python -c pass", "imports", "target", "verdict"]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    for row in (header, ["-" * w for w in widths], *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
