"""Mutation testing of the modules that hold flopbench's numbers: does a wrong formula fail a test?

mutmut (3.x) changes one thing at a time in these modules (an operator, a constant, a comparison, a returned
value, a string) and runs the tests that call the changed function; a mutant the tests do not notice *survived*.
Every survivor is either a test to write or a change that cannot be seen (an equivalent mutant), and the script
prints each survivor's diff so that it can be judged.

    .venv/bin/python benchmarks/mutation.py [--module intervals] [--keep DIR]

It works on a copy of the tracked files (never the checkout), needs mutmut (`.venv/bin/pip install mutmut`), and
takes tens of minutes on 2 cores: it is not part of `make test`. Run it before resolving an issue that touches these
modules. Survivors are run a second time one by one before they are reported (a batch run can misreport one).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The modules that hold the numbers, and the tests that judge them.
MODULES = {
    "intervals": ("flopbench/reading/intervals.py", ["tests/test_intervals.py", "tests/test_comparison.py"]),
    "comparison": (
        "flopbench/reading/comparison.py",
        ["tests/test_comparison.py", "tests/test_comparison_answers.py", "tests/test_intervals.py"],
    ),
    "summary": (
        "flopbench/measuring/summary.py",
        ["tests/test_summary.py", "tests/test_trust.py", "tests/test_runner.py"],
    ),
    "roofline": (
        "flopbench/machine/roofline.py",
        ["tests/test_roofline.py", "tests/test_roofline_answers.py", "tests/test_trust.py", "tests/test_ledger.py"],
    ),
    "timing": ("flopbench/measuring/timing.py", ["tests/test_timing.py", "tests/test_memory.py"]),
    "files": ("flopbench/results/files.py", ["tests/test_results.py", "tests/test_files_answers.py"]),
}


def copy_tree(scratch: Path) -> None:
    """The working tree as git sees it (tracked files and new ones it does not ignore): new tests count too."""
    listed = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(listed, cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if not (ROOT / name).exists() and not (ROOT / name).is_symlink():
            continue  # deleted in the working tree
        if not name.startswith(".ci/"):  # the tests read docs, suites, the reference runs and their reports
            target = scratch / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target, follow_symlinks=False)  # suites/ is a link into flopbench/


def configure(scratch: Path, modules: list[str]) -> None:
    paths = [MODULES[m][0] for m in modules]
    tests = sorted({t for m in modules for t in MODULES[m][1]})
    with open(scratch / "pyproject.toml", "a") as f:
        f.write(
            "\n[tool.mutmut]\n"
            'source_paths = ["flopbench"]\n'
            'also_copy = ["docs", "suites", "results", "benchmarks", "README.md", "Makefile"]\n'
            f"only_mutate = {paths!r}\n"
            f"pytest_add_cli_args_test_selection = {tests!r}\n"
            'pytest_add_cli_args = ["-q", "-p", "no:cacheprovider"]\n'
        )


# mutmut forks each mutant's test run from a process that has run the tests once: an OpenMP or MKL thread pool made
# there deadlocks the child's first parallel region (the children sleep until mutmut's timeout and read as "caught").
# One thread each keeps the forks safe.
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def mutmut(scratch: Path, *args: str, log: Path | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", *args],
        cwd=scratch,
        capture_output=True,
        text=True,
        errors="replace",
        env={**os.environ, **SINGLE_THREADED},
    )
    if log is not None:
        log.write_text(done.stdout + done.stderr)
    return done.stdout


def statuses(scratch: Path) -> dict[str, str]:
    found = {}
    for line in mutmut(scratch, "results", "--all", "true").splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            found[name] = status
    return found


def module_of(mutant: str) -> str:
    dotted = mutant.split(".x")[0] if ".x" in mutant else mutant
    return dotted.rsplit(".", 1)[-1]


def function_of(mutant: str) -> str:
    """'flopbench.x.y.xǁClassǁmethod__mutmut_3' -> 'y.Class.method'."""
    module, _, name = mutant.rpartition(".")
    name = name.split("__mutmut_")[0]
    name = name.removeprefix("xǁ").replace("ǁ", ".") if name.startswith("xǁ") else name.removeprefix("x_")
    return f"{module.rsplit('.', 1)[-1]}.{name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", choices=sorted(MODULES), help="only these (default: all)")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (mutmut browse there)")
    args = parser.parse_args()
    import importlib.util

    if importlib.util.find_spec("mutmut") is None:
        sys.exit("mutmut is not installed: .venv/bin/pip install mutmut")
    modules = args.module or sorted(MODULES)
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="flopbench-mutation-"))
    scratch.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    copy_tree(scratch)
    configure(scratch, modules)
    mutmut(scratch, "run", log=scratch / "mutmut-run.log")
    first = statuses(scratch)
    if not first or all(status == "not checked" for status in first.values()):
        log = (scratch / "mutmut-run.log").read_text().strip().splitlines()
        sys.exit(
            f"mutmut made no mutants or could not run the tests; the last line of {scratch}/mutmut-run.log: "
            + (log[-1] if log else "(empty)")
        )
    survivors = [name for name, status in first.items() if status == "survived"]
    if survivors:  # once more, one by one: a survivor must survive twice
        mutmut(scratch, "run", *survivors, log=scratch / "mutmut-rerun.log")
    final = statuses(scratch)
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for name, status in final.items():
        counts[module_of(name)][status] += 1
    print(f"# Mutation testing ({time.perf_counter() - started:.0f} s, mutmut, {scratch})\n")
    # A mutant no listed test runs is not caught either: the share that counts is survived and untested together.
    print("| module | mutants | killed | timeout | survived | no tests | not caught |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    total = collections.Counter()
    for module in sorted(counts):
        c = counts[module]
        total.update(c)
        n = sum(c.values())
        print(
            f"| {module} | {n} | {c['killed']} | {c['timeout']} | {c['survived']} | {c['no tests']} |"
            f" {(c['survived'] + c['no tests']) / n:.1%} |"
        )
    n = sum(total.values())
    print(
        f"| all | {n} | {total['killed']} | {total['timeout']} | {total['survived']} | {total['no tests']} |"
        f" {(total['survived'] + total['no tests']) / max(n, 1):.1%} |"
    )
    flipped = sum(1 for name in survivors if final.get(name) != "survived")
    print(f"\n{flipped} of {len(survivors)} first-pass survivors were killed when run again alone.\n")
    print("## Survivors\n")
    for name, status in sorted(final.items()):
        if status == "survived":
            diff = [line for line in mutmut(scratch, "show", name).splitlines() if line.startswith(("-", "+"))]
            print(f"- {name}: " + " / ".join(line.strip() for line in diff if not line.startswith(("---", "+++"))))
    untested = collections.Counter(function_of(name) for name, status in final.items() if status == "no tests")
    if untested:
        print("\n## Functions no listed test calls (mutants)\n")
        for function, count in untested.most_common():
            print(f"- {function}: {count}")
    if args.keep is None:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
