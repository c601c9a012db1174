"""Many devices at once, on PyTorch's distributed engine: `torchrun ... -m flopbench run SUITE --distributed`.

Every rank runs the suite on its own device at the same time: a barrier starts each workload on all ranks
together, so they load the machine (and its power, memory and interconnect) as one job would. Rank 0 gathers
every rank's record and writes them to one results file. Coordination uses a gloo group with a timeout, so a
rank that dies or hangs becomes a clear error naming it, never a silent wait.

Compute workloads are timed on each rank independently. Collectives must be called the same number of times on
every rank, so CollectiveTimer agrees on the plan first, and ranks agree on failures before entering a collective.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flopbench.errors import FlopbenchError
from flopbench.measuring.timing import Budget, Measurement

CLOSE_BARRIER_S = 10.0  # at most this long to wait for the other ranks when leaving


@dataclass
class Context:
    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    backend: str
    timeout_s: float
    control: Any  # the gloo process group for barriers and gathers
    store: Any = None  # the launcher's key-value store: where each rank marks the step it reached (None: unknown)

    @classmethod
    def init(cls, backend: str | None, timeout_s: float, device_type: str) -> Context:
        import torch.distributed as dist

        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            raise FlopbenchError(
                "--distributed needs a launcher that sets RANK and WORLD_SIZE: torchrun"
                " --nproc-per-node N -m flopbench run SUITE --distributed"
            )
        backend = backend or ("nccl" if device_type == "cuda" else "gloo")
        timeout = dt.timedelta(seconds=timeout_s)
        dist.init_process_group(backend, timeout=timeout)
        control = dist.group.WORLD if backend == "gloo" else dist.new_group(backend="gloo", timeout=timeout)
        return cls(
            dist.get_rank(),
            dist.get_world_size(),
            int(os.environ.get("LOCAL_RANK", 0)),
            int(os.environ.get("LOCAL_WORLD_SIZE", 1)),
            backend,
            timeout_s,
            control,
            _default_store(),
        )

    def reached(self, step: int) -> None:
        """Mark in the store that this rank reached `step` of the schedule (read by behind() when a rank is lost)."""
        if self.store is not None:
            self.store.set(f"flopbench/step/{self.rank}", str(step))

    def behind(self, step: int) -> str:
        """Which ranks had not reached `step` when this rank met an error there: the ones that died or hung, in words
        ('' when the store cannot tell)."""
        if self.store is None:
            return ""
        lost = []
        for rank in range(self.world_size):
            key = f"flopbench/step/{rank}"
            try:
                reached = int(self.store.get(key)) if self.store.check([key]) else -1
            except Exception:  # noqa: BLE001 - a store that cannot answer names nobody
                return ""
            if reached < step:
                lost.append(f"rank {rank} ({'never started' if reached < 0 else f'stopped at step {reached + 1}'})")
        return ", ".join(lost)

    def barrier(self) -> None:
        """All ranks here, or an error naming the ones that are not (gloo's monitored barrier)."""
        import torch.distributed as dist

        dist.monitored_barrier(group=self.control, timeout=dt.timedelta(seconds=self.timeout_s), wait_all_ranks=True)

    def all_gather(self, obj: Any) -> list[Any]:
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj, group=self.control)
        return out

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's object on rank 0 (None elsewhere)."""
        import torch.distributed as dist

        out: list[Any] | None = [None] * self.world_size if self.rank == 0 else None
        dist.gather_object(obj, out, dst=0, group=self.control)
        return out

    def agree(self, failure: str | None) -> str | None:
        """Before a collective: if any rank cannot go on, none does (the reasons of all that cannot)."""
        failures = self.all_gather(failure)
        reasons = [f"rank {rank}: {reason}" for rank, reason in enumerate(failures) if reason]
        return "; ".join(reasons) or None

    def close(self) -> None:
        """Leave the group while the interpreter is whole. Gloo's worker threads drop the last reference to a
        finished collective's tensors, which needs the GIL: alive during interpreter shutdown, they abort the
        process (SIGABRT). So: wait until every rank is here (no collective still in flight; a broken group is
        skipped after a short wait), destroy the group, and drop this context's own reference to it, so its
        threads are joined now rather than at exit."""
        import torch.distributed as dist

        if dist.is_initialized():
            try:
                timeout = dt.timedelta(seconds=min(self.timeout_s, CLOSE_BARRIER_S))
                dist.monitored_barrier(group=self.control, timeout=timeout, wait_all_ranks=True)
            except RuntimeError:
                pass  # a rank is gone: nothing is in flight with it, so leave anyway
            dist.destroy_process_group()
        self.control = None


class CollectiveTimer:
    """Lockstep timing of a collective: every rank agrees on calls per sample and samples, and each sample
    starts after a barrier; the slowest rank's estimate sets the plan."""

    name = "collective"

    def __init__(self, context: Context, budget: Budget, device_type: str):
        self.context, self.budget = context, budget
        self.sync: Callable[[], Any]
        if device_type == "cuda":
            import torch

            self.sync = torch.cuda.synchronize
        else:
            self.sync = lambda: None  # gloo's CPU collectives return when they are done

    def _block(self, fn: Callable[[], Any], calls: int) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        self.sync()
        return time.perf_counter() - start

    def measure(self, fn: Callable[[], Any]) -> Measurement:
        budget = self.budget
        self._block(fn, 3)  # warm-up: connections, buffers
        self.context.barrier()
        estimate = max(self.context.all_gather(self._block(fn, 3) / 3))
        calls = max(1, math.ceil(budget.min_time_s / 20 / estimate)) if estimate > 0 else 1
        samples = int(min(max(budget.min_samples, math.ceil(budget.min_time_s / (calls * estimate or 1))), 100))
        data = []
        for _ in range(samples):
            self.context.barrier()
            data.append(self._block(fn, calls) / calls)
        return Measurement(tuple(data), calls, self.name, time.get_clock_info("perf_counter").resolution)


def emit_to_rank0(context: Context, write: Callable[[Any], None]) -> Callable[[Any], None]:
    """A runner's on_record in a distributed run: each rank's record, labelled with its rank and host, gathered on
    rank 0, which writes all of them. Ranks follow the same schedule, so each gathers every record at the same step."""
    host = socket.gethostname()

    def emit(record: Any) -> None:
        record = record.model_copy(update={"rank": context.rank, "world_size": context.world_size, "host": host})
        for item in context.gather(record) or ():
            write(item)

    return emit


def run_ranks(
    context: Context, runner: Any, workloads: Iterable, before: Callable[[Any], None] = lambda w: None
) -> None:
    """Every workload on every rank, in the runner's schedule of rounds, each step started together (the runner's
    on_record is emit_to_rank0's)."""

    count = 0

    def step(workload: Any) -> None:
        nonlocal count
        before(workload)
        count += 1
        context.reached(count)
        context.barrier()

    try:
        runner.run(workloads, before=step)
    except RuntimeError as exc:  # a collective or barrier broke: name the ranks that did not get here
        lost = context.behind(count)
        if lost:
            raise RuntimeError(f"{lost} did not reach step {count}: {exc}") from exc
        raise


def _default_store() -> Any:
    """The store torchrun's rendezvous made (torch keeps it behind a private name: if it moves, ranks go unnamed)."""
    try:
        from torch.distributed import distributed_c10d

        return distributed_c10d._get_default_store()
    except Exception:  # noqa: BLE001 - naming a lost rank is a courtesy, never a reason to fail
        return None
