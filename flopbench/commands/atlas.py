"""flopbench atlas: the reference runs shipped with flopbench (flopbench.reading.atlas), listed; `atlas add RESULTS`
checks a default-suite run and adds it under the name its machine's facts give."""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path
from typing import Any

from flopbench.commands.common import add_format_argument
from flopbench.errors import FlopbenchError

NAME = "atlas"
HELP = "the reference machines shipped with flopbench: list them, or add a run of the default suite as one"
DESCRIPTION = (
    "List the reference runs flopbench ships (machine, CPU facts or GPU, threads, torch, BLAS, suite, date, how quiet"
    " it was); compare a run against them with `flopbench compare RUN --against all`. `flopbench atlas add RESULTS`"
    " checks that a run of the default suite finished on a quiet enough machine, names it from the machine's own facts,"
    " and adds it (in a source checkout) with its report under results/reference/."
)
IMPORTS = ("numpy", "pandas")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["list", "add"], default="list", help="list (default) or add")
    parser.add_argument("results", nargs="?", type=Path, metavar="RESULTS", help="add: the run to add")
    add_format_argument(parser)


def main(args: argparse.Namespace) -> int:
    if args.action == "add":
        if args.results is None:
            raise FlopbenchError("flopbench atlas add RESULTS: give the results file of a `flopbench run default`")
        return add(args.results)
    if args.results is not None:
        raise FlopbenchError(f"flopbench atlas {args.results}: to add a run, say `flopbench atlas add {args.results}`")
    return show(args.format)


def show(fmt: str) -> int:
    from flopbench.console import print_table
    from flopbench.reading.atlas import BASELINE, references

    refs = references()
    rows = [reference.describe() for reference in refs]
    if not rows:
        raise FlopbenchError("no reference runs are shipped with this flopbench (flopbench/atlas is empty)")
    columns = list(rows[0])
    print_table(
        "Reference machines (flopbench compare RUN --against NAME|all)",
        columns,
        [[row[c] for c in columns] for row in rows],
        fmt=fmt,
        wrap=["facts", "device", "blas", "lacks"],
        optional=["device", "blas", "suite", "disturbed", "torch", "date"],
        caption=f"Names come from each run's recorded facts (family and model first, the ISA flags second). Scores"
        f" are against {BASELINE}. Lacks: what a reference measured by this flopbench holds and that older one does"
        " not; comparisons against it do without (the common DRAM roof, the nominal clock). A reference is renewed"
        " on a machine of its kind: flopbench run default, then flopbench atlas add RESULTS in a source checkout"
        " (docs/guide.md, 'The atlas').",
    )
    renew_note(refs)
    return 0


def renew_note(refs: list) -> None:
    """When this machine is the kind of a reference that lacks what a run here would record, say how to renew it."""
    from flopbench.console import info
    from flopbench.machine.device import describe
    from flopbench.machine.resolve import default_threads
    from flopbench.reading.atlas import aged

    device = describe("auto")
    old = aged(refs, device, default_threads() if device.type == "cpu" else None)
    if old is not None:
        info(
            f"flopbench: this machine is the kind of {old.name}, a reference that lacks {', '.join(old.lacks())}:"
            " renew it here with `flopbench run default`, then `flopbench atlas add RESULTS` (in a source checkout)"
        )


def add(path: Path) -> int:
    """Check `path` (a finished, quiet enough default-suite run), then copy it into the atlas under its facts' name,
    and beside the other references as results/reference/<date>_<name>_<suites>.jsonl with its report in the folder of
    that name; the older reference files of the same name and suites go (the atlas holds one run of each kind)."""
    from flopbench.console import info
    from flopbench.machine.cache import empty_cache
    from flopbench.reading.atlas import ATLAS, SUFFIX, admit
    from flopbench.reading.report import write_report
    from flopbench.results.files import read_run

    run = read_run(path)
    name, problems = admit(run)
    if problems:
        raise FlopbenchError(f"{path}: not a reference: " + "; ".join(problems))
    if not ATLAS.is_dir() or "site-packages" in ATLAS.parts:
        raise FlopbenchError(
            f"{ATLAS}: references are added in a source checkout of flopbench (this one is installed); clone it and"
            " run flopbench atlas add there"
        )
    target = ATLAS / f"{name}{SUFFIX}"
    replaced = target.exists()
    target.write_bytes(gzip.compress(path.read_bytes(), 9, mtime=0))
    copy, older = _beside_the_references(path, run, name)
    with empty_cache():  # committed beside the reference: not this machine's drift history
        md, page = write_report(
            [copy], copy.with_suffix(""), on_note=lambda note: print(f"flopbench: {note}", file=sys.stderr)
        )
    info(
        f"{'replaced' if replaced else 'added'} {target} ({target.stat().st_size // 1024} KiB); the run: {copy}; its"
        f" report: {page}" + (f"; older reference files removed: {', '.join(map(str, older))}" if older else "")
    )
    return 0


def _beside_the_references(path: Path, run: Any, name: str) -> tuple[Path, list[Path]]:
    """The run copied to results/reference/<date>_<name>_<suites>.jsonl, and the older files of that name and suites
    (a run file and its report's folder) removed: (the copy, what was removed)."""
    import shutil
    import time

    from flopbench.outputs import file_name_part

    folder = Path("results") / "reference"
    folder.mkdir(parents=True, exist_ok=True)
    day = (run.header.started_at or "")[:10] or time.strftime("%Y-%m-%d")
    suites = file_name_part("+".join(s.name for s in run.header.suites) or "run", "the run's suites")
    day = file_name_part(day, "the run's date")
    copy = folder / f"{day}_{name}_{suites}.jsonl"
    older = sorted(p for p in folder.glob(f"*_{name}_{suites}.jsonl") if p != copy)
    for old in older:
        old.unlink()
        shutil.rmtree(old.with_suffix(""), ignore_errors=True)
    if path.resolve() != copy.resolve():
        shutil.copyfile(path, copy)
    return copy, older
