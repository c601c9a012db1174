"""When an A/B row is known well enough to stop measuring it: its paired comparison's precision against the gate's
threshold (flopbench.reading.intervals.Ratio.attainable: the smallest threshold it could be shown within, were it
unchanged). The gate passes only when every row does, so each row is measured until it would pass with power
1 - 0.2 / rows (rows_power): the whole suite then passes, unchanged, 80% of the time or more (at 80% a row, four rows
at that edge passed together 41% of the time). Only the precision decides, never which way the estimate leans, so
that stopping does not bias the answer (stopping on the standard error alone: Chow-Robbins).

`flopbench ab` gives each row its planned rounds, then more for the rows still short of the threshold, up to
--max-rounds each, until --max-time has passed; when the planned rounds are over, it says what the budget can attain."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from flopbench.console import info
from flopbench.reading.comparison import paired_ratio, round_pairs
from flopbench.reading.intervals import LEVEL, POWER, Ratio


def rows_power(rows: int) -> float:
    """The power each of `rows` rows must pass with for all of them to pass together with POWER (Bonferroni)."""
    return 1 - (1 - POWER) / max(rows, 1)


@dataclass
class Precision:
    """The rows' precision as their rounds come in: `more(A's rounds, B's rounds)` is the schedule's question."""

    threshold: float
    planned: int  # rounds every row gets
    rows: int  # rows in the run
    max_time_s: float
    level: float = LEVEL
    started: float = field(default_factory=time.perf_counter)
    reach: dict[int, float] = field(default_factory=dict)  # each row's attainable threshold (by its rounds' list)
    said: bool = False

    def time_left(self) -> bool:
        return time.perf_counter() - self.started < self.max_time_s

    def ratio(self, a_rounds: list[Any], b_rounds: list[Any]) -> Ratio:
        return paired_ratio(round_pairs(a_rounds), round_pairs(b_rounds))

    def more(self, a_rounds: list[Any], b_rounds: list[Any]) -> bool:
        """Whether this row needs another round: its comparison could not yet be shown within the threshold."""
        ratio = self.ratio(a_rounds, b_rounds)
        key = id(a_rounds)  # a row's list of rounds is its own for the whole run
        self.reach[key] = ratio.attainable(self.level, rows_power(self.rows + 1))  # the rows and their mean
        if len(self.reach) == self.rows and not self.said:
            self.said = True
            self.announce(len(a_rounds))
        return not self.reach[key] <= self.threshold

    def announce(self, rounds: int) -> None:
        """Once every row has its planned rounds: how many are precise enough, and what the rest need and may get."""
        open_rows = [reach for reach in self.reach.values() if not reach <= self.threshold]
        elapsed = time.perf_counter() - self.started
        if not open_rows:
            info(f"flopbench: after {rounds} rounds every row can be told within {self.threshold:.0%}")
            return
        per_round_s = elapsed / max(rounds * self.rows, 1)  # one row's round, at this run's pace
        finite = [reach for reach in open_rows if math.isfinite(reach)]
        # se shrinks as 1/sqrt(rounds): a row at `reach` after `rounds` reaches the threshold after about this many
        need = sum(
            max(1, math.ceil(rounds * (math.log1p(reach) / math.log1p(self.threshold)) ** 2) - rounds)
            for reach in finite
        )
        left_s = max(self.max_time_s - elapsed, 0.0)
        text = (
            f"flopbench: after {rounds} rounds, {self.rows - len(open_rows)} of {self.rows} rows can be told within"
            f" {self.threshold:.0%}; the other {len(open_rows)} get more rounds (about {need} in all,"
            f" ~{need * per_round_s:.0f} s at this run's pace; --max-time leaves {left_s:.0f} s)"
        )
        if finite and need * per_round_s > left_s:
            extra = left_s / per_round_s / len(open_rows)  # rounds each open row may get in the time left
            worst = math.expm1(math.log1p(max(finite)) * math.sqrt(rounds / (rounds + extra)))
            text += f": not all of them, at this pace: the least precise could be told within about {worst:.0%}"
        info(text)
