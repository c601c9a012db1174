"""What a workload is: an op, its validated parameters and a dtype; its counts; how to build and check it.

Each op (matmul, conv2d, attention, ...) is an `Op` subclass with a parameter schema. The schema is
the public suite contract: it validates and normalizes what a suite file or the command line gives
(ints, per-dimension lists, choices) and every problem is a `SpecError` naming the key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from flopbench import formulas
from flopbench.errors import SpecError, did_you_mean
from flopbench.workloads.impls import DEFAULT_IMPLS, IMPLS
from flopbench.workloads.params import REQUIRED, Param

if TYPE_CHECKING:
    import torch

    from flopbench.fields import Part
    from flopbench.machine.roofline import Placement, Roofline

DTYPES = tuple(formulas.DTYPE_BYTES)
DEFAULT_DTYPE = "float32"


# --- counts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Exact counts of one workload (docs/flops.md).

    flops: core FLOPs of the contractions, 1 MAC = 2 FLOPs. elementwise_flops: everything else
    (bias, activations, softmax, norms), from formulas.ELEMENTWISE_FLOPS. bytes: compulsory traffic.
    eager_bytes: the traffic of running it op by op, intermediates written and read again (a fusion chain's; None
    where it is the compulsory traffic).
    """

    flops: int
    elementwise_flops: int
    bytes: int
    eager_bytes: int | None = None

    @property
    def macs(self) -> int:
        return self.flops // 2

    @property
    def total_flops(self) -> int:
        """All arithmetic: what achieved FLOP/s and arithmetic intensity are computed from."""
        return self.flops + self.elementwise_flops

    @property
    def intensity(self) -> float | None:
        """FLOPs per byte of compulsory traffic (all arithmetic, core and elementwise); None without bytes."""
        return self.total_flops / self.bytes if self.bytes else None


# --- ops -------------------------------------------------------------------------------------

Tensors = dict[str, "torch.Tensor"]


class Op:
    """One kind of workload. Subclasses define the schema, the counts and the PyTorch computation."""

    name: str  # a class attribute of most ops; an instance's of the families built by __init__ (convs, collectives)
    family: str  # matmul, conv, attention, ...: the families are the registered ops' (families())
    doc: str = ""
    params: tuple[Param, ...] = ()
    named_by: ClassVar[str | None] = None  # a key whose value starts generated names instead of the op's name
    # A small valid instance, built and run on a CPU in milliseconds: every op-wide test takes it (docs/extending.md).
    example: dict[str, Any] = {}

    def param(self, key: str) -> Param:
        for p in self.params:
            if p.name == key:
                return p
        raise KeyError(key)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def normalize(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Validated parameters in schema order, defaults filled in."""
        for key in raw:
            if key not in self.keys:
                raise SpecError(
                    key,
                    f"unknown key for op '{self.name}'{did_you_mean(key, self.keys)}; allowed: {', '.join(self.keys)}",
                )
        values: dict[str, Any] = {}
        for p in self.params:
            if raw.get(p.name) is not None:  # None (which TOML cannot write) means "not given"
                values[p.name] = p.parse(raw[p.name])
            elif p.default is REQUIRED:
                raise SpecError(p.name, f"missing; op '{self.name}' needs it ({p.allowed})")
            else:  # defaults go through parse too, so that e.g. stride 1 becomes (1, 1)
                values[p.name] = None if p.default is None else p.parse(p.default)
        self.complete(values)
        self.validate(values)
        return values

    def complete(self, p: dict[str, Any]) -> None:
        """Fill the defaults that depend on other keys (those declared with default=None)."""

    def validate(self, p: dict[str, Any]) -> None:
        """Checks across keys (divisibility, kernel against input); raise SpecError."""

    def counts(self, p: Mapping[str, Any], dtype: str) -> Counts:
        raise NotImplementedError

    def inputs(
        self, p: Mapping[str, Any], dtype: torch.dtype, device: torch.device, generator: torch.Generator
    ) -> Tensors:
        """Preallocated random inputs (and output buffers) for `forward`."""
        raise NotImplementedError

    def forward(self, p: Mapping[str, Any], t: Tensors) -> torch.Tensor:
        """The computation, as the output check runs it."""
        raise NotImplementedError

    def timed(self, p: Mapping[str, Any], t: Tensors) -> Callable[[], Any]:
        """The function that is timed: the forward pass, unless the op times something else (a training step)."""
        forward = self.forward
        return lambda: forward(p, t)

    # Its forward writes into a preallocated output (`out`): it has a returning form of its own (Op.returning).
    writes_output: ClassVar[bool] = False

    def returning(self, p: Mapping[str, Any], t: Tensors) -> Callable[[], Any]:
        """The timed call as its users write it, returning a new output: an op whose forward writes into a
        preallocated output (`out`, OUTPUT_BUFFERS) gives its allocating form here; the rest are that already. A
        compiled implementation times this form (compiling an out= call adds a copy into the buffer), and an A/B of
        two implementations runs it on both sides (flopbench ab --impl)."""
        return self.timed(p, t)

    def reference(self, p: Mapping[str, Any], t: Tensors) -> torch.Tensor:
        """The same result from the op's definition (flopbench.workloads.reference), never the timed
        kernel, in float64 on the CPU: t holds float64 copies of the inputs."""
        raise NotImplementedError

    def small(self, p: Mapping[str, Any]) -> dict[str, Any]:
        """Parameters of a small version of this workload, for the output check."""
        return dict(p)

    # The implementations it runs under (flopbench.workloads.impls): eager and torch.compile's modes unless it says
    # otherwise; an @implementation method adds its own.
    impls: tuple[str, ...] = DEFAULT_IMPLS
    forms: ClassVar[dict[str, Callable[..., Callable[[], Any]]]] = {}  # impl -> the op's own call for it

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.forms = {**cls.forms, **{m.implements: m for m in vars(cls).values() if hasattr(m, "implements")}}
        cls.impls = tuple(dict.fromkeys((*cls.impls, *cls.forms)))

    def form(self, impl: str, p: Mapping[str, Any], t: Tensors) -> Callable[[], Any] | None:
        """Its own call under implementation `impl` on these tensors (an @implementation method), or None: the
        implementation wraps the op's call as written."""
        method = self.forms.get(impl)
        return method(self, p, t) if method is not None else None

    # Its call is one scaled_dot_product_attention: which SDPA kernel ran is recorded.
    sdpa: ClassVar[bool] = False
    # Every rank calls it in lockstep (collectives): the runner agrees on failures before entering it.
    collective: ClassVar[bool] = False
    # Placed on the device's roofline (flopbench.machine.roofline); a collective moves data between devices, not through
    # one.
    placed: ClassVar[bool] = True

    def figures(self, counts: Counts, judged: Judged) -> Part | None:
        """What its figure means beyond the rates and the placement, as a typed record part (a model's MFU, a
        collective's bus bandwidth); None for most ops."""
        return None

    def derivation(self, p: Mapping[str, Any], dtype: str) -> list[str]:
        """How its counts come about, term by term, for `flopbench count` (most ops: docs/flops.md says it)."""
        return []

    def record_fields(self, p: Mapping[str, Any], dtype: str) -> Part | None:
        """A record part known before timing (a model's layers and FLOP conventions), or None."""
        return None

    def parallel_work(self, p: Mapping[str, Any], device_type: str) -> Any:
        """Its parallel work (flopbench.measuring.ledger.Work): how many independent units it splits into on a
        `device_type` device, with the assumption stated; None where no model of it is given (the ledger says so)."""
        return None

    def working_set(self, p: Mapping[str, Any], dtype: str, impl: str = "eager") -> int | None:
        """The distinct bytes one call touches under implementation `impl`, where more than its compulsory bytes
        (None: those): a fusion chain run eager touches its intermediates too."""
        return None

    # The dtypes it runs in (float8 and int8 only for the ops that have kernels for them).
    dtypes: ClassVar[tuple[str, ...]] = formulas.FLOAT_DTYPES

    def validate_dtype(self, p: Mapping[str, Any], dtype: str) -> None:
        """Checks of the keys that depend on the dtype (a low-precision kernel's shape rules); raise SpecError."""

    # A training step exists for it (collectives have none).
    trainable: ClassVar[bool] = True
    # Keys of inputs() that are preallocated outputs, not inputs: they get no gradient and are not read.
    OUTPUT_BUFFERS: ClassVar[tuple[str, ...]] = ("out", "mean", "rstd")

    def training_counts(self, p: Mapping[str, Any], dtype: str) -> Counts:
        """Forward and backward pass of the op alone, every floating input needing a gradient (docs/flops.md):
        core = 3x forward (each contraction's two operand gradients cost as much as it), elementwise = 2x forward,
        bytes = forward + the backward's: the output gradient and the saved inputs read, every floating input's
        gradient written = 2x forward + the floating inputs."""
        forward = self.counts(p, dtype)
        return Counts(
            flops=3 * forward.flops,
            elementwise_flops=2 * forward.elementwise_flops,
            bytes=2 * forward.bytes + self.floating_input_bytes(p, dtype),
        )

    def floating_input_bytes(self, p: Mapping[str, Any], dtype: str) -> int:
        """Bytes of the op's floating inputs and weights (a module's parameters), from its inputs on the meta device
        (nothing is allocated)."""
        import torch

        from flopbench.formulas import DTYPE_BYTES

        tensors = self.inputs(p, torch_dtype(dtype), torch.device("meta"), torch.Generator())
        total = 0
        for key, value in tensors.items():
            if key in self.OUTPUT_BUFFERS:
                continue
            values = list(value.parameters()) if isinstance(value, torch.nn.Module) else [value]
            total += sum(v.numel() for v in values if isinstance(v, torch.Tensor) and v.is_floating_point())
        return total * DTYPE_BYTES[dtype]

    def profile(self, p: Mapping[str, Any], dtype: str, device: str, roofline: Roofline, key: str) -> Part | None:
        """A record part from measuring where the time goes inside (run --per-layer): a model's layers with their
        measured times, and how its time splits. Ops without parts have none."""
        return None


def implementation(name: str) -> Callable[[Callable[..., Callable[[], Any]]], Callable[..., Callable[[], Any]]]:
    """Marks an op's method as its own call under implementation `name`: method(self, p, t) returns the callable (the
    op then runs under `name`, in its impls)."""

    def mark(method: Callable[..., Callable[[], Any]]) -> Callable[..., Callable[[], Any]]:
        method.implements = name  # type: ignore[attr-defined]
        return method

    return mark


@dataclass(frozen=True)
class Judged:
    """What an op's figures() sees of one measured workload: its figure, the run's ranks, and its placement on the
    device's roofline (None for ops that are not placed)."""

    time_s: float
    world_size: int = 1
    placement: Placement | None = None
    params: Mapping[str, Any] | None = None  # the workload's parameters and dtype, where it is a workload
    dtype: str | None = None


# --- the registry ----------------------------------------------------------------------------

# Every op by the name a suite's `op =` uses, in the order the op modules register them (the CLI lists them so).
# The op modules register at import (flopbench.workloads imports them all); a name is registered once.
OPS: dict[str, Op] = {}


def register(*ops: Op) -> tuple[Op, ...]:
    for op in ops:
        if op.name in OPS:
            raise ValueError(
                f"op {op.name!r} is registered twice ({type(OPS[op.name]).__name__} and {type(op).__name__})"
            )
        OPS[op.name] = op
    return ops


def families() -> tuple[str, ...]:
    """Every family of the registered ops, in the order their ops were registered."""
    return tuple(dict.fromkeys(op.family for op in OPS.values()))


def placed(op_name: str) -> bool:
    """Whether records of this op are placed on the device's roofline: its Op.placed (an op flopbench does not know,
    such as a pytest-benchmark callable, is placed like any)."""
    op = OPS.get(op_name)
    return op.placed if op is not None else True


def collective(op_name: str) -> bool:
    """Whether this op is a collective (every rank calls it in lockstep; its records have their own figures)."""
    op = OPS.get(op_name)
    return op is not None and op.collective


def get_op(name: str) -> Op:
    try:
        return OPS[name]
    except KeyError:
        raise SpecError("op", f"unknown op {name!r}{did_you_mean(name, OPS)}; known ops: {', '.join(OPS)}") from None


# --- workloads -------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Workload:
    """A fully specified, validated workload: op + parameters + dtype. Hashable and immutable."""

    op: str
    params: tuple[tuple[str, Any], ...]
    dtype: str = DEFAULT_DTYPE
    name: str = ""
    devices: tuple[str, ...] = ()  # run only on these device types; () means every device
    group: str = ""  # the suite entry it came from (its name, or "op #index"); not part of the identity
    swept: tuple[str, ...] = ()  # that entry's sweep axes, tied keys joined by "=" ("m=n=k", "dtype")
    large: bool = False  # a big configuration: run only when asked (flopbench run --large)
    impl: str = "eager"  # how it runs (flopbench.workloads.impls): part of its identity, not of its counts
    returning: bool = False  # timed as a call that returns a new output, whatever its implementation (Op.returning)

    @property
    def spec(self) -> Op:
        return get_op(self.op)

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def p(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def params_json(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in self.params}

    @cached_property
    def counts(self) -> Counts:
        return self.spec.counts(self.p, self.dtype)

    @property
    def identity(self) -> str:
        """What makes two workloads the same measurement: op, parameters, dtype and implementation (not the name).
        An eager workload's identity is the one runs before implementations had: [op, parameters, dtype]."""
        parts = [self.op, self.params_json, self.dtype] + ([self.impl] if self.impl != "eager" else [])
        return json.dumps(parts, sort_keys=True)

    def inputs_for(self, device: str | torch.device, seed: int = 0, small: bool = False) -> tuple[dict, Tensors]:
        """(parameters, inputs) on `device`, laid out as the implementation wants them; small: the output check's
        small version."""
        import torch

        device = torch.device(device)
        op = self.spec
        p = op.normalize(op.small(self.p)) if small else self.p
        generator = torch.Generator(device=device).manual_seed(seed)
        return p, IMPLS[self.impl].prepare(op.inputs(p, torch_dtype(self.dtype), device, generator))

    def runs_on(self, device_type: str) -> bool:
        return not self.devices or device_type in self.devices

    def build(self, device: str | torch.device, seed: int = 0) -> Callable[[], Any]:
        """A zero-argument function that runs the op, under its implementation, on preallocated random inputs on
        `device` (a compiled implementation compiles at its first call)."""
        p, tensors = self.inputs_for(device, seed)
        return IMPLS[self.impl].callable(self.spec, p, tensors, returning=self.returning)

    @property
    def call_form(self) -> str:
        """'returns' (a new output each call) or 'out' (into a preallocated output): Impl.form."""
        return IMPLS[self.impl].form(self.spec, self.returning)

    def tf32_applies(self, device_type: str, tf32: bool) -> bool:
        """TF32 only changes float32 contractions on CUDA."""
        return tf32 and device_type == "cuda" and self.dtype == "float32" and self.counts.flops > 0


def torch_dtype(name: str) -> torch.dtype:
    import torch

    return torch.float8_e4m3fn if name == "float8" else getattr(torch, name)


def check_dtype(op: Op, params: Mapping[str, Any], dtype: str) -> None:
    """The dtype is one the op runs in, and its keys suit that dtype's kernel; else SpecError on `dtype`."""
    if dtype not in op.dtypes:
        others = [name for name, o in OPS.items() if dtype in o.dtypes]
        where = f"; {dtype} is for {', '.join(others)}" if others else ""
        raise SpecError("dtype", f"{op.name} does not run in {dtype}: it runs in {', '.join(op.dtypes)}{where}")
    op.validate_dtype(params, dtype)


def generated_name(op: Op, params: Mapping[str, Any], given: Mapping[str, Any], dtype: str, impl: str = "eager") -> str:
    """A readable name from the keys the user set (in schema order), e.g. matmul-m256-n256-k256 (-bfloat16,
    -compile: a dtype or implementation other than the default)."""
    first = params[op.named_by] if op.named_by else op.name
    parts = [first] + [p.label(params[p.name]) for p in op.params if p.name in given and p.name != op.named_by]
    if dtype != DEFAULT_DTYPE:
        parts.append(dtype)
    if impl != "eager":
        parts.append(impl)
    return "-".join(parts)


def sweep_suffix(op: Op, params: Mapping[str, Any], swept: Mapping[str, Any], dtype: str, impl: str = "eager") -> str:
    parts = [op.param(k).label(params[k]) for k in swept if k not in ("dtype", "impl")]
    if "dtype" in swept:
        parts.append(dtype)
    if "impl" in swept:
        parts.append(impl)
    return "-".join(parts)


def check_impl(op: Op, impl: Any) -> str:
    """The implementation is one the op runs under (its own declaration); else SpecError on `impl`."""
    if not isinstance(impl, str) or impl not in IMPLS:
        hint = did_you_mean(impl, IMPLS) if isinstance(impl, str) else ""
        raise SpecError("impl", f"unknown implementation {impl!r}{hint}; known: {', '.join(IMPLS)}")
    if impl not in op.impls:
        raise SpecError("impl", f"{op.name} does not run as {impl}: it runs as {', '.join(op.impls)}")
    return impl


def make_workload(
    op_name: str,
    raw: Mapping[str, Any],
    *,
    dtype: Any = DEFAULT_DTYPE,
    name: str | None = None,
    devices: tuple[str, ...] = (),
    impl: Any = "eager",
) -> Workload:
    """Validate raw keys (from a suite or the command line) into a Workload; errors are SpecError."""
    if not isinstance(op_name, str) or op_name not in OPS:
        hint = did_you_mean(op_name, OPS) if isinstance(op_name, str) else ""
        raise SpecError("op", f"unknown op {op_name!r}{hint}; known ops: {', '.join(OPS)}")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        hint = did_you_mean(dtype, DTYPES) if isinstance(dtype, str) else ""
        raise SpecError("dtype", f"unknown dtype {dtype!r}{hint}; expected one of {', '.join(DTYPES)}")
    op = get_op(op_name)
    params = op.normalize(raw)
    check_dtype(op, params, dtype)
    check_impl(op, impl)
    return Workload(
        op=op_name,
        params=tuple(params.items()),
        dtype=dtype,
        name=name or generated_name(op, params, raw, dtype, impl),
        devices=tuple(devices),
        impl=impl,
    )
