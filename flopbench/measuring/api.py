"""Timing one function from Python, in one call: `flopbench.measure(fn, *args, flops=..., bytes=...)`.

The function is measured as `flopbench run` measures a workload (the same runner, rounds, probes and record builder;
the machine resolved as the pytest plugin resolves it, from its cached ceilings) and placed by the FLOPs and bytes it
declares. What comes back is the record a results file would hold: its median time and spread, achieved FLOP/s,
utilization against the named peak, and its place on the roofline.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from flopbench.results.schema import Record


def count(name: str, value: Any) -> int:
    """A declared count (FLOPs, bytes): a whole number >= 0, else a ValueError that names it."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or value != int(value)
    ):
        raise ValueError(f"{name}={value!r}: expected a whole number >= 0 of {name} per call")
    return int(value)


def describe_call(
    fn: Callable[..., Any], flops: Any, traffic: Any, elementwise_flops: Any, dtype: str, name: str | None
):
    """(what it is, its counts) of a user's function and the counts it declares; bad counts fail here, before timing."""
    from flopbench.errors import did_you_mean
    from flopbench.results.schema import WorkloadPart
    from flopbench.workloads import DTYPES, Counts

    if flops is None:
        raise TypeError("needs flops=: the FLOPs one call performs (and bytes= for a place on the roofline)")
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r}{did_you_mean(str(dtype), DTYPES)}: expected one of {', '.join(DTYPES)}")
    counts = Counts(count("flops", flops), count("elementwise_flops", elementwise_flops), count("bytes", traffic or 0))
    name = name or getattr(fn, "__name__", "callable")
    return WorkloadPart(name=name, op="callable", family="custom", dtype=dtype, identity=name), counts


def measure(
    fn: Callable[..., Any],
    *args: Any,
    flops: int,
    bytes: int = 0,  # noqa: A002 (the name the counts use everywhere)
    elementwise_flops: int = 0,
    dtype: str = "float32",
    device: str = "auto",
    threads: int | None = None,
    rounds: int = 3,
    min_time_s: float = 0.2,
    name: str | None = None,
    **kwargs: Any,
) -> Record:
    """Time `fn(*args, **kwargs)`: `flops` (core FLOPs: 2 per multiply-accumulate), `elementwise_flops` and `bytes`
    (compulsory traffic) per call, as docs/flops.md counts them; `dtype` names the peak that judges it. On a GPU the
    timer synchronizes; the function's arguments live where the caller put them. Returns the run's record: `time_s`
    (the median of the rounds' medians), `time_iqr_s`, `total_flops_per_s`, `utilization` with `peak_source`, `bound`
    and `level`, `roofline_efficiency`, `warnings` (a disturbed or unstable measurement says so)."""
    from flopbench.measuring.session import Session
    from flopbench.results.schema import RunSettings

    what, counts = describe_call(fn, flops, bytes, elementwise_flops, dtype, name)
    settings = RunSettings(min_time_s=min_time_s, max_time_s=5 * min_time_s, rounds=rounds, on_busy="warn")
    session = Session(_machine(device, threads), settings, "warm", capped=False)
    call = functools.partial(fn, *args, **kwargs)
    with session.running():
        return session.runner(lambda record: None).run_callable(call, what, counts, dtype)


@functools.cache
def _machine(device: str, threads: int | None) -> Any:
    """The machine, resolved once per process for each device and thread count (its cached ceilings, never measured
    from here: `flopbench peak --measure` measures them)."""
    from flopbench.machine.resolve import resolve

    return resolve(device, threads, measure_clock=True)


def measure_pair(
    fn_a: Callable[[], Any],
    fn_b: Callable[[], Any],
    *,
    flops: int,
    bytes: int = 0,  # noqa: A002 (the name the counts use everywhere)
    elementwise_flops: int = 0,
    dtype: str = "float32",
    device: str = "auto",
    threads: int | None = None,
    rounds: int = 5,
    max_rounds: int = 20,
    pairs: int = 10,
    min_time_s: float = 0.2,
    more: Callable[[list[Any], list[Any]], bool] | None = None,
    time_left: Callable[[], bool] = lambda: True,
    names: tuple[str, str] = ("A", "B"),
) -> tuple[Record, Record]:
    """Two functions of the same work measured alternately in ABBA blocks (flopbench.measuring.paired), `rounds`
    rounds, then more while `more(A's rounds, B's rounds)` asks (up to `max_rounds`, while `time_left()`): each side's
    record, their samples tagged with their pair ids, as flopbench ab writes them. The machine is resolved as
    flopbench.measure resolves it."""
    from flopbench.errors import first_line
    from flopbench.measuring.admission import Cause, Skip
    from flopbench.measuring.paired import Side
    from flopbench.measuring.policy import Measured
    from flopbench.measuring.runner import RoundsTaken
    from flopbench.measuring.schedule import Step
    from flopbench.measuring.session import Session
    from flopbench.results.schema import RunSettings

    described = [describe_call(fn, flops, bytes, elementwise_flops, dtype, n) for fn, n in zip((fn_a, fn_b), names)]
    whats, counts = [what for what, _ in described], described[0][1]
    settings = RunSettings(min_time_s=min_time_s, max_time_s=5 * min_time_s, rounds=rounds, on_busy="retry")
    session = Session(_machine(device, threads), settings, "warm", capped=False)
    with session.running():
        runner = session.runner(lambda record: None, energy=False)
        measurer, timer = session.paired(pairs)
        taken, outcome, started = (RoundsTaken(), RoundsTaken()), None, runner.clock()
        for r in range(max(rounds, max_rounds)):
            if r >= rounds and (more is None or not time_left() or not more(taken[0].rounds, taken[1].rounds)):
                break
            try:
                measured = measurer.measure_pair(timer, (Side(fn_a), Side(fn_b)), None)
            except Exception as exc:  # either function raised: its error, in one line, on both records
                outcome = Skip(Cause.RUN_ERROR, first_line(exc))
                break
            paired: Any = measured.measurement
            for side, m in zip(taken, (paired.a, paired.b)):
                one = Measured(m, measured.observed, measured.attempts, measured.waited_s)
                runner.keep_round(side, Step(r, 0, False), one, pairs=list(paired.pairs))
        made = [runner.callable_record(side, what, counts, dtype, outcome, started) for side, what in zip(taken, whats)]
    key = f"ab:{names[0]}|{names[1]}"
    return made[0].model_copy(update={"pair_key": key}), made[1].model_copy(update={"pair_key": key})
