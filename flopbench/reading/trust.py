"""How far a whole run's figures can be trusted, counted once from its records for the report, compare and the view:
the rules behind each count are flopbench.results.trust's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flopbench.results.schema import Interference, Record
from flopbench.results.trust import RunSpeed, run_speed


@dataclass(frozen=True)
class RunTrust:
    """How far a whole run's figures can be trusted, from its typed records (and its header's quiet check and its
    footers, when read back): counted once, here, for the run's end, its footer, the report and compare."""

    records: int
    measured: int
    disturbed: int
    unstable: int
    speed: RunSpeed | None = None
    at_start: Interference | None = None
    quiet_check: dict[str, Any] = field(default_factory=dict)
    stale: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, records: Sequence[Record], quiet_check: dict[str, Any] | None = None, stale: Sequence[str] = ()
    ) -> RunTrust:
        quiet = dict(quiet_check or {})
        ok = [r for r in records if r.status == "ok"]
        at_start = quiet.get("interference")
        return cls(
            records=len(records),
            measured=len(ok),
            disturbed=sum(r.disturbed for r in ok),
            unstable=sum(r.stable is False for r in ok),
            speed=run_speed(records, quiet.get("canary_baseline_s"), quiet.get("canary_run_reference_s")),
            at_start=Interference.model_validate(at_start) if isinstance(at_start, dict) else at_start,
            quiet_check=quiet,
            stale=tuple(stale),
        )
