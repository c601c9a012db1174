"""Where a model's time goes, measured layer by layer, beside what its FLOPs say.

The model runs under torch.profiler with two kinds of ranges: one per module call (hooks) and one per functional
call (a TorchFunctionMode: F.linear, conv2d, add, ...). Every profiled op's own time (its CPU self time, or on CUDA
the time of the kernels it launched) goes to the innermost module and the innermost functional call around it; the
ranges' own cost is the profiler's and is left out. A layer's time is then the sum of its ops' times, per forward.

Joined with the per-layer counts (flopbench.workloads.models.counter), each layer gets its share of the time beside its
share of the FLOPs, its achieved FLOP/s and utilization, its bound and roofline efficiency, and the time a layer-wise
roofline predicts for it. The whole model is timed separately, without profiler or hooks; what its time has beyond the
ops' times is named (Python and dispatch between ops), never hidden. Time in calls flopbench has no formula for is
reported by call; time in calls that are 0 FLOPs by definition (views, copies, concatenation) apart from both.

In a training step the backward pass runs outside the forward's module calls: its ops are one part of their own.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from flopbench.console import silenced_stderr
from flopbench.machine.roofline import Roofline
from flopbench.units import seconds
from flopbench.workloads.models.counter import RULES, ZERO, LayerCounts, count_layers

LAYER, CALL = "flopbench.layer::", "flopbench.call::"
OUTSIDE = "(outside any layer)"
TOO_SHORT = 1.25  # profiled ops beyond this multiple of the plain step: the profiler's cost dominates, and it is said


@dataclass
class LayerTime:
    path: str
    type: str
    calls: list[str]
    core_flops: int
    elementwise_flops: int
    bytes: float  # compulsory traffic of its calls at the run's dtype
    time_s: float  # measured, per forward
    predicted_s: float | None = None  # the layer-wise roofline's time for its calls

    @property
    def total_flops(self) -> int:
        return self.core_flops + self.elementwise_flops


@dataclass
class ModelProfile:
    model: str
    device: str
    iterations: int
    whole_s: float  # the model (forward, or training step) timed alone: median seconds
    layers: list[LayerTime]
    outside_layers_s: float  # ops outside every module call (the backward pass, in training)
    backward_s: float
    without_formula_s: dict[str, float]  # per call flopbench does not count: its ops' seconds per forward
    movement_s: float  # calls that are 0 FLOPs by definition (views, copies, cat, ...)
    counted_calls_s: float  # calls flopbench counts
    notes: list[str] = field(default_factory=list)

    @property
    def ops_s(self) -> float:
        return sum(layer.time_s for layer in self.layers) + self.outside_layers_s

    @property
    def remainder_s(self) -> float:
        """The whole model's time beyond its ops': Python, dispatch and hooks between ops (negative: the profiler's
        own cost inside ops exceeded it)."""
        return self.whole_s - self.ops_s

    @property
    def without_formula_share(self) -> float:
        return sum(self.without_formula_s.values()) / self.ops_s if self.ops_s else 0.0


class _CallRanges(TorchFunctionMode):
    """A profiler range around each functional call, named by the call."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if not name or name.startswith("__get") or name in ("dim", "size", "numel", "__len__"):
            return func(*args, **kwargs)
        with torch.profiler.record_function(CALL + name):
            return func(*args, **kwargs)


def _module_ranges(model: nn.Module) -> list[Any]:
    """Hooks that open a profiler range on each module call and close it when the call returns."""
    names = {module: path or type(model).__name__ for path, module in model.named_modules()}
    open_ranges: dict[nn.Module, list[Any]] = defaultdict(list)

    def pre(module: nn.Module, args: Any) -> None:
        r = torch.profiler.record_function(LAYER + names[module])
        r.__enter__()
        open_ranges[module].append(r)

    def post(module: nn.Module, args: Any, output: Any) -> None:
        open_ranges[module].pop().__exit__(None, None, None)

    return [m.register_forward_pre_hook(pre) for m in names] + [m.register_forward_hook(post) for m in names]


def _time_alone(step: Callable[[], Any], device: torch.device, runs: int) -> float:
    """Median seconds of `step`, with nothing around it (no profiler, no hooks)."""
    import time

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times = []
    for _ in range(runs):
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _attribute(events: Sequence[Any], cuda: bool, iterations: int) -> tuple[dict[str, float], dict[str, float]]:
    """(seconds per layer path, seconds per call name), per iteration, from the profiler's events."""
    by_layer: dict[str, float] = defaultdict(float)
    by_call: dict[str, float] = defaultdict(float)
    enclosing: dict[int, tuple[str | None, str | None]] = {}

    def ranges_of(event: Any) -> tuple[str | None, str | None]:
        """The innermost layer and call around an event (memoized along the parent chain)."""
        key = id(event)
        if key in enclosing:
            return enclosing[key]
        parent = event.cpu_parent
        layer, call = ranges_of(parent) if parent is not None else (None, None)
        if parent is not None and parent.name.startswith(LAYER):
            layer = parent.name[len(LAYER) :]
        if parent is not None and parent.name.startswith(CALL) and call is None:
            call = parent.name[len(CALL) :]  # the outermost call: a functional call's own inner calls are its
        enclosing[key] = (layer, call)
        return layer, call

    for event in events:
        if event.name.startswith((LAYER, CALL)):
            continue  # the ranges' own time is the profiler's, not the model's
        seconds = (event.self_device_time_total if cuda else event.self_cpu_time_total) / 1e6 / iterations
        if seconds <= 0:
            continue
        layer, call = ranges_of(event)
        by_layer[layer if layer is not None else OUTSIDE] += seconds
        by_call[call if call is not None else OUTSIDE] += seconds
    return dict(by_layer), dict(by_call)


def profile_model(
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    *,
    dtype: str = "float32",
    train: bool = False,
    roofline: Roofline | None = None,
    key: str | None = None,
    iterations: int = 5,
    counted: LayerCounts | None = None,
    name: str | None = None,
) -> ModelProfile:
    """Profile `model(*inputs)` (a training step with train=True) on the inputs' device; see the module's doc.
    `counted` are its per-layer counts if already known (else counted now, on the same model); `roofline` and `key`
    (the peak key, by default the dtype) give each layer its layer-wise roofline time."""
    device = inputs[0].device
    if counted is None:
        counted = count_layers(model, inputs, train=train, name=name)
    model.train(train)
    for parameter in model.parameters():
        parameter.requires_grad_(train)

    def step() -> Any:
        with torch.set_grad_enabled(train):
            out = model(*inputs)
            if train:
                first = out if isinstance(out, torch.Tensor) else next(t for t in out if isinstance(t, torch.Tensor))
                first.float().sum().backward()
        return out

    whole, by_layer, by_call = _profiled_rounds(model, step, device, iterations)
    layers = _layer_times(model, counted, by_layer, dtype, roofline, key)
    outside = by_layer.get(OUTSIDE, 0.0)
    without, movement, counted_s = _call_split(by_call)
    notes = []
    ops = sum(by_layer.values())
    if ops > TOO_SHORT * whole:
        notes.append(
            f"the step ({seconds(whole)}) is too short to profile faithfully: its profiled ops take"
            f" {ops / whole:.1f}x as long, the profiler's own cost inside them; layer times are inflated, their shares"
            f" less so. A larger batch or input gives truer figures"
        )
    if train:
        notes.append(
            "the backward pass runs outside the forward's module calls: its time is one part, not split by layer"
        )
    return ModelProfile(
        name or counted.model,
        str(device),
        iterations,
        whole,
        layers,
        outside,
        outside if train else 0.0,
        dict(sorted(without.items(), key=lambda kv: -kv[1])),
        movement,
        counted_s,
        notes,
    )


def _profiled_rounds(
    model: nn.Module, step: Callable[[], Any], device: torch.device, iterations: int
) -> tuple[float, dict[str, float], dict[str, float]]:
    """(the plain step's median time, its ops' time per layer, per functional call) of the median round.

    Rounds interleave the plain step (timed alone) and a profiled step, so that a moment of interference on a shared
    machine moves one round of both, not one side of the comparison."""
    cuda = device.type == "cuda"
    for _ in range(2):  # warm: allocator, oneDNN primitives, cuBLAS heuristics
        step()
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
    wholes: list[float] = []
    layer_rounds: list[dict[str, float]] = []
    call_rounds: list[dict[str, float]] = []
    for _ in range(iterations):
        wholes.append(_time_alone(step, device, runs=3))
        handles = _module_ranges(model)
        try:
            with silenced_stderr():
                prof = torch.profiler.profile(activities=activities)
                prof.__enter__()
            try:
                with _CallRanges():
                    step()
                if cuda:
                    torch.cuda.synchronize(device)
            finally:
                with silenced_stderr():
                    prof.__exit__(None, None, None)
        finally:
            for handle in handles:
                handle.remove()
        by_layer, by_call = _attribute(prof.events(), cuda, 1)
        layer_rounds.append(by_layer)
        call_rounds.append(by_call)
    # The round whose ops' total is the median: its layers and calls (a per-layer median of rounds would not add up).
    totals = [sum(r.values()) for r in layer_rounds]
    middle = sorted(range(iterations), key=lambda i: totals[i])[iterations // 2]
    return statistics.median(wholes), layer_rounds[middle], call_rounds[middle]


def _layer_times(
    model: nn.Module,
    counted: LayerCounts,
    by_layer: dict[str, float],
    dtype: str,
    roofline: Roofline | None,
    key: str | None,
) -> list[LayerTime]:
    """Each counted layer with its measured time and its layer-wise roofline time; then the modules the counter kept
    no row for (no calls of their own) whose ops took time, with 0 FLOPs."""
    from flopbench import formulas

    scale = formulas.DTYPE_BYTES[dtype] / 4  # the counter counts float32 bytes
    layers, seen = [], set()
    rows: dict[str, list[Any]] = defaultdict(list)
    for row in counted.rows:
        rows[row.path].append(row)
    for path, group in rows.items():
        seen.add(path)
        costs = [cost for row in group for _, cost, _ in row.costs]
        on_roofline = (
            roofline.calls_time_s([(c.flops + c.elementwise_flops, c.bytes * scale) for c in costs], key or dtype)
            if roofline is not None
            else None
        )
        layers.append(
            LayerTime(
                path,
                group[0].type,
                list(dict.fromkeys(n for row in group for n, _, _ in row.costs)),
                sum(c.flops for c in costs),
                sum(c.elementwise_flops for c in costs),
                sum(c.bytes * scale for c in costs),
                by_layer.get(path, 0.0),
                on_roofline[0] if on_roofline else None,
            )
        )
    types = {path or type(model).__name__: type(module).__name__ for path, module in model.named_modules()}
    for path, time_s in by_layer.items():
        if path not in seen and path != OUTSIDE:
            layers.append(LayerTime(path, types.get(path, ""), [], 0, 0, 0.0, time_s))
    return layers


def _call_split(by_call: dict[str, float]) -> tuple[dict[str, float], float, float]:
    """The ops' time by kind of functional call: (per call without a formula, moving data only, counted calls)."""
    without, movement, counted_s = {}, 0.0, 0.0
    for call, time_s in by_call.items():
        if call == OUTSIDE:
            continue
        if call in RULES:
            counted_s += time_s
        elif call in ZERO:
            movement += time_s
        else:
            without[call] = time_s
    return without, movement, counted_s


def to_record(measured: ModelProfile, counted: LayerCounts, dtype: str) -> tuple[list[Any], Any]:
    """A profile as record fields: the counted layers (counter.record_layers) each with its measured time, the
    modules that took time without calls of their own after them, and the split
    (flopbench.results.schema.LayerProfile)."""
    from flopbench.results.schema import Layer, LayerProfile
    from flopbench.workloads.models.counter import record_layers

    times = {layer.path: layer for layer in measured.layers}
    layers = record_layers(counted, dtype)
    for layer in layers:
        found = times.pop(layer.path, None)
        layer.time_s = found.time_s if found else 0.0
    layers += [
        Layer(path=path, type=found.type, calls=[], time_s=found.time_s)
        for path, found in times.items()
        if found.time_s > 0
    ]
    split = LayerProfile(
        iterations=measured.iterations,
        timer="CUDA kernel time" if measured.device.startswith("cuda") else "torch.profiler CPU self time",
        whole_s=measured.whole_s,
        ops_s=measured.ops_s,
        outside_layers_s=measured.outside_layers_s,
        without_formula_s=measured.without_formula_s,
        movement_s=measured.movement_s,
        counted_calls_s=measured.counted_calls_s,
        notes=measured.notes,
    )
    return layers, split
