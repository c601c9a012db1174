"""Which workloads a run measures: the suites' entries, with --large, --train, --dtype, --impl and --only applied;
and the run's one settings object from its options."""

from __future__ import annotations

import argparse
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from flopbench.commands.common import warn
from flopbench.errors import FlopbenchError, did_you_mean

if TYPE_CHECKING:
    from flopbench.results.schema import RunSettings
    from flopbench.workloads import Workload
    from flopbench.workloads.suite import Suite

# A round samples for at most 5x --min-time (1 s by default): on a noisy 2-vCPU VM (AMD EPYC, 2026-12-02, the
# default suite), the median of a round's first half of samples was a median 2.0% from its whole round's, while its
# rounds spanned a median 28%: a longer round buys precision the drift between rounds has already lost.
ROUND_CAP = 5
DEFAULT_ROUNDS = 3  # see docs/methodology.md: a transient disturbance then moves one round, not the figure
# By default a workload whose rounds leave its figure known to no better than this gets more rounds, up to
# DEFAULT_MAX_ROUNDS (flopbench.results.trust.precision; docs/methodology.md, "How far a figure can be trusted").
DEFAULT_TARGET_PRECISION = 0.10
DEFAULT_MAX_ROUNDS = 8


def select(args: argparse.Namespace) -> tuple[list[Workload], list[Suite]]:
    from flopbench.workloads import DTYPES
    from flopbench.workloads.suite import from_targets

    suites = from_targets(args.suites)
    workloads = [w for suite in suites for w in suite.workloads if args.large or not w.large]
    if args.train:
        workloads = [_training(w) for w in workloads]
    if args.dtype:
        dtypes = [d.strip() for d in args.dtype.split(",")]
        for d in dtypes:
            if d not in DTYPES:
                raise FlopbenchError(
                    f"--dtype {args.dtype}: unknown dtype '{d}'{did_you_mean(d, DTYPES)};"
                    f" expected a comma-separated list of {', '.join(DTYPES)}"
                )
        workloads = with_dtypes(workloads, dtypes, args.dtype)
    if args.impl:
        workloads = with_impls(workloads, [i.strip() for i in args.impl.split(",")], args.impl)
    if args.only:
        try:
            pattern = re.compile(args.only)
        except re.error as exc:
            raise FlopbenchError(f"--only {args.only!r}: not a regular expression ({exc})") from None
        workloads = [w for w in workloads if pattern.search(w.name)]
    unique: dict[str, Workload] = {}
    for w in workloads:
        unique.setdefault(w.identity, w)
    if not unique:
        raise FlopbenchError(f"no workload of {', '.join(args.suites)} matches --only {args.only!r}")
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


def rounds_of(args: argparse.Namespace) -> dict[str, Any]:
    """The run's rounds: --rounds N alone is exactly N; by default DEFAULT_ROUNDS, then more (up to --max-rounds) for
    the workloads whose figure is not yet within the target precision. A distributed run keeps its planned rounds:
    its ranks measure each round in step."""
    rounds = getattr(args, "rounds", None) or DEFAULT_ROUNDS
    target = getattr(args, "target_precision", None)
    if target is None and getattr(args, "rounds", None) is None:
        target = DEFAULT_TARGET_PRECISION
    if getattr(args, "distributed", False):
        target = None
    if target is None:
        return {"rounds": rounds}
    return {
        "rounds": rounds,
        "target_precision": target,
        "max_rounds": max(rounds, args.max_rounds or DEFAULT_MAX_ROUNDS),
    }


def run_settings(args: argparse.Namespace) -> RunSettings:
    """The run's one settings object: what the runner reads and the header records."""
    from flopbench.results.schema import RunSettings

    min_time = args.min_time or (0.05 if args.quick else 0.2)
    return RunSettings(
        min_time_s=min_time,
        max_time_s=ROUND_CAP * min_time,
        warmup_s=min(0.025, min_time / 4),
        target_rel_iqr=0.10 if args.quick else 0.05,
        tf32=args.tf32,
        cuda_graph=args.cuda_graph,
        dtype=args.dtype,
        impl=args.impl,
        only=args.only,
        train=args.train,
        large=args.large,
        **rounds_of(args),
        on_busy=args.on_busy,
        max_call_s=args.max_call_s,
        time_budget_s=args.time_budget,
        per_layer=args.per_layer,
        cache=args.cache or "warm",
    )
