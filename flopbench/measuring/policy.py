"""Measuring one round on a shared machine: the timer, the probes around it, and what a disturbed window costs.

--on-busy decides (docs/methodology.md, section 3): `warn` records and flags a disturbed measurement, `wait` first
waits (bounded) for a quiet machine, `retry` measures again (bounded) and keeps the last attempt, the disturbed ones
kept beside it. The policy is an immutable value; a machine that stays busy through PERSISTENT measurements in a row
despite waiting or retrying is busy for good, and the Measurer stops paying for it (and says so once): the rest of
the run is measured once each, flagged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flopbench.measuring.probes import Observed, Probe, watching
from flopbench.measuring.timing import Measurement
from flopbench.results.schema import Attempt, Interference

MAX_RETRIES = 2  # --on-busy retry: measurements of one round at most 1 + this
WAIT_S = 10.0  # --on-busy wait: seconds to wait for a quiet machine before one measurement
QUIET_SAMPLE_S = 0.5  # how long the machine is watched to decide it is quiet
PERSISTENT = 3  # after this many measurements in a row that stayed disturbed, stop waiting or retrying


@dataclass(frozen=True)
class BusyPolicy:
    """What a disturbed measurement gets (--on-busy), and its bounds."""

    mode: str = "warn"  # warn, wait or retry
    retries: int = MAX_RETRIES
    wait_s: float = WAIT_S
    quiet_sample_s: float = QUIET_SAMPLE_S
    persistent: int = PERSISTENT


@dataclass
class Measured:
    """One round's measurement, what the probes saw around it, and what it took to get it."""

    measurement: Measurement  # a PairedMeasurement for a pair (flopbench.measuring.paired)
    observed: Observed
    attempts: list[Attempt] = field(default_factory=list)
    waited_s: float = 0.0


class Measurer:
    """Times a workload's round with its probes around it, under a busy-machine policy."""

    def __init__(
        self,
        timer: Any,
        probes: list[Probe],
        policy: BusyPolicy,
        monitor: Any = None,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.timer, self.probes, self.policy, self.monitor, self.clock = timer, probes, policy, monitor, clock
        self.notes: list[str] = []  # what was decided along the way (stopped retrying), once each
        self._stayed_busy = 0  # measurements in a row that stayed disturbed despite waiting or retrying

    @property
    def mode(self) -> str:
        """The policy in force: the given one, until the machine proved busy for good."""
        gave_up = self._stayed_busy >= self.policy.persistent
        return "warn" if gave_up or self.monitor is None else self.policy.mode

    def measure(
        self, fn: Callable[[], Any], max_call_s: float | None, *, lockstep: bool = False, timer: Any = None
    ) -> Measured:
        """One round. lockstep (a collective): every rank measures together, so none waits or retries alone."""
        timer = timer or self.timer
        if lockstep:
            return self._policed(lambda: timer.measure(fn), lockstep=True)
        return self._policed(lambda: timer.measure(fn, max_call_s=max_call_s))

    def measure_pair(self, timer: Any, sides: tuple[Any, Any], max_call_s: float | None) -> Measured:
        """One round of a pair (flopbench.measuring.paired): both sides in one window, under the policy; the
        measurement is a PairedMeasurement."""
        return self._policed(lambda: timer.measure(*sides, max_call_s))

    def _policed(self, take: Callable[[], Any], lockstep: bool = False) -> Measured:
        mode = "warn" if lockstep else self.mode
        waited = self._wait_for_quiet() if mode == "wait" else 0.0
        attempts: list[Attempt] = []
        retries = self.policy.retries if mode == "retry" else 0
        while True:
            with watching(self.probes) as observed:
                measurement = take()
            interference = observed.interference
            if interference is None or not interference.busy or len(attempts) >= retries:
                break
            attempts.append(Attempt(time_s=measurement.median_s, reasons=interference.reasons))
        if not lockstep:
            self._note_persistence(interference, mode, waited, attempts)
        return Measured(measurement, observed, attempts, waited)

    def _wait_for_quiet(self) -> float:
        """--on-busy wait: watch the machine until it is quiet, at most wait_s; seconds waited."""
        started = self.clock()
        while self.clock() - started < self.policy.wait_s:
            if not self.monitor.sample(self.policy.quiet_sample_s).busy:
                break
        return self.clock() - started

    def _note_persistence(
        self, interference: Interference | None, mode: str, waited: float, attempts: list[Attempt]
    ) -> None:
        """A machine that stays busy through waiting and retrying is busy for good: stop paying for it, and say so."""
        if interference is None or mode == "warn":
            return
        tried = waited > 0 or attempts
        self._stayed_busy = self._stayed_busy + 1 if interference.busy and tried else 0
        if self._stayed_busy == self.policy.persistent:
            what = "waiting for it" if mode == "wait" else "measuring again"
            self.notes.append(
                f"the machine stayed busy through {self.policy.persistent} measurements in a row despite {what}"
                f" ({'; '.join(interference.reasons)}): the rest is measured once each, flagged"
            )
