"""The ceilings cache: what this machine was measured to reach (flopbench.measuring.ceilings measures it), kept per
machine with its date and reused by later runs until measured again.

An entry is keyed on what identifies the machine's hardware and software (machine_identity), never its host name.
It holds the compute ceilings per dtype (and each kernel's best), the bandwidth per memory level with the sweep they
were read from, the per-call floor, the sustained clock, and the machine's quiet canaries. An entry measured while the
machine was busy is refused (measured again) until REFUSE_DISTURBED measurements in a row were busy. The cache lives
in $FLOPBENCH_CACHE_DIR, default ~/.cache/flopbench.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from flopbench.errors import first_line, validation_text
from flopbench.fields import Peak
from flopbench.machine.roofline import Level, SweepPoint

if TYPE_CHECKING:
    from flopbench.machine.device import Device

# 3: the canary's copy is sized from the last-level cache, so a version 2 quiet canary reference is another canary's
# 4: the cache levels, the per-call floor and the measured clock are part of an entry
CACHE_VERSION = 4


class KernelRate(BaseModel):
    """The best rate one kernel reached for one ceiling key, kept in the cache beside the ceiling itself."""

    model_config = ConfigDict(extra="allow")
    kernel: str
    library: str
    workload: str
    flops_per_s: float
    default: bool = False
    disturbed: list[str] = []  # why the machine was not quiet during the kept measurement


class CacheEntry(BaseModel):
    """One machine's measured ceilings, with what identifies the machine they were measured on."""

    model_config = ConfigDict(extra="allow")
    identity: dict[str, Any]  # hardware and software (machine_identity); never the host name
    measured_at: str  # ISO 8601, UTC
    ceilings: dict[str, Peak]
    disturbed: str | None = None  # why the machine was not quiet while they were measured; such entries are refused
    canary_s: float | None = None  # the interference canary's time on this machine, quiet (its reference)
    run_canary_s: float | None = None  # the median canary between workloads of the quietest run on this machine
    disturbed_runs: int = 0  # measurements in a row that were disturbed: after REFUSE_DISTURBED, kept (flagged)
    levels: list[Level] = []  # bandwidth per cache level, measured or said why not (flopbench.machine.roofline.Level)
    sweep: list[SweepPoint] = []  # the working-set sweep the levels were read from
    overhead_s: float | None = None  # the per-call floor through the run's timer
    clock_hz: float | None = None  # the sustained clock (flopbench.machine.clock), where it was measured
    clock_how: str | None = None  # how it was found, or why it was not
    kernels: dict[str, list[KernelRate]] = {}  # per key, every compute kernel's best rate (the ceiling: the best)


REFUSE_DISTURBED = 2  # a disturbed entry is measured again until this many measurements in a row were disturbed


def ceiling_decision(
    cached: CacheEntry | None, *, measure: bool, measure_if_needed: bool, bandwidth_known: bool
) -> tuple[str, str | None]:
    """("use" | "measure" | "none", a warning or None): use the cached ceilings, measure them now, or run without.
    A cached entry measured on a busy machine is refused (measured again) until REFUSE_DISTURBED measurements in a
    row were disturbed; then the machine seems always that busy, and the entry is used, flagged."""
    if measure:
        return "measure", None
    if cached is not None and cached.disturbed:
        if measure_if_needed and cached.disturbed_runs < REFUSE_DISTURBED:
            return "measure", (
                f"the cached ceilings of this machine were measured while it was busy"
                f" ({cached.disturbed}); they are refused and measured again"
            )
        return "use", (
            f"the cached ceilings were measured while the machine was busy ({cached.disturbed}) in"
            f" {cached.disturbed_runs} measurement(s) in a row: they are used, flagged (flopbench peak"
            f" --measure on a quiet machine refreshes them)"
        )
    if cached is not None and (cached.ceilings or cached.levels):
        return "use", None
    if measure_if_needed and not bandwidth_known:  # nothing cached, or the sustained clock alone
        return "measure", None
    return "none", None


def merged(old: CacheEntry | None, new: CacheEntry) -> CacheEntry:
    """A re-measurement of a refused entry keeps, per ceiling, the best the machine has reached in either."""
    if old is None:
        return new
    ceilings = dict(new.ceilings)
    for key, peak in old.ceilings.items():
        if key not in ceilings or (peak.value or 0) > (ceilings[key].value or 0):
            ceilings[key] = peak
    kernels = {key: list(rates) for key, rates in new.kernels.items()}
    for key, rates in old.kernels.items():  # each kernel's best of both, too
        mine = {r.kernel: r for r in kernels.get(key, [])}
        for rate in rates:
            if rate.kernel not in mine or rate.flops_per_s > mine[rate.kernel].flops_per_s:
                mine[rate.kernel] = rate
        kernels[key] = list(mine.values())
    runs = old.disturbed_runs + 1 if new.disturbed else 0
    canaries = [c for c in (new.canary_s, old.canary_s) if c]
    run_canaries = [c for c in (new.run_canary_s, old.run_canary_s) if c]
    return new.model_copy(
        update={
            "ceilings": ceilings,
            "kernels": kernels,
            "disturbed_runs": runs,
            "canary_s": min(canaries) if canaries else None,
            "run_canary_s": min(run_canaries) if run_canaries else None,
        }
    )


def cache_dir() -> Path:
    return Path(os.environ.get("FLOPBENCH_CACHE_DIR") or Path.home() / ".cache" / "flopbench")


@contextlib.contextmanager
def empty_cache() -> Iterator[None]:
    """An empty cache in place of this machine's while the block runs: for what is committed and read elsewhere (a
    reference's report), which must not depend on what one machine has learned (its A/A drift history)."""
    previous = os.environ.get("FLOPBENCH_CACHE_DIR")
    with tempfile.TemporaryDirectory() as empty:
        os.environ["FLOPBENCH_CACHE_DIR"] = empty
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("FLOPBENCH_CACHE_DIR", None)
            else:
                os.environ["FLOPBENCH_CACHE_DIR"] = previous


def cache_path() -> Path:
    return cache_dir() / "ceilings.json"


def machine_identity(device: Device, threads: int) -> dict[str, Any]:
    """What makes ceilings comparable: the hardware (CPU vendor, family, model, stepping and ISA flags, or the GPU
    and its UUID; cores and threads) and the software that runs the kernels (torch, BLAS, oneDNN, the ISA
    PyTorch's kernels use, CUDA). A host name says none of it: one image's name covers many machines."""
    from flopbench.machine.environment import environment

    facts = device.facts
    hardware: dict[str, Any] = {"type": device.type, "name": device.name}
    keys = (
        ("vendor", "family", "model", "stepping", "flags_sha256", "logical_cpus", "physical_cores")
        if device.type == "cpu"
        else ("uuid", "compute_capability", "multiprocessors", "memory_bytes")
    )
    hardware.update({key: facts.get(key) for key in keys})
    software = {
        key: value
        for key, value in environment().items()
        if key in ("torch", "blas", "onednn", "cpu_capability", "cuda", "cudnn")
    }
    software["onednn_max_cpu_isa"] = os.environ.get("ONEDNN_MAX_CPU_ISA")  # a cap on oneDNN's kernels changes them
    return {**hardware, "threads": threads, **software}


def cache_key(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_cache(warn: Callable[[str], None]) -> dict[str, Any]:
    path = cache_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        warn(f"{path}: unreadable ({first_line(exc, 80)}); it is ignored and ceilings are measured again")
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("entries"), dict):
        warn(
            f"{path}: not a flopbench {CACHE_VERSION} ceilings cache (an older flopbench, or damaged); it is"
            f" ignored and replaced when ceilings are next measured"
        )
        return {}
    return data["entries"]


def load_cached(device: Device, threads: int, warn: Callable[[str], None] = lambda text: None) -> CacheEntry | None:
    """The cached ceilings of this machine, or None (not measured yet, or the entry is damaged)."""
    raw = _read_cache(warn).get(cache_key(machine_identity(device, threads)))
    if raw is None:
        return None
    try:
        return CacheEntry.model_validate(raw)
    except ValidationError as exc:
        warn(f"{cache_path()}: the entry of this machine is damaged ({validation_text(exc)}); measuring again")
        return None


def save(entry: CacheEntry) -> Path:
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = _read_cache(lambda text: None)
    entries[cache_key(entry.identity)] = entry.model_dump(mode="json")
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"version": CACHE_VERSION, "entries": entries}, indent=1))
    tmp.replace(path)  # atomic: a crash never leaves half a cache
    return path


def learn_canary(device: Device, threads: int, field: str, seconds: float) -> bool:
    """Keep `seconds` as the machine's cached canary_s (its quiet canary) or run_canary_s (its quietest run's median
    canary) when it is faster than the cached one, or there is none. Returns whether the cache changed; a machine with
    no cached entry has nothing to change."""
    entry = load_cached(device, threads)
    if entry is None:
        return False
    cached = getattr(entry, field)
    if cached is not None and cached <= seconds:
        return False
    save(entry.model_copy(update={field: seconds}))
    return True


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# --- the drift between runs ------------------------------------------------------------------------------------------


def drift_path() -> Path:
    return cache_dir() / "drift.json"


def load_drift(device: Device, threads: int) -> tuple[float, int] | None:
    """This machine's A/A history: (one run's offset, the standard deviation of log time between two separate runs
    of one workload; the pairs of runs it was learnt from), or None where none was measured (benchmarks/compare_aa.py
    measures it). Kept apart from the ceilings: a machine has a drift whether or not it was measured."""
    try:
        entry = json.loads(drift_path().read_text()).get(cache_key(machine_identity(device, threads)))
        return (float(entry["sd"]), int(entry["pairs"])) if entry else None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def learn_drift(device: Device, threads: int, sd: float) -> tuple[float, int]:
    """Add one A/A pair of runs' offset to this machine's history, which is the root mean square of all of them;
    returns the history as it now is."""
    path = drift_path()
    try:
        data = json.loads(path.read_text())
        data = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        data = {}
    key = cache_key(machine_identity(device, threads))
    old = load_drift(device, threads) or (0.0, 0)
    pairs = old[1] + 1
    new = ((old[0] ** 2 * old[1] + sd**2) / pairs) ** 0.5
    data[key] = {"sd": new, "pairs": pairs, "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))
    return new, pairs
