"""Memory footprint: how much memory one call of a workload allocates beyond the inputs that already existed (its
outputs and its workspace: an attention's score matrix, a convolution's im2col buffer, a training step's kept
activations and gradients), measured once per record, outside the timed samples.

- CUDA: the caching allocator's own accounting, reset around one call (torch.cuda.reset_peak_memory_stats, then
  max_memory_allocated less what was allocated before it), after a synchronization.
- CPU: the allocation events PyTorch's profiler records with profile_memory=True (every CPU tensor allocation and
  free of c10's allocator, with its size), summed in time order: the peak of that running sum is the call's peak.
  Memory outside PyTorch's allocator (a BLAS library's own scratch, Python objects) is not seen; the source says so.

A workload that writes into an output buffer it owns (out=: flopbench's GEMMs and elementwise kernels) allocates
nothing for it during the call; that output is still the call's memory, so it is added to the peak (a call before
the measured one tells which outputs are such buffers). The output's bytes (what the call returns) come beside the
peak, so that a call that allocates more than its output says how much more (the workspace).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

CPU_SOURCE = "torch.profiler CPU allocation events (c10 allocator)"
CUDA_SOURCE = "CUDA caching allocator peak statistics"
WORKSPACE_NOTE = 1.5  # a call whose peak is over this many times its output's bytes says how much it allocates
WORKSPACE_MIN_BYTES = 1 << 20  # and only when the difference is at least this much


@dataclass(frozen=True)
class Footprint:
    """One call's peak allocation beyond the memory allocated before it, the bytes of what it returned, and how they
    were measured."""

    peak_bytes: int
    output_bytes: int
    source: str

    def note(self, admitted_bytes: int | None = None) -> str | None:
        """A warning when the call allocates well beyond its output (its workspace), else None. With
        `admitted_bytes` (the inputs and outputs the admission check reserved, flopbench.measuring.admission
        .memory_estimate), it also says by how much the call's need (its inputs, taken as the admitted bytes less the
        output, plus its peak) exceeded what it was admitted on."""
        if self.peak_bytes < WORKSPACE_NOTE * self.output_bytes or self.peak_bytes - self.output_bytes < (
            WORKSPACE_MIN_BYTES
        ):
            return None
        from flopbench.units import si

        what = f"{self.peak_bytes / self.output_bytes:.1f}x its output" if self.output_bytes else "with no output"
        note = (
            f"memory: one call allocates {what} ({si(self.peak_bytes, 'B')} at its peak, beyond its inputs):"
            " a workspace or intermediates the output does not show"
        )
        if admitted_bytes:
            needed = max(admitted_bytes - self.output_bytes, 0) + self.peak_bytes
            if needed > admitted_bytes:
                note += (
                    f"; it needed {needed / admitted_bytes:.1f}x the {si(admitted_bytes, 'B')} of inputs and outputs"
                    " it was admitted on, so a larger size of it can be admitted and not fit"
                )
        return note


def output_bytes(value: Any) -> int:
    """The bytes of the tensors a call returned (in tuples, lists and dicts too); 0 for None."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.untyped_storage().nbytes() if value.device.type != "meta" else 0
    if isinstance(value, (list, tuple)):
        return sum(output_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(output_bytes(v) for v in value.values())
    return 0


def _tensors(value: Any) -> list[Any]:
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def preallocated_bytes(before: Any, after: Any) -> int:
    """The bytes of the outputs a call writes into buffers it owns before it is called (a workload's out= tensors):
    the tensors of `after` (the measured call's output) whose storage is one of `before`'s (the previous call's, still
    alive then, so a fresh allocation could not have reused its address). Those outputs are the call's own memory
    even though the call does not allocate them."""
    seen = {t.untyped_storage().data_ptr() for t in _tensors(before)}
    return sum(t.untyped_storage().nbytes() for t in _tensors(after) if t.untyped_storage().data_ptr() in seen)


MEASURED_CALL = "flopbench::measured_call"


def cpu_footprint(fn: Callable[[], Any]) -> Footprint:
    """Two calls under one torch.profiler session with profile_memory: the peak of the running sum of the allocation
    events during the second call, over the sum at its start, plus the outputs it writes into buffers of its own
    (preallocated_bytes). The profiler knows the size of a block only if it saw it allocated, so a free of memory
    allocated before the session is not seen: the first call allocates, under the profiler, whatever the measured call
    frees of the previous call's (a training step's gradients), and the measured call's frees count as they do on
    CUDA."""
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    from flopbench.console import silenced_stderr

    with silenced_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        before = fn()
        with record_function(MEASURED_CALL):
            out = fn()
    events = prof.profiler.kineto_results.events()
    (call,) = [e for e in events if e.name() == MEASURED_CALL]
    memory = [e for e in events if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU]
    running = 0
    start = peak = None
    for event in sorted(memory, key=lambda e: e.start_ns()):
        if start is None and event.start_ns() >= call.start_ns():
            start = peak = running
        running += event.nbytes()
        if start is not None and event.start_ns() <= call.end_ns():
            peak = max(peak, running)
    grown = (peak - start) if start is not None and peak is not None else 0
    return Footprint(max(grown, 0) + preallocated_bytes(before, out), output_bytes(out), CPU_SOURCE)


class CudaMemory(Protocol):
    """What cuda_footprint needs of torch.cuda: real in TorchCudaMemory, fake in the tests."""

    def synchronize(self) -> None: ...
    def reset_peak_memory_stats(self) -> None: ...
    def memory_allocated(self) -> int: ...
    def max_memory_allocated(self) -> int: ...


class TorchCudaMemory:
    def __init__(self, device: Any):
        import torch

        self.cuda, self.device = torch.cuda, device

    def synchronize(self) -> None:
        self.cuda.synchronize(self.device)

    def reset_peak_memory_stats(self) -> None:
        self.cuda.reset_peak_memory_stats(self.device)

    def memory_allocated(self) -> int:
        return int(self.cuda.memory_allocated(self.device))

    def max_memory_allocated(self) -> int:
        return int(self.cuda.max_memory_allocated(self.device))


def cuda_footprint(fn: Callable[[], Any], memory: CudaMemory) -> Footprint:
    """One call between a reset of the allocator's peak and a synchronization: its peak less what was allocated
    before it."""
    previous = fn()
    memory.synchronize()
    memory.reset_peak_memory_stats()
    before = memory.memory_allocated()
    out = fn()
    memory.synchronize()
    peak = max(0, memory.max_memory_allocated() - before) + preallocated_bytes(previous, out)
    return Footprint(peak, output_bytes(out), CUDA_SOURCE)


def measure_footprint(fn: Callable[[], Any], device_type: str, device: Any = None) -> Footprint:
    if device_type == "cuda":
        return cuda_footprint(fn, TorchCudaMemory(device))
    return cpu_footprint(fn)
