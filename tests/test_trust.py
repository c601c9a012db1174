"""The runner's trust decisions on fakes: rounds, --on-busy warn/wait/retry, the cost cap, sweeps that stop, the time
budget, stale ceilings; ceiling measurement in rounds with a growth cap; the ceilings cache's key and refusals."""

import dataclasses

import pytest

from flopbench.machine import cache
from flopbench.measuring import ceilings as measure
from flopbench.measuring import policy, schedule
from flopbench.measuring import runner as runner_module
from flopbench.measuring.admission import Cause
from flopbench.measuring.schedule import rotated
from flopbench.measuring.timing import CallTooSlow, CpuTimer, Measurement
from flopbench.results.schema import Device, Interference, Peak
from flopbench.workloads import make_workload
from tests.helpers import runner

QUIET = Interference(window_s=1.0, usable_cpus=2, threads=2, other_cpus=0.0, busy=False)
BUSY = Interference(
    window_s=1.0,
    usable_cpus=2,
    threads=2,
    other_cpus=0.9,
    busy=True,
    reasons=["busy: other processes used 0.9 of 2 CPUs during this measurement"],
)


def device(isa="avx2 fma", bf16=None, facts=None):
    peaks = {"float32": Peak(100e9, "derived", "test"), "bfloat16": Peak(bf16 or 100e9, "derived", "test")}
    facts = {"isa": isa, "llc_bytes": 1 << 20, **(facts or {})}
    return Device("cpu", None, "Test CPU", facts, peaks, Peak(10e9, "spec", "test"))


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class ScriptedTimer:
    """Each measurement takes the next time of the script (per workload name, or the default), advancing a clock."""

    def __init__(self, clock, times=None, default=1e-3, too_slow=None):
        self.clock, self.times, self.default, self.too_slow = clock, times or {}, default, too_slow or {}
        self.measured = []

    def measure(self, fn, max_call_s=None):
        name = self.current
        if name in self.too_slow and max_call_s is not None:
            raise CallTooSlow(self.too_slow[name], max_call_s)
        queue = self.times.get(name)
        seconds = queue.pop(0) if queue else self.default
        self.measured.append(name)
        self.clock.now += 0.2
        return Measurement((seconds,) * 5, 1, "perf_counter", 1e-9)


class ScriptedMonitor:
    """The verdicts of successive measurements, and of quiet samples (for --on-busy wait)."""

    def __init__(self, clock, verdicts=(), samples=()):
        self.clock, self.verdicts, self.samples = clock, list(verdicts), list(samples)
        self.baseline_s = self.run_reference_s = None

    def begin(self):
        return None

    def end(self, window):
        return self.verdicts.pop(0) if self.verdicts else QUIET

    def sample(self, seconds):
        self.clock.now += seconds
        return self.samples.pop(0) if self.samples else QUIET


def make(options, times=None, verdicts=(), samples=(), too_slow=None, default=1e-3, dev=None):
    """A runner on the test device with these run settings (and `ceilings`), its timer, monitor and records."""
    clock = Clock()
    timer = ScriptedTimer(clock, times, default, too_slow)
    monitor = ScriptedMonitor(clock, verdicts, samples)
    records = []
    r = runner(dev or device(), on_record=records.append, timer=timer, monitor=monitor, clock=clock, **options)
    return r, timer, monitor, records


def run(r, timer, workloads):
    def before(w):
        timer.current = w.name

    r.run(workloads, before=before)


def mm(n, dtype="float32", group="", swept=()):
    return dataclasses.replace(make_workload("matmul", {"m": n, "n": n, "k": n}, dtype=dtype), group=group, swept=swept)


# --- rounds ---------------------------------------------------------------------------------------------------------


def test_rounds_rotate_and_the_figure_is_the_median_of_round_medians():
    a, b, c = mm(8), mm(12), mm(16)
    r, timer, _, records = make(
        dict(rounds=3), times={a.name: [1e-3, 5e-3, 1.02e-3]}
    )  # a transient disturbance moves one round
    run(r, timer, [a, b, c])
    assert timer.measured == [a.name, b.name, c.name, b.name, c.name, a.name, c.name, a.name, b.name]
    record = next(x for x in records if x.name == a.name)
    assert [x.time_s for x in record.rounds] == [1e-3, 5e-3, 1.02e-3] and record.time_s == 1.02e-3
    assert [x.position for x in record.rounds] == [0, 2, 1]
    assert record.round_spread == pytest.approx(4e-3 / 1.02e-3) and record.stable is False
    assert any(w.startswith("unstable: its 3 rounds leave it known to ±") for w in record.warnings)
    assert record.total_flops_per_s == record.total_flops / record.time_s
    assert next(x for x in records if x.name == b.name).stable is True


def test_rotation_puts_each_workload_at_another_place_every_round():
    names = list(range(6))
    orders = [rotated(names, r, 3) for r in range(3)]
    assert orders == [[0, 1, 2, 3, 4, 5], [2, 3, 4, 5, 0, 1], [4, 5, 0, 1, 2, 3]]
    assert all(len({order.index(n) for order in orders}) == 3 for n in names)


def test_an_interrupted_run_keeps_the_rounds_it_has():
    a, b = mm(8), mm(12)
    r, timer, _, records = make(dict(rounds=3))
    calls = []

    def before(w):
        calls.append(w.name)
        timer.current = w.name
        if len(calls) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        r.run([a, b], before=before)
    assert {x.name: len(x.rounds) for x in records} == {a.name: 2, b.name: 1}
    assert any("of 3, the run was interrupted" in w for x in records for w in x.warnings)


def count_builds(monkeypatch):
    """Every Workload.build, by workload name; and every kept input set's release."""
    built = []
    real = runner_module.Workload.build

    def build(self, device, seed=0):
        built.append(self.name)
        return real(self, device, seed)

    monkeypatch.setattr(runner_module.Workload, "build", build)
    return built


def test_inputs_are_built_once_and_kept_for_later_rounds_within_the_memory_share(monkeypatch):
    a, b, c = mm(8), mm(12), mm(16)
    built = count_builds(monkeypatch)
    free = (a.counts.bytes + b.counts.bytes) / schedule.KEEP_SHARE  # room for a's and b's inputs, not c's too
    monkeypatch.setattr(runner_module, "available_memory", lambda device: free)
    r, timer, _, records = make(dict(rounds=3))
    run(r, timer, [a, b, c])
    assert built.count(a.name) == built.count(b.name) == 1  # kept: one build for three rounds
    assert built.count(c.name) == 3  # over the share: built again each round
    assert len(records) == 3 and all(len(x.rounds) == 3 for x in records)
    assert r.kept._kept == {}  # each workload's inputs went with its last round


def test_kept_inputs_give_way_to_a_workload_that_needs_the_room(monkeypatch):
    small, big = mm(8), mm(64)
    built = count_builds(monkeypatch)
    r, timer, _, records = make(dict(rounds=2))
    # the small one's kept inputs are what fills the memory: while they are kept, the big one does not fit
    monkeypatch.setattr(runner_module, "available_memory", lambda d: big.counts.bytes * (1 if r.kept._kept else 10))
    run(r, timer, [small, big])
    assert all(x.status == "ok" for x in records)  # the big one was measured, not skipped as too big
    assert built.count(small.name) == 2  # its inputs gave way, so its second round built them again


def test_a_workload_that_ends_early_lets_its_kept_inputs_go(monkeypatch):
    a = mm(8)
    count_builds(monkeypatch)
    r, timer, _, records = make(dict(rounds=3, max_call_s=1.0))
    real, kept = timer.measure, []

    def measure(fn, max_call_s=None):
        if timer.measured:  # its second round: one call over the cap
            raise CallTooSlow(5.0, max_call_s)
        return real(fn, max_call_s)

    def before(w):
        timer.current = w.name
        kept.append(set(r.kept._kept))

    timer.measure = measure
    r.run([a], before=before)
    assert kept == [set(), {a.identity}, set()]  # kept after its first round, gone once its second one ended it
    assert len(records[0].rounds) == 1 and any("over --max-call-s" in w for w in records[0].warnings)


# --- --on-busy ------------------------------------------------------------------------------------------------------


def test_warn_records_and_flags_a_disturbed_measurement():
    a = mm(8)
    r, timer, _, records = make(dict(on_busy="warn"), verdicts=[BUSY])
    run(r, timer, [a])
    (record,) = records
    assert record.disturbed and record.interference.other_cpus == 0.9 and timer.measured == [a.name]
    assert "busy: other processes used 0.9 of 2 CPUs during this measurement" in record.warnings


def test_retry_measures_again_and_keeps_the_undisturbed_one():
    a = mm(8)
    r, timer, _, records = make(dict(on_busy="retry"), times={a.name: [3e-3, 1e-3]}, verdicts=[BUSY, QUIET])
    run(r, timer, [a])
    (record,) = records
    assert not record.disturbed and record.time_s == 1e-3 and timer.measured == [a.name, a.name]
    assert record.rounds[0].attempts[0].time_s == 3e-3 and "0.9 of 2 CPUs" in record.rounds[0].attempts[0].reasons[0]


def test_retry_is_bounded_and_stops_on_a_machine_that_stays_busy():
    workloads = [mm(8 + i) for i in range(5)]
    r, timer, _, records = make(dict(on_busy="retry"), verdicts=[BUSY] * 100)
    run(r, timer, workloads)
    per = [timer.measured.count(w.name) for w in workloads]
    assert per == [3, 3, 3, 1, 1]  # 1 + MAX_RETRIES each, until PERSISTENT in a row stayed busy: then once each
    assert all(x.disturbed for x in records)
    assert r.notes and "stayed busy through 3 measurements in a row" in r.notes[0] and r.measurer.mode == "warn"


def test_wait_waits_for_a_quiet_machine_then_measures():
    a = mm(8)
    r, timer, monitor, records = make(dict(on_busy="wait"), samples=[BUSY, BUSY, QUIET])
    run(r, timer, [a])
    (record,) = records
    assert record.rounds[0].waited_s == pytest.approx(3 * policy.QUIET_SAMPLE_S)
    assert not record.disturbed and timer.measured == [a.name]


def test_wait_is_bounded():
    a = mm(8)
    r, timer, _, records = make(dict(on_busy="wait"), samples=[BUSY] * 1000, verdicts=[BUSY])
    run(r, timer, [a])
    (record,) = records
    assert record.rounds[0].waited_s == pytest.approx(policy.WAIT_S)
    assert record.disturbed  # measured anyway, flagged


# --- budgets ----------------------------------------------------------------------------------------------------------


def test_a_call_predicted_over_the_cap_is_skipped_without_running():
    big = mm(2048, "bfloat16")
    settings = dict(ceilings={"bfloat16": Peak(0.3e9, "measured", "gemm")}, max_call_s=2.0)
    r, timer, _, records = make(settings)
    assert r.admission.predicted_call_s(big) == pytest.approx(2 * 2048**3 / 0.3e9)
    run(r, timer, [big])
    (record,) = records
    assert record.status == "skipped" and record.cause == Cause.MAX_CALL and timer.measured == []
    assert record.reason.startswith("one call would take at least 57.3 s, over --max-call-s 2")
    why = "bfloat16 runs at 300 MFLOP/s here, 0.3% of the derived peak: this CPU has no native bfloat16"
    assert why in record.reason


def test_native_bfloat16_is_not_blamed():
    settings = dict(ceilings={"bfloat16": Peak(0.3e9, "measured", "x")}, max_call_s=2.0)
    r, timer, _, records = make(settings, dev=device(isa="avx512f avx512_bf16"))
    run(r, timer, [mm(2048, "bfloat16")])
    assert "no native" not in records[0].reason


def test_a_first_call_over_the_cap_skips_it_and_stops_its_sweep():
    sweep = [mm(n, "bfloat16", group="square", swept=("m=n=k",)) for n in (64, 128, 256)]
    r, timer, _, records = make(dict(max_call_s=2.0), too_slow={sweep[1].name: 7.5})
    run(r, timer, sweep)
    status = {x.name: (x.status, x.reason) for x in records}
    assert status[sweep[0].name][0] == "ok"
    assert status[sweep[1].name] == ("skipped", status[sweep[1].name][1])
    assert status[sweep[1].name][1].startswith("its one call took 7.5 s, over --max-call-s 2")
    assert records[1].one_call_s == 7.5
    assert status[sweep[2].name] == (
        "skipped",
        "the sweep square stopped growing: a smaller point already exceeded --max-call-s 2",
    )
    assert [x.cause for x in records[1:]] == [Cause.MAX_CALL, Cause.SWEEP_STOPPED]
    assert sweep[2].name not in timer.measured


def test_the_time_budget_skips_what_would_not_fit():
    workloads = [mm(8 + i) for i in range(6)]
    r, timer, _, records = make(dict(time_budget_s=0.7))  # each measurement advances 0.2 s
    run(r, timer, workloads)
    statuses = [x.status for x in records]
    assert statuses.count("ok") >= 2 and statuses[-1] == "skipped"
    assert "the --time-budget of 0.7 s" in records[-1].reason and records[-1].cause == Cause.TIME_BUDGET


def test_the_cpu_timer_lets_one_slow_first_call_pass_but_not_two():
    clock = iter([0.0, 3.0, 3.0, 3.1] + [3.1 + 0.01 * i for i in range(1, 100_000)])
    timer = CpuTimer(clock=lambda: next(clock), resolution_s=1e-9)
    timer.budget.min_time_s, timer.budget.max_time_s = 0.05, 0.1
    timer.measure(lambda: None, max_call_s=2.0)  # first call 3 s (page faults), the second 0.1 s: measured
    slow = iter([0.0, 3.0, 3.0, 6.0])
    with pytest.raises(CallTooSlow, match="one call took 3 s"):
        CpuTimer(clock=lambda: next(slow), resolution_s=1e-9).measure(lambda: None, max_call_s=2.0)
    decisive = iter([0.0, 9.0])
    with pytest.raises(CallTooSlow, match="one call took 9 s"):  # over 4x the cap: no second call
        CpuTimer(clock=lambda: next(decisive), resolution_s=1e-9).measure(lambda: None, max_call_s=2.0)


# --- stale ceilings -------------------------------------------------------------------------------------------------


def test_a_run_that_beats_a_cached_ceiling_says_it_is_stale():
    a = mm(512)
    settings = dict(ceilings={"float32": Peak(100e9, "measured", "gemm")})
    fast = device(bf16=None)  # peaks 100 GFLOP/s too: the ceiling is what a record beats
    r, timer, _, records = make(settings, default=2 * 512**3 / 120e9, dev=fast)  # 120 GFLOP/s: 20% above it
    run(r, timer, [a])
    (stale,) = [w for w in records[0].warnings if "stale" in w]
    assert "20% above the cached float32 ceiling (100 GFLOP/s): it is stale" in stale and "peak --measure" in stale
    assert "float32" in r.stale
    near, near_timer, _, near_records = make(settings, default=2 * 512**3 / 103e9)  # within 5%: noise, not staleness
    run(near, near_timer, [a])
    assert not near.stale and not any("stale" in w for w in near_records[0].warnings)
    # Memory-bound work whose working set may stay in a cache says nothing of the DRAM ceiling.
    copy = make_workload("elementwise", {"kind": "copy", "numel": 1 << 16})  # 512 KiB, inside the 1 MiB cache
    cached = {"ceilings": {"bandwidth": Peak(5e9, "measured", "stream")}}
    small, small_timer, _, _ = make(cached, default=copy.counts.bytes / 20e9, dev=device(facts={"l3_bytes": 1 << 20}))
    small_timer.current = copy.name
    small.run([copy])
    assert not small.stale


# --- ceilings: rounds, a growth cap, disturbance ----------------------------------------------------------------------


def test_ceilings_keep_the_best_of_two_rounds_and_stop_growing_before_a_slow_call():
    cpu = Device(
        "cpu",
        None,
        "CPU",
        {"llc_bytes": 1 << 20, "memory_bytes": 1 << 34},
        {"float32": Peak(1e9, "d", "x"), "bfloat16": Peak(1e9, "d", "x")},
        Peak(None, "unknown", "x"),
    )
    calls = []
    rates = {
        "matmul-m128-n128-k128": [40e9],
        "matmul-m256-n256-k256": [70e9],
        "matmul-m512-n512-k512": [90e9],
        "matmul-m1024-n1024-k1024": [100e9, 120e9],
        "matmul-m2048-n2048-k2048": [60e9],
    }

    def time_workload(workload, tf32):
        calls.append(workload.name)
        if workload.op == "elementwise":
            return measure.Timed(1e-2, 0.0, 20e9)
        if workload.dtype == "bfloat16":
            rate = 0.5e9
        elif workload.op != "matmul":  # the convolutions lose to the GEMM here
            rate = 10e9
        else:
            rate = rates[workload.name].pop(0)
        busy = ["other processes"] if "2048" in workload.name else []
        return measure.Timed(workload.counts.total_flops / rate, rate, 1.0, busy)

    found = measure.measure_ceilings(cpu, time_workload, max_call_s=2.0)
    gemms = [c for c in calls if c.startswith("matmul")]
    # bfloat16 at 512 takes 0.54 s: 1024 would take 4.3 s, over the growth cap, so it never runs; all its sizes
    # run at one rate, so round 2 measures the first (smallest) again.
    bf16 = [c.removesuffix("-bfloat16") for c in gemms if "bfloat16" in c]
    assert bf16 == ["matmul-m128-n128-k128", "matmul-m256-n256-k256", "matmul-m512-n512-k512", "matmul-m128-n128-k128"]
    # float32 at 2048 takes 0.29 s: 4096 would take 2.3 s, so the sweep stops; round 2 measures the best size again.
    assert "matmul-m4096-n4096-k4096" not in gemms and gemms.count("matmul-m1024-n1024-k1024") == 2
    assert found.ceilings["float32"].value == 120e9 and "in 2 rounds" in found.ceilings["float32"].detail
    # the busy 2048 measurement lost to a quiet one: only the kept measurement's disturbance counts
    assert found.disturbed is None


def test_the_cache_key_is_the_hardware_and_software_never_the_host(monkeypatch):
    facts = {
        "vendor": "AuthenticAMD",
        "family": 25,
        "model": 1,
        "stepping": 1,
        "flags_sha256": "abc",
        "logical_cpus": 2,
        "physical_cores": 2,
    }
    a = Device("cpu", None, "AMD EPYC", facts, {}, Peak(None, "unknown", "x"))
    key = cache.cache_key(cache.machine_identity(a, 2))
    monkeypatch.setattr("socket.gethostname", lambda: "another-host")
    monkeypatch.setattr("platform.node", lambda: "another-host")
    assert cache.cache_key(cache.machine_identity(a, 2)) == key
    for change in ({"model": 17}, {"stepping": 2}, {"flags_sha256": "def"}, {"logical_cpus": 4}):
        other = dataclasses.replace(a, facts={**facts, **change})
        assert cache.cache_key(cache.machine_identity(other, 2)) != key, change
    assert cache.cache_key(cache.machine_identity(a, 1)) != key  # threads
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert cache.cache_key(cache.machine_identity(a, 2)) != key  # capped kernels are other software


def test_a_busy_entry_is_refused_then_kept_if_the_machine_stays_busy():
    entry = cache.CacheEntry(
        identity={},
        measured_at="t",
        ceilings={"float32": Peak(80e9, "measured", "x")},
        disturbed="busy",
        disturbed_runs=1,
    )
    action, note = cache.ceiling_decision(entry, measure=False, measure_if_needed=True, bandwidth_known=False)
    assert action == "measure" and "refused and measured again" in note
    again = cache.merged(
        entry,
        cache.CacheEntry(
            identity={}, measured_at="t2", disturbed="busy", ceilings={"float32": Peak(70e9, "measured", "y")}
        ),
    )
    assert again.disturbed_runs == 2 and again.ceilings["float32"].value == 80e9  # the best of both is kept
    action, note = cache.ceiling_decision(again, measure=False, measure_if_needed=True, bandwidth_known=False)
    assert action == "use" and "flagged" in note
    quiet = cache.merged(again, cache.CacheEntry(identity={}, measured_at="t3", ceilings={}))
    assert quiet.disturbed_runs == 0
    # The quiet canary reference is the faster of the two measurements, like the ceilings.
    faster = cache.merged(
        quiet.model_copy(update={"canary_s": 2.0e-3}),
        cache.CacheEntry(identity={}, measured_at="t4", ceilings={}, canary_s=2.6e-3),
    )
    assert faster.canary_s == 2.0e-3
    none_new = cache.merged(faster, cache.CacheEntry(identity={}, measured_at="t5", ceilings={}))
    assert none_new.canary_s == 2.0e-3
    assert cache.ceiling_decision(None, measure=False, measure_if_needed=True, bandwidth_known=True) == ("none", None)


# --- the whole run ----------------------------------------------------------------------------------------------------


def test_a_run_whose_canaries_ran_slow_throughout_says_so_at_the_end_and_in_its_footer():
    from flopbench.commands.run.notes import trust_notes
    from flopbench.measuring.session import footer

    slow = QUIET.model_copy(update={"canary_slowdown": 0.08, "canary_threshold": 0.15})
    workloads = [mm(8), mm(12), mm(16)]
    r, timer, monitor, records = make(dict(rounds=3), verdicts=[slow] * 9)
    monitor.baseline_s, monitor.run_reference_s = 2.0e-3, 2.0e-3  # the quietest earlier run: 2 ms
    run(r, timer, workloads)
    assert not any(x.disturbed for x in records)  # each window alone is under the canary's 15%
    end = footer(records, [r], wall_s=1.0, interrupted=False)
    assert end.median_canary_slowdown == pytest.approx(0.08) and end.max_canary_slowdown == pytest.approx(0.08)
    (note,) = [n for n in trust_notes(records, r) if "canary" in n]
    assert note.startswith("warning: the canary's median over the run's 9 measurements was 2.16 ms, +8.0% from")
    steady = QUIET.model_copy(update={"canary_slowdown": 0.01, "canary_threshold": 0.15})
    r, timer, monitor, records = make(dict(rounds=3), verdicts=[steady] * 9)
    monitor.baseline_s, monitor.run_reference_s = 2.0e-3, 2.0e-3
    run(r, timer, workloads)
    assert not [n for n in trust_notes(records, r) if "canary" in n]
    assert footer(records, [r], wall_s=1.0, interrupted=False).median_canary_slowdown == pytest.approx(0.01)


def test_a_run_teaches_the_cache_its_median_canary_when_it_is_the_quietest_yet(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from flopbench.measuring.session import Session

    monkeypatch.setenv("FLOPBENCH_CACHE_DIR", str(tmp_path))
    cpu = device()
    machine = SimpleNamespace(device=cpu, threads=1)
    monitor = SimpleNamespace(baseline_s=3.0e-3)

    def learn_quiet_canary(records, machine, monitor):  # a session's lesson, as a run's end teaches it
        session = Session.__new__(Session)
        session.machine, session.watch = machine, SimpleNamespace(monitor=monitor)
        session.learn(records)

    def records(*slowdowns):
        rounds = [SimpleNamespace(interference=SimpleNamespace(canary_slowdown=x)) for x in slowdowns]
        return [SimpleNamespace(rounds=rounds)]

    fast = records(-0.20, -0.25, -0.22)  # a median 22% under the baseline: 2.34 ms
    learn_quiet_canary(fast, machine, monitor)
    assert cache.load_cached(cpu, 1) is None  # no cached entry: nothing to teach
    entry = cache.CacheEntry(identity=cache.machine_identity(cpu, 1), measured_at="t", ceilings={}, canary_s=3.0e-3)
    cache.save(entry)
    learn_quiet_canary(records(0.01, -0.02, 0.0), machine, monitor)  # an ordinary run: 3 ms
    cached = cache.load_cached(cpu, 1)
    assert cached.canary_s == 3.0e-3 and cached.run_canary_s == pytest.approx(3.0e-3)  # the first run's median
    learn_quiet_canary(records(0.10, 0.12, 0.11), machine, monitor)  # a slower run teaches nothing
    assert cache.load_cached(cpu, 1).run_canary_s == pytest.approx(3.0e-3)
    learn_quiet_canary(fast, machine, monitor)  # faster than its baseline: both references move
    cached = cache.load_cached(cpu, 1)
    assert cached.canary_s == pytest.approx(2.34e-3) and cached.run_canary_s == pytest.approx(2.34e-3)
    assert not cache.learn_canary(cpu, 1, "canary_s", 2.5e-3)  # slower than what the cache holds: kept
    assert cache.load_cached(cpu, 1).canary_s == pytest.approx(2.34e-3)


def test_the_end_of_a_run_says_each_disturbance_once_with_its_range_and_the_records_it_concerns():
    from flopbench.commands.run.notes import trust_notes

    def slow(by):
        return Interference(
            window_s=1.0,
            usable_cpus=2,
            threads=2,
            canary_slowdown=by,
            busy=True,
            reasons=[f"slow machine: the canary ran {by:.0%} slower than at its quietest"],
        )

    workloads = [mm(8), mm(12), mm(16)]
    r, timer, monitor, records = make(dict(rounds=1), verdicts=[slow(0.35), BUSY, slow(0.8)])
    run(r, timer, workloads)
    notes = [n for n in trust_notes(records, r) if n.startswith("warning: disturbed")]
    assert notes == [
        "warning: disturbed, slow machine: the canary ran 35 to 80% slower than at its quietest: 2 of 3 records"
        f" ({records[0].name}, {records[2].name})",
        f"warning: disturbed, busy: other processes used 0.9 of 2 CPUs during this measurement: 1 of 3 records"
        f" ({records[1].name})",
    ]
