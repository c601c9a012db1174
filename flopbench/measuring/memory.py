"""Memory the C allocator hands back to the OS: kept while a CPU workload is timed, so its calls time the kernel.

PyTorch allocates CPU tensors with the C library's malloc. glibc gives freed memory back to the OS (a block above
its mmap threshold is unmapped at once; the heap's free top is trimmed above its trim threshold), and the next call
that allocates as much then takes a page fault for every page it touches. glibc moves its mmap threshold with what
the process freed before, so whether a workload's calls pay depends on what ran before it in the same process. On a
2-vCPU AMD EPYC VM (2026-12-02), a depthwise convolution (4x144x56x56) took 8.1 ms a call with 5,260 page faults
each, or 0.84 ms with none; a 3x3 convolution 3.8 or 2.7 ms: one workload, two figures, by chance.

On CUDA, PyTorch's caching allocator keeps freed blocks for the next call. keep_freed_memory() gives a CPU timing
process the same: glibc's trim and mmap thresholds raised, so freed blocks stay in the heap for the next call; and
release() hands them back (malloc_trim) between workloads, where a CUDA run empties its cache. A user's own choice
wins: MALLOC_* variables, GLIBC_TUNABLES malloc settings, or another allocator preloaded (LD_PRELOAD) are left
alone, and the results header says which of these a run had (`allocator`).

Kept, the heap grows for the first few dozen calls of a workload before its aligned blocks fit again (glibc lays a
64-byte-aligned block of the size just freed beside it rather than into it), then stays put. Page faults are counted
around every timed round all the same (page_faults): a block above the mmap threshold, one freed by a thread whose
arena cannot hold it, or that growth still comes fresh from the OS, and the record says so.
"""

from __future__ import annotations

import ctypes
import os
import resource
from typing import Any

M_TRIM_THRESHOLD = -1  # glibc's mallopt() parameters (malloc.h)
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 2**31 - 1  # the largest an int holds: the heap's free top is never trimmed while a workload runs
# Blocks up to this come from the heap and are reused; larger ones are mapped and unmapped by the OS on every call.
# glibc releases before 2.35 accept at most 32 MiB, their own ceiling for the moving threshold: then that.
MMAP_THRESHOLDS = (2**30, 32 * 2**20)
USER_VARIABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
# A timed call that takes at least this many bytes of page faults gets a warning: it pays for memory from the OS.
FAULT_NOTE_BYTES = 2**20
KEPT = "glibc: freed memory kept for the next call (flopbench)"

_state: dict[str, Any] = {"allocator": None, "libc": None}


def _libc() -> Any:
    """glibc, or None (musl, macOS, Windows: their allocators are left as they are)."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
        for name in ("mallopt", "malloc_trim"):
            getattr(libc, name)
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def users_choice(environ: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """The allocator setting the environment already made, in words, or None."""
    preloaded = environ.get("LD_PRELOAD", "")
    if any(name in preloaded for name in ("jemalloc", "tcmalloc", "mimalloc")):
        return f"preloaded: {preloaded}"
    set_here = [f"{name}={environ[name]}" for name in USER_VARIABLES if environ.get(name)]
    if "malloc" in environ.get("GLIBC_TUNABLES", ""):
        set_here.append(f"GLIBC_TUNABLES={environ['GLIBC_TUNABLES']}")
    return f"glibc as the environment sets it ({', '.join(set_here)})" if set_here else None


def keep_freed_memory(libc: Any = None, environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """Keep freed memory in this process for the next call (once per process), unless the user chose otherwise.
    Returns what the allocator now does, in words (the results header's `allocator`)."""
    if _state["allocator"] is not None and libc is None:
        return str(_state["allocator"])
    described = users_choice(environ)
    libc = libc if libc is not None else (None if described else _libc())
    if described is None:
        if libc is None:
            described = "the system's allocator as it is (not glibc)"
        elif libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) and any(
            libc.mallopt(M_MMAP_THRESHOLD, value) for value in MMAP_THRESHOLDS
        ):
            described, _state["libc"] = KEPT, libc
        else:
            described = "glibc as it is (it refused to keep freed memory)"
    _state["allocator"] = described
    return described


def allocator() -> str | None:
    """What the allocator of this process does, once keep_freed_memory() has run (None before)."""
    return _state["allocator"]


def release() -> None:
    """Hand the memory freed so far back to the OS (between workloads, never while one is timed)."""
    if _state["libc"] is not None:
        _state["libc"].malloc_trim(0)


def page_faults() -> int:
    """This process's page faults so far (every thread), minor and major."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt + usage.ru_majflt


PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def took_memory(faults: float) -> bool:
    """Whether a call's page faults add up to FAULT_NOTE_BYTES or more of memory fresh from the OS."""
    return faults * PAGE_BYTES >= FAULT_NOTE_BYTES


def fault_warning(per_call: float | None) -> str | None:
    """The words a record carries when each timed call took page faults worth FAULT_NOTE_BYTES or more."""
    if per_call is None or not took_memory(per_call):
        return None
    return (
        f"page faults: each call took {per_call:,.0f} page faults ({per_call * PAGE_BYTES / 2**20:.3g} MiB of memory"
        " fresh from the OS): the figure includes the OS handing it out (docs/methodology.md, 'Memory')"
    )
