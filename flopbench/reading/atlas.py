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


def cpu_kind(facts: dict[str, Any]) -> str:
    """The CPU's kind from its own facts (vendor, family, model, ISA), never from a guess the facts contradict."""
    vendor, family, isa = facts.get("vendor"), facts.get("family"), str(facts.get("isa") or "").split()
    name = str(facts.get("model_name") or "")
    if vendor == "AuthenticAMD":
        line = "amd-epyc" if "EPYC" in name else "amd-ryzen" if "Ryzen" in name else "amd"
        zen = {23: "zen2" if (facts.get("model") or 0) >= 0x30 else "zen1", 26: "zen5"}.get(family or 0)
        if family == 25:  # Zen 3 and Zen 4 share the family; AVX-512 is Zen 4's alone
            zen = "zen4" if "avx512f" in isa else "zen3"
        return f"{line}-{zen}" if zen else line
    if vendor == "GenuineIntel":
        line = "intel-xeon" if "Xeon" in name else "intel-core" if "Core" in name else "intel"
        extension = "amx" if "amx_bf16" in isa else "avx512" if "avx512f" in isa else "avx2" if "avx2" in isa else ""
        return f"{line}-{extension}" if extension else line
    return _slug(name or str(facts.get("arch") or "cpu"))


def machine_name(header: Header) -> str:
    """A reference's name from its header: the device, its kind, how many CPUs it ran on, and whether it is a VM
    (e.g. cpu-amd-epyc-zen4-2vcpu-vm; cuda-nvidia-h100-80gb-hbm3)."""
    device = header.device
    if device is None:
        return "unknown"
    if device.type == "cuda":
        ranks = header.distributed.world_size if header.distributed else 1
        return f"cuda-{_slug(device.name)}" + (f"-x{ranks}" if ranks > 1 else "")
    facts = device.facts
    logical, threads = facts.get("logical_cpus") or 0, header.threads or 0
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
        return {
            "name": self.name,
            "facts": cpu,
            "device": header.device_label or "-",
            "threads": header.threads,
            "torch": header.torch,
            "blas": header.blas or "-",
            "suite": "+".join(s.name for s in header.suites),
            "date": (header.started_at or "")[:10],
            "disturbed": f"{disturbed}/{len(records)}",
        }


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
    text = f"Against {name}: " + "; ".join(parts) + "."
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
    rows: pd.DataFrame  # family, score, low, high, workloads
    method: str


def score(view: RunView, refs: list[Reference] | None = None, baseline: str = BASELINE) -> Score | None:
    """100 x the geometric mean of the run's per-workload speedups over the baseline reference, per family and
    overall, with the comparison's intervals; None when the baseline is not in the atlas or shares no workload."""
    from flopbench.reading.comparison import compare, drift_between

    base = next((r for r in refs or references() if r.name == baseline), None)
    if base is None or base.header.run_id == view.header.run_id:
        return None
    result = compare([base.view, view])
    if result.table.empty:
        return None
    rows = pd.DataFrame(
        {
            "family": result.summary["family"],
            "score": 100 * result.summary["geomean_speedup"],
            "low": 100 * result.summary["geomean_low"],
            "high": 100 * result.summary["geomean_high"],
            "workloads": result.summary["workloads"],
        }
    )
    drift = drift_between(base.view, view)
    method = (
        f"score = 100 x the geometric mean, over the {len(result.table)} workloads both runs measured, of each"
        f" workload's speedup over {baseline} (its time there / its time here); {result.level:.0%} t intervals over"
        f" the workloads, with a between-run term of {drift.sd:.0%} a run ({drift.source})"
    )
    return Score(baseline, rows, method)


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
