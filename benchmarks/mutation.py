"""Mutation testing of the modules that hold flopbench's numbers: does a wrong formula fail a test?

mutmut (3.x) changes one thing at a time in these modules (an operator, a constant, a comparison, a returned
value, a string) and runs the tests that call the changed function; a mutant the tests do not notice *survived*.
Every survivor is either a test to write or a change that cannot be seen (an equivalent mutant). The equivalent ones,
judged by hand, are written down with the reason in benchmarks/mutation_equivalents.toml; the script prints killed,
equivalent and survived per module, and the diff of every survivor still unexplained.

    .venv/bin/python benchmarks/mutation.py [--module intervals] [--keep DIR] [--report]

--report prints the table again from the run kept in DIR (after editing the equivalents) without running anything.

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
    "timing": (
        "flopbench/measuring/timing.py",
        ["tests/test_timing.py", "tests/test_memory.py", "tests/test_summary.py"],
    ),
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


EQUIVALENTS = ROOT / "benchmarks" / "mutation_equivalents.toml"
COLUMNS = ("killed", "timeout", "equivalent", "survived", "no tests")


def equivalents() -> dict[tuple[str, str], str]:
    """(function, the mutant's changed line) -> why no test can tell it from the original, as judged and written down
    in benchmarks/mutation_equivalents.toml (keyed by text, not by mutmut's numbers, which move when code does)."""
    import tomllib

    table = tomllib.loads(EQUIVALENTS.read_text())
    return {(e["function"], change): e["why"] for e in table["equivalent"] for change in e["changes"]}


def changed_line(scratch: Path, name: str) -> tuple[str, str]:
    """A mutant's diff: (the original line, the mutated line), stripped."""
    diff = [line for line in mutmut(scratch, "show", name).splitlines() if line.startswith(("-", "+"))]
    diff = [line for line in diff if not line.startswith(("---", "+++"))]
    old = next((line[1:].strip() for line in diff if line.startswith("-")), "")
    new = next((line[1:].strip() for line in diff if line.startswith("+")), "")
    return old, new


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", choices=sorted(MODULES), help="only these (default: all)")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (mutmut browse there)")
    parser.add_argument("--report", action="store_true", help="only report the run kept in --keep DIR")
    args = parser.parse_args()
    if args.report and not (args.keep and (args.keep / "mutants").is_dir()):
        parser.error("--report needs --keep DIR of an earlier run")
    import importlib.util

    if importlib.util.find_spec("mutmut") is None:
        sys.exit("mutmut is not installed: .venv/bin/pip install mutmut")
    modules = args.module or sorted(MODULES)
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="flopbench-mutation-"))
    started = time.perf_counter()
    survivors: list[str] = []
    if not args.report:
        scratch.mkdir(parents=True, exist_ok=True)
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
    known = equivalents()
    diffs = {name: changed_line(scratch, name) for name, status in final.items() if status == "survived"}
    judged = {name: known.get((function_of(name), new)) for name, (_, new) in diffs.items()}
    for name, why in judged.items():
        if why is not None:
            final[name] = "equivalent"
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for name, status in final.items():  # a run stopped early leaves mutants "not checked": not run, said so
        counts[module_of(name)][status if status in COLUMNS else "not run"] += 1
    print(f"# Mutation testing ({time.perf_counter() - started:.0f} s, mutmut, {scratch})\n")
    # A mutant no listed test runs is not caught either. 'survived' is what no test catches and no one has judged
    # equivalent (benchmarks/mutation_equivalents.toml): each is a test to write.
    columns = (*COLUMNS, "not run") if any(c["not run"] for c in counts.values()) else COLUMNS
    print("| module | mutants | " + " | ".join(columns) + " | not caught | unexplained |")
    print("|---|---:|" + "---:|" * len(columns) + "---:|---:|")
    total: collections.Counter = collections.Counter()
    for module in [*sorted(counts), "all"]:
        c = total if module == "all" else counts[module]
        if module != "all":
            total.update(c)
        n = max(sum(c.values()), 1)
        cells = " | ".join(str(c[k]) for k in columns)
        missed = c["equivalent"] + c["survived"] + c["no tests"]
        n_run = max(n - c["not run"], 1)  # the shares are of the mutants that ran
        print(f"| {module} | {n} | {cells} | {missed / n_run:.1%} | {(c['survived'] + c['no tests']) / n_run:.1%} |")
    if survivors:
        flipped = sum(1 for name in survivors if final.get(name) not in ("survived", "equivalent"))
        print(f"\n{flipped} of {len(survivors)} first-pass survivors were killed when run again alone.")
    print(
        "not caught: equivalent, survived and untested mutants over those that ran; unexplained: survived and untested"
        " only.\n"
    )
    for title, wanted in (("Survivors (no test catches them: write one)", "survived"), ("Equivalent", "equivalent")):
        names = sorted(name for name, status in final.items() if status == wanted)
        print(f"## {title}: {len(names)}\n")
        for name in names:
            old, new = diffs[name]
            why = f" ({judged[name]})" if judged.get(name) else ""
            print(f"- {function_of(name)}: `{old}` -> `{new}`{why}")
        print()
    used = {(function_of(name), new) for name, (_, new) in diffs.items()}
    present = {module_of(name) for name in final}
    stale = [key for key in known if key not in used and key[0].split(".")[0] in present]
    if stale:
        print("## Equivalents that matched no survivor (caught now, or the code changed: remove them)\n")
        for function, change in stale:
            print(f"- {function}: `{change}`")
        print()
    untested = collections.Counter(function_of(name) for name, status in final.items() if status == "no tests")
    if untested:
        print("## Functions no listed test calls (mutants)\n")
        for function, count in untested.most_common():
            print(f"- {function}: {count}")
    if args.keep is None:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
