"""The schedule of a run: every workload once per round, the order rotated from round to round, more rounds for the
workloads whose answer is not yet known, and which workloads' inputs stay built between their rounds.

Rotation: round r starts r/rounds of the way into the list, so each workload sits at another place in every round and
neighbours in one round are far apart in the next; a disturbance of a few seconds then moves one round of a few
workloads, never a whole figure.

More rounds (Schedule): after the planned rounds, a workload whose figure (or paired comparison) is not yet as precise
as asked gets another round, up to a cap and while the time lasts, the open ones again in a rotated order: the run
stops measuring what it already knows (nvbench's noise target, pyperf's sample-count estimate). Whether a workload is
done is the caller's rule (`more`), asked after each of its rounds from its last planned one on; the rule must depend
on the precision alone, never on which way the answer leans, so that stopping does not bias it.

Kept inputs: a workload's inputs are built once and kept for its later rounds while all kept inputs fit in
KEEP_SHARE of the memory free when the run started; past it they are built again each round, and kept inputs give
way to a workload that would not fit beside them. On a 2-vCPU AMD EPYC VM (2026-12-02) the default suite's CPU inputs
took about 2 s a round to build (the STREAM arrays most): kept, a round costs its sampling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
KEEP_SHARE = 0.25


def rotated(items: Sequence[T], round_: int, rounds: int) -> list[T]:
    """The order of round `round_` of `rounds`."""
    items = list(items)
    if not items:
        return []
    shift = round_ * len(items) // rounds
    return items[shift:] + items[:shift]


@dataclass(frozen=True)
class Step:
    round: int
    position: int  # the workload's place in that round's order
    last: bool  # its last round: the record leaves after it


def steps(identities: Sequence[str], rounds: int) -> list[tuple[Step, int]]:
    """(step, index into `identities`) for every round, in order: each workload once per round, rotated."""
    indices = list(range(len(identities)))
    plan = [(r, position, i) for r in range(rounds) for position, i in enumerate(rotated(indices, r, rounds))]
    last = {i: (r, position) for r, position, i in plan}
    return [(Step(r, position, last[i] == (r, position)), i) for r, position, i in plan]


class Schedule:
    """Every workload once per round for `rounds` rounds, the order rotated; then, where `more` is given, further
    rounds for the workloads it still asks one for (`more(index)`, asked after each of its rounds from the last planned
    one on), up to `max_rounds` each, while `time_left()`. Iterate it for (step, index); after measuring a step, ask
    `ends(step, index)` whether that was the workload's last round (its record leaves then). A step's `last` is known
    in advance only without `more` (it tells whether to keep the workload's inputs for a later round)."""

    def __init__(
        self,
        identities: Sequence[str],
        rounds: int,
        max_rounds: int | None = None,
        more: Callable[[int], bool] | None = None,
        time_left: Callable[[], bool] = lambda: True,
    ):
        self.count, self.rounds = len(identities), rounds
        self.max_rounds = max(rounds, max_rounds or rounds) if more is not None else rounds
        self.more, self.time_left = more, time_left
        self.open: list[int] = []  # workloads that asked for another round, for the next extra round
        self.added = 0  # steps added beyond the planned rounds

    def __iter__(self) -> Iterator[tuple[Step, int]]:
        if self.more is None:
            yield from steps([str(i) for i in range(self.count)], self.rounds)
            return
        for r in range(self.rounds):
            for position, i in enumerate(rotated(range(self.count), r, self.rounds)):
                yield Step(r, position, False), i
        r = self.rounds
        while self.open and r < self.max_rounds and self.time_left():
            todo, self.open = sorted(self.open), []
            self.added += len(todo)
            for position, i in enumerate(rotated(todo, r, self.max_rounds)):
                yield Step(r, position, False), i
            r += 1

    def ends(self, step: Step, index: int) -> bool:
        """Whether `step` was the workload's last round: its planned last without `more`; else when `more` no longer
        asks for one, the cap is reached or the time is up (asked from its last planned round on)."""
        if self.more is None:
            return step.last
        if step.round < self.rounds - 1:
            return False
        if step.round + 1 >= self.max_rounds or not self.time_left() or not self.more(index):
            return True
        self.open.append(index)
        return False


class KeptInputs:
    """Built workloads (their callables) kept between rounds, within a share of the memory free at the start."""

    def __init__(self, free_bytes: Callable[[], int | None], release: Callable[[], None]):
        self._free, self._release = free_bytes, release
        self._budget: float | None = None  # bytes; set at the first question
        self._kept: dict[str, tuple[Callable[[], Any], int]] = {}  # identity -> (callable, bytes)

    def get(self, identity: str) -> Callable[[], Any] | None:
        kept = self._kept.get(identity)
        return kept[0] if kept else None

    def may_keep(self, size: int) -> bool:
        if self._budget is None:
            self._budget = KEEP_SHARE * (self._free() or 0)
        return sum(b for _, b in self._kept.values()) + size <= self._budget

    def keep(self, identity: str, fn: Callable[[], Any], size: int) -> None:
        self._kept[identity] = (fn, size)

    def drop(self, identity: str) -> None:
        """Its inputs go (its last round is over, the run was interrupted, or another workload needs the room)."""
        if self._kept.pop(identity, None) is not None:
            self._release()

    def drop_all(self) -> bool:
        """Every kept input gives way; whether there were any."""
        had = bool(self._kept)
        for identity in list(self._kept):
            self.drop(identity)
        return had
