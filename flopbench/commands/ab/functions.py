"""Is my version faster? `flopbench.ab(fn_a, fn_b, *args, flops=..., fail_slower=0.05)`: two functions of the same work
compared in one process as `flopbench ab` compares two implementations: measured alternately in ABBA blocks, round
after round until the comparison can be told within the threshold (or the time is up), then judged by the same
statistics and gate (flopbench.reading.comparison). What comes back says it all: the speedup with its interval, the
verdict, the gate's exit status and lines, the slowdown the gate catches, and both records.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flopbench.results.schema import Record


@dataclass
class ABResult:
    """The paired comparison of two functions: speedup = time A / time B (above 1: B is faster)."""

    speedup: float
    low: float
    high: float
    verdict: str  # faster, slower, same or unsure, against the threshold
    threshold: float
    status: int  # the gate's exit: 0 not slower by the threshold, 1 slower with confidence, 2 cannot tell
    lines: list[str]  # the gate's lines: what decided it
    mde: float  # the slowdown the gate fails on 80% of the time
    rounds: int
    a: Record
    b: Record
    notes: list[str] = field(default_factory=list)

    @property
    def not_slower(self) -> bool:
        """B is shown not slower than A by the threshold (the gate's 0)."""
        return self.status == 0

    def text(self) -> str:
        answer = {0: "not slower", 1: "slower", 2: "cannot tell whether it is slower"}[self.status]
        return (
            f"B/A: {self.speedup:.3g}x ({self.low:.3g}-{self.high:.3g}, 95%; above 1 B is faster) over {self.rounds}"
            f" rounds: {self.verdict} against ±{self.threshold:.0%}; {answer} by {self.threshold:.0%}"
            f" (gate exit {self.status}; it catches {self.mde:.1%} slower 80% of the time)"
        )

    def __str__(self) -> str:
        return self.text()


def ab(
    fn_a: Callable[..., Any],
    fn_b: Callable[..., Any],
    *args: Any,
    flops: int,
    bytes: int = 0,  # noqa: A002 (the name the counts use everywhere)
    elementwise_flops: int = 0,
    dtype: str = "float32",
    device: str = "auto",
    threads: int | None = None,
    fail_slower: float = 0.05,
    rounds: int = 5,
    max_rounds: int = 20,
    max_time_s: float = 120.0,
    min_time_s: float = 0.1,
    pairs: int = 10,
    **kwargs: Any,
) -> ABResult:
    """Compare `fn_b(*args, **kwargs)` with `fn_a(*args, **kwargs)` (the same work: `flops` core FLOPs, `bytes`
    compulsory traffic per call, as flopbench.measure takes them): ABBA blocks in `rounds` rounds, then more rounds
    while the comparison could not yet be told within `fail_slower` (up to `max_rounds`, within `max_time_s`); each
    round is one build (the two calls take turns on the same arguments). The verdict, the gate (exit 0: B is shown not
    slower than A by `fail_slower`; 1: slower with confidence; 2: cannot tell) and the catch point are `flopbench ab`'s
    and `flopbench compare --fail-slower`'s."""
    from flopbench.measuring.api import measure_pair
    from flopbench.reading.comparison import paired_ratio, round_pairs
    from flopbench.reading.intervals import LEVEL

    call_a, call_b = functools.partial(fn_a, *args, **kwargs), functools.partial(fn_b, *args, **kwargs)
    names = [getattr(fn, "__name__", "callable") for fn in (fn_a, fn_b)]
    if names[0] == names[1]:
        names = [f"{names[0]} (A)", f"{names[1]} (B)"]
    deadline = time.perf_counter() + max_time_s

    def more(a_rounds: list[Any], b_rounds: list[Any]) -> bool:
        ratio = paired_ratio(round_pairs(a_rounds), round_pairs(b_rounds))
        return not ratio.attainable(LEVEL, 0.9) <= fail_slower  # the row and its mean: 1 - 0.2 / 2

    a, b = measure_pair(
        call_a,
        call_b,
        flops=flops,
        bytes=bytes,
        elementwise_flops=elementwise_flops,
        dtype=dtype,
        device=device,
        threads=threads,
        rounds=rounds,
        max_rounds=max_rounds,
        pairs=pairs,
        min_time_s=min_time_s,
        more=more,
        time_left=lambda: time.perf_counter() < deadline,
        names=(names[0], names[1]),
    )
    return judge(a, b, fail_slower)


def judge(a: Record, b: Record, threshold: float) -> ABResult:
    """The paired comparison and the gate of two records a paired measurement made."""
    import math

    import pandas as pd

    from flopbench.reading.comparison import Comparison, pair_values, paired_ratio
    from flopbench.reading.intervals import LEVEL

    if a.status != "ok" or b.status != "ok":
        failed = a if a.status != "ok" else b
        raise RuntimeError(f"flopbench.ab: {failed.name} was not measured: {failed.reason}")
    ratio = paired_ratio(pair_values([a]), pair_values([b]))
    table = pd.DataFrame({"name": [b.name], "dtype": [b.dtype]})
    result = Comparison(pd.DataFrame({"run": ["A", "B"]}), table, pd.DataFrame(), [], ratios={"B": [ratio]})
    status, lines = result.gate(threshold)
    return ABResult(
        speedup=ratio.value,
        low=ratio.low,
        high=ratio.high,
        verdict=ratio.verdict(threshold),
        threshold=threshold,
        status=status,
        lines=lines,
        mde=ratio.mde(threshold, 1, LEVEL) if ratio.decides else math.inf,
        rounds=len(a.rounds),
        a=a,
        b=b,
        notes=[*a.warnings, *(w for w in b.warnings if w not in a.warnings)],
    )
