"""One view of a run, built once per results file: what analysis, plots, the report, compare and the predictors read.

A RunView holds the typed run (header, records, notes, footers), its records as a DataFrame (one row per record and
rank), the per-workload frame computed once (a distributed run's ranks folded into their median), the device's roofs
(flopbench.machine.roofline: the header's, or built from its device and ceilings for files before schema 4) and the
run's trust summary (flopbench.reading.trust.RunTrust). Nothing downstream recomputes any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from flopbench.fields import Peak
from flopbench.machine.roofline import MEMORY, Level, Roofline
from flopbench.reading.trust import RunTrust

if TYPE_CHECKING:
    import pandas as pd

    from flopbench.results.schema import Header, Record, Run

# Per-workload figures a distributed run's ranks are folded into (their median).
MEDIAN_OVER_RANKS = (
    "time_s",
    "time_iqr_s",
    "time_min_s",
    "time_mean_s",
    "total_flops_per_s",
    "core_flops_per_s",
    "bytes_per_s",
    "utilization",
    "roofline_efficiency",
    "dram_roofline_efficiency",
    "ceiling_utilization",
    "mfu",
    "algbw_bytes_per_s",
    "busbw_bytes_per_s",
)


@dataclass
class RunView:
    """One results file, read: see the module's doc."""

    run: Run
    frame: pd.DataFrame  # one row per record (every rank's)

    @property
    def header(self) -> Header:
        return self.run.header

    @property
    def records(self) -> list[Record]:
        return self.run.records

    @property
    def path(self) -> Path:
        return self.run.path

    @cached_property
    def workloads(self) -> pd.DataFrame:
        """One row per workload: a distributed run's ranks folded into their median; single-device runs as read."""
        return per_workload(self.frame)

    @cached_property
    def measured(self) -> pd.DataFrame:
        """The workloads that have a time and FLOPs to divide it by."""
        rows = self.workloads
        return rows[(rows["status"] == "ok") & (rows["total_flops"] > 0)] if len(rows) else rows

    @cached_property
    def placed(self) -> pd.DataFrame:
        """The measured workloads placed on the device's roofline (flopbench.workloads.placed: not the collectives)."""
        rows = self.measured
        return rows[placed_rows(rows)] if len(rows) else rows

    @cached_property
    def roofline(self) -> Roofline:
        header = self.header
        if header.roofline is not None:
            return header.roofline
        if header.device is None:  # a pytest-benchmark file without flopbench's header: no roofs known
            return Roofline({}, (Level(MEMORY, None, Peak(None, "unknown", "the file names no device")),))
        return Roofline.build(header.device, header.ceilings, threads=header.threads)

    @cached_property
    def trust(self) -> RunTrust:
        stale = self.run.footers[-1].stale_ceilings if self.run.footers else []
        return RunTrust.of(self.records, self.header.quiet_check, stale)

    @property
    def distributed(self) -> bool:
        frame = self.frame
        return "world_size" in frame and bool((frame["world_size"].fillna(1) > 1).any())

    @property
    def label(self) -> str:
        """The device, and the threads on a CPU: what a figure's title and a predictor's table name."""
        from flopbench.units import count

        header = self.header
        label = header.device_label or "?"
        if header.device is not None and header.device.type == "cpu" and header.threads:
            label += f", {count(header.threads, 'thread')}"
        return label

    def record(self, identity: str) -> Record | None:
        """The first record of a workload (rank 0's in a distributed run)."""
        return next((r for r in self.records if r.identity == identity), None)


def placed_rows(frame: pd.DataFrame) -> pd.Series:
    """Which rows of a frame are records of ops placed on the roofline (the op's own rule)."""
    from flopbench.workloads import placed

    return frame["op"].map(placed).astype(bool)


def collective_rows(frame: pd.DataFrame) -> pd.Series:
    """Which rows of a frame are records of collectives."""
    from flopbench.workloads import collective

    return frame["op"].map(collective).astype(bool)


def per_workload(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per workload and run: a distributed run's ranks folded into their median (times, rates,
    utilizations); single-device runs as they are."""
    import pandas as pd

    if "world_size" not in frame or not bool((frame["world_size"].fillna(1) > 1).any()):
        return frame
    ok = frame[frame["status"] == "ok"]
    rest = frame[frame["status"] != "ok"].drop_duplicates(["run_id", "identity"])
    grouped = ok.groupby(["run_id", "identity"], sort=False)
    folded = grouped.head(1).set_index(["run_id", "identity"])
    medians = grouped[[c for c in MEDIAN_OVER_RANKS if c in ok]].median()
    folded.update(medians)
    folded["ranks"] = grouped.size()
    return pd.concat([folded.reset_index(), rest], ignore_index=True)


def view_of(run: Run) -> RunView:
    from flopbench.results.files import frame_of

    return RunView(run, frame_of([run]))


def load_views(paths: str | Path | Iterable[str | Path], on_note: Callable[[str], None] | None = None) -> list[RunView]:
    """A view of every results file (what a reader repaired or skipped goes to on_note: by default a warning)."""
    from flopbench.results.files import read_runs, warn_note

    runs = read_runs(paths)
    for run in runs:
        for note in run.notes:
            (on_note or warn_note)(note)
    return [view_of(run) for run in runs]


def load_view(path: str | Path, on_note: Callable[[str], None] | None = None) -> RunView:
    return load_views([path], on_note)[0]
