"""Implementations: the same workload (op, parameters, dtype: the same FLOPs and compulsory bytes) run another way.

An implementation wraps the op's callable in one place (`callable_for`), which the output check, the timer and the
budget all see:
- `eager`: the op as written, op by op (ATen); the default;
- `compile`, `compile-max-autotune`, `compile-reduce-overhead`: torch.compile in that mode (reduce-overhead captures
  CUDA graphs: CUDA only). The first call compiles: its time is the record's `compile_s`, never a sample;
- `sdpa-math`, `sdpa-flash`, `sdpa-efficient`, `sdpa-cudnn`: scaled_dot_product_attention held to one backend
  (torch.nn.attention.sdpa_kernel); `flex`: FlexAttention, compiled (attention ops only);
- `channels-last`: convolutions with input and weights in channels_last memory format;
- `onednn`: a GEMM through oneDNN's inner product (matmul and linear on a CPU), beside torch.matmul's BLAS.

Which implementations an op supports is the op's own declaration (Op.impls); one that torch cannot run on this device
and dtype is skipped with torch's reason in one line (`unavailable`, or the error of its first call).

torch.compile is reached through COMPILER, so that tests can put a fake compiler there: no real compilation.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flopbench.workloads.base import Op, Tensors

EAGER = "eager"


@dataclass(frozen=True)
class Impl:
    name: str
    doc: str
    mode: str | None = None  # torch.compile's mode: a compiled implementation (None: not compiled)
    sdpa: str | None = None  # the one SDPA backend allowed (torch.nn.attention.SDPBackend's name)
    layout: str | None = None  # a memory format for the op's 4-d tensors
    library: str | None = None  # a library the op calls directly (the op builds the call: Op.library_call)
    devices: tuple[str, ...] = ()  # the device types it runs on; () every one

    @property
    def compiled(self) -> bool:
        return self.mode is not None


IMPLS: dict[str, Impl] = {
    impl.name: impl
    for impl in (
        Impl(EAGER, "the op as written, op by op (ATen)"),
        Impl("compile", "torch.compile, default mode", mode="default"),
        Impl("compile-max-autotune", "torch.compile, mode max-autotune", mode="max-autotune"),
        Impl(
            "compile-reduce-overhead",
            "torch.compile, mode reduce-overhead (CUDA graphs)",
            mode="reduce-overhead",
            devices=("cuda",),
        ),
        Impl("sdpa-math", "scaled_dot_product_attention, math backend only", sdpa="MATH"),
        Impl("sdpa-flash", "scaled_dot_product_attention, FlashAttention backend only", sdpa="FLASH_ATTENTION"),
        Impl(
            "sdpa-efficient", "scaled_dot_product_attention, memory-efficient backend only", sdpa="EFFICIENT_ATTENTION"
        ),
        Impl(
            "sdpa-cudnn", "scaled_dot_product_attention, cuDNN backend only", sdpa="CUDNN_ATTENTION", devices=("cuda",)
        ),
        Impl("flex", "FlexAttention (torch.nn.attention.flex_attention), compiled", mode="default"),
        Impl("channels-last", "convolutions in channels_last memory format", layout="channels_last"),
        Impl("onednn", "the GEMM through oneDNN's inner product (mkldnn_linear)", library="onednn", devices=("cpu",)),
    )
}
COMPILED = tuple(name for name, impl in IMPLS.items() if impl.compiled)
SDPA = tuple(name for name, impl in IMPLS.items() if impl.sdpa)


# Every compiled workload's callable is a closure of one of a few functions (an op's forward, say), so dynamo keeps
# one cache entry per workload on the same code object: past its limit (8 by default) it would run later workloads
# eager, silently. A run may compile this many.
RECOMPILE_LIMIT = 1024


def torch_compile(fn: Callable[[], Any], mode: str) -> Callable[[], Any]:
    import torch
    import torch._dynamo.config as dynamo

    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit", "accumulated_cache_size_limit"):
        if isinstance(getattr(dynamo, name, None), int):
            setattr(dynamo, name, max(getattr(dynamo, name), RECOMPILE_LIMIT))
    return torch.compile(fn, mode=None if mode == "default" else mode, dynamic=False)


COMPILER: dict[str, Callable[[Callable[[], Any], str], Callable[[], Any]]] = {"compile": torch_compile}


def unavailable(name: str, op: Op, device_type: str, dtype: str) -> str | None:
    """Why torch cannot run `name` for this op here, in one line (None: it can, as far as is known before a call)."""
    impl = IMPLS[name]
    if impl.devices and device_type not in impl.devices:
        where = " and ".join(impl.devices)
        return f"{name} runs on {where} only ({impl.doc})"
    if impl.library == "onednn":
        import torch

        if not torch.backends.mkldnn.is_available():
            return "onednn: this PyTorch was built without oneDNN"
        if dtype not in ("float32", "bfloat16"):
            return f"onednn: mkldnn tensors hold float32 and bfloat16, not {dtype}"
    if name == "flex":
        try:
            from torch.nn.attention.flex_attention import flex_attention  # noqa: F401
        except ImportError:
            return "flex: this PyTorch has no torch.nn.attention.flex_attention (2.5 or newer has it)"
    return None


def callable_for(op: Op, name: str, p: dict[str, Any], tensors: Tensors, timed: bool = True) -> Callable[[], Any]:
    """The op's call under implementation `name`, on `tensors` (already in its layout): the timed function (a training
    step for a model with train = true), or the forward pass the output check compares (timed=False). A compiled
    implementation is compiled lazily: its first call compiles."""
    impl = IMPLS[name]
    library = op.library_call(name, p, tensors) if impl.library else None
    if library is not None:
        return library
    if name == "flex":
        fn = op.flex_call(p, tensors)
    else:
        fn = op.timed(p, tensors) if timed else (lambda: op.forward(p, tensors))
    if impl.sdpa:
        fn = _held_to(impl.sdpa, fn)
    if impl.compiled:
        fn = COMPILER["compile"](fn, impl.mode or "default")
    return fn


def prepare(name: str, tensors: Tensors) -> Tensors:
    """The inputs as the implementation wants them laid out (channels_last for 4-d tensors and modules)."""
    impl = IMPLS[name]
    if impl.layout != "channels_last":
        return tensors
    import torch

    out: Tensors = {}
    for key, value in tensors.items():
        if isinstance(value, torch.nn.Module):
            out[key] = value.to(memory_format=torch.channels_last)
        elif isinstance(value, torch.Tensor) and value.dim() == 4:
            out[key] = value.contiguous(memory_format=torch.channels_last)
        else:
            out[key] = value
    return out


def _held_to(backend: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    """fn with scaled_dot_product_attention allowed one backend only, around every call (a few microseconds)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    chosen = getattr(SDPBackend, backend)

    def call() -> Any:
        with sdpa_kernel(chosen):
            return fn()

    return call


# --- compilation: its cost, its cache, recompilations ----------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    """What the first call of a compiled implementation cost, and what torch's counters said of it."""

    first_call_s: float  # compilation and the first run
    cache: str | None  # cold (compiled from scratch), warm (inductor's cache had it), or None: not told
    graphs: int  # dynamo's unique graphs after it: a later rise is a recompilation
    output: Any = None  # what the first call returned (the output check compares it)


def graphs() -> int:
    """Dynamo's count of graphs compiled so far in this process (0 before any: dynamo not even imported, which this
    does not do on its own: it costs a second)."""
    import sys

    if "torch._dynamo.utils" not in sys.modules:
        return 0
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def first_call(fn: Callable[[], Any], clock: Callable[[], float] = time.perf_counter, sync=lambda: None) -> Compiled:
    """Run a compiled function's first call (it compiles), timed and watched. A first call that compiled no graph
    ran eager (dynamo gave up on it): an error, so that a compiled figure is never an eager one."""
    hits, misses = _cache_counts()
    before = graphs()
    started = clock()
    output = fn()
    sync()
    seconds = clock() - started
    if graphs() == before:
        raise RuntimeError("torch.compile compiled no graph: dynamo ran it eager (see TORCH_LOGS=recompiles)")
    new_hits, new_misses = _cache_counts()
    cache = "warm" if new_hits > hits and new_misses == misses else "cold" if new_misses > misses else None
    return Compiled(seconds, cache, graphs(), output)


def _cache_counts() -> tuple[int, int]:
    with contextlib.suppress(ImportError):
        from torch._dynamo.utils import counters

        inductor = counters["inductor"]
        return int(inductor["fxgraph_cache_hit"]), int(inductor["fxgraph_cache_miss"])
    return 0, 0


def sdpa_backend(fn: Callable[[], Any]) -> str | None:
    """Which scaled_dot_product_attention kernel a call ran, from the op names torch.profiler records (flash, the
    memory-efficient one, cuDNN's, or math, which is a chain of ordinary ops)."""
    from torch.profiler import profile

    with profile() as prof:
        fn()
    names = " ".join(event.name for event in prof.events())
    for marker, backend in (
        ("_cudnn_attention", "cudnn"),
        ("_flash_attention", "flash"),
        ("_efficient_attention", "efficient"),
        ("_scaled_dot_product_attention_math", "math"),
    ):
        if marker in names:
            return backend
    return "math" if "scaled_dot_product_attention" in names else None
