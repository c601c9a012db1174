"""Is the machine quiet? What the OS says around each measurement, and a canary for what it cannot say.

Around every measurement (a window), flopbench reads:
- CPU time used by other processes: the system's busy time (/proc/stat) minus this process's own (rusage), in CPUs
  (0.9 means other processes kept 0.9 of a CPU busy on average during the window);
- steal time: the share of CPU time the hypervisor gave to other guests;
- the 1-minute load average, and this process's involuntary context switches (it was preempted);
- on CUDA: other compute processes on the GPU (NVML), never flopbench's own (this process, the processes that started
  it, and its children: a script that launched the run may hold a context of its own), and the GPU's utilization
  just before only when another process is there (NVML's utilization covers the last 1/6 to 1 s of the whole device,
  flopbench's own previous workload and canary included: alone, it would call every measurement busy).
And it times a canary before and after: a short fixed kernel (a small GEMM and a copy) whose speed against the
machine's baseline shows slowdowns that the guest cannot see: a host's other tenant on a sibling hyperthread, a
clock that dropped, a tenant thrashing the shared cache. Its baseline is the faster of the run's start and the
quiet reference cached with the machine's ceilings, so a run that starts on a busy machine is still told.

Every source is injectable (SystemProbe, Canary, GpuProbe, clock), so each decision is tested on fakes.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from flopbench.machine.resolve import usable_cpus
from flopbench.results.schema import Interference
from flopbench.results.trust import CANARY_NOISE_MULTIPLE, CANARY_SLOWDOWN, disturbances

# When a measurement is disturbed is flopbench.results.trust's rule (disturbances): the readings below meet it there.
# The canary's noise is the interquartile range of the run's first canaries over their median: one stray canary at
# the start cannot set it (their full range did: one canary 30% off made the threshold 91% and blinded the run); the
# threshold is CANARY_NOISE_MULTIPLE of it.
# The canary between workloads is noisier than five back to back at the start: what the last workload left behind
# moves it (on a 2-vCPU AMD EPYC VM, after a 64 MiB GEMV a median 40% slower than back to back, after a large GEMM 5%,
# after a 0.3 s sleep 18%). So its noise is also taken from the run's windows, once there are this many, and the
# larger of the two sets the threshold. Only the faster half of the windows' canaries counts (twice the distance
# from their median down to their lower quartile): interference only slows, so a slowdown widens it little until it
# holds half of the run's windows, and a run that slow is told by its median canary (RunSpeed).
WINDOW_NOISE_MIN = 8


@dataclass(frozen=True)
class Snapshot:
    """Cumulative counters at one moment."""

    wall_s: float
    busy_s: float | None  # CPU seconds spent busy by every process, all CPUs (None: no /proc/stat)
    total_s: float | None  # CPU seconds of every kind (busy, idle, steal), all CPUs
    steal_s: float | None
    own_s: float  # this process's CPU seconds (every thread)
    involuntary: int  # this process's involuntary context switches
    loadavg: float | None


class SystemProbe:
    """Reads the OS: /proc/stat, rusage and the load average. Replaceable in tests by anything with `snapshot()`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, stat_path: str = "/proc/stat"):
        self.clock = clock
        self.stat_path = stat_path
        self.tick_s = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01

    def _cpu_line(self) -> list[int] | None:
        try:
            with open(self.stat_path) as f:
                first = f.readline().split()
        except OSError:
            return None
        return [int(v) for v in first[1:]] if first and first[0] == "cpu" else None

    def snapshot(self) -> Snapshot:
        fields = self._cpu_line()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        try:
            loadavg: float | None = os.getloadavg()[0]
        except OSError:
            loadavg = None
        busy = total = steal = None
        if fields and len(fields) >= 8:
            user, nice, system, idle, iowait, irq, softirq, stolen = fields[:8]
            tick = self.tick_s
            busy = (user + nice + system + irq + softirq) * tick
            steal = stolen * tick
            total = (user + nice + system + idle + iowait + irq + softirq + stolen) * tick
        return Snapshot(self.clock(), busy, total, steal, usage.ru_utime + usage.ru_stime, usage.ru_nivcsw, loadavg)


class Canary(Protocol):
    def measure(self) -> float:
        """Seconds of the canary's unit of work (one small GEMM and one copy), now."""


MIB = 2**20


def canary_copy_bytes(device: Any) -> int:
    """The bytes the canary copies (its source; the destination is as large), from what the machine is. On a CPU the
    copy stays well inside the last-level cache, source and destination each an eighth of it (1 to 16 MiB; 4 MiB when
    the cache is unknown): a copy whose working set straddles the cache lands in it or in DRAM by chance. On a
    2-vCPU AMD EPYC VM (32 MiB L3), interleaved, a 16 MiB copy (32 MiB in all) had an IQR of 42-62% of its median,
    DRAM-sized ones 17-33%, a 4 MiB one 13-14%. On a GPU, 256 MiB: far beyond its L2."""
    if device.type != "cpu":
        return 256 * MIB
    llc = device.facts.get("llc_bytes")
    if not isinstance(llc, int | float) or llc <= 0:
        return 4 * MIB
    return int(min(max(llc / 8, MIB), 16 * MIB)) // MIB * MIB


class TorchCanary:
    """A small GEMM (compute) then a copy (memory) on the run's device, with the run's threads. Each part repeats for
    about 3 ms once untimed, then is timed three times (its median kept), so one canary costs about 25 ms; its figure
    is per unit (seconds per GEMM + seconds per copy), so canaries of other runs, calibrated to other repetitions,
    compare. The copy's size comes from the machine (canary_copy_bytes).

    The untimed pass makes the canary see the machine's speed rather than the state the last workload or an idle
    wait left behind: on a 2-vCPU KVM guest at one thread, a copy straight after a large workload or a 0.3 s sleep
    ran 21% slower for a few milliseconds than back-to-back copies, and without the pass every record of a quiet run
    was called disturbed against a baseline taken back to back. With it the three states agree within 2%."""

    PART_S = 0.003

    def __init__(self, device: str, copy_bytes: int = 4 * MIB):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        n, numel = (256 if self.device.type == "cpu" else 2048), max(1, copy_bytes // 4)  # float32
        g = torch.Generator(device=self.device).manual_seed(7)
        self.a = torch.randn(n, n, device=self.device, generator=g)
        self.b = torch.randn(n, n, device=self.device, generator=g)
        self.out = torch.empty(n, n, device=self.device)
        self.src = torch.randn(numel, device=self.device, generator=g)
        self.dst = torch.empty_like(self.src)
        self.reps = (self._reps(self._gemm), self._reps(self._copy))

    def _sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def _gemm(self, reps: int) -> None:
        for _ in range(reps):
            self.torch.matmul(self.a, self.b, out=self.out)

    def _copy(self, reps: int) -> None:
        for _ in range(reps):
            self.dst.copy_(self.src)

    def _time(self, part: Callable[[int], None], reps: int) -> float:
        self._sync()
        start = time.perf_counter()
        part(reps)
        self._sync()
        return time.perf_counter() - start

    def _reps(self, part: Callable[[int], None]) -> int:
        part(2)  # warm: first-call costs are not the machine's speed
        per = self._time(part, 5) / 5
        return max(1, round(self.PART_S / per)) if per > 0 else 1

    def _steady(self, part: Callable[[int], None], reps: int) -> float:
        part(reps)  # untimed: caches, clocks and the scheduler back to a steady state
        return statistics.median(self._time(part, reps) for _ in range(3)) / reps

    def measure(self) -> float:
        gemm, copy = self.reps
        return self._steady(self._gemm, gemm) + self._steady(self._copy, copy)


class GpuProbe(Protocol):
    def others(self) -> tuple[int, float | None]:
        """(compute processes on the GPU other than this one, GPU utilization in percent now)."""


class NvmlProbe:
    def __init__(self, nvml: Any, own: Callable[[], set[int]] | None = None):
        self.nvml = nvml  # flopbench.machine.device.Nvml
        self.own = own or own_processes

    def others(self) -> tuple[int, float | None]:
        """Compute processes on the GPU that are not flopbench's own, and the GPU's utilization when there are any.
        Where NVML's PIDs are not this process's (a container's PID namespace: none of ours is listed, though this
        process holds a context), one listed process is taken to be this one."""
        pids = self.nvml.compute_processes()
        own = self.own()
        if pids and not own.intersection(pids):
            count = len(pids) - 1
        else:
            count = sum(1 for pid in pids if pid not in own)
        return count, (self.nvml.utilization() if count else None)


def own_processes(proc: Path = Path("/proc")) -> set[int]:
    """This process, its ancestors and its descendants (from /proc; this process alone where there is none)."""
    me = os.getpid()
    parents: dict[int, int] = {}
    try:
        entries = [e for e in proc.iterdir() if e.name.isdigit()]
    except OSError:
        return {me}
    for entry in entries:
        try:
            stat = (entry / "stat").read_text()
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])  # the name may hold spaces and ')'
        except (OSError, ValueError, IndexError):
            continue
    own, pid = {me}, me
    while parents.get(pid, 0) > 1:
        pid = parents[pid]
        own.add(pid)
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    stack = [me]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in own:
                own.add(child)
                stack.append(child)
    return own


@dataclass
class Window:
    start: Snapshot
    canary_s: float | None
    gpu: tuple[int, float | None] | None


@dataclass
class Monitor:
    """Measures interference around measurements; see the module's doc."""

    probe: Any  # SystemProbe or a fake with snapshot()
    usable_cpus: int
    threads: int
    canary: Canary | None = None
    gpu: GpuProbe | None = None
    reference_canary_s: float | None = None  # the machine's quiet canary, cached with its ceilings
    run_reference_s: float | None = None  # the median canary of the quietest earlier run on this machine
    baseline_rounds: int = 5
    sleep: Callable[[float], None] = time.sleep
    baseline_s: float | None = field(default=None, init=False)
    baseline_noise: float = field(default=0.0, init=False)  # the baseline canaries' IQR over their median
    _last_canary: tuple[float, float] | None = field(default=None, init=False)  # (when, seconds)
    _windows: list[float] = field(default_factory=list, init=False)  # the canaries measured between workloads

    def start_run(self) -> dict[str, Any]:
        """The canary's baseline: the faster of this run's start and the cached quiet reference. Returns what the
        run header records of it."""
        if self.canary is None:
            return {}
        times = [self.canary.measure() for _ in range(self.baseline_rounds)]
        q1, start, q3 = statistics.quantiles(times, n=4, method="inclusive")
        self.baseline_noise = (q3 - q1) / start if start > 0 else 0.0
        self.baseline_s = min(start, self.reference_canary_s) if self.reference_canary_s else start
        return {
            "canary_start_s": start,
            "canary_reference_s": self.reference_canary_s,
            "canary_baseline_s": self.baseline_s,
            "canary_noise": self.baseline_noise,
            "canary_run_reference_s": self.run_reference_s,
        }

    @property
    def window_noise(self) -> float:
        """The spread of the faster half of the windows' canaries, as an IQR over the median would read on a quiet
        machine: 2 x (median - lower quartile) / median (0 until there are WINDOW_NOISE_MIN)."""
        if len(self._windows) < WINDOW_NOISE_MIN:
            return 0.0
        q1, median, _ = statistics.quantiles(self._windows, n=4, method="inclusive")
        return 2 * (median - q1) / median if median > 0 else 0.0

    @property
    def canary_threshold(self) -> float:
        return max(CANARY_SLOWDOWN, CANARY_NOISE_MULTIPLE * max(self.baseline_noise, self.window_noise))

    def _canary(self) -> float | None:
        if self.canary is None:
            return None
        now = self.probe.clock()
        if self._last_canary and now - self._last_canary[0] < 0.05:
            return self._last_canary[1]  # the previous window's "after" is this window's "before"
        value = self.canary.measure()
        self._last_canary = (self.probe.clock(), value)
        if self.baseline_s is not None:  # after start_run: a canary between workloads
            self._windows.append(value)
        return value

    def begin(self) -> Window:
        gpu = self.gpu.others() if self.gpu else None
        canary = self._canary()
        return Window(self.probe.snapshot(), canary, gpu)

    def end(self, window: Window) -> Interference:
        end = self.probe.snapshot()
        after = self._canary()
        return judge(
            window.start,
            end,
            window.canary_s,
            after,
            self.baseline_s,
            self.canary_threshold,
            window.gpu,
            self.usable_cpus,
            self.threads,
        )

    def sample(self, seconds: float) -> Interference:
        """The machine over the next `seconds`, with nothing of ours running: is it quiet now?"""
        window = self.begin()
        self.sleep(seconds)
        return self.end(window)


def judge(
    start: Snapshot,
    end: Snapshot,
    canary_before: float | None,
    canary_after: float | None,
    baseline_s: float | None,
    canary_threshold: float,
    gpu: tuple[int, float | None] | None,
    usable_cpus: int,
    threads: int,
) -> Interference:
    """The interference of one window, and the verdict in words a person reads."""
    wall = max(end.wall_s - start.wall_s, 1e-9)
    own = end.own_s - start.own_s
    other = steal = None
    if start.busy_s is not None and end.busy_s is not None:
        other = max(0.0, (end.busy_s - start.busy_s) - own) / wall
    if (
        start.total_s is not None
        and end.total_s is not None
        and start.steal_s is not None
        and end.steal_s is not None
        and end.total_s > start.total_s
    ):
        steal = (end.steal_s - start.steal_s) / (end.total_s - start.total_s)
    canaries = [c for c in (canary_before, canary_after) if c is not None]
    slowdown = max(canaries) / baseline_s - 1 if canaries and baseline_s else None
    gpu_others, gpu_utilization = gpu if gpu else (None, None)
    found = disturbances(other, steal, slowdown, canary_threshold, gpu_others, gpu_utilization, usable_cpus)
    reasons = [d.reason for d in found]
    return Interference(
        window_s=wall,
        usable_cpus=usable_cpus,
        threads=threads,
        other_cpus=other,
        steal=steal,
        loadavg=end.loadavg,
        involuntary_switches=end.involuntary - start.involuntary,
        canary_slowdown=slowdown,
        canary_threshold=canary_threshold if slowdown is not None else None,
        gpu_processes=gpu_others,
        gpu_utilization=gpu_utilization,
        busy=bool(reasons),
        reasons=reasons,
    )


def make_monitor(
    device: Any, threads: int, reference_canary_s: float | None = None, run_reference_s: float | None = None
) -> Monitor:
    """The monitor of a run on `device` (a flopbench Device) with `threads`: the OS, a torch canary, NVML on CUDA.
    reference_canary_s and run_reference_s: the machine's cached quiet canary and quietest run's median canary."""
    gpu = None
    if device.type == "cuda":
        from flopbench.machine.device import Nvml

        nvml = Nvml(device.index or 0)
        gpu = NvmlProbe(nvml) if nvml.available else None
    return Monitor(
        SystemProbe(),
        usable_cpus=usable_cpus(),
        threads=threads,
        canary=TorchCanary(device.torch_device, canary_copy_bytes(device)),
        gpu=gpu,
        reference_canary_s=reference_canary_s,
        run_reference_s=run_reference_s,
    )
