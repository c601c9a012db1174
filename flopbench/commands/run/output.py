"""Where a run's records go: the results file (its default path, or --out), or the resumed one after checking that it
is the same run; in a distributed run, rank 0 opens it and every rank learns whether it could."""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flopbench.console import info
from flopbench.errors import FlopbenchError

if TYPE_CHECKING:
    from flopbench.machine.resolve import Machine
    from flopbench.measuring.distributed import Context
    from flopbench.results.files import ResultsWriter
    from flopbench.results.schema import Record, RunSettings
    from flopbench.workloads.suite import Suite


def default_path(machine: Machine, suites: list[Suite]) -> Path:
    """results/<time>_<host>_<device>_<suites>.jsonl, every part a safe file name (flopbench.outputs.file_name_part)."""
    import socket

    from flopbench.outputs import file_name_part

    slug = re.sub(r"[^a-z0-9]+", "-", f"{machine.device.torch_device} {machine.device.name}".lower()).strip("-")
    host = file_name_part(socket.gethostname(), "the host name")
    names = "+".join(file_name_part(s.name, "the suite name") for s in suites)
    when = time.strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"{when}_{host}_{file_name_part(slug, 'the device name')}_{names}.jsonl"


@dataclass
class Output:
    """Where records go: the results file (rank 0 only in a distributed run) and what was written this run."""

    path: Path | None
    writer: ResultsWriter | None
    done: set[str]  # identities already in a resumed file
    records: list[Record]


def open_output(
    args: argparse.Namespace,
    machine: Machine,
    suites: list[Suite],
    settings: RunSettings,
    distributed: Any = None,
    quiet_check: dict[str, Any] | None = None,
) -> Output:
    """Create the results file, or reopen a resumed one after checking that it is the same run."""
    from flopbench.measuring.header import make_header, now_iso, resume_differences
    from flopbench.results.files import ResultsWriter
    from flopbench.results.schema import Resume

    header = make_header(machine, suites=suites, settings=settings, distributed=distributed, quiet_check=quiet_check)
    if args.resume:
        writer, old, repaired = ResultsWriter.resume(args.resume)
        try:
            differences = resume_differences(old.header, header)
            if differences:
                raise FlopbenchError(
                    f"--resume {args.resume}: this run is not the one in the file ("
                    + "; ".join(differences)
                    + "); resume with the same suites and options, or"
                    " start a new file with --out"
                )
            if repaired:
                info(f"flopbench: {repaired}")
            done = {r.identity for r in old.records}
            writer.mark(Resume(at=now_iso(), command=sys.argv, skipped=len(done), repaired=repaired))
        except BaseException:
            writer.close()
            raise
        return Output(args.resume, writer, done, [])
    path = args.out or default_path(machine, suites)
    if distributed is not None:
        path = args.out or path.with_name(f"{path.stem}_x{distributed.world_size}.jsonl")
    return Output(path, ResultsWriter.create(path, header), set(), [])


def open_lead_output(
    args: argparse.Namespace,
    machine: Machine,
    suites: list[Suite],
    settings: RunSettings,
    quiet_check: dict[str, Any],
    context: Context | None,
) -> Output | None:
    """Rank 0 (or the only process) opens the results file; every rank learns whether it could."""
    import socket

    from flopbench.results.schema import DistributedInfo, RankInfo

    distributed = None
    if context is not None:
        ranks = context.all_gather(
            RankInfo(rank=context.rank, host=socket.gethostname(), threads=machine.threads, device=machine.device)
        )
        distributed = DistributedInfo(world_size=context.world_size, backend=context.backend, ranks=ranks)
    output, failure = None, None
    if context is None or context.rank == 0:
        try:
            output = open_output(args, machine, suites, settings, distributed, quiet_check)
        except FlopbenchError as exc:
            failure = str(exc)
    if context is not None:  # every rank learns whether rank 0 could open the file
        failure = context.all_gather(failure)[0]
    if failure:
        raise FlopbenchError(failure)
    return output
