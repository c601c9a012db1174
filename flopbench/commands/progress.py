"""The progress of a run (or an A/B run) on a terminal: a live bar with the current workload and the time left."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from flopbench.console import info, quiet

if TYPE_CHECKING:
    from flopbench.measuring.session import Session
    from flopbench.workloads import Workload


class Progress:
    """A live bar with the current workload and the ETA on a terminal (predicted from each workload's roofline cost,
    corrected by how long the run has really taken); one line per record either way."""

    def __init__(self, workloads: list[Workload], session: Session):
        settings = session.settings
        self.cost = {w.identity: seconds + 0.05 for w, seconds in session.round_costs(workloads)}  # + building
        self.total_s = sum(self.cost.values()) * settings.rounds
        self.records = len(workloads)
        self.steps = len(workloads) * settings.rounds  # rounds x workloads: the work the count says is done
        self.live = sys.stderr.isatty() and not quiet()
        self.count = 0  # records done
        self.stepped = 0  # steps done (a workload's round)
        self.current: Workload | None = None

    def __enter__(self) -> Progress:
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            from flopbench.console import console

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[done]}"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console(stderr=True),
            )
            self.bar.start()
            self.task = self.bar.add_task("", total=self.total_s, done=self._done_text())
        return self

    def _done_text(self) -> str:
        return f"{self.stepped}/{self.steps}"

    def more(self, steps: int, workload: Workload) -> None:
        """The schedule added `steps` rounds (a workload short of its precision gets another round)."""
        self.steps += steps
        self.total_s += steps * self.cost.get(workload.identity, 0.0)

    def step(self, workload: Workload) -> None:
        """A step of the schedule begins: the previous one is done."""
        if self.current is not None:
            self.stepped += 1
        if self.stepped >= self.steps:  # rounds the schedule added (a figure not yet precise enough)
            self.more(1, workload)
        if self.live:
            if self.current is not None:
                self.bar.advance(self.task, self.cost[self.current.identity])
            self.bar.update(self.task, description=workload.name, done=self._done_text())
        self.current = workload

    def done(self, text: str) -> None:
        self.count += 1
        if self.live:
            self.bar.console.print(text)
        else:
            info(f"[{self.count}/{self.records}] {text.strip()}")

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.bar.stop()
