"""The clock the cores sustain, measured: what a derived CPU peak multiplies by where the OS gives no clock range.

A VM without cpufreq reports only a nominal clock (/proc/cpuinfo's, or the model name's base clock), and its cores
boost above it: a derived peak from it is too low, and real GEMMs read "above the peak". So flopbench times a
dependent chain of register-to-register integer adds (one cycle of latency each on x86-64 and AArch64 cores) on
every core it may use at once, and reads the clock off it: cycles = adds. The adds take their step from a register
the compiler cannot know: an add of a small immediate is what Intel's Golden Cove cores (Alder Lake on, and the
Sapphire/Emerald/Granite Rapids cores) fold at rename, several a cycle, which would read several times the clock. A
clock outside 0.5-2x the nominal one is refused with the reason, and the nominal clock stays. The chain is a few lines
of C compiled at first use with the machine's C compiler (torch.compile needs one too) and kept in the cache
directory; where no compiler is found, the nominal clock stays, and the peak says so.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ADDS = 100  # dependent adds per loop iteration: the loop's own counter and branch run beside them
REPEATS = 3  # the clock is the best of this many all-core measurements
MEASURE_S = 0.2  # seconds of adds per thread and repeat
SHARED = 0.9  # a chain on its CPU less than this share of the wall time shared it with other work (said in `how`)

_ASM = {  # register + register: no renamer folds these (an immediate add of 1 is folded on Golden Cove)
    "x86_64": '"addq %1, %0\\n\\t"',
    "amd64": '"addq %1, %0\\n\\t"',
    "aarch64": '"add %0, %0, %1\\n\\t"',
    "arm64": '"add %0, %0, %1\\n\\t"',
}
BOUNDS = (0.5, 2.0)  # a measured clock this far from the nominal one (its ratio) is not believed

SOURCE = """
#include <stdint.h>
#include <time.h>

/* Seconds for `iterations` x ADDS dependent adds: each add waits for the one before, one per cycle. The step is read
   through a volatile, so the compiler cannot know it and no core can treat it as an immediate. */
volatile uint64_t step = 1;

double chain_seconds(long iterations) {{
    struct timespec start, end;
    uint64_t x = 0, s = step;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < iterations; i++) {{
        __asm__ volatile({adds} : "+r"(x) : "r"(s));
    }}
    clock_gettime(CLOCK_MONOTONIC, &end);
    return (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) * 1e-9 + (double)(x & 0) ;
}}
"""


@dataclass(frozen=True)
class Clock:
    """A measured sustained clock, or why there is none."""

    hz: float | None
    how: str  # how it was found, in words (or why it was not)


def source() -> str | None:
    """The C source of the chain for this machine's architecture; None where no add is known to it."""
    add = _ASM.get(platform.machine().lower())
    return SOURCE.format(adds=" ".join([add] * ADDS)) if add else None


def compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def library(cache: Path) -> tuple[ctypes.CDLL | None, str]:
    """The compiled chain (built once into `cache`), or None and why."""
    text = source()
    if text is None:
        return None, f"no dependent-add chain for a {platform.machine()} CPU"
    cc = compiler()
    if cc is None:
        return None, "no C compiler (cc, gcc or clang) to build the clock probe"
    digest = hashlib.sha256((text + cc).encode()).hexdigest()[:16]
    built = cache / f"clock-{digest}.so"
    if not built.exists():
        cache.mkdir(parents=True, exist_ok=True)
        c_file = cache / f"clock-{digest}.c"
        c_file.write_text(text)
        tmp = built.with_name(f".{built.name}.{os.getpid()}")
        result = subprocess.run(
            [cc, "-O1", "-shared", "-fPIC", "-o", str(tmp), str(c_file)], capture_output=True, text=True
        )
        if result.returncode != 0:
            first = (result.stderr.strip().splitlines() or ["failed"])[0][:160]
            return None, f"the clock probe did not compile with {cc}: {first}"
        tmp.replace(built)
    lib = ctypes.CDLL(str(built))
    lib.chain_seconds.argtypes = [ctypes.c_long]
    lib.chain_seconds.restype = ctypes.c_double
    return lib, f"built with {Path(cc).name}"


def _all_cores(lib: ctypes.CDLL, iterations: int, threads: int) -> tuple[float, float]:
    """(the median thread's adds per second of its own CPU time, the least share of the wall time any thread was on
    its CPU), `threads` threads running the chain at once. Per CPU-second, a thread that shared its core with other
    work (a busy machine) still reads the clock its core ran at: on the 2-vCPU Zen 4 VM with two other processes
    busy, the wall-clock rate read 1.5 GHz, the CPU-time rate 3.65 GHz, the quiet machine's 3.6 GHz."""
    rates: list[float] = []
    shares: list[float] = []
    lock = threading.Lock()

    def run() -> None:
        started = time.thread_time()
        seconds = lib.chain_seconds(iterations)
        cpu = time.thread_time() - started
        with lock:
            rates.append(iterations * ADDS / (cpu if cpu > 0.5 * seconds else seconds))
            shares.append(min(1.0, cpu / seconds) if seconds > 0 else 1.0)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return statistics.median(rates), min(shares)


def measure(threads: int, cache: Path, nominal_hz: float | None = None) -> Clock:
    """The sustained clock with `threads` cores busy: each thread runs the chain at once (ctypes lets go of the GIL),
    the median thread's rate is a repeat's clock, the best repeat is the figure; refused, with the reason, when it is
    outside BOUNDS of `nominal_hz` (a core that ran the adds faster than one a cycle, or a probe gone wrong)."""
    lib, how = library(cache)
    if lib is None:
        return Clock(None, how)
    per = lib.chain_seconds(1000) / 1000  # warm, and a first estimate of one iteration
    iterations = max(1000, int(MEASURE_S / max(per, 1e-9)))
    best, shared = 0.0, 1.0
    for _ in range(REPEATS):
        rate, share = _all_cores(lib, iterations, threads)
        best, shared = max(best, rate), min(shared, share)
        time.sleep(0.01)
    if nominal_hz and not BOUNDS[0] <= best / nominal_hz <= BOUNDS[1]:
        return Clock(
            None,
            f"the clock probe read {best / 1e9:.3g} GHz, {best / nominal_hz:.2g}x the nominal"
            f" {nominal_hz / 1e9:.3g} GHz (outside {BOUNDS[0]:g}-{BOUNDS[1]:g}x): not believed; the nominal clock"
            " stays",
        )
    how = f"sustained clock measured: a dependent chain of adds on {threads} core{'s' * (threads > 1)} at once ({how})"
    if shared < SHARED:
        how += (
            f"; other work shared the CPUs (the chain ran {shared:.0%} of the time at least): the clock is read per"
            " CPU-second, which time-sharing does not lower, though a hypervisor's steal would"
        )
    return Clock(best, how)
