"""The CUDA path before a GPU (issue 31): a default-suite run on a fake GPU, the current device, the validation
script. Each test fails without its fix; what only a real GPU can confirm is listed in docs/gpu-validation.md."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from flopbench.machine.roofline import Roofline
from flopbench.measuring.interference import Monitor, NvmlProbe
from flopbench.measuring.runner import Runner
from flopbench.measuring.timing import MAX_CUDA_SAMPLES, Budget, CudaTimer
from flopbench.results.schema import Device, Peak
from flopbench.workloads import Workload
from flopbench.workloads.suite import load_suite
from tests.helpers import settings
from tests.test_interference import FakeCanary, FakeNvml, FakeProbe
from tests.test_timing import FakeGpu

ROOT = Path(__file__).resolve().parent.parent


class CpuBackedGpu(Device):
    """A GPU as the runner sees it, whose tensors live on the CPU (the output checks run for real)."""

    @property
    def torch_device(self) -> str:
        return "cpu"


H100 = CpuBackedGpu(
    "cuda",
    0,
    "NVIDIA H100 80GB HBM3",
    {"l2_bytes": 50 * 2**20, "memory_bytes": 80 * 2**30},
    {"float32": Peak(67e12, "spec", "sheet"), "bfloat16": Peak(989e12, "spec", "sheet")},
    Peak(3.35e12, "spec", "sheet"),
)


class TenMicrosecondKernels(CudaTimer):
    """CudaTimer on a fake GPU where every workload's kernel takes 10 us: the timer's real sampling logic."""

    def measure(self, fn, max_call_s=None):
        fn()
        return super().measure(self.ops.fn, max_call_s)


def test_a_default_suite_run_on_a_fake_gpu_is_small_and_not_busy_because_of_itself(monkeypatch):
    """On a GPU a 10 us kernel filled the budget's 10,000 samples a round, stored twice (1.4 MB a record); and NVML,
    listing flopbench's own contexts and the device's utilization over its own last kernels, called every
    measurement busy. Run's default budget, two rounds: at most MAX_CUDA_SAMPLES a round, each stored once, and no
    record busy though this process, its parent and 100% utilization are all NVML shows."""
    import torch

    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: None)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr("flopbench.measuring.runner.available_memory", lambda device: 64 * 2**30)
    monkeypatch.setattr(Workload, "build", lambda self, device, seed=0: lambda: None)  # the fake kernels run
    gpu = FakeGpu(kernel_s=10e-6, launch_s=3e-6)
    clock = FakeClock(gpu)
    timer = TenMicrosecondKernels(gpu, Budget.of(settings()), clock=clock)
    nvml = FakeNvml([os.getpid(), os.getppid()], utilization=100.0)
    monitor = Monitor(FakeProbe(), usable_cpus=2, threads=2, canary=FakeCanary([1e-3]), gpu=NvmlProbe(nvml))
    monitor.start_run()
    workloads = [w for w in load_suite("default").workloads if w.runs_on("cuda")]
    records = []
    run_settings = settings(rounds=2, min_time_s=0.2, max_time_s=1.0, cache="cold")
    runner = Runner(H100, Roofline.build(H100), run_settings, records.append, timer=timer, monitor=monitor)
    runner.run(workloads)
    measured = [r for r in records if r.status == "ok"]
    assert len(measured) >= len(workloads) - 2, [(r.name, r.reason) for r in records if r.status != "ok"]
    assert all(len(rnd.samples_s) <= MAX_CUDA_SAMPLES for r in measured for rnd in r.rounds)
    assert max(len(rnd.samples_s) for r in measured for rnd in r.rounds) >= MAX_CUDA_SAMPLES - timer.batch
    assert all(
        r.samples_s == [] and len(r.pooled_samples_s) == sum(len(x.samples_s) for x in r.rounds) for r in measured
    )
    assert not [r.name for r in measured if r.disturbed], [r.warnings for r in measured if r.disturbed][:1]
    assert nvml.asked == 0  # the device's utilization is never read with nobody else there
    assert all(r.time_s == pytest.approx(13e-6) for r in measured)  # the kernel and its launch


class FakeClock:
    """Wall time follows the fake GPU (the timer's warm-up and budget read it)."""

    def __init__(self, gpu):
        self.gpu = gpu

    def __call__(self):
        return self.gpu.now


def test_a_cuda_device_is_made_current(monkeypatch):
    """Events, graphs, streams and synchronize() without a device use the current one: cuda:0 unless set."""
    import torch

    from flopbench.machine.device import select_device

    current = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    assert select_device("cuda:1") == ("cuda", 1) and current == [1]
    assert select_device("cpu") == ("cpu", None) and current == [1]


def test_each_rank_makes_its_gpu_current_before_nccl_starts(monkeypatch):
    import argparse

    import torch

    from flopbench.commands import run as run_command
    from flopbench.measuring.distributed import Context

    events = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: events.append(("set_device", i)))

    def init(backend, timeout, kind):
        events.append(("init", kind))
        raise RuntimeError("stop here")

    monkeypatch.setattr(Context, "init", staticmethod(init))
    monkeypatch.setenv("LOCAL_RANK", "1")
    args = argparse.Namespace(device="cuda", resume=None, backend=None, dist_timeout=60, threads=None)
    with pytest.raises(RuntimeError, match="stop here"):
        run_command.run_distributed(args, [], [], settings())
    assert events == [("set_device", 1), ("init", "cuda")] and args.device == "cuda:1"


def test_a_gpu_roofline_uses_the_gpus_l2_and_cold_records_meet_hbm():
    """The CPU's last-level cache never enters a GPU run: the GPU's L2 is its cache, and cold (a GPU's default), every
    working set is placed against the memory's roof."""
    from flopbench.machine.roofline import MEMORY
    from flopbench.measuring import records
    from flopbench.workloads import make_workload

    roofline = Roofline.build(H100)
    assert [(level.name, level.capacity_bytes) for level in roofline.levels] == [("L2", 50 * 2**20), (MEMORY, None)]
    w = make_workload("elementwise", dict(kind="add", numel=1 << 20))  # 12 MiB: inside the L2
    derived = records.derive(w.counts, "float32", 10e-6, roofline, op=w.spec, working_set=w.counts.bytes, cache="cold")
    assert derived.parts[0].level == "DRAM"


def _site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


def test_the_validation_script_finds_flopbench_from_a_clean_environment(tmp_path):
    """Run as `python benchmarks/gpu_validation.py` where flopbench is not installed (no .pth processed: python -S,
    torch's site-packages added by hand), from another directory: it must put the repository root on sys.path."""
    code = (
        (
            "import sys, runpy; sys.path.append(SITE); "
            "sys.argv = ['gpu_validation.py', '--dry-run', '--steps', 'nothing']; "
            "runpy.run_path(SCRIPT, run_name='__main__')"
        )
        .replace("SITE", repr(_site_packages()))
        .replace("SCRIPT", repr(str(ROOT / "benchmarks" / "gpu_validation.py")))
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert "No module named 'flopbench'" not in done.stderr, done.stderr
    assert done.returncode == 2 and "--steps nothing: no such step" in done.stdout, done.stdout + done.stderr


def test_the_validation_script_runs_its_steps_with_timeouts_and_packs_everything(tmp_path):
    """A step that hangs is killed at its timeout and the rest still runs; the outputs are packed even then."""
    import tarfile

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_validation
    finally:
        sys.path.pop(0)
    out = tmp_path / "gpu_validation"
    (out / "steps").mkdir(parents=True)
    status, seconds = gpu_validation.run_step(
        [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"],
        out / "steps" / "1-hang.log",
        1.0,
        dict(os.environ),
    )
    assert status == "timed out after 1 s" and seconds < 10
    log = (out / "steps" / "1-hang.log").read_text()
    assert "started" in log and "killed" in log
    outcome = gpu_validation.Outcome("hang", status, seconds, out / "steps" / "1-hang.log")
    (out / "summary.md").write_text(gpu_validation.summary(out, [outcome], True, seconds))
    archive = gpu_validation.pack(out)
    with tarfile.open(archive) as tar:
        assert {"gpu_validation/summary.md", "gpu_validation/steps/1-hang.log"} <= set(tar.getnames())


def test_the_validation_dry_run_goes_as_far_as_the_cuda_calls(tmp_path):
    """--dry-run: the GEMM comparison step on the CPU, small, through the same child-process, log and packing path."""
    out = tmp_path / "v"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_validation.py"), str(out), "--dry-run", "--steps", "gemm"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "v.tar.gz").exists() and (tmp_path / "v-summary.md").exists()
    summary = (tmp_path / "v-summary.md").read_text()
    assert "| gemm | ok |" in summary and "do_bench needs a GPU" in summary


def test_auto_says_loudly_when_a_gpu_machine_gets_the_cpu(monkeypatch):
    """A CUDA wheel newer than the driver sees no GPU; `--device auto` then measures the CPU, and must say so."""
    import torch

    from flopbench.machine.device import unseen_gpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    text = unseen_gpu(which=lambda name: "/usr/bin/nvidia-smi", exists=lambda path: False)
    assert text and "nvidia-smi is here" in text and "built for CUDA 13.0" in text and "measuring the CPU" in text
    assert unseen_gpu(which=lambda name: None, exists=lambda path: False) is None  # no GPU in sight: nothing to say
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert unseen_gpu(which=lambda name: "/usr/bin/nvidia-smi", exists=lambda path: True) is None
