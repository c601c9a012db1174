"""Which workloads a run measures: the suites' entries, with large ones, training steps, other dtypes and
implementations, and a name filter applied (a Selection: typed, whatever asks for it: `flopbench run`, `flopbench ab`,
a script). A problem with any of it is one FlopbenchError naming the option."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from flopbench.console import warn
from flopbench.errors import FlopbenchError, did_you_mean

if TYPE_CHECKING:
    from flopbench.workloads import Workload
    from flopbench.workloads.suite import Suite


@dataclass(frozen=True)
class Selection:
    """What to measure: suite files or names (or one workload, OP key=value ...), and what to do to their entries."""

    suites: tuple[str, ...]
    large: bool = False  # also the entries marked large = true
    train: bool = False  # model workloads as training steps
    dtype: str | None = None  # every workload in these dtypes instead ("float32,bfloat16")
    impl: str | None = None  # every workload under these implementations instead
    only: str | None = None  # a regular expression the names must match


def select(selection: Selection) -> tuple[list[Workload], list[Suite]]:
    """The workloads `selection` names, each once, and the suites they come from (a problem: one FlopbenchError)."""
    from flopbench.workloads import DTYPES
    from flopbench.workloads.suite import from_targets

    suites = from_targets(list(selection.suites))
    workloads = [w for suite in suites for w in suite.workloads if selection.large or not w.large]
    if selection.train:
        workloads = [_training(w) for w in workloads]
    if selection.dtype:
        dtypes = [d.strip() for d in selection.dtype.split(",")]
        for d in dtypes:
            if d not in DTYPES:
                raise FlopbenchError(
                    f"--dtype {selection.dtype}: unknown dtype '{d}'{did_you_mean(d, DTYPES)};"
                    f" expected a comma-separated list of {', '.join(DTYPES)}"
                )
        workloads = with_dtypes(workloads, dtypes, selection.dtype)
    if selection.impl:
        workloads = with_impls(workloads, [i.strip() for i in selection.impl.split(",")], selection.impl)
    if selection.only:
        try:
            pattern = re.compile(selection.only)
        except re.error as exc:
            raise FlopbenchError(f"--only {selection.only!r}: not a regular expression ({exc})") from None
        workloads = [w for w in workloads if pattern.search(w.name)]
    unique: dict[str, Workload] = {}
    for w in workloads:
        unique.setdefault(w.identity, w)
    if not unique:
        raise FlopbenchError(f"no workload of {', '.join(selection.suites)} matches --only {selection.only!r}")
    return list(unique.values()), suites


def with_dtypes(workloads: list[Workload], dtypes: list[str], option: str) -> list[Workload]:
    """Every workload in every --dtype its op runs in; the others are left out, and the user told which."""
    from flopbench.errors import SpecError
    from flopbench.workloads.base import check_dtype

    kept, left_out = [], []
    for w in workloads:
        for d in dtypes:
            try:
                check_dtype(w.spec, w.p, d)
            except SpecError as exc:
                left_out.append(f"{w.name} in {d} ({exc.message})")
                continue
            kept.append(replace(w, dtype=d, name=f"{_strip_dtype(w.name)}-{d}"))
    if left_out:
        more = f"; and {len(left_out) - 3} more" if len(left_out) > 3 else ""
        warn(f"--dtype {option}: {len(left_out)} left out: " + "; ".join(left_out[:3]) + more)
    return kept


def with_impls(workloads: list[Workload], impls: list[str], option: str) -> list[Workload]:
    """Every workload under every --impl its op runs under; the others are left out, and the user told which."""
    from flopbench.errors import SpecError
    from flopbench.workloads.base import check_impl
    from flopbench.workloads.impls import IMPLS

    for impl in impls:
        if impl not in IMPLS:
            raise FlopbenchError(
                f"--impl {option}: unknown implementation '{impl}'{did_you_mean(impl, IMPLS)}; expected a"
                f" comma-separated list of {', '.join(IMPLS)}"
            )
    kept, left_out = [], []
    for w in workloads:
        for impl in impls:
            try:
                check_impl(w.spec, impl)
            except SpecError as exc:
                left_out.append(f"{w.name} as {impl} ({exc.message})")
                continue
            name = _strip_impl(w.name) + ("" if impl == "eager" else f"-{impl}")
            kept.append(replace(w, impl=impl, name=name))
    if left_out:
        more = f"; and {len(left_out) - 3} more" if len(left_out) > 3 else ""
        warn(f"--impl {option}: {len(left_out)} left out: " + "; ".join(left_out[:3]) + more)
    return kept


def _strip_impl(name: str) -> str:
    from flopbench.workloads.impls import IMPLS

    for impl in sorted(IMPLS, key=len, reverse=True):
        if name.endswith(f"-{impl}"):
            return name[: -len(impl) - 1]
    return name


def _training(workload: Workload) -> Workload:
    """A model workload as a training step; other workloads are left as they are."""
    from flopbench.workloads import make_workload

    if workload.op != "model" or workload.p["train"]:
        return workload
    trained = make_workload(
        "model",
        {**workload.params_json, "train": True},
        dtype=workload.dtype,
        name=f"{workload.name}-train",
        impl=workload.impl,
    )
    return replace(trained, group=workload.group, swept=workload.swept, devices=workload.devices)


def _strip_dtype(name: str) -> str:
    from flopbench.workloads import DTYPES

    for d in DTYPES:
        if name.endswith(f"-{d}"):
            return name[: -len(d) - 1]
    return name
