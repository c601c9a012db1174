"""What `peak` and `run` share: option checking, choosing the device and thread count, user-given peaks, and the
measured ceilings (cached per machine, measured when asked or when a roofline would otherwise have no bandwidth)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flopbench.console import info
from flopbench.errors import FlopbenchError, did_you_mean
from flopbench.formulas import PEAK_KEYS
from flopbench.units import count

if TYPE_CHECKING:
    from flopbench.clock import Clock
    from flopbench.measure import CacheEntry
    from flopbench.schema import Device
    from flopbench.session import Machine


def positive(option: str, maximum: float = math.inf, integer: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number > 0 (and <= maximum), else a one-line usage error naming the option."""

    def parse(text: str) -> float:
        kind = "whole number" if integer else "number"
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} {text!r}: expected a {kind}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{option} {text!r}: expected a finite {kind} greater than 0")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"{option} {text!r}: at most {maximum:g}")
        return value

    return parse


def warn(note: str) -> None:
    print(f"flopbench: warning: {note}", file=sys.stderr)


def load_frame(paths):
    """load_results() for a command: what the readers repaired or skipped is printed as warnings."""
    from flopbench.results import load_results

    return load_results(paths, on_note=warn)


def load_views(paths):
    """A view of each results file for a command (flopbench.view): what the readers repaired or skipped is printed
    as warnings."""
    from flopbench.view import load_views as load

    return load(paths, on_note=warn)


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, or auto (CUDA when there is one)")
    parser.add_argument(
        "--threads",
        type=positive("--threads", maximum=4096, integer=True),
        help="torch threads (default: every CPU this process may use)",
    )
    parser.add_argument(
        "--peak",
        action="append",
        default=[],
        metavar="DTYPE=FLOPS",
        help=f"use this peak, e.g. --peak bfloat16=989e12 (keys: {', '.join(PEAK_KEYS)}); recorded as user-given",
    )
    parser.add_argument(
        "--bandwidth",
        type=positive("--bandwidth"),
        metavar="BYTES_PER_S",
        help="use this peak memory bandwidth, e.g. 3.35e12; recorded as user-given",
    )
    parser.add_argument(
        "--measure",
        action="store_true",
        help="measure the compute and bandwidth ceilings now (and cache them for this machine)",
    )


def parse_peaks(items: list[str]) -> dict[str, float]:
    peaks = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise FlopbenchError(f"--peak {item!r}: expected DTYPE=FLOPS, e.g. --peak float32=19.5e12")
        if key not in PEAK_KEYS:
            raise FlopbenchError(
                f"--peak {item!r}: unknown key '{key}'{did_you_mean(key, PEAK_KEYS)};"
                f" expected one of {', '.join(PEAK_KEYS)}"
            )
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise FlopbenchError(f"--peak {item!r}: '{text}' is not a finite positive number of FLOP/s, e.g. 19.5e12")
        peaks[key] = value
    return peaks


def resolve_machine(args: argparse.Namespace, *, measure_if_needed: bool, max_call_s: float | None = None) -> Machine:
    """The device with user overrides, the thread count, and the ceilings: cached, or measured now when --measure
    asks, when no bandwidth is known from any source (measure_if_needed), or when the cached ones were measured on
    a busy machine (they are refused). A CPU without a clock range gets its derived peaks from the measured
    sustained clock (flopbench.clock), cached with the ceilings."""
    from flopbench import measure
    from flopbench.device import describe, unseen_gpu
    from flopbench.session import Machine, default_threads

    usable = default_threads()
    threads = args.threads or usable
    if threads > usable:
        warn(
            f"--threads {threads} is more than the {usable} CPUs this process may use; threads beyond them share"
            f" cores, and the peak counts only the cores"
        )
    if args.device == "auto" and (unseen := unseen_gpu()):
        warn(unseen)
    device = describe(args.device, threads).with_user_values(parse_peaks(args.peak), args.bandwidth)
    cached = measure.load_cached(device, threads, warn=warn)
    action, note = measure.ceiling_decision(
        cached, measure=args.measure, measure_if_needed=measure_if_needed, bandwidth_known=device.bandwidth.known
    )
    if note:
        warn(note)
    refused = cached if action == "measure" and cached and cached.disturbed else None
    if action == "use" and cached:
        return machine_of(_clocked(args, device, threads, cached), threads, cached)
    if action == "measure":
        info(
            f"flopbench: measuring the compute and bandwidth ceilings of {device.label} with {count(threads, 'thread')}"
            f" (once; cached in {measure.cache_dir()})"
        )
        clock = _measure_clock(device, threads)
        device = _clocked(args, device, threads, clock)
        entry = measure.merged(refused, measure_now(device, threads, max_call_s))
        entry = entry.model_copy(update={"clock_hz": clock.hz, "clock_how": clock.how} if clock else {})
        measure.save(entry)
        if entry.disturbed:
            again = (
                "measured again by the next run"
                if entry.disturbed_runs < measure.REFUSE_DISTURBED
                else "kept: it was busy the last time too"
            )
            warn(
                f"the machine was busy while its ceilings were measured ({entry.disturbed}); they are used for this"
                f" run, flagged, and {again}"
            )
        return machine_of(device, threads, entry)
    return Machine(device, threads, {}, None)


def machine_of(device: Device, threads: int, entry: CacheEntry) -> Machine:
    from flopbench.session import Machine

    return Machine(
        device,
        threads,
        entry.ceilings,
        entry.measured_at,
        entry.canary_s,
        entry.disturbed,
        entry.run_canary_s,
        tuple(entry.levels),
        entry.overhead_s,
        tuple(entry.sweep),
        dict(entry.kernels),
    )


def _measure_clock(device: Device, threads: int) -> Clock | None:
    """The sustained clock, where the OS gives no clock range (flopbench.device.clock_unknown)."""
    from flopbench import clock, measure
    from flopbench.device import clock_unknown

    if not clock_unknown(device):
        return None
    info("  the sustained clock (no clock range from the OS)")
    return clock.measure(threads, measure.cache_dir())


def _clocked(args: argparse.Namespace, device: Device, threads: int, found: Any) -> Device:
    """The device described again with a measured clock (a Clock, or a cache entry that holds one); as it was
    without one."""
    from flopbench.clock import Clock
    from flopbench.device import clock_unknown, describe

    clock = found if isinstance(found, Clock) or found is None else None
    if clock is None and found is not None and (found.clock_hz or found.clock_how):
        clock = Clock(found.clock_hz, found.clock_how or "")
    if clock is None or not clock_unknown(device):
        return device
    return describe(args.device, threads, clock).with_user_values(parse_peaks(args.peak), args.bandwidth)


def measure_now(device: Device, threads: int, max_call_s: float | None = None) -> CacheEntry:
    """Measure this machine's ceilings, watching it: an entry measured while it was busy says so."""
    from flopbench import measure
    from flopbench.admission import DEFAULT_MAX_CALL_S
    from flopbench.interference import make_monitor
    from flopbench.roofline import Roofline
    from flopbench.runner import Runner, make_timer, torch_settings

    cap = max_call_s or DEFAULT_MAX_CALL_S.get(device.type)
    with torch_settings(device.type, threads, False):
        monitor = make_monitor(device, threads)
        quiet = monitor.start_run()
        runners: dict[bool, Runner] = {}

        def time_workload(workload, tf32):
            settings = measure.CEILING_SETTINGS.model_copy(update={"max_call_s": cap, "tf32": tf32})
            runner = runners.get(tf32) or runners.setdefault(
                tf32, Runner(device, Roofline.build(device), settings, lambda record: None, monitor=monitor)
            )
            with torch_settings(device.type, threads, tf32):
                record = runner.run_one(workload)
            if record.status != "ok" or not record.time_s:
                raise RuntimeError(record.reason)
            reasons = record.interference.reasons if record.interference and record.interference.busy else []
            return measure.Timed(record.time_s, record.total_flops_per_s or 0.0, record.bytes_per_s or 0.0, reasons)

        def step(text: str) -> None:
            info(f"  {text}")

        found = measure.measure_ceilings(device, time_workload, max_call_s=cap, on_step=step)
        copies = CopyTimer(device)
        overhead = make_timer(device, measure.CEILING_SETTINGS).measure(copies.floor).median_s
        sweep = measure.measure_sweep(measure.sweep_sizes(device, threads), copies.time, step)
    return measure.CacheEntry(
        identity=measure.machine_identity(device, threads),
        measured_at=measure.now(),
        ceilings=found.ceilings,
        kernels=found.kernels,
        disturbed=found.disturbed,
        disturbed_runs=1 if found.disturbed else 0,
        canary_s=None if found.disturbed else quiet.get("canary_start_s"),
        levels=measure.read_levels(device, sweep, overhead, threads),
        sweep=sweep,
        overhead_s=overhead,
    )


class CopyTimer:
    """Torch copies on the device, for the working-set sweep and the per-call floor: `time(working_set, calls)`
    seconds for `calls` copies of working_set / 2 bytes (source and destination together touch working_set)."""

    def __init__(self, device: Device):
        import torch

        self.torch, self.device = torch, torch.device(device.torch_device)
        self._tensors: dict[int, tuple[Any, Any]] = {}
        self.tiny = self._pair(8)

    def _pair(self, working_set: int) -> tuple[Any, Any]:
        if working_set not in self._tensors:
            self._tensors.clear()  # one size at a time: the sweep's largest would otherwise all stay allocated
            numel = max(1, working_set // 8)  # float32: source and destination, 4 bytes each per element
            src = self.torch.rand(numel, device=self.device)
            self._tensors[working_set] = (src, self.torch.empty_like(src))
        return self._tensors[working_set]

    def _sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def floor(self) -> None:
        """One call that moves (almost) nothing: the per-call floor, through the run's timer."""
        self.tiny[1].copy_(self.tiny[0])

    def time(self, working_set: int, calls: int) -> float:
        import time

        src, dst = self._pair(working_set)
        dst.copy_(src)  # warm: the pages touched, the caches filled
        self._sync()
        start = time.perf_counter()
        for _ in range(calls):
            dst.copy_(src)
        self._sync()
        return time.perf_counter() - start
