"""Interference, on fake /proc readings, a fake canary and fake clocks: every verdict and its words."""

import pytest

from flopbench.measuring.interference import Monitor, Snapshot, SystemProbe, judge
from flopbench.results.trust import BUSY_OTHER_CPUS, CANARY_SLOWDOWN


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeProbe:
    """Cumulative counters that a test advances: `busy` is every process's CPU seconds, `own` this process's."""

    def __init__(self):
        self.clock = FakeClock()
        self.busy = self.total = self.steal = self.own = 0.0
        self.switches = 0

    def advance(self, seconds, others=0.0, own_cpus=1.0, steal=0.0, cpus=2):
        self.clock.now += seconds
        self.own += own_cpus * seconds
        self.busy += (others + own_cpus) * seconds
        self.steal += steal * cpus * seconds
        self.total += cpus * seconds
        self.switches += int(others * 100 * seconds)

    def snapshot(self):
        return Snapshot(self.clock(), self.busy, self.total, self.steal, self.own, self.switches, 1.0)


class FakeCanary:
    def __init__(self, times):
        self.times = list(times)

    def measure(self):
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def window(probe, seconds, **load):
    start = probe.snapshot()
    probe.advance(seconds, **load)
    return start, probe.snapshot()


def test_a_quiet_window_is_not_busy():
    probe = FakeProbe()
    start, end = window(probe, 2.0, others=0.02, own_cpus=2.0)
    verdict = judge(start, end, 1e-3, 1e-3, 1e-3, CANARY_SLOWDOWN, None, usable_cpus=2, threads=2)
    assert not verdict.busy and verdict.reasons == []
    assert verdict.other_cpus == pytest.approx(0.02) and verdict.steal == 0 and verdict.canary_slowdown == 0


def test_other_processes_make_it_busy_in_words():
    probe = FakeProbe()
    start, end = window(probe, 2.0, others=0.9, own_cpus=1.1)
    verdict = judge(start, end, None, None, None, CANARY_SLOWDOWN, None, usable_cpus=2, threads=2)
    assert verdict.busy and verdict.other_cpus == pytest.approx(0.9)
    assert verdict.reasons == ["busy: other processes used 0.9 of 2 CPUs during this measurement"]
    assert verdict.involuntary_switches == 180


def test_the_busy_threshold_is_a_quarter_of_a_cpu():
    for others, busy in ((BUSY_OTHER_CPUS - 0.05, False), (BUSY_OTHER_CPUS + 0.05, True)):
        probe = FakeProbe()
        start, end = window(probe, 1.0, others=others)
        assert judge(start, end, None, None, None, CANARY_SLOWDOWN, None, 2, 2).busy is busy


def test_steal_time_makes_it_busy():
    probe = FakeProbe()
    start, end = window(probe, 1.0, steal=0.2)
    verdict = judge(start, end, None, None, None, CANARY_SLOWDOWN, None, 2, 2)
    assert verdict.busy and verdict.steal == pytest.approx(0.2)
    assert "steal: the hypervisor gave 20% of this VM's CPU time to other guests" in verdict.reasons


def test_the_canary_sees_what_the_guest_cannot():
    probe = FakeProbe()
    start, end = window(probe, 1.0)  # the OS sees nothing
    verdict = judge(start, end, 1.0e-3, 1.35e-3, 1.0e-3, CANARY_SLOWDOWN, None, 2, 2)
    assert verdict.busy and verdict.other_cpus == 0
    assert verdict.canary_slowdown == pytest.approx(0.35)
    assert verdict.reasons == ["slow machine: the canary ran 35% slower than at its quietest"]
    assert not judge(start, end, 1.0e-3, 1.10e-3, 1.0e-3, CANARY_SLOWDOWN, None, 2, 2).busy


def test_other_gpu_work_makes_it_busy():
    probe = FakeProbe()
    start, end = window(probe, 1.0)
    busy = judge(start, end, None, None, None, CANARY_SLOWDOWN, (1, 60.0), 2, 2)
    assert busy.busy and busy.gpu_processes == 1
    assert busy.reasons == ["GPU shared: 1 other process computed on it (the GPU 60% busy just before)"]
    # utilization alone is flopbench's own last workload or canary: NVML averages the whole device over up to 1 s
    assert not judge(start, end, None, None, None, CANARY_SLOWDOWN, (0, 40.0), 2, 2).busy
    assert not judge(start, end, None, None, None, CANARY_SLOWDOWN, (0, None), 2, 2).busy


class FakeNvml:
    def __init__(self, pids, utilization=95.0):
        self.pids, self.util, self.asked = pids, utilization, 0

    def compute_processes(self):
        return list(self.pids)

    def utilization(self):
        self.asked += 1
        return self.util


def test_flopbench_own_gpu_processes_are_not_others():
    """NVML lists every context on the device: this process's, and a parent's (the validation script keeps one open
    while its child runs). Neither is interference, and the device's utilization (flopbench's own last kernels) is
    not read unless someone else is there."""
    import os

    from flopbench.measuring.interference import NvmlProbe

    own = {os.getpid(), os.getppid()}
    alone = NvmlProbe(FakeNvml([os.getpid(), os.getppid()]), own=lambda: own)
    assert alone.others() == (0, None) and alone.nvml.asked == 0
    shared = NvmlProbe(FakeNvml([os.getpid(), 999_999]), own=lambda: own)
    assert shared.others() == (1, 95.0)
    # a container: NVML's PIDs are the host's, none of them ours; one of them is this process
    namespaced = NvmlProbe(FakeNvml([123_456]), own=lambda: own)
    assert namespaced.others() == (0, None)
    assert NvmlProbe(FakeNvml([123_456, 123_457]), own=lambda: own).others() == (1, 95.0)


def test_own_processes_are_this_one_its_ancestors_and_its_descendants(tmp_path):
    import os

    from flopbench.measuring.interference import own_processes

    me = os.getpid()
    tree = {1: 0, 50: 1, 60: 50, me: 60, 70: me, 71: 70, 80: 1, 81: 80}  # 80, 81: someone else's
    for pid, parent in tree.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (a (weird) name) S {parent} 1 1 0 -1\n")
    assert own_processes(tmp_path) == {me, 60, 50, 70, 71}
    assert own_processes(tmp_path / "missing") == {me}
    assert me in own_processes() and os.getppid() in own_processes()


def test_without_proc_stat_only_the_canary_judges():
    probe = FakeProbe()
    start = Snapshot(0.0, None, None, None, 0.0, 0, None)
    end = Snapshot(1.0, None, None, None, 1.0, 0, None)
    verdict = judge(start, end, 1e-3, 1e-3, 1e-3, CANARY_SLOWDOWN, None, 2, 2)
    assert verdict.other_cpus is None and verdict.steal is None and not verdict.busy
    del probe


def test_the_system_probe_reads_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 5 20 800 10 1 2 30 0 0\ncpu0 50 2 10 400 5 0 1 15 0 0\n")
    snap = SystemProbe(stat_path=str(stat)).snapshot()
    tick = SystemProbe().tick_s
    assert snap.busy_s == pytest.approx((100 + 5 + 20 + 1 + 2) * tick)
    assert snap.steal_s == pytest.approx(30 * tick)
    assert snap.total_s == pytest.approx((100 + 5 + 20 + 800 + 10 + 1 + 2 + 30) * tick)
    assert snap.own_s > 0 and snap.loadavg is not None
    missing = SystemProbe(stat_path=str(tmp_path / "none")).snapshot()
    assert missing.busy_s is None and missing.own_s > 0  # no /proc: the canary and rusage still work


def test_the_baseline_is_the_faster_of_the_start_and_the_cached_reference():
    probe = FakeProbe()
    monitor = Monitor(probe, 2, 2, canary=FakeCanary([1.2e-3] * 5), reference_canary_s=1.0e-3)
    quiet = monitor.start_run()
    assert quiet["canary_start_s"] == pytest.approx(1.2e-3) and monitor.baseline_s == pytest.approx(1.0e-3)
    # A run that starts on a busy machine is still told: its canaries are judged against the quiet reference.
    probe.advance(0.1)
    window_ = monitor.begin()
    probe.advance(1.0)
    verdict = monitor.end(window_)
    assert verdict.busy and verdict.canary_slowdown == pytest.approx(0.2)


def test_a_noisy_canary_raises_its_own_threshold():
    probe = FakeProbe()
    monitor = Monitor(probe, 2, 2, canary=FakeCanary([1.0e-3, 1.1e-3, 0.9e-3, 1.05e-3, 0.95e-3]))
    monitor.start_run()
    assert monitor.baseline_noise == pytest.approx(0.1)  # the IQR, 0.95 to 1.05, over the median
    assert monitor.canary_threshold == pytest.approx(0.5)  # 5 x its noise, above the 15% floor


def test_one_stray_canary_at_the_start_does_not_blind_the_run():
    probe = FakeProbe()
    monitor = Monitor(probe, 2, 2, canary=FakeCanary([1.0e-3, 1.0e-3, 1.3e-3, 1.0e-3, 1.01e-3, 1.3e-3]))
    monitor.start_run()
    assert monitor.baseline_s == pytest.approx(1.0e-3) and monitor.canary_threshold == pytest.approx(0.15)
    window_ = monitor.begin()
    probe.advance(1.0)
    verdict = monitor.end(window_)
    assert verdict.busy and verdict.reasons == ["slow machine: the canary ran 30% slower than at its quietest"]


def test_the_canary_between_workloads_sets_its_own_noise_and_slow_windows_cannot_widen_it():
    from flopbench.measuring.interference import WINDOW_NOISE_MIN

    # Five back to back at the start agree within 1%; between workloads the canary spreads 0-40% over them (what the
    # last workload left behind); then a lasting 2.5x slowdown sets in.
    spread = [1.00e-3, 1.10e-3, 1.25e-3, 1.40e-3, 1.05e-3, 1.20e-3, 1.30e-3, 1.15e-3, 1.35e-3, 1.10e-3, 1.2e-3]
    probe = FakeProbe()
    canary = FakeCanary([1.0e-3, 1.0e-3, 1.01e-3, 1.0e-3, 0.99e-3, *spread, 2.5e-3])
    monitor = Monitor(probe, 2, 2, canary=canary)
    monitor.start_run()
    assert monitor.canary_threshold == pytest.approx(0.15)  # the start alone: 5 x 1%, under the 15% floor

    def windows(n):
        verdicts = []
        for _ in range(n):
            w = monitor.begin()
            probe.advance(0.1)  # each window's "after" is 0.1 s later: the next "before" is measured anew
            verdicts.append(monitor.end(w))
        return verdicts

    early = windows(WINDOW_NOISE_MIN // 2)  # canaries 1.00-1.40 ms: until there are enough, the start's noise rules
    assert [v.busy for v in early] == [False, True, True, True]
    windows(len(spread) - 1 - len(early))  # a window measures one canary more than the one before it: all of spread
    # the faster half of 1.00-1.40 ms: median 1.2 ms, lower quartile 1.1 ms: 2 x 0.1 / 1.2 = 16.7%, a threshold of 83%
    assert monitor.window_noise == pytest.approx(2 * 0.1 / 1.2) and monitor.canary_threshold == pytest.approx(5 / 6)
    slow = windows(4)  # the lasting slowdown: flagged throughout; it moves the faster half's median only a little
    assert all(v.busy for v in slow) and monitor.canary_threshold == pytest.approx(1.0)  # 1.25 - 1.125 over 1.25


def test_one_canary_serves_as_after_and_next_before():
    probe = FakeProbe()
    calls = []

    class Counting(FakeCanary):
        def measure(self):
            calls.append(probe.clock())
            return 1e-3

    monitor = Monitor(probe, 2, 2, canary=Counting([1e-3]))
    first = monitor.begin()
    probe.advance(1.0)
    monitor.end(first)
    monitor.begin()  # at once: the previous "after" is reused
    assert len(calls) == 2


def test_sample_watches_the_machine_without_running_anything():
    probe = FakeProbe()
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        probe.advance(seconds, others=1.0, own_cpus=0.0)

    monitor = Monitor(probe, 2, 2, sleep=sleep)
    verdict = monitor.sample(0.5)
    assert slept == [0.5] and verdict.busy and verdict.other_cpus == pytest.approx(1.0)


def test_the_canary_copy_is_sized_from_the_last_level_cache():
    from types import SimpleNamespace

    from flopbench.measuring.interference import MIB, TorchCanary, canary_copy_bytes

    def cpu(llc):
        return SimpleNamespace(type="cpu", facts={"llc_bytes": llc})

    assert canary_copy_bytes(cpu(32 * MIB)) == 4 * MIB  # AMD EPYC Zen 3: 8 MiB in all, a quarter of the L3
    assert canary_copy_bytes(cpu(480 * MIB)) == 16 * MIB  # a hypervisor's large figure: capped
    assert canary_copy_bytes(cpu(2 * MIB)) == MIB  # a small cache: at least 1 MiB
    assert canary_copy_bytes(cpu(None)) == canary_copy_bytes(cpu("unknown")) == 4 * MIB
    assert canary_copy_bytes(SimpleNamespace(type="cuda", facts={})) == 256 * MIB
    assert TorchCanary("cpu", 2 * MIB).src.numel() == 2 * MIB // 4  # float32


def test_the_torch_canary_measures_the_steady_machine_not_the_state_a_workload_left(monkeypatch):
    """A part that runs 1.5x slower for its first 4 ms of work after the machine sat idle or a workload evicted its
    data (what a 2-vCPU guest showed at one thread): the canary's figure is still the steady one."""
    import flopbench.measuring.interference as interference

    clock = FakeClock()
    monkeypatch.setattr(interference.time, "perf_counter", clock)
    canary = interference.TorchCanary("cpu")
    cold = {"gemm": 0.0, "copy": 0.0}  # seconds of slow work left, per part

    def part(name, unit_s):
        def run(reps):
            work = reps * unit_s
            slow = min(cold[name], work)
            cold[name] -= slow
            clock.now += work + 0.5 * slow

        return run

    canary._gemm, canary._copy = part("gemm", 1e-3), part("copy", 2e-3)
    canary.reps = (3, 2)
    steady = canary.measure()
    assert steady == pytest.approx(3e-3)
    cold.update(gemm=4e-3, copy=4e-3)  # a large workload, or an idle wait, just ran
    assert canary.measure() == pytest.approx(steady)


def test_a_run_is_slow_when_its_median_canary_is_over_5_percent_above_the_quietest_earlier_runs():
    from types import SimpleNamespace

    from flopbench.results.trust import run_speed

    def records(*slowdowns):
        rounds = [SimpleNamespace(interference=SimpleNamespace(canary_slowdown=x)) for x in slowdowns]
        return [SimpleNamespace(rounds=rounds[:2]), SimpleNamespace(rounds=rounds[2:])]

    # Windows read a median 15% over the back-to-back baseline (what the last workload leaves behind): without an
    # earlier run to compare with, that is no verdict on the run.
    first = run_speed(records(0.14, 0.16, 0.50, 0.15, 0.12), baseline_s=2e-3)  # one stray window: not the run
    assert first.windows == 5 and first.median_slowdown == pytest.approx(0.15) and not first.slow
    assert first.median_s == pytest.approx(2.3e-3)
    assert first.sentence() == (
        "the canary's median over the run's 5 measurements was 2.3 ms, the first such figure on this machine (later"
        " runs are judged against the quietest one)"
    )
    # The same windows against the quietest earlier run's median canary.
    same = run_speed(records(0.14, 0.16, 0.50, 0.15, 0.12), baseline_s=2e-3, reference_s=2.25e-3)
    assert not same.slow and "+2.2% from the quietest earlier run on this machine (2.25 ms)" in same.sentence()
    slow = run_speed(records(0.24, 0.26, 0.25, 0.25), baseline_s=2e-3, reference_s=2.3e-3)  # 2.5 ms: +8.7%
    assert slow.slow and slow.median_s == pytest.approx(2.5e-3)
    assert "+8.7% from the quietest earlier run" in slow.sentence()
    assert "the machine was slower for the whole run" in slow.sentence()
    assert not run_speed(records(0.24, 0.26), baseline_s=None, reference_s=2.3e-3).slow  # no seconds: no verdict
    assert run_speed([SimpleNamespace(rounds=[SimpleNamespace(interference=None)])], 1e-3) is None
    # Canaries a median 12% faster than their baseline: the baseline, not the run, was slow; said so.
    fast = run_speed(records(-0.10, -0.12, -0.14, -0.12), baseline_s=2e-3)
    assert fast.fast and not fast.slow and fast.median_s == pytest.approx(1.76e-3)
    assert fast.sentence().startswith("the canary ran a median 12.0% faster than its baseline")
    assert "that baseline was taken on a slowed machine" in fast.sentence()
    assert not first.fast and not slow.fast
