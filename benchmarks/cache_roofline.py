"""The cache-aware roofline, measured: does each memory level's ceiling hold, is each workload placed at the right
level, and does the cache-aware predictor beat the DRAM-only one?

1. `flopbench peak --measure` (in this process, into a cache directory of its own), then a direct torch copy sweep in
   the same process, written here without flopbench's code: for each level, the best copy at working sets inside it.
   Each ceiling is printed beside the direct figure; the target is within 25%.
2. A run of elementwise workloads (copy, add, relu) sized from the cache sizes the OS reports: inside L2, inside L3
   and far beyond the last-level cache. Each record's level is printed beside the level its size belongs to; none may
   exceed its own roof by more than 5% without a warning.
3. The roofline predictors on the committed reference runs (and the run of step 2), memory-bound workloads only:
   the median error factor of roofline-dram (DRAM's bandwidth for everything) and roofline-measured (the bandwidth
   of the level each working set lives in), side by side.

    .venv/bin/python benchmarks/cache_roofline.py [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flopbench.commands.common import resolve_machine  # noqa: E402
from flopbench.machine.roofline import ABOVE_PEAK  # noqa: E402
from flopbench.reading.predict import leave_one_out, points  # noqa: E402
from flopbench.reading.view import load_view  # noqa: E402
from flopbench.units import si  # noqa: E402


def direct_copy(working_set: int, seconds: float = 0.05, repeats: int = 5) -> float:
    """Bytes per second of `dst.copy_(src)` touching `working_set` bytes: the best of `repeats` loops."""
    src = torch.rand(max(1, working_set // 8))
    dst = torch.empty_like(src)
    dst.copy_(src)
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.01:
        dst.copy_(src)
        calls += 1
    calls = max(1, int(calls * seconds / 0.01))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            dst.copy_(src)
        best = min(best, (time.perf_counter() - start) / calls)
    return working_set / best


def ceilings(machine) -> None:
    print("## 1. Each level's ceiling against a direct torch copy sweep in this process\n")
    print("| level | holds | flopbench | direct (best copy inside the level) | ratio | within 25% |")
    print("|---|---:|---:|---:|---:|---|")
    below = 0
    for level in machine.roofline.levels:
        top = level.capacity_bytes or 8 * below
        sizes = [s for s in (2**k for k in range(12, 31)) if 2 * below < s <= top / 2] or [top // 2]
        if level.name == "DRAM":
            sizes = [4 * below, 8 * below]  # far past the last-level cache, as STREAM asks
        direct = max(direct_copy(s) for s in sizes)
        ceiling = level.ceiling.value if level.ceiling and level.ceiling.known else None
        if ceiling is None:
            why = level.note.split("; ")[-1]
            print(
                f"| {level.name} | {si(level.capacity_bytes, 'B')} | not measured: {why}"
                f" | {si(direct, 'B/s')} | - | - |"
            )
        else:
            ratio = ceiling / direct
            verdict = "yes" if 0.75 <= ratio <= 1.25 else "NO"
            print(
                f"| {level.name} | {si(level.capacity_bytes, 'B')} | {si(ceiling, 'B/s')} | {si(direct, 'B/s')}"
                f" | {ratio:.2f} | {verdict} |"
            )
        below = level.capacity_bytes or below
    print(f"\nPer-call floor: {machine.roofline.overhead_s * 1e6:.2f} us.\n")


def placement_run(machine, out: Path, cache_dir: Path) -> Path:
    """Elementwise workloads inside L2, inside L3 and beyond the last-level cache, measured by `flopbench run`."""
    import subprocess

    levels = {level.name: level for level in machine.roofline.caches if level.capacity_bytes}
    largest = max(level.capacity_bytes for level in levels.values())
    sizes = {"DRAM": 8 * largest}
    if "L2" in levels:
        sizes["L2"] = (levels["L2"].plateau_bytes or levels["L2"].capacity_bytes) // 2
    if "L3" in levels:
        sizes["L3"] = (levels["L3"].plateau_bytes or levels["L3"].capacity_bytes) // 4
    suite = out.with_suffix(".toml")
    lines = ['name = "cache-levels"']
    for level, working_set in sizes.items():
        for kind, arrays in (("copy", 2), ("add", 3), ("relu", 2)):
            numel = working_set // (4 * arrays)
            lines += ["[[workload]]", 'op = "elementwise"', f'name = "{kind}-in-{level}"', f'kind = "{kind}"']
            lines.append(f"numel = {numel}")
    suite.write_text("\n".join(lines) + "\n")
    env = {"FLOPBENCH_CACHE_DIR": str(cache_dir), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "flopbench", "run", str(suite), "--device", "cpu", "--out", str(out), "-q"]
    command.append("--no-measure")  # judged against the roofs step 1 measured, even where it flagged them busy
    subprocess.run(command, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    return out


def placements(path: Path) -> None:
    print("## 2. Elementwise workloads inside L2, inside L3 and beyond the last-level cache\n")
    print("| workload | working set | placed at | achieved | its roof | % of its roof | flagged |")
    print("|---|---:|---|---:|---:|---:|---|")
    view = load_view(path)
    right, unflagged = 0, 0
    for r in view.records:
        expected = r.name.rsplit("-in-", 1)[-1]
        above = r.roofline_efficiency is not None and r.roofline_efficiency > ABOVE_PEAK
        flagged = any("above the" in w for w in r.warnings)
        right += r.level == expected
        unflagged += above and not flagged
        print(
            f"| {r.name} | {si(r.working_set_bytes, 'B')} | {r.level}{'' if r.level == expected else ' (WRONG)'}"
            f" | {si(r.bytes_per_s, 'B/s')} | {si(r.bandwidth_bytes_per_s, 'B/s')} | {r.roofline_efficiency:.0%}"
            f" | {'yes' if flagged else '-'} |"
        )
    print(
        f"\n{right} of {len(view.records)} placed at the level their size belongs to; {unflagged} above their own roof"
    )
    print("by more than 5% without a warning.\n")


def predictors(paths: list[Path]) -> None:
    print("## 3. DRAM-only against cache-aware roofline, memory-bound workloads (median error factor)\n")
    print("| run | memory-bound workloads | roofline-dram | roofline-measured (cache-aware) | levels measured |")
    print("|---|---:|---:|---:|---|")
    for path in paths:
        view = load_view(path)
        found = points(view)
        if len(found.frame) < 3:
            continue
        evaluation = leave_one_out(found)
        table = evaluation.table()
        memory = table[found.frame["memory_bound"].to_numpy()]
        if memory.empty:
            continue
        dram = float(np.median(memory["roofline-dram_factor"]))
        cache = float(np.median(memory["roofline-measured_factor"]))
        levels = ", ".join(level.name for level in view.roofline.caches if level.roof.known) or "none (DRAM only)"
        print(f"| {path.stem} | {len(memory)} | {dram:.2f}x | {cache:.2f}x | {levels} |")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the run of step 2 here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="flopbench-cache-roofline-"))
    cache_dir = work / "cache"
    import os

    os.environ["FLOPBENCH_CACHE_DIR"] = str(cache_dir)
    measure_args = argparse.Namespace(device="cpu", threads=None, peak=[], bandwidth=None, measure=True)
    started = time.perf_counter()
    machine = resolve_machine(measure_args, measure_if_needed=True)
    measured_s = time.perf_counter() - started
    torch.set_num_threads(machine.threads)
    print(
        f"# The cache-aware roofline on {machine.device.label}, {machine.threads} threads, torch {torch.__version__}\n"
    )
    print(f"`flopbench peak --measure` took {measured_s:.1f} s (ceilings, the level sweep and the clock).\n")
    ceilings(machine)
    run = placement_run(machine, (args.keep or work / "levels.jsonl").resolve(), cache_dir)
    placements(run)
    references = sorted((ROOT / "results" / "reference").glob("*.jsonl"))
    predictors([*references, run])
    return 0


if __name__ == "__main__":
    sys.exit(main())
