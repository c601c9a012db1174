"""Freed memory kept for the next call on a CPU (flopbench.measuring.memory): the policy on a fake glibc, the user's own
choice left alone, page faults counted per timed call, and the real effect on this machine's glibc."""

import subprocess
import sys
import textwrap

import pytest

from flopbench.measuring import memory
from flopbench.measuring.timing import Budget, CpuTimer
from flopbench.reading.comparison import compare


class FakeLibc:
    """mallopt() and malloc_trim() as glibc has them; `refuse` lists (parameter, value) pairs it says no to."""

    def __init__(self, refuse=()):
        self.calls: list[tuple] = []
        self.refuse = set(refuse)

    def mallopt(self, parameter, value):
        self.calls.append(("mallopt", parameter, value))
        return 0 if (parameter, value) in self.refuse else 1

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))
        return 1


@pytest.fixture
def fresh(monkeypatch):
    """A process in which flopbench has not set the allocator yet."""
    monkeypatch.setattr(memory, "_state", {"allocator": None, "libc": None})


def test_glibc_keeps_freed_memory_and_hands_it_back_on_release(fresh):
    libc = FakeLibc()
    assert memory.keep_freed_memory(libc, environ={}) == memory.KEPT
    assert libc.calls == [
        ("mallopt", memory.M_TRIM_THRESHOLD, 2**31 - 1),
        ("mallopt", memory.M_MMAP_THRESHOLD, 2**30),
    ]
    assert memory.allocator() == memory.KEPT
    memory.release()
    assert libc.calls[-1] == ("malloc_trim", 0)


def test_an_older_glibc_that_refuses_a_large_mmap_threshold_gets_its_own_ceiling(fresh):
    libc = FakeLibc(refuse={(memory.M_MMAP_THRESHOLD, 2**30)})
    assert memory.keep_freed_memory(libc, environ={}) == memory.KEPT
    assert libc.calls[-1] == ("mallopt", memory.M_MMAP_THRESHOLD, 32 * 2**20)


def test_a_glibc_that_refuses_is_recorded_and_never_trimmed(fresh):
    libc = FakeLibc(refuse={(memory.M_TRIM_THRESHOLD, 2**31 - 1)})
    assert memory.keep_freed_memory(libc, environ={}) == "glibc as it is (it refused to keep freed memory)"
    memory.release()
    assert ("malloc_trim", 0) not in libc.calls


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        ({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}, "preloaded: /usr/lib/libjemalloc.so.2"),
        ({"MALLOC_TRIM_THRESHOLD_": "131072"}, "glibc as the environment sets it (MALLOC_TRIM_THRESHOLD_=131072)"),
        (
            {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"},
            "glibc as the environment sets it (GLIBC_TUNABLES=glibc.malloc.trim_threshold=0)",
        ),
    ],
)
def test_the_users_own_allocator_setting_is_left_alone_and_recorded(fresh, environ, words):
    libc = FakeLibc()
    assert memory.keep_freed_memory(libc, environ=environ) == words
    assert libc.calls == []
    memory.release()
    assert libc.calls == []


def test_without_glibc_the_system_allocator_is_recorded(fresh, monkeypatch):
    monkeypatch.setattr(memory, "_libc", lambda: None)
    assert memory.keep_freed_memory(environ={}) == "the system's allocator as it is (not glibc)"


def test_the_timer_counts_page_faults_of_the_timed_calls_only():
    """Warm-up calls fault too (a first touch of fresh outputs); only the timed calls' faults are the figure's."""
    state = {"now": 0.0, "faults": 0, "calls": 0}

    def fn():
        state["now"] += 1e-3
        state["calls"] += 1
        state["faults"] += 5000 if state["calls"] == 1 else 300  # the first call faults most

    timer = CpuTimer(Budget(), clock=lambda: state["now"], resolution_s=1e-8, faults=lambda: state["faults"])
    m = timer.measure(fn)
    assert m.page_faults_per_call == 300
    assert m.warnings() == [
        "page faults: each call took 300 page faults (1.17 MiB of memory fresh from the OS): the figure includes the"
        " OS handing it out (docs/methodology.md, 'Memory')"
    ]
    quiet = CpuTimer(Budget(), clock=lambda: state["now"], resolution_s=1e-8, faults=lambda: state["calls"] * 10)
    m = quiet.measure(fn)
    assert m.page_faults_per_call == 10 and m.warnings() == []  # 40 KiB a call: no warning


def test_compare_warns_when_two_runs_kept_freed_memory_differently_not_when_one_did_not_record_it(tmp_path):
    from flopbench.reading.view import load_views
    from tests.fakes import fake_device, write_run

    def run(label, allocator):
        return write_run(tmp_path / f"{label}.jsonl", fake_device(), allocator=allocator)

    kept, plain = memory.KEPT, "glibc as the environment sets it (MALLOC_TRIM_THRESHOLD_=131072)"
    differ = compare(load_views([run("a", kept), run("b", plain)])).warnings
    assert any("the runs differ in what the C allocator did with freed memory" in w and plain in w for w in differ)
    unknown = compare(load_views([run("c", None), run("d", kept)])).warnings
    assert not any("allocator" in w for w in unknown)


REAL = textwrap.dedent(
    """
    import resource, torch
    from flopbench.measuring import memory

    def faults():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_minflt + usage.ru_majflt

    def per_call():  # a 64 MiB output a call: above glibc's own largest mmap threshold (32 MiB)
        for _ in range(40):  # kept, the heap grows for some calls before aligned blocks fit again
            torch.empty(2**24).fill_(1.0)
        before = faults()
        for _ in range(10):
            torch.empty(2**24).fill_(1.0)
        return (faults() - before) / 10

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * memory.PAGE_BYTES

    plain = per_call()
    print(memory.keep_freed_memory(environ={}))
    kept = per_call()
    held = rss()
    memory.release()
    print(plain, kept, held - rss())
    """
)


@pytest.mark.skipif(memory._libc() is None or not sys.platform.startswith("linux"), reason="glibc on Linux only")
def test_on_this_glibc_a_kept_call_takes_no_page_faults_and_release_hands_the_memory_back():
    result = subprocess.run([sys.executable, "-c", REAL], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    words, figures = result.stdout.splitlines()
    plain, kept, released = map(float, figures.split())
    assert words == memory.KEPT
    assert plain >= 32  # 64 MiB mapped and touched again every call: at least one fault per 2 MiB huge page
    assert kept <= plain / 10  # the heap's block, reused
    assert released >= 32 * 2**20  # malloc_trim gave the 64 MiB block back


def test_a_record_carries_each_rounds_page_faults_and_the_memory_goes_back_after_its_last_round(monkeypatch):
    from flopbench.measuring import runner as runner_module
    from flopbench.measuring.timing import Measurement
    from flopbench.results.schema import Device, Peak
    from flopbench.workloads import make_workload
    from tests.helpers import runner

    faults = iter([5260.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    released = []

    class Timer:
        def measure(self, fn, max_call_s=None):
            return Measurement((1e-3,) * 5, 1, "perf_counter", 1e-9, page_faults_per_call=next(faults))

    monkeypatch.setattr(runner_module, "release", lambda: released.append(len(records)))
    cpu = Device("cpu", None, "Test CPU", {}, {"float32": Peak(100e9, "derived", "test")}, Peak(10e9, "spec", "test"))
    records: list = []
    r = runner(cpu, rounds=3, on_record=records.append, timer=Timer())
    a, b = (make_workload("matmul", {"m": n, "n": n, "k": n}) for n in (8, 12))
    r.run([a, b])
    first = next(x for x in records if x.name == a.name)
    assert [x.page_faults_per_call for x in first.rounds] == [5260.0, 0.0, 0.0]
    assert first.page_faults_per_call == 0.0  # the median of its rounds: one round's faults do not move it
    assert not any("page faults" in w for w in first.warnings)
    assert released and released[0] == 0  # handed back after a's last round, before its record left
