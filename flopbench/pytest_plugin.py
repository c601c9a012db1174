"""pytest plugin: FLOP/s, utilization and roofline placement inside pytest-benchmark.

    def test_matmul(flops_benchmark):
        flops_benchmark(make_workload("matmul", {"m": 1024, "n": 1024, "k": 1024}))   # a flopbench workload
    def test_mine(flops_benchmark):
        flops_benchmark(my_fn, x, flops=2 * n**3, bytes=3 * n * n * 4)            # any callable, FLOPs declared

The fixture wraps pytest-benchmark's `benchmark`: pytest-benchmark times the call (flopbench adds a CUDA
synchronization, without which it would time only the launch), and flopbench stores flops, bytes, flops_per_s,
the peak with its source, utilization and bound in the benchmark's extra_info. pytest-benchmark's tables, JSON,
--benchmark-compare and --benchmark-compare-fail work as before. Registered through the `pytest11` entry point.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import pytest

from flopbench import __version__


def pytest_addoption(parser):
    group = parser.getgroup("flopbench", "flopbench: FLOP/s and utilization in pytest-benchmark")
    group.addoption("--flopbench-suite", default=None, metavar="SUITE[,SUITE]",
                    help="suites that benchmarks/test_suites.py runs (default: $FLOPBENCH_SUITE or quick)")
    group.addoption("--flopbench-device", default=None, metavar="DEVICE",
                    help="device of flops_benchmark: cpu, cuda, cuda:N, auto (default: $FLOPBENCH_DEVICE or auto)")


def suites_option(config) -> list[str]:
    text = config.getoption("flopbench_suite") or os.environ.get("FLOPBENCH_SUITE") or "quick"
    return [s.strip() for s in text.split(",") if s.strip()]


@functools.cache
def _settings(device: str):
    import torch

    from flopbench.commands.common import default_threads
    from flopbench.device import describe
    from flopbench.measure import load_cached
    from flopbench.runner import Settings

    threads = torch.get_num_threads() if device.startswith("cpu") or device == "auto" else default_threads()
    described = describe(device, threads)
    cached = load_cached(described, threads)
    return Settings(described, threads, ceilings=cached[0] if cached else {})


def _device_option(config) -> str:
    return config.getoption("flopbench_device") or os.environ.get("FLOPBENCH_DEVICE") or "auto"


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config, machine_info):
    """The device flopbench judged the benchmarks against, with its peaks, in every JSON file."""
    import torch
    settings = _settings(_device_option(config))
    machine_info["flopbench"] = {"version": __version__, "torch": torch.__version__, "threads": settings.threads,
                                 "device": settings.device.to_json(),
                                 "ceilings": {k: vars(v) for k, v in settings.ceilings.items()}}


class FlopsBenchmark:
    """Call it like pytest-benchmark's `benchmark`, with a flopbench workload or a callable and its FLOPs."""

    def __init__(self, benchmark, settings):
        self.benchmark = benchmark
        self.settings = settings

    @property
    def extra_info(self) -> dict[str, Any]:
        return self.benchmark.extra_info

    def __call__(self, target, *args, flops: int | None = None, bytes: int | None = None,
                 elementwise_flops: int = 0, dtype: str = "float32", **kwargs):
        import torch

        from flopbench.runner import peak_key, placement, workload_fields
        from flopbench.timing import Measurement
        from flopbench.workloads import Counts, Workload

        device = self.settings.device
        if isinstance(target, Workload):
            check = target.check(device.torch_device)
            if not check.ok:
                pytest.fail(f"{target.name}: {check.describe()}", pytrace=False)
            fn = target.build(device.torch_device)
            counts, key, family = target.counts, peak_key(target, self.settings), target.family
            info = workload_fields(target)
        else:
            if flops is None:
                raise TypeError("flops_benchmark(fn, ...) needs flops=: the FLOPs one call performs"
                                " (and bytes= for a roofline)")
            fn = functools.partial(target, *args, **kwargs)
            counts, key, family = Counts(flops, elementwise_flops, bytes or 0), dtype, "custom"
            info = {"name": getattr(target, "__name__", "callable"), "op": "callable", "family": family,
                    "dtype": dtype, "flops": flops, "macs": flops // 2, "elementwise_flops": elementwise_flops,
                    "total_flops": counts.total_flops, "bytes": bytes or 0, "intensity": counts.intensity}
        timed = fn
        if device.type == "cuda":
            def timed():  # pytest-benchmark's clock stops when the call returns: wait for the GPU first
                out = fn()
                torch.cuda.synchronize(device.torch_device)
                return out
        result = self.benchmark(timed)
        self.extra_info.update(info, device=device.torch_device, device_label=device.label,
                               flopbench_version=__version__)
        stats = self.benchmark.stats
        if stats:  # None under --benchmark-disable: the function ran once, untimed
            measured = Measurement(tuple(stats.stats.data), stats.iterations, "pytest-benchmark",
                                   time.get_clock_info("perf_counter").resolution)
            self.extra_info.update(placement(counts, key, family, measured, self.settings))
            _MEASURED.append((self.benchmark.name, dict(self.extra_info)))
        return result


_MEASURED: list[tuple[str, dict[str, Any]]] = []  # this session's flops_benchmark results, for the summary


def pytest_terminal_summary(terminalreporter):
    """pytest-benchmark's tables show time; this one shows what the time means."""
    if not _MEASURED:
        return
    from flopbench.units import seconds, si

    def pct(value):
        return f"{value:.1%}" if value is not None else "-"
    write = terminalreporter.write_line
    terminalreporter.section("flopbench: achieved FLOP/s")
    width = max(len(name) for name, _ in _MEASURED)
    write(f"{'benchmark':<{width}}  {'median':>9}  {'achieved':>13}  {'% peak':>7}  {'% roofline':>10}  bound    peak")
    for name, info in _MEASURED:
        write(f"{name:<{width}}  {seconds(info['time_s']):>9}  {si(info['flops_per_s'], 'FLOP/s'):>13}"
              f"  {pct(info['utilization']):>7}  {pct(info['roofline_efficiency']):>10}  {info['bound'] or '-':<7}"
              f"  {info['peak_key']} {si(info['peak_flops_per_s'], 'FLOP/s')} ({info['peak_source']})")
    _MEASURED.clear()


@pytest.fixture
def flops_benchmark(benchmark, request) -> FlopsBenchmark:
    """pytest-benchmark's `benchmark`, knowing FLOPs: see flopbench.pytest_plugin."""
    return FlopsBenchmark(benchmark, _settings(_device_option(request.config)))
