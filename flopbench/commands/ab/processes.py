"""flopbench ab --python A --python B: two Python environments (two torch versions, two builds), compared in whole
processes that alternate A B B A A B ... (as asv's continuous does): each process runs the suites for one round
(`flopbench run --rounds 1`, the environment's own flopbench), and the k-th process of each side is the k-th pair.
Each side's rounds are merged into one results file (flopbench.measuring.paired.merge_rounds), every sample tagged with
its pair id. After the planned pairs, more pairs run the workloads whose comparison cannot yet be told within the
threshold (--only those), up to --max-rounds pairs and --max-time. The processes' own files stay in DIR/processes:
--resume skips those that finished."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flopbench.commands.ab.axis import DEFAULT_MAX_ROUNDS, DEFAULT_MAX_TIME_S, DEFAULT_PROCESS_PAIRS
from flopbench.commands.ab.inprocess import selection_and_settings
from flopbench.console import info
from flopbench.errors import FlopbenchError

if TYPE_CHECKING:
    from flopbench.commands.ab.axis import Axis
    from flopbench.results.schema import Run

# What a side's processes are given of this command's options, as `flopbench run` spells them.
PASSED = {
    "device": "--device",
    "threads": "--threads",
    "only": "--only",
    "min_time": "--min-time",
    "on_busy": "--on-busy",
    "max_call_s": "--max-call-s",
    "bandwidth": "--bandwidth",
}
FLAGS = {"quick": "--quick", "large": "--large", "no_measure": "--no-measure"}
CHECK = "import flopbench, torch; print(flopbench.__version__, torch.__version__)"


def check_python(option: str) -> str:
    """The interpreter `option` names, after checking that it imports flopbench and torch: (its versions, in words)."""
    exe = shutil.which(option) or (option if Path(option).is_file() else None)
    if exe is None:
        raise FlopbenchError(f"--python {option}: no such program; give a Python interpreter, e.g. .venv/bin/python")
    try:
        done = subprocess.run([exe, "-c", CHECK], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FlopbenchError(f"--python {option}: it does not run ({exc})") from None
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise FlopbenchError(
            f"--python {option}: it cannot import flopbench and torch ({last}); install flopbench into that"
            f" environment ({option} -m pip install PATH-TO-FLOPBENCH) and try again"
        )
    words = done.stdout.split()
    if len(words) < 2:
        raise FlopbenchError(f"--python {option}: it is not a Python that runs flopbench (it printed nothing)")
    return f"flopbench {words[-2]}, torch {words[-1]}"


def child_command(args: argparse.Namespace, python: str, path: Path, only: str | None = None) -> list[str]:
    """The process's `flopbench run`; `only`: the workloads still open (a regular expression of their names)."""
    command = [python, "-m", "flopbench", "run", *args.suites, "--rounds", "1", "--out", str(path), "--format", "json"]
    for name, flag in PASSED.items():
        value = only if name == "only" and only else getattr(args, name, None)
        if value is not None:
            command += [flag, str(value)]
    for peak in args.peak:
        command += ["--peak", peak]
    command += [flag for name, flag in FLAGS.items() if getattr(args, name, False)]
    return command


def sides(pair: int) -> str:
    """The order of pair `pair`'s two processes: A B, B A, A B, ... (ABBA)."""
    return "AB" if pair % 2 == 0 else "BA"


def finished(path: Path) -> bool:
    """A process's file that ended (its footer written, not interrupted)."""
    from flopbench.results.files import read_run

    if not path.is_file():
        return False
    try:
        run = read_run(path)
    except Exception:  # noqa: BLE001 - a file a killed process left half-written: measured again
        return False
    return bool(run.footers) and not run.footers[-1].interrupted


def run_processes(args: argparse.Namespace, axis: Axis, directory: Path) -> tuple[tuple[Path, Path], bool]:
    """The processes, alternating: the planned pairs, then more for the workloads still open; both sides' files
    merged from the pairs both sides finished."""
    from flopbench.commands.ab.inprocess import threshold

    versions = [check_python(python) for python in axis.values]
    from flopbench.workloads.selection import select

    workloads, _ = select(selection_and_settings(args)[0])
    parts = directory / "processes"
    parts.mkdir(parents=True, exist_ok=True)
    pairs = args.rounds or DEFAULT_PROCESS_PAIRS
    most = max(pairs, args.max_rounds or DEFAULT_MAX_ROUNDS)
    deadline = time.perf_counter() + (args.max_time or DEFAULT_MAX_TIME_S)
    info(
        f"flopbench: {len(workloads)} workloads, {pairs} processes per side alternating ABBA (up to {most} for the"
        f" workloads not yet precise enough for {threshold(args):.0%}) -> {directory}\n"
        f"  A: {axis.values[0]} ({versions[0]})\n  B: {axis.values[1]} ({versions[1]})"
        + ("\n  (A/A: the same Python twice, to see the noise)" if axis.same else "")
    )
    interrupted, k, only = False, 0, None
    try:
        while k < pairs or (k < most and time.perf_counter() < deadline):
            if k >= pairs:
                still = open_rows(directory, axis, workloads, k, threshold(args))
                if not still:
                    break
                info(f"flopbench: after {k} pairs, {len(still)} workloads need more: {', '.join(still[:6])}")
                only = "^(?:" + "|".join(re.escape(name) for name in still) + ")$"
            for side in sides(k):
                run_one(args, axis, directory, k, side, only, f"process {k + 1} of {pairs if k < pairs else most}")
            k += 1
    except KeyboardInterrupt:
        interrupted = True
    paths = merge_sides(directory, axis, workloads, k)
    return paths, interrupted


def run_one(
    args: argparse.Namespace, axis: Axis, directory: Path, k: int, side: str, only: str | None, what: str
) -> None:
    """Side `side`'s process of pair `k` (skipped when a resumed run finished it)."""
    parts = directory / "processes"
    path = parts / f"{side}-{k}.jsonl"
    if finished(path):
        return
    path.unlink(missing_ok=True)
    python = axis.values["AB".index(side)]
    started = time.perf_counter()
    done = subprocess.run(child_command(args, python, path, only), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise FlopbenchError(
            f"side {side}'s process {k + 1} ({python}) failed (exit {done.returncode}): {last}; what was"
            f" measured is in {parts}; continue with --resume {directory}"
        )
    info(f"side {side}, {what}: {time.perf_counter() - started:.1f} s")


def open_rows(directory: Path, axis: Axis, workloads: list[Any], pairs: int, limit: float) -> list[str]:
    """The workloads whose paired comparison over the first `pairs` pairs could not yet be told within `limit`
    (flopbench.reading.intervals.Ratio.attainable: its precision alone decides, never which way it leans)."""
    from flopbench.reading.comparison import compare
    from flopbench.reading.view import load_views

    paths = merge_sides(directory, axis, workloads, pairs)
    if not all(path.is_file() for path in paths):
        return []
    from flopbench.commands.ab.precision import rows_power

    result = compare(load_views(list(paths)))
    ratios, power = result.ratios["B"], rows_power(len(result.tests()))
    return [name for name, ratio in zip(result.table["name"], ratios) if not ratio.attainable(power=power) <= limit]


def merge_sides(directory: Path, axis: Axis, workloads: list[Any], pairs: int) -> tuple[Path, Path]:
    """DIR/A.jsonl and DIR/B.jsonl from the processes of every pair both sides finished (written anew each time)."""
    from flopbench.results.files import read_run

    parts = directory / "processes"
    complete = [k for k in range(pairs) if all(finished(parts / f"{side}-{k}.jsonl") for side in "AB")]
    paths = (directory / "A.jsonl", directory / "B.jsonl")
    if not complete:
        return paths
    by_identity = {w.identity: w for w in workloads}
    session = read_run(parts / f"A-{complete[0]}.jsonl").header.run_id
    for index, (side, path) in enumerate(zip("AB", paths)):
        runs = [(k, read_run(parts / f"{side}-{k}.jsonl")) for k in complete]
        write_side(path, runs, by_identity, axis, index, session)
    return paths


def write_side(
    path: Path, runs: list[tuple[int, Run]], workloads: dict[str, Any], axis: Axis, index: int, session: str
) -> None:
    from flopbench.measuring.paired import merge_rounds
    from flopbench.results.files import ResultsWriter
    from flopbench.results.schema import Pairing

    header = runs[0][1].header
    pairing = Pairing(
        session=session,
        side="AB"[index],
        axis="python",
        value=axis.values[index],
        other=axis.values[1 - index],
        how="processes",
    )
    header = header.model_copy(update={"pairing": pairing, "source": "flopbench ab", "command": list(sys.argv)})
    taken: dict[str, list[tuple[int, Any]]] = {}
    for k, run in runs:
        for record in run.records:
            taken.setdefault(record.identity, []).append((k, record))
    device = header.device
    if device is None:
        raise FlopbenchError(
            f"side {'AB'[index]}'s processes wrote no device in their results ({path.parent}); install the same"
            " flopbench in both environments"
        )
    path.unlink(missing_ok=True)
    writer = ResultsWriter.create(path, header)
    try:
        for identity, records in taken.items():
            workload = workloads.get(identity)
            if workload is None:
                raise FlopbenchError(
                    f"side {'AB'[index]} measured {records[0][1].name}, which this flopbench does not know (another"
                    " flopbench version?): install the same flopbench in both environments"
                )
            merged = merge_rounds(records, workload, header.roofline, header.settings, device, header.threads)
            writer.record(merged.model_copy(update={"pair_key": identity}))
    finally:
        writer.close()
