"""The atlas: reference runs of the default suite on the machines flopbench has met, shipped with it (flopbench/atlas,
gzip-compressed results files), so that one run on one machine can say where that machine stands.

- references(): every shipped reference, each named from its own recorded facts (machine_name): a family 25 AMD CPU
  with AVX-512 is a Zen 4, without it a Zen 3; an Intel CPU with AMX says so; a GPU is named by its board.
- standing(): a run against references, per reference and family: the geometric-mean speedup of the run over the
  reference with its interval (two machines: the between-run term of flopbench.reading.comparison is in it, and
  the comparison says so), the speedup the two machines' roofs predict, and in words the workloads that follow their
  roofs least.
- score(): one number per family and overall against a named baseline reference: 100 x the geometric mean of the
  per-workload speedups over it, with its interval and the method beside it.
- admit(): the checks a run passes to become a reference (`flopbench atlas add`).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from flopbench.machine.device import Device
    from flopbench.reading.comparison import Comparison
    from flopbench.reading.view import RunView
    from flopbench.results.schema import Header, Run

ATLAS = Path(__file__).resolve().parent.parent / "atlas"
SUFFIX = ".jsonl.gz"
BASELINE = "cpu-amd-epyc-zen3-2vcpu-vm"  # the score's baseline: the first machine of the atlas, a small shared VM
SUITE = "default"
MAX_DISTURBED = 0.10  # a reference may have at most this share of its records measured on a disturbed machine
VENDORS = {"AuthenticAMD": "AMD", "GenuineIntel": "Intel"}
# The warnings of a comparison that say what was matched and what differs (suites, threads, torch): a standing states
# them, never compares silently.
MATCHING = ("the runs differ", "the runs measured different", "measured records have no counterpart")
WIDEST = (("amx_bf16", "AMX"), ("avx512f", "AVX-512"), ("avx2", "AVX2"), ("sse4_2", "SSE4.2"))  # a listing's ISA


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# AMD family 0x19 is Zen 3 and Zen 4: which, by model range (Milan 0x01, Vermeer 0x21, Rembrandt 0x44, Cezanne 0x50;
# Genoa 0x11, Raphael 0x61, Phoenix 0x74-0x78, Bergamo/Siena 0xA0). The ranges decide first, so a hypervisor that
# hides AVX-512 does not make a Genoa a Zen 3; a model in none of them falls back on the flags (AVX-512: Zen 4's).
ZEN_19 = ((0x00, 0x0F, "zen3"), (0x10, 0x1F, "zen4"), (0x20, 0x5F, "zen3"), (0x60, 0x7F, "zen4"), (0xA0, 0xAF, "zen4"))


def cpu_kind(facts: dict[str, Any]) -> str:
    """The CPU's kind from its own facts: vendor, family and model ranges first, the ISA flags second (where the
    model says nothing), never from a guess the facts contradict."""
    vendor, family, isa = facts.get("vendor"), facts.get("family"), str(facts.get("isa") or "").split()
    name, model = str(facts.get("model_name") or ""), facts.get("model")
    if vendor == "AuthenticAMD":
        line = "amd-epyc" if "EPYC" in name else "amd-ryzen" if "Ryzen" in name else "amd"
        zen = {23: "zen2" if (model or 0) >= 0x30 else "zen1", 26: "zen5"}.get(family or 0)
        if family == 25:
            by_model = [kind for lo, hi, kind in ZEN_19 if model is not None and lo <= model <= hi]
            zen = by_model[0] if by_model else "zen4" if "avx512f" in isa else "zen3"
        return f"{line}-{zen}" if zen else line
    if vendor == "GenuineIntel":
        line = "intel-xeon" if "Xeon" in name else "intel-core" if "Core" in name else "intel"
        extension = "amx" if "amx_bf16" in isa else "avx512" if "avx512f" in isa else "avx2" if "avx2" in isa else ""
        return f"{line}-{extension}" if extension else line
    return _slug(name or str(facts.get("arch") or "cpu"))


def machine_name(header: Header) -> str:
    """A reference's name from its header: the device, its kind, how many CPUs it ran on, and whether it is a VM
    (e.g. cpu-amd-epyc-zen4-2vcpu-vm; cuda-nvidia-h100-80gb-hbm3)."""
    if header.device is None:
        return "unknown"
    ranks = header.distributed.world_size if header.distributed else 1
    return name_of(header.device, header.threads, ranks)


def name_of(device: Device, threads: int | None, ranks: int = 1) -> str:
    """The name a run on `device` with `threads` torch threads (and `ranks` ranks) would have in the atlas."""
    if device.type == "cuda":
        return f"cuda-{_slug(device.name)}" + (f"-x{ranks}" if ranks > 1 else "")
    facts = device.facts
    logical, threads = facts.get("logical_cpus") or 0, threads or 0
    vm = bool(facts.get("virtual_machine"))
    cpus = f"{logical}vcpu" if vm else f"{logical}cpu"
    if threads and logical and threads < logical:
        cpus = f"{threads}thread" + ("s" if threads > 1 else "")
    return f"cpu-{cpu_kind(facts)}-{cpus}" + ("-vm" if vm else "")


@dataclass(frozen=True)
class Reference:
    """One shipped reference run."""

    path: Path

    @property
    def run(self) -> Run:
        return _read(self.path, self.path.stat().st_mtime_ns)

    @property
    def header(self) -> Header:
        return self.run.header

    @property
    def name(self) -> str:
        return machine_name(self.header)

    @property
    def view(self) -> RunView:
        return _view(self.path, self.path.stat().st_mtime_ns)

    def lacks(self) -> list[str]:
        """What a reference measured by this flopbench holds and this one does not (an older file): what its
        comparisons must do without, and why it is worth renewing on a machine of its kind."""
        return [what for what, has in HOLDS if not has(self.run)]

    def age_days(self, now: Any = None) -> int | None:
        import datetime as dt

        started = self.header.started_at
        if not started:
            return None
        when = dt.datetime.fromisoformat(started.replace("+0000", "+00:00"))
        return ((now or dt.datetime.now(dt.timezone.utc)) - when).days

    def describe(self) -> dict[str, Any]:
        """What a listing shows: the machine, its facts, the software, the suite, the date and how quiet it was."""
        header, device = self.header, self.header.device
        facts = device.facts if device else {}
        records = [r for r in self.run.records if r.status == "ok"]
        disturbed = sum(bool(r.disturbed) for r in records)
        isa = str(facts.get("isa") or "").split()
        widest = next((label for flag, label in WIDEST if flag in isa), "-")
        cpu = (
            f"{VENDORS.get(str(facts.get('vendor')), facts.get('vendor', ''))} family {facts.get('family')} model"
            f" {facts.get('model')}, {widest}"
            if device and device.type == "cpu"
            else (device.name if device else "-")
        )
        age = self.age_days()
        return {
            "name": self.name,
            "facts": cpu,
            "device": header.device_label or "-",
            "threads": header.threads,
            "torch": header.torch,
            "blas": header.blas or "-",
            "suite": "+".join(s.name for s in header.suites),
            "date": (header.started_at or "")[:10],
            "age": f"{age} d" if age is not None else "-",
            "disturbed": f"{disturbed}/{len(records)}",
            "lacks": ", ".join(self.lacks()) or "-",
        }


def _has_cache_roofs(run: Run) -> bool:
    roofline = run.header.roofline
    return roofline is not None and any(level.roof.known for level in roofline.caches)


def _has_measured_clock(run: Run) -> bool:
    facts = run.header.device.facts if run.header.device else {}
    return (
        "measured" in str(facts.get("frequency_source") or "")
        or run.header.device is not None
        and (run.header.device.type == "cuda")
    )


# What a reference measured by this flopbench holds, and how to tell whether one does: a comparison against one
# without them falls back (the common DRAM roof, nominal clocks, no ledger) and says so.
HOLDS: tuple[tuple[str, Any], ...] = (
    ("cache roofs", _has_cache_roofs),
    ("per-call floor", lambda run: bool(run.header.roofline and run.header.roofline.overhead_s)),
    ("measured clock", _has_measured_clock),
    ("rounds", lambda run: any(len(r.rounds) > 1 for r in run.records)),
    ("ledgers", lambda run: any(r.ledger for r in run.records)),
    ("memory footprints", lambda run: any(r.peak_memory_bytes is not None for r in run.records)),
    ("figures' precision", lambda run: any(r.time_precision is not None for r in run.records)),
)


def aged(refs: list[Reference], device: Device, threads: int | None) -> Reference | None:
    """The reference of this machine's kind (its atlas name), if it lacks what a run here would now record: the one
    to renew here (flopbench run default, then flopbench atlas add RESULTS)."""
    name = name_of(device, threads)
    return next((r for r in refs if r.name == name and r.lacks()), None)


@functools.lru_cache(maxsize=32)
def _read(path: Path, mtime_ns: int) -> Run:
    """A reference's run, read once per process (a report compares every run with every reference)."""
    from flopbench.results.files import read_run

    return read_run(path)


@functools.lru_cache(maxsize=32)
def _view(path: Path, mtime_ns: int) -> RunView:
    from flopbench.reading.view import view_of

    return view_of(_read(path, mtime_ns))


def references(atlas: Path = ATLAS) -> list[Reference]:
    return sorted((Reference(path) for path in atlas.glob(f"*{SUFFIX}")), key=lambda r: r.name)


def find(names: str, atlas: Path = ATLAS) -> list[Reference]:
    """The references `names` means: 'all', or comma-separated names (a unique prefix will do)."""
    from flopbench.errors import FlopbenchError, did_you_mean

    known = references(atlas)
    if names == "all":
        return known
    found = []
    for name in (n.strip() for n in names.split(",")):
        matches = [r for r in known if r.name == name] or [r for r in known if r.name.startswith(name)]
        if len(matches) != 1:
            names_known = [r.name for r in known]
            why = "matches several" if matches else f"is not in the atlas{did_you_mean(name, names_known)}"
            raise FlopbenchError(
                f"--against {name}: {why}; give 'all' or one of {', '.join(names_known)} (flopbench atlas lists them)"
            )
        found.append(matches[0])
    return found


# --- where a run stands --------------------------------------------------------------------------------------------


@dataclass
class Standing:
    """A run against references: per reference and family, its speedup over the reference with an interval, the
    roofs' ratio, and the words; one comparison per reference (flopbench.reading.comparison)."""

    rows: pd.DataFrame  # reference, family, workloads, speedup, low, high, roof_ratio
    words: list[str]
    notes: list[str]  # how each comparison was made, and what differed (suites, threads, torch)
    comparisons: dict[str, Comparison]


def standing(view: RunView, refs: list[Reference]) -> Standing:
    """`view` against each reference in `refs` (its own run left out), matched on the workloads both measured."""
    from flopbench.reading.comparison import compare

    rows, words, notes, comparisons = [], [], [], {}
    for ref in refs:
        if ref.header.run_id == view.header.run_id:
            continue
        result = compare([ref.view, view])
        if result.table.empty:
            notes.append(f"{ref.name}: no workload in common")
            continue
        comparisons[ref.name] = result
        notes += [f"{ref.name}: {w}" for w in result.warnings if w.startswith(MATCHING)]
        for r in result.summary.itertuples():
            rows.append(
                {
                    "reference": ref.name,
                    "family": r.family,
                    "workloads": r.workloads,
                    "speedup": r.geomean_speedup,
                    "low": r.geomean_low,
                    "high": r.geomean_high,
                    "roof_ratio": r.roof_ratio,
                }
            )
        words.append(deviation_words(ref.name, result))
    return Standing(pd.DataFrame(rows), words, notes, comparisons)


def times(value: float) -> str:
    """A ratio as people say it: 0.26x, 2.1x, 98x, 520x."""
    return f"{value:.0f}x" if value >= 100 else f"{value:.2g}x"


def deviation_words(name: str, result: Comparison) -> str:
    """The families' speedups against their roofs' ratio, and the workloads furthest from theirs, in one sentence."""
    parts = []
    families = result.summary[result.summary["family"] != "all"]
    for r in families.itertuples():
        if r.roof_ratio != r.roof_ratio:
            parts.append(f"{r.family} {times(r.geomean_speedup)}")
            continue
        follows = abs(math.log(r.geomean_speedup / r.roof_ratio)) < math.log(1.25)
        parts.append(
            f"{r.family} {times(r.geomean_speedup)}"
            + (", as its roofs predict" if follows else f", against the {times(r.roof_ratio)} its roofs predict")
        )
    table = result.table.dropna(subset=["vs_roof[B]"])
    coarse = int((~table["roof_like[B]"].astype(bool)).sum()) if "roof_like[B]" in table else 0
    table = table[table["roof_like[B]"].astype(bool)] if "roof_like[B]" in table else table
    text = f"Against {name}: " + "; ".join(parts) + "."
    if coarse:
        text += (
            f" {coarse} workloads live in a cache level only one run measured: their roofs' ratio is the coarser"
            " level both measured, and they are left out of what follows."
        )
    if len(table):
        worst = table.iloc[(table["vs_roof[B]"].map(lambda v: abs(math.log(v)))).argsort()[::-1][:2]]
        text += (
            " Furthest from their roofs: "
            + ", ".join(
                f"{r['name']} {times(r['speedup[B]'])} against {times(r['roof_ratio[B]'])}" for _, r in worst.iterrows()
            )
            + "."
        )
    return text


@dataclass(frozen=True)
class Score:
    baseline: str
    rows: pd.DataFrame  # scope (all, or a dtype), score, low, high, spread_low, spread_high, workloads, emulated
    method: str
    notes: list[str]  # what differs between the two runs (threads, torch, BLAS): said in the score's own line


def score(view: RunView, refs: list[Reference] | None = None, baseline: str = BASELINE) -> Score | None:
    """100 x the geometric mean of the run's per-workload speedups over the baseline reference, per dtype, and over
    every dtype both machines run natively ('all'); a dtype either machine only emulates (no arithmetic of its own:
    flopbench.machine.device.emulated_dtypes) is scored apart and named, never folded into 'all'. Each with the
    interval of its measurement (the workloads' errors plus the two machines' drift) and the workloads' spread
    beside it; None when the baseline is not in the atlas or shares no workload."""
    from flopbench.machine.device import emulated_dtypes
    from flopbench.reading.comparison import compare, drift_between
    from flopbench.reading.intervals import family, spread

    base = next((r for r in refs or references() if r.name == baseline), None)
    if base is None or base.header.run_id == view.header.run_id:
        return None
    result = compare([base.view, view])
    if result.table.empty:
        return None
    drift = drift_between(base.view, view)
    emulated: dict[str, list[str]] = {}
    for name, header in ((baseline, base.header), ("this run", view.header)):
        for dtype in emulated_dtypes(header.device) if header.device else ():
            emulated.setdefault(dtype, []).append(name)
    ratios = dict(zip(result.table.index, result.ratios["B"]))
    groups = [("all", [i for i, d in result.table["dtype"].items() if d not in emulated])]
    groups += [(str(d), list(rows.index)) for d, rows in result.table.groupby("dtype")]
    rows = []
    for scope, members in groups:
        if not members:
            continue
        mean = family([ratios[i] for i in members], drift.sd, result.level, drift.df)
        least, most = spread([ratios[i] for i in members])
        rows.append(
            {
                "scope": scope,
                "score": 100 * mean.value,
                "low": 100 * mean.low if mean.decides else math.nan,
                "high": 100 * mean.high if mean.decides else math.nan,
                "spread_low": 100 * least,
                "spread_high": 100 * most,
                "workloads": len(members),
                "emulated": ", ".join(emulated.get(scope, [])),
            }
        )
    native = sorted({str(d) for d in result.table["dtype"] if d not in emulated})
    apart = sorted({str(d) for d in result.table["dtype"] if d in emulated})
    method = (
        f"score = 100 x the geometric mean of each workload's speedup over {baseline} (its time there / its time"
        f" here), over the workloads both runs measured in that dtype; 'all' combines the {', '.join(native)}"
        f" workloads ({len(groups[0][1])}), native on both machines"
        + (
            "; " + ", ".join(f"{d} is scored apart (emulated on {' and '.join(emulated[d])})" for d in apart)
            if apart
            else ""
        )
        + f". Threads: {base.header.threads} there, {view.header.threads} here. {result.level:.0%} intervals of"
        f" the measurement (the workloads' errors and a between-run term of {drift.sd:.0%} a run: {drift.source});"
        " the spread is the least and greatest workload's"
    )
    notes = [w for w in result.warnings if w.startswith("the runs differ")]
    return Score(baseline, pd.DataFrame(rows), method, notes)


# --- admitting a reference -----------------------------------------------------------------------------------------


def admit(run: Run) -> tuple[str, list[str]]:
    """(the name a reference of this run would have, the reasons it cannot be one: an unfinished run, another
    suite, too many records measured on a disturbed machine)."""
    header = run.header
    problems = []
    if not run.footers or run.footers[-1].interrupted:
        problems.append("it did not finish (no footer, or interrupted): run the suite to its end")
    suites = [s.name for s in header.suites]
    if suites != [SUITE]:
        problems.append(f"it measured {'+'.join(suites) or 'no suite'}; references are `flopbench run {SUITE}` runs")
    measured = [r for r in run.records if r.status == "ok"]
    if not measured:
        problems.append("it has no measured record")
    else:
        disturbed = sum(bool(r.disturbed) for r in measured) / len(measured)
        if disturbed > MAX_DISTURBED:  # rounds that merely disagree are the VM's drift, which every reference has
            problems.append(
                f"{disturbed:.0%} of its records were measured on a disturbed machine (at most {MAX_DISTURBED:.0%}):"
                " measure again on a quiet machine"
            )
    return machine_name(header), problems
