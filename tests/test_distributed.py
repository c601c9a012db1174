"""Many devices: real multi-process runs on the gloo backend (torchrun, and torch.multiprocessing for failures),
collective bandwidth against hand computation, and comparing runs with different device counts."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest
import torch.multiprocessing as mp

from flopbench.machine.roofline import Roofline
from flopbench.measuring import records
from flopbench.reading.analysis import collectives, rank_spread
from flopbench.reading.comparison import compare
from flopbench.reading.view import load_view, load_views
from flopbench.results.files import read_run
from flopbench.workloads import make_workload
from tests.fakes import fake_device, write_run

SUITE = """
[[workload]]
op = "matmul"
name = "mm"
m = 64
n = 64
k = 64
[[workload]]
op = "all_reduce"
[workload.sweep]
numel = [1024, 65536]
[[workload]]
op = "all_gather"
numel = 4096
[[workload]]
op = "reduce_scatter"
numel = 4096
[[workload]]
op = "broadcast"
numel = 4096
"""


def test_torchrun_two_ranks_gathers_every_record(tmp_path):
    suite = tmp_path / "dist.toml"
    suite.write_text(textwrap.dedent(SUITE))
    out = tmp_path / "run.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "flopbench",
            "run",
            str(suite),
            "--distributed",
            "--min-time",
            "0.02",
            "--rounds",
            "1",
            "--bandwidth",
            "2e10",
            "--dist-timeout",
            "60",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "FLOPBENCH_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run = read_run(out)
    assert run.header.distributed.world_size == 2 and run.header.distributed.backend == "gloo"
    assert [r.rank for r in run.header.distributed.ranks] == [0, 1]
    records = run.records
    assert len(records) == 2 * 6
    by_workload = {}
    for r in records:
        by_workload.setdefault(r.name, []).append(r)
    for name, pair in by_workload.items():
        assert sorted(r.rank for r in pair) == [0, 1], name
        assert all(r.world_size == 2 and r.host == socket.gethostname() and r.status == "ok" for r in pair)
    factors = {"all_reduce": 2 * (2 - 1) / 2, "all_gather": 1 / 2, "reduce_scatter": 1 / 2, "broadcast": 1.0}
    for r in records:
        if r.family != "comm":
            continue
        assert r.message_bytes == r.params["numel"] * 4
        assert r.algbw_bytes_per_s == pytest.approx(r.message_bytes / r.time_s)
        assert r.busbw_bytes_per_s == pytest.approx(r.algbw_bytes_per_s * factors[r.op])
        assert r.check_error <= r.check_tolerance  # every rank's result checked against all ranks' data
    view = load_view(out)
    assert set(view.frame["rank"]) == {0, 1}
    assert len(rank_spread(view)) == 1 and len(collectives(view)) == 5
    report = subprocess.run(
        [sys.executable, "-m", "flopbench", "report", str(out)], capture_output=True, text=True, cwd=tmp_path
    )
    assert report.returncode == 0, report.stderr
    md = (tmp_path / "results" / "run" / "report.md").read_text()  # results/<its name>, wherever the file is
    assert "## 2 devices (gloo)" in md and "### Spread across devices" in md and "### Collectives" in md
    figures = tmp_path / "results" / "run"
    assert (figures / "spread.png").exists() and (figures / "collectives.png").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank, world, port, out, scenario):
    """One rank of a failure scenario; rank 0 writes what it gathered (or the error it met) to `out`."""
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    from flopbench.machine.device import describe
    from flopbench.machine.roofline import Roofline
    from flopbench.measuring.distributed import CollectiveTimer, Context, emit_to_rank0, run_ranks
    from flopbench.measuring.runner import Runner
    from flopbench.measuring.timing import Budget
    from flopbench.results.schema import RunSettings
    from flopbench.workloads import OPS

    context = Context.init("gloo", 8.0, "cpu")
    if rank == 1 and scenario == "compute fails":
        OPS["matmul"].forward = lambda p, t: (_ for _ in ()).throw(RuntimeError("simulated device fault"))
    if rank == 1 and scenario == "collective fails":
        OPS["all_reduce"].inputs = lambda *a: (_ for _ in ()).throw(MemoryError("simulated out of memory"))
    if rank == 1 and scenario == "rank dies":
        os._exit(3)
    settings = RunSettings(min_time_s=0.01, max_time_s=0.1)
    cpu = describe("cpu", 1)
    records = []
    runner = Runner(
        cpu,
        Roofline.build(cpu),
        settings,
        emit_to_rank0(context, lambda record: records.append(record.model_dump(mode="json"))),
        world_size=world,
        agree=context.agree,
        collective_timer=CollectiveTimer(context, Budget.of(settings), "cpu"),
    )
    workloads = [
        make_workload("matmul", {"m": 32, "n": 32, "k": 32}),
        make_workload("all_reduce", {"numel": 256}),
        make_workload("softmax", {"rows": 4, "cols": 32}),
    ]
    error = None
    started = time.time()
    try:
        run_ranks(context, runner, workloads)
    except RuntimeError as exc:
        error = str(exc)
    if rank == 0:
        with open(out, "w") as f:
            json.dump({"records": records, "error": error, "elapsed": time.time() - started}, f, default=str)
    if error is None:
        context.close()
    else:
        os._exit(0)  # the group is broken: leave without its teardown


def _run_scenario(tmp_path, scenario, world=2):
    out = tmp_path / "rank0.json"
    port = _free_port()
    ctx = mp.get_context("spawn")
    processes = [ctx.Process(target=_rank, args=(r, world, port, str(out), scenario)) for r in range(world)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
        assert not p.is_alive(), "a rank hung"
    return json.loads(out.read_text()), [p.exitcode for p in processes]


def test_a_rank_that_fails_a_workload_is_recorded_and_the_others_go_on(tmp_path):
    result, codes = _run_scenario(tmp_path, "compute fails")
    assert result["error"] is None and codes == [0, 0]
    records = {(r["name"], r["rank"]): r for r in result["records"]}
    failed = records[("matmul-m32-n32-k32", 1)]
    assert failed["status"] == "failed" and "simulated device fault" in failed["reason"]
    assert records[("matmul-m32-n32-k32", 0)]["status"] == "ok"  # rank 0's own run of it is unaffected
    assert records[("all_reduce-n256", 0)]["status"] == records[("all_reduce-n256", 1)]["status"] == "ok"
    assert len(result["records"]) == 6


def test_a_collective_one_rank_cannot_run_fails_on_every_rank_without_a_hang(tmp_path):
    result, codes = _run_scenario(tmp_path, "collective fails")
    assert result["error"] is None and codes == [0, 0]
    reduce = [r for r in result["records"] if r["op"] == "all_reduce"]
    assert [r["status"] for r in reduce] == ["failed", "failed"]
    assert all("rank 1:" in r["reason"] and "simulated out of memory" in r["reason"] for r in reduce)
    assert all(r["status"] == "ok" for r in result["records"] if r["op"] == "softmax")  # and the run went on


def test_a_rank_that_dies_stops_the_others_with_an_error_naming_it(tmp_path):
    result, codes = _run_scenario(tmp_path, "rank dies")
    assert codes[1] == 3
    assert result["error"] is not None and result["error"].startswith("rank 1 (never started) did not reach step 1: ")
    assert result["elapsed"] < 8.0 + 20  # the timeout, not forever
    assert result["records"] == []


def test_collective_rates_by_hand():
    roofline = Roofline.build(fake_device())
    for op, factor in [("all_reduce", 2 * 3 / 4), ("all_gather", 3 / 4), ("reduce_scatter", 3 / 4), ("broadcast", 1.0)]:
        w = make_workload(op, {"numel": 1 << 20}, dtype="bfloat16")
        derived = records.derive(w.counts, w.dtype, 1e-3, roofline, op=w.spec, world_size=4)
        rates = {k: v for part in derived.parts for k, v in part.model_dump().items()}
        assert rates.get("bound") is None and rates.get("roofline_flops_per_s") is None  # not on a roofline
        assert rates["message_bytes"] == 2 * (1 << 20)
        assert rates["algbw_bytes_per_s"] == pytest.approx(2 * (1 << 20) / 1e-3)
        assert rates["busbw_bytes_per_s"] == pytest.approx(rates["algbw_bytes_per_s"] * factor)


def _two_rank_run(path, device, slow_rank_factor=1.0):
    """A fake two-rank run: rank 1 takes slow_rank_factor times rank 0's time."""
    lines = write_run(path.with_suffix(".one.jsonl"), device).read_text().splitlines()
    header = json.loads(lines[0])
    header["distributed"] = {
        "world_size": 2,
        "backend": "gloo",
        "ranks": [{"rank": r, "host": "h0", "threads": 1, "device": header["device"]} for r in (0, 1)],
    }
    out = [json.dumps(header)]
    for line in lines[1:]:
        record = json.loads(line)
        if record["type"] != "record":
            continue
        for rank in (0, 1):
            scaled = dict(record, rank=rank, world_size=2, host="h0")
            if rank == 1:
                scaled["time_s"] = record["time_s"] * slow_rank_factor
                scaled["samples_s"] = [x * slow_rank_factor for x in record["samples_s"]]
                for rate in ("total_flops_per_s", "core_flops_per_s"):
                    scaled[rate] = record[rate] / slow_rank_factor
            out.append(json.dumps(scaled))
    path.write_text("\n".join(out) + "\n")
    return path


def test_spread_names_the_slowest_rank(tmp_path):
    view = load_view(_two_rank_run(tmp_path / "two.jsonl", fake_device(), slow_rank_factor=1.25))
    spread = rank_spread(view)
    assert (spread["slowest_rank"] == 1).all()
    assert spread["spread"].tolist() == pytest.approx([1.25] * len(spread))
    assert len(view.workloads) == len(view.frame) / 2


def test_compare_runs_with_different_device_counts(tmp_path):
    single = write_run(tmp_path / "one.jsonl", fake_device())
    double = _two_rank_run(tmp_path / "two.jsonl", fake_device(), slow_rank_factor=3.0)
    result = compare(load_views([single, double]))
    assert list(result.runs["devices"]) == [1, 2]
    # Each run's ranks are folded into their median: (1x + 3x) / 2 = 2x the single run's time.
    assert result.table["speedup[B]"].tolist() == pytest.approx([0.5] * len(result.table))
    assert any("device count" in w for w in result.warnings)
    assert isinstance(result.summary, pd.DataFrame)


def test_distributed_without_a_launcher_says_how_to_launch(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    suite = tmp_path / "dist.toml"
    suite.write_text(textwrap.dedent(SUITE))
    result = subprocess.run(
        [sys.executable, "-m", "flopbench", "run", str(suite), "--distributed"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "torchrun --nproc-per-node N" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
