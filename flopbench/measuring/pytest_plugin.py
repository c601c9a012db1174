"""pytest plugin: FLOP/s, utilization and roofline placement inside pytest-benchmark.

    def test_matmul(flops_benchmark):
        flops_benchmark(make_workload("matmul", {"m": 1024, "n": 1024, "k": 1024}))   # a flopbench workload
    def test_mine(flops_benchmark):
        flops_benchmark(my_fn, x, flops=2 * n**3, bytes=3 * n * n * 4)            # any callable, FLOPs declared

The fixture wraps pytest-benchmark's `benchmark`: pytest-benchmark times the call (flopbench adds a CUDA
synchronization, without which it would time only the launch), and flopbench stores the record's fields (core and
total FLOPs, bytes, achieved FLOP/s, the peak with its source, utilization, bound) in the benchmark's extra_info.
pytest-benchmark's tables, JSON, --benchmark-compare and --benchmark-compare-fail work as before. Registered through
the `pytest11` entry point.
"""

from __future__ import annotations

import functools
import os
import time
from typing import TYPE_CHECKING, Any

import pytest

from flopbench.version import __version__

if TYPE_CHECKING:
    from flopbench.machine.resolve import Machine
    from flopbench.results.schema import Record


def pytest_addoption(parser):
    group = parser.getgroup("flopbench", "flopbench: FLOP/s and utilization in pytest-benchmark")
    group.addoption(
        "--flopbench-suite",
        default=None,
        metavar="SUITE[,SUITE]",
        help="suites that benchmarks/test_suites.py runs (default: $FLOPBENCH_SUITE or quick)",
    )
    group.addoption(
        "--flopbench-device",
        default=None,
        metavar="DEVICE",
        help="device of flops_benchmark: cpu, cuda, cuda:N, auto (default: $FLOPBENCH_DEVICE or auto)",
    )


def suites_option(config) -> list[str]:
    text = config.getoption("flopbench_suite") or os.environ.get("FLOPBENCH_SUITE") or "quick"
    return [s.strip() for s in text.split(",") if s.strip()]


@functools.cache
def _machine(device: str) -> Machine:
    """The machine the benchmarks are judged against: its cached ceilings (never measured from a test session) and
    its sustained clock (measured once where none is cached, as `flopbench run` does: the same peak), at the threads
    torch runs with here on a CPU."""
    import torch

    from flopbench.machine.resolve import default_threads, resolve

    threads = torch.get_num_threads() if device.startswith("cpu") or device == "auto" else default_threads()
    return resolve(device, threads, measure_clock=True)


def _device_option(config) -> str:
    return config.getoption("flopbench_device") or os.environ.get("FLOPBENCH_DEVICE") or "auto"


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config, machine_info):
    """The device flopbench judged the benchmarks against, with its peaks: a flopbench header, in every JSON file."""
    from flopbench.measuring.header import make_header

    header = make_header(_machine(_device_option(config)), source="pytest-benchmark")
    machine_info["flopbench"] = header.model_dump(mode="json", exclude={"type"})


class FlopsBenchmark:
    """Call it like pytest-benchmark's `benchmark`, with a flopbench workload or a callable and its FLOPs."""

    def __init__(self, benchmark, machine: Machine, measured: list[tuple[str, dict[str, Any]]] | None = None):
        self.benchmark = benchmark
        self.machine = machine
        self.measured = measured if measured is not None else []  # its session's results, for the summary
        if machine.device.type == "cpu":  # as `flopbench run` times a CPU: freed memory kept for the next call
            from flopbench.measuring.memory import keep_freed_memory

            keep_freed_memory()

    @property
    def extra_info(self) -> dict[str, Any]:
        return self.benchmark.extra_info

    def __call__(
        self,
        target,
        *args,
        flops: int | None = None,
        bytes: int | None = None,
        elementwise_flops: int = 0,
        dtype: str = "float32",
        **kwargs,
    ):
        import torch

        from flopbench.workloads import Workload

        device = self.machine.device
        described = self._describe(target, flops, bytes, elementwise_flops, dtype)  # bad input fails before timing
        if isinstance(target, Workload):
            from flopbench.workloads.check import check_output

            check = check_output(target, device.torch_device)
            if not check.ok:
                pytest.fail(f"{target.name}: {check.describe()}", pytrace=False)
            fn = target.build(device.torch_device)
        else:
            fn = functools.partial(target, *args, **kwargs)
        timed = fn
        if device.type == "cuda":

            def timed():  # pytest-benchmark's clock stops when the call returns: wait for the GPU first
                out = fn()
                torch.cuda.synchronize(device.torch_device)
                return out

        result = self.benchmark(timed)
        stats = self.benchmark.stats
        if stats:  # None under --benchmark-disable: the function ran once, untimed
            record = self._record(described, stats)
            self.extra_info.update(
                record.model_dump(mode="json", exclude={"type", "samples_s", "calls_per_sample", "rounds"}),
                flopbench_version=__version__,
            )
            self.measured.append((self.benchmark.name, dict(self.extra_info)))
        return result

    def _describe(self, target, flops, traffic, elementwise_flops, dtype) -> tuple[Any, Any, Any, str]:
        """(what it is, its counts, its op or None, the peak key) of a workload, or of a callable and its FLOPs."""
        from flopbench.measuring import records
        from flopbench.measuring.admission import peak_key
        from flopbench.workloads import Workload

        if isinstance(target, Workload):
            key = peak_key(target, self.machine.device.type, False)
            return records.workload_part(target), target.counts, target.spec, key
        from flopbench.measuring.api import describe_call

        try:
            what, counts = describe_call(target, flops, traffic, elementwise_flops, dtype, None)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"flops_benchmark(fn, ...): {exc}") from None
        return what, counts, None, dtype

    def _record(self, described: tuple[Any, Any, Any, str], stats: Any) -> Record:
        """The record of what pytest-benchmark timed, made by flopbench's one record builder."""
        from flopbench.measuring import records
        from flopbench.measuring.summary import timing_part
        from flopbench.measuring.timing import Measurement
        from flopbench.results.schema import OutcomePart

        what, counts, op, key = described
        resolution = time.get_clock_info("perf_counter").resolution
        measured = Measurement(tuple(stats.stats.data), stats.iterations, "pytest-benchmark", resolution)
        derived = records.derive(counts, key, measured.median_s, self.machine.roofline, op=op)
        return records.build(
            what,
            records.counts_part(counts),
            records.where_part(self.machine.device),
            timing_part(measured),
            *derived.parts,
            outcome=OutcomePart(status="ok"),
            warnings=[*measured.warnings(), *derived.warnings],
        )


# A session's flops_benchmark results, kept on its config: two sessions in one process (pytester, a notebook) each
# summarize their own.
MEASURED = pytest.StashKey[list[tuple[str, dict[str, Any]]]]()


def _measured(config) -> list[tuple[str, dict[str, Any]]]:
    return config.stash.setdefault(MEASURED, [])


def pytest_terminal_summary(terminalreporter):
    """pytest-benchmark's tables show time; this one shows what the time means."""
    measured = _measured(terminalreporter.config)
    if not measured:
        return
    from flopbench.units import seconds, si

    def pct(value):
        return f"{value:.1%}" if value is not None else "-"

    write = terminalreporter.write_line
    terminalreporter.section("flopbench: achieved FLOP/s")
    width = max(len(name) for name, _ in measured)
    write(f"{'benchmark':<{width}}  {'median':>9}  {'achieved':>13}  {'% peak':>7}  {'% roofline':>10}  bound    peak")
    for name, info in measured:
        write(
            f"{name:<{width}}  {seconds(info['time_s']):>9}  {si(info['total_flops_per_s'], 'FLOP/s'):>13}"
            f"  {pct(info['utilization']):>7}  {pct(info['roofline_efficiency']):>10}  {info['bound'] or '-':<7}"
            f"  {info['peak_key']} {si(info['peak_flops_per_s'], 'FLOP/s')} ({info['peak_source']})"
        )


@pytest.fixture
def flops_benchmark(benchmark, request) -> FlopsBenchmark:
    """pytest-benchmark's `benchmark`, knowing FLOPs: see flopbench.measuring.pytest_plugin."""
    return FlopsBenchmark(benchmark, _machine(_device_option(request.config)), _measured(request.config))
