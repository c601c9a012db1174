"""A run's options turned into what measuring takes, at the boundary: the Selection of its workloads
(flopbench.workloads.selection) and its one settings object (RunSettings), for `flopbench run` and `flopbench ab`
alike."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flopbench.results.schema import RunSettings
    from flopbench.workloads.selection import Selection

# A round samples for at most 5x --min-time (1 s by default): on a noisy 2-vCPU VM (AMD EPYC, 2026-12-02, the
# default suite), the median of a round's first half of samples was a median 2.0% from its whole round's, while its
# rounds spanned a median 28%: a longer round buys precision the drift between rounds has already lost.
ROUND_CAP = 5
DEFAULT_ROUNDS = 3  # see docs/methodology.md: a transient disturbance then moves one round, not the figure
# By default a workload whose rounds leave its figure known to no better than this gets more rounds, up to
# DEFAULT_MAX_ROUNDS (flopbench.results.trust.precision; docs/methodology.md, "How far a figure can be trusted").
DEFAULT_TARGET_PRECISION = 0.10
DEFAULT_MAX_ROUNDS = 8


def selection_of(args: argparse.Namespace) -> Selection:
    """The typed selection of a command's suites, --large, --train, --dtype, --impl and --only."""
    from flopbench.workloads.selection import Selection

    return Selection(
        suites=tuple(args.suites),
        large=bool(getattr(args, "large", False)),
        train=bool(getattr(args, "train", False)),
        dtype=getattr(args, "dtype", None),
        impl=getattr(args, "impl", None),
        only=getattr(args, "only", None),
    )


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
        "max_rounds": max(rounds, getattr(args, "max_rounds", None) or DEFAULT_MAX_ROUNDS),
    }


def run_settings(args: argparse.Namespace) -> RunSettings:
    """The run's one settings object: what the runner reads and the header records, from the options `flopbench run`
    and `flopbench ab` share (an option a command does not have keeps its default)."""
    from flopbench.results.schema import RunSettings

    def option(name: str, default: Any = None) -> Any:
        value = getattr(args, name, None)
        return default if value is None else value

    min_time = option("min_time") or (0.05 if option("quick", False) else 0.2)
    return RunSettings(
        min_time_s=min_time,
        max_time_s=ROUND_CAP * min_time,
        warmup_s=min(0.025, min_time / 4),
        target_rel_iqr=0.10 if option("quick", False) else 0.05,
        tf32=option("tf32", False) is True,
        cuda_graph=option("cuda_graph", False),
        dtype=option("dtype"),
        impl=option("impl"),
        only=option("only"),
        train=option("train", False),
        large=option("large", False),
        **rounds_of(args),
        on_busy=option("on_busy", "retry"),
        max_call_s=option("max_call_s"),
        time_budget_s=option("time_budget"),
        per_layer=option("per_layer", False),
        cache=option("cache", "warm"),
    )
