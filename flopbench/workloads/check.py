"""Output check: before a workload is timed, a small version of it runs on the device in its dtype and
is compared with a float64 reference computed on the CPU. A wrong kernel, or one that skips work,
cannot report a fast time.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from flopbench.errors import first_line

if TYPE_CHECKING:
    from flopbench.workloads.base import Workload

# Largest accepted normwise relative error ||out - ref|| / ||ref||. About 20x the unit roundoff of
# each format (TF32 keeps 10 mantissa bits like float16), which leaves room for accumulation on the
# small check shapes while any wrong or skipped computation (error ~ 1) fails.
# int8 products are exact (int32 sums of small integers); float8 inputs are exact in float64, and the output is
# rounded to bfloat16 once.
TOLERANCE = {
    "float64": 1e-10,
    "float32": 2e-5,
    "tf32": 1e-2,
    "float16": 1e-2,
    "bfloat16": 8e-2,
    "float8": 1e-2,
    "int8": 1e-12,
}


def randn(
    shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, generator: torch.Generator, std: float = 1.0
) -> torch.Tensor:
    """Normal random values drawn in float32 (every device supports it), then cast."""
    x = torch.randn(shape, dtype=torch.float32, device=device, generator=generator)
    if std != 1.0:
        x.mul_(std)
    return x.to(dtype)


def weight(
    shape: tuple[int, ...], fan_in: int, dtype: torch.dtype, device: torch.device, generator: torch.Generator
) -> torch.Tensor:
    """Weights with std 1/sqrt(fan_in), so activations keep unit scale through deep blocks."""
    return randn(shape, dtype, device, generator, std=1.0 / math.sqrt(fan_in))


@dataclass(frozen=True)
class Check:
    error: float  # normwise relative error against the float64 reference
    tolerance: float
    shape: dict  # the small parameters that were checked

    @property
    def ok(self) -> bool:
        return math.isfinite(self.error) and self.error <= self.tolerance

    def describe(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return f"output check {verdict}: relative error {self.error:.2e} (tolerance {self.tolerance:.0e})"


class AgreedFailure(RuntimeError):
    """Some rank could not prepare a collective's check, and every rank knows it (see check_output's agree)."""


def check_output(
    workload: Workload,
    device: str | torch.device,
    *,
    tf32: bool = False,
    agree: Callable[[str | None], str | None] | None = None,
) -> Check:
    """With `agree` (collectives in a distributed run), the ranks agree that all of them have their inputs
    before any enters the collective: one rank's failure then fails the check on every rank, none waits."""
    from flopbench.workloads.impls import IMPLS

    device = torch.device(device)
    op = workload.spec
    with torch.no_grad():
        if agree is None:
            small, tensors = workload.inputs_for(device, seed=1234, small=True)
        else:
            try:
                (small, tensors), failure = workload.inputs_for(device, seed=1234, small=True), None
            except Exception as exc:
                tensors, failure = None, first_line(exc)
            if reason := agree(failure):
                raise AgreedFailure(reason)
        assert tensors is not None  # made, or every rank raised AgreedFailure
        out = IMPLS[workload.impl].callable(op, small, tensors, timed=False)()
    return compare(workload, small, tensors, out, device, tf32)


def compare(
    workload: Workload, p: dict, tensors: dict, out: torch.Tensor, device: torch.device, tf32: bool = False
) -> Check:
    """An output of the workload (on `tensors`, parameters `p`) against the float64 reference of the op's definition."""
    with torch.no_grad():
        if out.is_mkldnn:  # a library implementation's own layout (flopbench.workloads.impls: onednn)
            out = out.to_dense()
        reference = workload.spec.reference(p, {k: _reference_copy(v) for k, v in tensors.items()})
        error = _relative_error(out.detach().to("cpu", torch.float64), reference)
    key = "tf32" if workload.tf32_applies(device.type, tf32) else workload.dtype
    return Check(error=error, tolerance=TOLERANCE[key], shape=p)


def _reference_copy(value):
    """The input as the float64 reference sees it: floating tensors (and modules) in float64 on the CPU,
    integer tensors (token ids) on the CPU unchanged."""
    if isinstance(value, torch.nn.Module):
        return copy.deepcopy(value).to("cpu", torch.float64)
    value = value.detach()
    return value.to("cpu", torch.float64) if value.is_floating_point() else value.to("cpu")


def _relative_error(out: torch.Tensor, reference: torch.Tensor) -> float:
    if out.shape != reference.shape:
        return math.inf
    scale = reference.norm().item()
    diff = (out - reference).norm().item()
    return diff / scale if scale > 0 else diff
