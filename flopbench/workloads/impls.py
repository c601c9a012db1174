"""Implementations: the same workload (op, parameters, dtype: the same FLOPs and compulsory bytes) run another way.

Each implementation is one entry of IMPLS, an instance of the kind that says what it does to the op's call:
- `eager` (Impl): the op as written, op by op (ATen); the default;
- `compile`, `compile-max-autotune`, `compile-reduce-overhead` (Compiled): torch.compile in that mode
  (reduce-overhead captures CUDA graphs: CUDA only). The first call compiles: its time is the record's
  `compile_s`, never a sample;
- `sdpa-math`, `sdpa-flash`, `sdpa-efficient`, `sdpa-cudnn` (SdpaBackend): scaled_dot_product_attention held to one
  backend (torch.nn.attention.sdpa_kernel);
- `flex` (Flex): FlexAttention, compiled: the op's own call for it;
- `channels-last` (Layout): the op's 4-d tensors in channels_last memory format;
- `onednn` (Library): a GEMM through oneDNN's inner product (matmul and linear on a CPU): the op's own call for it.

Which implementations an op runs under is the op's own declaration (Op.impls); an implementation that needs a form
of the op's call of its own (Flex, Library) finds it in the op's `@implementation(name)` method. One that torch cannot
run on this device and dtype is skipped with its reason in one line (`Impl.unavailable`, or the error of its first
call). Adding an implementation is an entry here and the op's declaration (docs/extending.md).

torch.compile is reached through COMPILER, so that tests can put a fake compiler there: no real compilation.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

EAGER = "eager"
Tensors = dict[str, Any]  # an op's inputs by name: tensors, and modules for the ops that hold one


class Op(Protocol):
    """What an implementation asks of an op (flopbench.workloads.base.Op)."""

    name: str

    def form(self, impl: str, p: dict[str, Any], t: Tensors) -> Callable[[], Any] | None: ...

    def timed(self, p: dict[str, Any], t: Tensors) -> Callable[[], Any]: ...

    def returning(self, p: dict[str, Any], t: Tensors) -> Callable[[], Any]: ...

    def forward(self, p: dict[str, Any], t: Tensors) -> Any: ...


@dataclass(frozen=True)
class Impl:
    """An implementation: the op's call as written, or (in the kinds below) laid out, wrapped or replaced."""

    name: str
    doc: str
    devices: tuple[str, ...] = ()  # the device types it runs on; () every one
    own_form: bool = False  # it runs the op's own call for it (an @implementation method), which the op must have

    @property
    def compiled(self) -> bool:
        """Its first call compiles (timed apart as compile_s, never a sample)."""
        return False

    @property
    def holds_sdpa(self) -> bool:
        """It holds scaled_dot_product_attention to one backend (which kernel runs is then its choice, not torch's)."""
        return False

    @property
    def returns(self) -> bool:
        """Its users call it as a function that returns its output (a compiled function does), so it times the op's
        returning form (Op.returning) rather than its call into a preallocated output."""
        return False

    def form(self, op: Op, returning: bool = False) -> str:
        """What its timed call is, for an op: 'returns' (a new output each call) or 'out' (into a preallocated output:
        only ops whose forward writes into one have that form). `returning`: asked of it (an A/B of implementations
        runs both sides so)."""
        writes = getattr(op, "writes_output", False)
        return "out" if writes and not (returning or self.returns) else "returns"

    def unavailable(self, op: Op, device_type: str, dtype: str) -> str | None:
        """Why torch cannot run it for this op here, in one line (None: it can, as far as is known before a call)."""
        if self.devices and device_type not in self.devices:
            return f"{self.name} runs on {' and '.join(self.devices)} only ({self.doc})"
        return None

    def prepare(self, tensors: Tensors) -> Tensors:
        """The inputs as it wants them laid out."""
        return tensors

    def wrap(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """The call as it runs it."""
        return fn

    def callable(
        self, op: Op, p: dict[str, Any], tensors: Tensors, timed: bool = True, returning: bool = False
    ) -> Callable[[], Any]:
        """The op's call under this implementation on `tensors` (already prepared): the timed function (a training
        step for a model with train = true; its returning form where this implementation returns its output, or
        `returning` asks it), or the forward pass the output check compares (timed=False). A compiled implementation
        is compiled lazily: its first call compiles."""
        own = op.form(self.name, p, tensors)
        if own is None and self.own_form:
            raise ValueError(f"{self.name}: {op.name} has no form of its call for it")
        if own is None and timed:
            own = op.returning(p, tensors) if returning or self.returns else op.timed(p, tensors)
        return self.wrap(own or (lambda: op.forward(p, tensors)))


@dataclass(frozen=True)
class Compiled(Impl):
    """torch.compile in one of its modes."""

    mode: str = "default"

    @property
    def compiled(self) -> bool:
        return True

    @property
    def returns(self) -> bool:
        return True

    def wrap(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        return COMPILER["compile"](fn, self.mode)


@dataclass(frozen=True)
class Flex(Compiled):
    """FlexAttention: the op's own call for it, compiled."""

    own_form: bool = True

    def unavailable(self, op: Op, device_type: str, dtype: str) -> str | None:
        try:
            from torch.nn.attention.flex_attention import flex_attention  # noqa: F401
        except ImportError:
            return f"{self.name}: this PyTorch has no torch.nn.attention.flex_attention (2.5 or newer has it)"
        return super().unavailable(op, device_type, dtype)


@dataclass(frozen=True)
class SdpaBackend(Impl):
    """scaled_dot_product_attention allowed one backend only (torch.nn.attention.SDPBackend's name), around every call
    (a few microseconds)."""

    backend: str = "MATH"

    @property
    def holds_sdpa(self) -> bool:
        return True

    def wrap(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        chosen = getattr(SDPBackend, self.backend)

        def call() -> Any:
            with sdpa_kernel(chosen):
                return fn()

        return call


@dataclass(frozen=True)
class Layout(Impl):
    """The op's 4-d tensors and modules in another memory format (torch's name for it)."""

    memory_format: str = "channels_last"

    def prepare(self, tensors: Tensors) -> Tensors:
        import torch

        memory_format = getattr(torch, self.memory_format)
        out: Tensors = {}
        for key, value in tensors.items():
            if isinstance(value, torch.nn.Module):
                out[key] = value.to(memory_format=memory_format)  # type: ignore[call-overload]
            elif isinstance(value, torch.Tensor) and value.dim() == 4:
                out[key] = value.contiguous(memory_format=memory_format)
            else:
                out[key] = value
        return out


@dataclass(frozen=True)
class OneDnn(Impl):
    """A library the op calls directly: oneDNN, on mkldnn tensors (float32 and bfloat16)."""

    own_form: bool = True

    def unavailable(self, op: Op, device_type: str, dtype: str) -> str | None:
        if reason := super().unavailable(op, device_type, dtype):
            return reason
        import torch

        if not torch.backends.mkldnn.is_available():
            return f"{self.name}: this PyTorch was built without oneDNN"
        if dtype not in ("float32", "bfloat16"):
            return f"{self.name}: mkldnn tensors hold float32 and bfloat16, not {dtype}"
        return None


IMPLS: dict[str, Impl] = {
    impl.name: impl
    for impl in (
        Impl(EAGER, "the op as written, op by op (ATen)"),
        Compiled("compile", "torch.compile, default mode"),
        Compiled("compile-max-autotune", "torch.compile, mode max-autotune", mode="max-autotune"),
        Compiled(
            "compile-max-autotune-no-cudagraphs",
            "torch.compile, mode max-autotune-no-cudagraphs (autotuned kernels, launched one by one)",
            mode="max-autotune-no-cudagraphs",
        ),
        Compiled(
            "compile-reduce-overhead",
            "torch.compile, mode reduce-overhead (CUDA graphs)",
            devices=("cuda",),
            mode="reduce-overhead",
        ),
        SdpaBackend("sdpa-math", "scaled_dot_product_attention, math backend only", backend="MATH"),
        SdpaBackend(
            "sdpa-flash", "scaled_dot_product_attention, FlashAttention backend only", backend="FLASH_ATTENTION"
        ),
        SdpaBackend(
            "sdpa-efficient",
            "scaled_dot_product_attention, memory-efficient backend only",
            backend="EFFICIENT_ATTENTION",
        ),
        SdpaBackend(
            "sdpa-cudnn",
            "scaled_dot_product_attention, cuDNN backend only",
            devices=("cuda",),
            backend="CUDNN_ATTENTION",
        ),
        Flex("flex", "FlexAttention (torch.nn.attention.flex_attention), compiled"),
        Layout("channels-last", "convolutions in channels_last memory format"),
        OneDnn("onednn", "the GEMM through oneDNN's inner product (mkldnn_linear)", devices=("cpu",)),
    )
}
# What every op runs under unless it says otherwise (Op.impls).
DEFAULT_IMPLS = (
    EAGER,
    "compile",
    "compile-max-autotune",
    "compile-max-autotune-no-cudagraphs",
    "compile-reduce-overhead",
)


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


# --- compilation: its cost, its cache, recompilations ----------------------------------------------------------------


@dataclass(frozen=True)
class FirstCall:
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


def first_call(fn: Callable[[], Any], clock: Callable[[], float] = time.perf_counter, sync=lambda: None) -> FirstCall:
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
    return FirstCall(seconds, cache, graphs(), output)


def _cache_counts() -> tuple[int, int]:
    with contextlib.suppress(ImportError):
        from torch._dynamo.utils import counters

        inductor = counters["inductor"]
        return int(inductor["fxgraph_cache_hit"]), int(inductor["fxgraph_cache_miss"])
    return 0, 0


# Which scaled_dot_product_attention kernel ran, by the op names torch.profiler records for it (math is a chain of
# ordinary ops under its own name).
SDPA_KERNELS = (
    ("_cudnn_attention", "cudnn"),
    ("_flash_attention", "flash"),
    ("_efficient_attention", "efficient"),
    ("_scaled_dot_product_attention_math", "math"),
)


def sdpa_backend(fn: Callable[[], Any]) -> str | None:
    """Which scaled_dot_product_attention kernel a call ran (flash, the memory-efficient one, cuDNN's, or math)."""
    from torch.profiler import profile

    from flopbench.console import silenced_stderr

    prof = profile()
    with silenced_stderr():  # the profiler's own start and stop lines
        prof.__enter__()
    try:
        fn()
    finally:
        with silenced_stderr():
            prof.__exit__(None, None, None)
    names = " ".join(event.name for event in prof.events())
    for marker, backend in SDPA_KERNELS:
        if marker in names:
            return backend
    return "math" if "scaled_dot_product_attention" in names else None
