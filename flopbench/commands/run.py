"""flopbench run: time suites on a device and write one results file (JSON Lines) for the run."""

from __future__ import annotations

import argparse
import re
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from flopbench.commands.common import Machine, add_device_arguments, resolve_machine
from flopbench.errors import FlopbenchError, did_you_mean
from flopbench.timing import Budget
from flopbench.workloads import DTYPES, Workload

NAME = "run"
HELP = "time suites on a device: achieved FLOP/s, utilization, roofline placement"
DESCRIPTION = ("Build, check and time every workload of the suites on one device, and write a results file (JSON Lines,"
               " one record per workload, flushed as it is measured). Ctrl-C stops cleanly; --resume FILE continues.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suites", nargs="+", metavar="SUITE", help="suite files or shipped suite names")
    add_device_arguments(parser)
    parser.add_argument("--dtype", help="run every workload in these dtypes instead, e.g. float32,bfloat16")
    parser.add_argument("--only", metavar="REGEX", help="run only the workloads whose name matches")
    parser.add_argument("--out", type=Path, help="results file (default: results/<time>_<host>_<device>_<suites>.jsonl)")
    parser.add_argument("--resume", type=Path, metavar="FILE",
                        help="append to FILE, skipping the workloads it already holds")
    parser.add_argument("--min-time", type=float, metavar="S", help="seconds of timed samples per workload"
                                                                     " (default 0.2; 0.05 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a short timing budget per workload")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 for float32 matmuls and convolutions on CUDA"
                                                            " (judged against the TF32 peak)")
    parser.add_argument("--cuda-graph", action="store_true", help="time CUDA workloads as graph replays (no launch"
                                                                  " overhead; for tiny kernels)")
    parser.add_argument("--no-measure", action="store_true",
                        help="do not measure ceilings even when no bandwidth is known (no roofline then)")
    parser.add_argument("--train", action="store_true",
                        help="time model workloads as training steps (forward and backward): training FLOP/s and MFU")
    parser.add_argument("--large", action="store_true", help="also run the suite entries marked large = true")
    parser.add_argument("--report", action="store_true",
                        help="when the run ends, write its figures and report beside the results file")
    distributed = parser.add_argument_group("many devices (launch with torchrun)")
    distributed.add_argument("--distributed", action="store_true",
                             help="every rank runs the suites on its own device at once; rank 0 writes all records")
    distributed.add_argument("--backend", choices=["gloo", "nccl"],
                             help="torch.distributed backend (default: nccl on CUDA, gloo on CPUs)")
    distributed.add_argument("--dist-timeout", type=float, default=300.0, metavar="S",
                             help="seconds to wait for the other ranks before giving up with an error (default 300)")


# --- choosing what to run --------------------------------------------------------------------------

def select(args: argparse.Namespace) -> tuple[list[Workload], list[Any]]:
    from flopbench.suite import load_suite

    suites = [load_suite(s) for s in args.suites]
    workloads = [w for suite in suites for w in suite.workloads if args.large or not w.large]
    if args.train:
        workloads = [_training(w) for w in workloads]
    if args.dtype:
        dtypes = [d.strip() for d in args.dtype.split(",")]
        for d in dtypes:
            if d not in DTYPES:
                raise FlopbenchError(f"--dtype {args.dtype}: unknown dtype '{d}'{did_you_mean(d, DTYPES)};"
                                     f" expected a comma-separated list of {', '.join(DTYPES)}")
        workloads = [replace(w, dtype=d, name=f"{_strip_dtype(w.name)}-{d}") for w in workloads for d in dtypes]
    if args.only:
        try:
            pattern = re.compile(args.only)
        except re.error as exc:
            raise FlopbenchError(f"--only {args.only!r}: not a regular expression ({exc})") from None
        workloads = [w for w in workloads if pattern.search(w.name)]
    unique: dict[str, Workload] = {}
    for w in workloads:
        unique.setdefault(w.identity, w)
    if not unique:
        raise FlopbenchError(f"no workload of {', '.join(args.suites)} matches --only {args.only!r}")
    return list(unique.values()), suites


def _training(workload: Workload) -> Workload:
    """A model workload as a training step; other workloads are left as they are."""
    from flopbench.workloads import make_workload
    if workload.op != "model" or workload.p["train"]:
        return workload
    trained = make_workload("model", {**workload.params_json, "train": True}, dtype=workload.dtype,
                            name=f"{workload.name}-train")
    return replace(trained, group=workload.group, swept=workload.swept, devices=workload.devices)


def _strip_dtype(name: str) -> str:
    for d in DTYPES:
        if name.endswith(f"-{d}"):
            return name[: -len(d) - 1]
    return name


def default_path(machine: Machine, suites) -> Path:
    import socket
    slug = re.sub(r"[^a-z0-9]+", "-", f"{machine.device.torch_device} {machine.device.name}".lower()).strip("-")
    names = "+".join(s.name for s in suites)
    return Path("results") / f"{time.strftime('%Y%m%d-%H%M%S')}_{socket.gethostname()}_{slug}_{names}.jsonl"


def header(args: argparse.Namespace, machine: Machine, suites, budget: Budget) -> dict[str, Any]:
    from flopbench.environment import environment
    return {
        "run_id": uuid.uuid4().hex[:12], "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **environment(),
        "threads": machine.threads, "device": machine.device.to_json(),
        "ceilings": {k: vars(v) for k, v in machine.ceilings.items()},
        "ceilings_measured_at": machine.ceilings_measured_at,
        "command": sys.argv,
        "suites": [{"name": s.name, "path": str(s.path), "sha256": s.sha256, "description": s.description}
                   for s in suites],
        "settings": {"min_time_s": budget.min_time_s, "max_time_s": budget.max_time_s, "tf32": args.tf32,
                     "cuda_graph": args.cuda_graph, "dtype": args.dtype, "only": args.only},
    }


def budget_for(args: argparse.Namespace) -> Budget:
    if args.min_time is not None and not args.min_time > 0:
        raise FlopbenchError(f"--min-time {args.min_time}: expected a positive number of seconds")
    min_time = args.min_time or (0.05 if args.quick else 0.2)
    return Budget(min_time_s=min_time, max_time_s=10 * min_time, warmup_s=min(0.025, min_time / 4),
                  target_rel_iqr=0.10 if args.quick else 0.05)


def open_resume(path: Path, machine: Machine) -> set[str]:
    """Identities already measured in `path`, after checking it was measured on this device."""
    from flopbench.results import read_results
    old, records, _ = read_results(path)
    was, now = old.get("device", {}), machine.device
    if (was.get("type"), was.get("name")) != (now.type, now.name):
        raise FlopbenchError(f"--resume {path}: it was measured on {was.get('type')} ({was.get('name')}), this run"
                             f" is on {now.label}; resume on the same device or start a new file")
    return {r["identity"] for r in records}


# --- reporting as it goes, and at the end ----------------------------------------------------------

def line(record: dict[str, Any]) -> str:
    from flopbench.units import seconds, si
    name = record["name"] + (f" @ rank {record['rank']}" if record.get("world_size", 1) > 1 else "")
    if record["status"] != "ok":
        return f"{record['status']:>7}  {name}: {record['reason']}"
    if record.get("family") == "comm":
        return (f"     ok  {name}: {seconds(record['time_s'])}, {si(record['message_bytes'], 'B')}, algorithm"
                f" {si(record['algbw_bytes_per_s'], 'B/s')}, bus {si(record['busbw_bytes_per_s'], 'B/s')}")
    peak = f"{record['utilization']:6.1%} of {record['peak_source']} peak" if record["utilization"] is not None else ""
    bound = f"{record['bound']}-bound" if record["bound"] else ""
    flag = f"  ({len(record['warnings'])} warning{'s' * (len(record['warnings']) > 1)})" if record["warnings"] else ""
    return (f"     ok  {name}: {seconds(record['time_s'])}, {si(record['flops_per_s'], 'FLOP/s')},"
            f" {si(record['bytes_per_s'], 'B/s')}, {peak} {bound}{flag}")


def summary(records: list[dict[str, Any]], machine: Machine, path: Path) -> None:
    from flopbench.console import console, print_table
    from flopbench.units import seconds, si

    def pct(value):
        return f"{value:.1%}" if value is not None else "-"

    rows = []
    for r in records:
        name = r["name"] + (f" @{r['rank']}" if r.get("world_size", 1) > 1 else "")
        if r["status"] == "ok" and r.get("family") == "comm":
            rows.append([name, r["dtype"], seconds(r["time_s"]), f"{r['time_iqr_s'] / r['time_s']:.0%}", "-",
                         si(r["algbw_bytes_per_s"], "B/s"), "-", "-", "-",
                         f"bus {si(r['busbw_bytes_per_s'], 'B/s')}; " + "; ".join(r["warnings"])[:70]])
        elif r["status"] == "ok":
            rows.append([name, r["dtype"], seconds(r["time_s"]), f"{r['time_iqr_s'] / r['time_s']:.0%}",
                         si(r["flops_per_s"], "FLOP/s"), si(r["bytes_per_s"], "B/s"),
                         pct(r["utilization"]), pct(r["roofline_efficiency"]), r["bound"] or "-",
                         "; ".join(r["warnings"])[:90]])
        else:
            rows.append([name, r["dtype"], "-", "-", "-", "-", "-", "-", "-", f"{r['status']}: {r['reason']}"[:90]])
    device = machine.device
    used = sorted({r["peak_key"] for r in records if r.get("peak_key")})
    peaks = ", ".join(f"{k} {device.peak(k).describe()}" for k in used)
    bandwidth = device.bandwidth if device.bandwidth.known else machine.ceilings.get("bandwidth")
    caption = (f"time: median of the samples; IQR/median beside it. Peaks: {peaks or 'none'}. Bandwidth roof:"
               f" {bandwidth.describe('B/s') if bandwidth else 'unknown'}.")
    print_table(f"{device.label}, {machine.threads} threads", ["workload", "dtype", "time", "IQR", "achieved",
                "bandwidth", "% peak", "% roofline", "bound", "notes"], rows,
                numeric=["time", "IQR", "achieved", "bandwidth", "% peak", "% roofline"], caption=caption)
    counts = {s: sum(r["status"] == s for r in records) for s in ("ok", "skipped", "failed")}
    console().print(f"{counts['ok']} measured, {counts['skipped']} skipped, {counts['failed']} failed."
                    f" Results: {path}")


def main(args: argparse.Namespace) -> int:
    from flopbench.results import ResultsWriter
    from flopbench.runner import Runner, Settings

    workloads, suites = select(args)
    budget = budget_for(args)
    if args.distributed:
        return main_distributed(args, workloads, suites, budget)
    if args.resume and args.out:
        raise FlopbenchError("--resume FILE appends to FILE; give --resume or --out, not both")
    if args.resume and not args.resume.is_file():
        raise FlopbenchError(f"--resume {args.resume}: no such file")
    machine = resolve_machine(args, measure_if_needed=not args.no_measure)
    here = [w for w in workloads if w.runs_on(machine.device.type)]
    elsewhere = len(workloads) - len(here)
    if args.resume:
        done = open_resume(args.resume, machine)
        path = args.resume
        todo = [w for w in here if w.identity not in done]
        writer = ResultsWriter(path)
        writer.mark("resume", at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), command=sys.argv, skipped=len(here) - len(todo))
    else:
        path = args.out or default_path(machine, suites)
        if path.exists():
            raise FlopbenchError(f"{path} exists; choose another --out, or --resume {path} to add to it")
        todo = here
        writer = ResultsWriter(path, header(args, machine, suites, budget))
    err = sys.stderr
    print(f"flopbench: {len(todo)} workloads on {machine.device.label}, {machine.threads} threads -> {path}"
          + (f" ({elsewhere} are for other devices)" if elsewhere else ""), file=err)

    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    interrupted = False
    settings = Settings(machine.device, machine.threads, budget, tf32=args.tf32, cuda_graph=args.cuda_graph,
                        ceilings=machine.ceilings)
    with _Progress(len(todo)) as progress:
        def on_record(record):
            writer.record(record)
            records.append(record)
            progress.done(line(record))
        try:
            Runner(settings, on_record).run(todo, before=progress.start)
        except KeyboardInterrupt:
            interrupted = True
    writer.mark("footer", finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), wall_s=time.perf_counter() - started,
                records=len(records), interrupted=interrupted)
    writer.close()
    if records:
        summary(records, machine, path)
    if args.report and records:
        from flopbench.commands.plot import default_out
        from flopbench.report import write_report
        md, page = write_report([path], default_out([path]))
        print(f"Report: {page} (and {md}, figures beside it)")
    if interrupted:
        print(f"flopbench: interrupted after {len(records)} of {len(todo)} workloads; what was measured is in {path};"
              f" continue with --resume {path}", file=err)
        return 130
    return 0


def main_distributed(args: argparse.Namespace, workloads: list[Workload], suites, budget: Budget) -> int:
    """One rank of `torchrun ... flopbench run --distributed`: its own device, in step with the others."""
    import socket

    import torch

    from flopbench.commands.common import default_threads
    from flopbench.distributed import CollectiveTimer, Context, run_ranks
    from flopbench.results import ResultsWriter
    from flopbench.runner import Runner, Settings

    if args.resume:
        raise FlopbenchError("--resume does not combine with --distributed; start a new distributed run")
    kind = "cuda" if args.device.startswith("cuda") or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    context = Context.init(args.backend, args.dist_timeout, kind)
    path = None
    try:
        if args.device in ("auto", "cuda"):  # one GPU per rank on each node, by local rank
            args.device = f"cuda:{context.local_rank}" if kind == "cuda" else "cpu"
        args.threads = args.threads or max(1, default_threads() // context.local_world_size)
        # Ranks with no bandwidth known measure their ceilings, all at once: as loaded as they will run.
        machine = resolve_machine(args, measure_if_needed=not args.no_measure)
        ranks = context.all_gather({"rank": context.rank, "host": socket.gethostname(), "threads": machine.threads,
                                    "device": machine.device.to_json()})
        if context.rank == 0:
            default = default_path(machine, suites)
            path = args.out or default.with_name(f"{default.stem}_x{context.world_size}.jsonl")
        taken = context.all_gather(bool(path and path.exists()))[0]
        if taken:
            raise FlopbenchError(f"{args.out} exists; choose another --out")
        here = [w for w in workloads if w.runs_on(machine.device.type)]
        settings = Settings(machine.device, machine.threads, budget, tf32=args.tf32, cuda_graph=args.cuda_graph,
                            ceilings=machine.ceilings, world_size=context.world_size)
        runner = Runner(settings, on_record=lambda record: None, agree=context.agree,
                        collective_timer=CollectiveTimer(context, budget, machine.device.type))
        records: list[dict[str, Any]] = []
        writer = None
        if context.rank == 0:
            head = header(args, machine, suites, budget)
            head["distributed"] = {"world_size": context.world_size, "backend": context.backend, "ranks": ranks}
            writer = ResultsWriter(path, head)
            print(f"flopbench: {len(here)} workloads on {context.world_size} ranks ({context.backend}) -> {path}",
                  file=sys.stderr)

        def write(record):
            writer.record(record)
            records.append(record)
            print(line(record), file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            run_ranks(context, runner, here, write)
        except RuntimeError as exc:  # a rank died or stopped answering: the others give up, with a reason
            reason = str(exc).strip().splitlines()[0][:300]
            raise FlopbenchError(f"the distributed run stopped on rank {context.rank}: {reason}"
                                 + (f"; what was measured is in {path}" if path else "")) from None
        finally:
            if writer is not None:
                writer.mark("footer", finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                            wall_s=time.perf_counter() - started, records=len(records))
                writer.close()
        if context.rank == 0 and records:
            summary(records, machine, path)
            if args.report:
                from flopbench.commands.plot import default_out
                from flopbench.report import write_report
                md, page = write_report([path], default_out([path]))
                print(f"Report: {page} (and {md}, figures beside it)")
        return 0
    finally:
        context.close()


class _Progress:
    """A live bar with the current workload and ETA on a terminal; one line per workload either way."""

    def __init__(self, total: int):
        self.total = total
        self.live = sys.stderr.isatty()
        self.count = 0

    def __enter__(self):
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            from flopbench.console import console
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("ETA"), TimeRemainingColumn(), console=console(stderr=True))
            self.bar.start()
            self.task = self.bar.add_task("", total=self.total)
        return self

    def start(self, workload: Workload) -> None:
        if self.live:
            self.bar.update(self.task, description=workload.name)

    def done(self, text: str) -> None:
        self.count += 1
        if self.live:
            self.bar.console.print(text)
            self.bar.advance(self.task)
        else:
            print(f"[{self.count}/{self.total}] {text.strip()}", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self.live:
            self.bar.stop()
        return False
