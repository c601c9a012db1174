"""What a run ends with beside its table: the footer of its file, what it teaches the machine's cache about its canary,
and the trust notes a reader of its figures must know."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flopbench.console import info

if TYPE_CHECKING:
    from flopbench.machine.resolve import Machine
    from flopbench.results.schema import Footer, Record

# A round samples for at most 5x --min-time (1 s by default): on a noisy 2-vCPU VM (AMD EPYC, 2026-12-02, the
# default suite), the median of a round's first half of samples was a median 2.0% from its whole round's, while its
# rounds spanned a median 28%: a longer round buys precision the drift between rounds has already lost.


def footer(records: list[Record], runner: Any, wall_s: float, interrupted: bool) -> Footer:
    from flopbench.measuring.header import now_iso
    from flopbench.results.schema import Footer
    from flopbench.results.trust import run_speed

    speed = run_speed(records, None)
    return Footer(
        finished_at=now_iso(),
        wall_s=wall_s,
        records=len(records),
        interrupted=interrupted,
        disturbed=sum(r.disturbed for r in records),
        unstable=sum(r.stable is False for r in records),
        skipped_for_time=len(skipped_for_time(records)),
        max_canary_slowdown=speed.max_slowdown if speed else None,
        median_canary_slowdown=speed.median_slowdown if speed else None,
        stale_ceilings=list(runner.stale.values()),
    )


def learn_quiet_canary(records: list[Record], machine: Machine, monitor: Any) -> None:
    """What a run teaches the machine's cache about its canary. Its windows' median canary becomes the quietest run's
    when it is faster (later runs are called slow against it). A run whose canaries ran a median more than RUN_SLOW
    faster than their baseline saw the machine quieter than its cached quiet reference: that reference becomes the
    run's median canary, so later runs judge their windows against it."""
    from flopbench.machine import cache
    from flopbench.results.trust import run_speed
    from flopbench.units import seconds

    speed = run_speed(records, monitor.baseline_s)
    if speed is None or speed.median_s is None:
        return
    cache.learn_canary(machine.device, machine.threads, "run_canary_s", speed.median_s)
    if speed.fast and cache.learn_canary(machine.device, machine.threads, "canary_s", speed.median_s):
        info(
            f"flopbench: this machine's cached quiet canary is now this run's median canary,"
            f" {seconds(speed.median_s)} (it was taken on a slower machine)"
        )


def skipped_for_time(records: list[Record]) -> list[Record]:
    """The records skipped for their cost (--max-call-s, --time-budget, a sweep that stopped growing)."""
    from flopbench.measuring.admission import Cause

    causes = {c.value for c in Cause if c.for_time}
    return [r for r in records if r.status == "skipped" and r.cause in causes]


def trust_notes(records: list[Record], runner: Any) -> list[str]:
    """What a reader of the run's figures must know about the machine, in a few sentences."""
    from flopbench.results.trust import UNSTABLE_PRECISION, run_speed
    from flopbench.units import merged

    notes = list(runner.notes)
    disturbed = [r for r in records if r.disturbed]
    unstable = [r for r in records if r.stable is False]
    if disturbed:  # one line per reason, its numbers as ranges, with the records it concerns
        said = [(r.name, x) for r in disturbed if r.interference for x in r.interference.reasons]
        for reason, members in merged([x for _, x in said]):
            names = list(dict.fromkeys(said[m][0] for m in members))
            notes.append(
                f"warning: disturbed, {reason}: {len(names)} of {len(records)} records ("
                + ", ".join(names[:6])
                + (" ..." if len(names) > 6 else "")
                + ")"
            )
    if unstable:
        notes.append(
            f"warning: {len(unstable)} of {len(records)} records are unstable (their rounds leave them known to no"
            f" better than ±{UNSTABLE_PRECISION:.0%}; more rounds would narrow it: --target-precision, --max-rounds): "
            + ", ".join(r.name for r in unstable[:8])
            + (" ..." if len(unstable) > 8 else "")
        )
    monitor = getattr(runner, "monitor", None)
    speed = run_speed(records, getattr(monitor, "baseline_s", None), getattr(monitor, "run_reference_s", None))
    if speed is not None and (speed.slow or speed.fast):
        notes.append(f"warning: {speed.sentence()}")
    skipped = skipped_for_time(records)
    if skipped:
        notes.append(
            f"{len(skipped)} workloads were skipped for their cost: "
            + "; ".join(f"{r.name}: {r.reason}" for r in skipped[:4])
            + (" ..." if len(skipped) > 4 else "")
        )
    notes += [f"warning: {text}" for text in runner.stale.values()]
    return notes
