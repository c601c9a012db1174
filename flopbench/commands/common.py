"""What `peak` and `run` share: choosing the device and thread count, user-given peaks, and the measured
ceilings (cached per machine, measured when asked or when a roofline would otherwise have no bandwidth)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from flopbench.device import PEAK_KEYS, Device, Peak, describe
from flopbench.errors import FlopbenchError, did_you_mean


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, or auto (CUDA when there is one)")
    parser.add_argument("--threads", type=int, help="torch threads (default: every CPU this process may use)")
    parser.add_argument("--peak", action="append", default=[], metavar="DTYPE=FLOPS",
                        help=f"use this peak, e.g. --peak bfloat16=989e12 (keys: {', '.join(PEAK_KEYS)});"
                             " recorded as user-given")
    parser.add_argument("--bandwidth", type=float, metavar="BYTES_PER_S",
                        help="use this peak memory bandwidth, e.g. 3.35e12; recorded as user-given")
    parser.add_argument("--measure", action="store_true",
                        help="measure the compute and bandwidth ceilings now (and cache them for this machine)")


def parse_peaks(items: list[str]) -> dict[str, float]:
    peaks = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise FlopbenchError(f"--peak {item!r}: expected DTYPE=FLOPS, e.g. --peak float32=19.5e12")
        if key not in PEAK_KEYS:
            raise FlopbenchError(f"--peak {item!r}: unknown key '{key}'{did_you_mean(key, PEAK_KEYS)};"
                                 f" expected one of {', '.join(PEAK_KEYS)}")
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value > 0:
            raise FlopbenchError(f"--peak {item!r}: '{text}' is not a positive number of FLOP/s, e.g. 19.5e12")
        peaks[key] = value
    return peaks


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class Machine:
    device: Device
    threads: int
    ceilings: dict[str, Peak]
    ceilings_measured_at: str | None


def resolve_machine(args: argparse.Namespace, *, measure_if_needed: bool) -> Machine:
    """The device with user overrides, the thread count, and the ceilings: cached, or measured now when
    --measure asks or (measure_if_needed) no bandwidth is known from any source."""
    from flopbench import measure

    if args.threads is not None and args.threads < 1:
        raise FlopbenchError(f"--threads {args.threads}: expected a positive number of threads")
    if args.bandwidth is not None and not args.bandwidth > 0:
        raise FlopbenchError(f"--bandwidth {args.bandwidth}: expected a positive number of bytes/s, e.g. 2e12")
    threads = args.threads or default_threads()
    device = describe(args.device, threads).with_user_values(parse_peaks(args.peak), args.bandwidth)
    cached = None if args.measure else measure.load_cached(device, threads)
    if cached:
        return Machine(device, threads, *cached)
    if args.measure or (measure_if_needed and not device.bandwidth.known):
        print(f"flopbench: measuring the compute and bandwidth ceilings of {device.label} with {threads} threads"
              f" (once; cached in {measure.cache_dir()})", file=sys.stderr)
        ceilings = measure_now(device, threads)
        at = measure.now()
        measure.save(device, threads, ceilings, at)
        return Machine(device, threads, ceilings, at)
    return Machine(device, threads, {}, None)


def measure_now(device: Device, threads: int) -> dict[str, Peak]:
    from flopbench import measure
    from flopbench.runner import Runner, Settings

    runner = Runner(Settings(device, threads, budget=measure.CEILING_BUDGET), on_record=lambda record: None)

    def time_workload(workload, tf32):
        runner.settings.tf32 = tf32
        if device.type == "cuda":
            import torch
            torch.backends.cuda.matmul.allow_tf32 = tf32
        record = runner.run_one(workload)
        if record["status"] != "ok":
            raise RuntimeError(record["reason"])
        rate = record["bytes_per_s"] if workload.op == "elementwise" else record["flops_per_s"]
        return record["time_s"], rate

    try:
        return measure.measure_ceilings(device, time_workload, on_step=lambda text: print(f"  {text}", file=sys.stderr))
    finally:
        if device.type == "cuda":
            import torch
            torch.backends.cuda.matmul.allow_tf32 = False
