"""Admission: before a workload runs, whether it may, and why not.

A workload is refused (skipped) when its inputs and outputs do not fit in the free memory, when its dtype cannot be
measured honestly here (float8 without float8 units), when its least possible call (read off the roofline) would take
longer than --max-call-s, when a smaller point of its sweep already did, or when the --time-budget cannot hold its
rounds. Every refusal is a `Skip`: a typed cause (what a program counts) and the reason (what a person reads).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from flopbench.machine.device import too_big
from flopbench.measuring.timing import Budget
from flopbench.units import si

if TYPE_CHECKING:
    from flopbench.machine.device import Device
    from flopbench.machine.roofline import Roofline
    from flopbench.results.schema import RunSettings
    from flopbench.workloads import Workload

DEFAULT_MAX_CALL_S = {"cpu": 2.0, "cuda": 1.0}  # seconds: a single call beyond this is not worth its samples
# float8 runs natively on CUDA from compute capability 8.9 (Ada, Hopper); CPUs with these flags have float8 units.
FLOAT8_CUDA = (8, 9)
FLOAT8_CPU_FLAGS = frozenset({"amx_fp8", "avx10_2"})


class Cause(str, Enum):
    """Why a workload has no figure: skipped (not attempted) or failed."""

    MEMORY = "memory"
    UNSUPPORTED = "unsupported"
    MAX_CALL = "max_call_s"
    SWEEP_STOPPED = "sweep_stopped"
    TIME_BUDGET = "time_budget"
    INTERRUPTED = "interrupted"
    CHECK_FAILED = "check_failed"
    CHECK_ERROR = "check_error"
    BUILD_ERROR = "build_error"
    RUN_ERROR = "run_error"

    @property
    def for_time(self) -> bool:
        """Skipped for its cost (--max-call-s, --time-budget, a sweep that stopped growing)."""
        return self in (Cause.MAX_CALL, Cause.SWEEP_STOPPED, Cause.TIME_BUDGET)

    @property
    def status(self) -> str:
        failed = (Cause.CHECK_FAILED, Cause.CHECK_ERROR, Cause.BUILD_ERROR, Cause.RUN_ERROR)
        return "failed" if self in failed else "skipped"


@dataclass(frozen=True)
class Skip:
    """A workload that ends without a figure: its cause, the reason in words, and what was learnt on the way."""

    cause: Cause
    reason: str
    one_call_s: float | None = None  # skipped for its cost after one call: how long that call took

    @property
    def status(self) -> str:
        return self.cause.status


def peak_key(workload: Workload, device_type: str, tf32: bool) -> str:
    """Which peak judges this workload: its dtype's, or TF32's for float32 contractions with TF32 on (CUDA)."""
    return "tf32" if workload.tf32_applies(device_type, tf32) else workload.dtype


def round_cost_s(call_s: float | None, budget: Budget) -> float:
    """Seconds one round of a workload takes: its warm-up, then samples until the minimum time and count."""
    call = call_s or 0.0
    return budget.warmup_s + call + max(budget.min_time_s, budget.min_samples * call)


def native(dtype: str, device: Device) -> str:
    """Why a dtype may run far below its peak here, in words (for a skipped workload's reason)."""
    if device.type != "cpu" or dtype not in ("bfloat16", "float16"):
        return ""
    isa = set(str(device.facts.get("isa", "")).split())
    wanted = {"bfloat16": {"avx512_bf16", "amx_bf16"}, "float16": {"avx512_fp16", "amx_fp16"}}[dtype]
    if not isa & wanted:
        return f"this CPU has no native {dtype}"
    capped = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("ATEN_CPU_CAPABILITY")
    return f"the CPU has native {dtype}, but its kernels are capped here ({capped})" if capped else ""


def unsupported(workload: Workload, device: Device) -> str:
    """Why a low-precision product cannot be measured honestly here ('' when it can): float8 without float8 units is
    emulated, orders of magnitude below every other dtype, unless a --peak float8 says what to expect of it."""
    if workload.dtype != "float8" or device.peak("float8").known:
        return ""
    if device.type == "cuda":
        capability = str(device.facts.get("compute_capability", "0.0"))
        major, _, minor = capability.partition(".")
        if (int(major or 0), int(minor or 0)) < FLOAT8_CUDA:
            return (
                f"float8 needs compute capability 8.9 or newer (torch._scaled_mm); this GPU has {capability}: run it"
                f" on an Ada or Hopper GPU"
            )
        return ""
    if not set(str(device.facts.get("isa", "")).split()) & FLOAT8_CPU_FLAGS:
        return (
            "this CPU has no native float8: torch._scaled_mm emulates it, orders of magnitude below float32; run"
            " float8 on a CUDA GPU of compute capability 8.9 or newer, or give --peak float8=FLOPS to time the"
            " emulation"
        )
    return ""


def memory_estimate(workload: Workload) -> int:
    """The memory a workload is admitted on: its compulsory bytes, inputs and outputs (what the counts know before
    anything is allocated). A call that needs more (a workspace: attention's score matrix) says so in its record
    (flopbench.measuring.footprint.Footprint.note), measured against this same estimate."""
    return workload.counts.bytes


def memory_skip(workload: Workload, device: Device, free: int | None) -> Skip | None:
    """Its inputs and outputs would not fit beside what else is on the device (flopbench.machine.device.too_big)."""
    reason = too_big(memory_estimate(workload), free, device.torch_device, "for inputs and outputs")
    return Skip(Cause.MEMORY, reason) if reason else None


class Admission:
    """The budget decisions of one run: a workload's predicted cost, and the sweeps that stopped growing."""

    def __init__(
        self, device: Device, roofline: Roofline, settings: RunSettings, clock: Callable[[], float], started: float
    ):
        self.device, self.roofline, self.settings = device, roofline, settings
        self.clock, self.started = clock, started
        self.budget = Budget.of(settings)
        self.max_call_s = settings.max_call_s
        self._stopped: dict[tuple[str, str], float] = {}  # (sweep group, dtype) -> the FLOPs past which it stopped

    def key(self, workload: Workload) -> str:
        return peak_key(workload, self.device.type, self.settings.tf32)

    def predicted_call_s(self, workload: Workload) -> float | None:
        """The least one call can take on the roofline of what this machine was measured to reach (the measured
        ceilings; the peaks where nothing was measured): a dtype without native units runs far under its peak, and
        its ceiling says so before a call of minutes is tried. A collective's bytes cross links, not memory."""
        counts = workload.counts
        traffic = 0 if workload.spec.collective else counts.bytes
        return self.roofline.least_time_s(counts.total_flops, traffic, self.key(workload), source="measured")

    def plan(self, workload: Workload, call_s: float | None) -> Skip | None:
        """Before running: unsupported here, over --max-call-s, past a stopped sweep, or over the --time-budget."""
        from flopbench.workloads.impls import IMPLS

        impl = IMPLS[workload.impl]
        if reason := unsupported(workload, self.device) or impl.unavailable(
            workload.spec, self.device.type, workload.dtype
        ):
            return Skip(Cause.UNSUPPORTED, reason)
        if workload.spec.collective:
            return None  # every rank must enter a collective: its budget is not decided alone
        group = (workload.group, workload.dtype)
        if group in self._stopped and workload.counts.total_flops >= self._stopped[group]:
            return Skip(
                Cause.SWEEP_STOPPED,
                f"the sweep {workload.group} stopped growing: a smaller point already exceeded"
                f" --max-call-s {self.max_call_s:g}",
            )
        if self.max_call_s is not None and call_s is not None and call_s > self.max_call_s:
            return self.too_slow(workload, call_s, measured=False)
        budget = self.settings.time_budget_s
        if budget is not None:
            elapsed = self.clock() - self.started
            cost = self.settings.rounds * round_cost_s(call_s, self.budget)
            if elapsed + cost > budget:
                return Skip(
                    Cause.TIME_BUDGET,
                    f"the --time-budget of {budget:g} s: {elapsed:.0f} s are spent and it needs at least {cost:.2g} s"
                    f" more",
                )
        return None

    def budget_spent(self) -> bool:
        """The --time-budget is spent: later rounds are not run (a figure rests on the rounds it has)."""
        budget = self.settings.time_budget_s
        return budget is not None and self.clock() - self.started > budget

    def too_slow(self, workload: Workload, call_s: float, measured: bool) -> Skip:
        """Its call takes longer than --max-call-s: skipped, and its sweep stops growing here."""
        if workload.swept and workload.group:
            group = (workload.group, workload.dtype)
            self._stopped[group] = min(self._stopped.get(group, math.inf), workload.counts.total_flops)
        key = self.key(workload)
        rate = workload.counts.total_flops / call_s if call_s else 0.0
        how = "its one call took" if measured else "one call would take at least"
        text = f"{how} {call_s:.3g} s, over --max-call-s {self.max_call_s:g}"
        peak = self.device.peak(key)
        if rate and workload.counts.total_flops:
            share = f", {rate / peak.value * 100:.2g}% of the {peak.source} peak" if peak.value else ""
            why = native(workload.dtype, self.device)
            text += f": {key} runs at {si(rate, 'FLOP/s')} here{share}" + (f": {why}" if why else "")
        return Skip(Cause.MAX_CALL, text, one_call_s=call_s if measured else None)
