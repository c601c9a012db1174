"""What a run ends with beside its table: the trust notes a reader of its figures must know (its footer and what it
teaches the machine's cache are its session's: flopbench.measuring.session)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flopbench.results.schema import Record


def trust_notes(records: list[Record], runner: Any) -> list[str]:
    """What a reader of the run's figures must know about the machine, in a few sentences."""
    from flopbench.measuring.session import skipped_for_time
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
