"""One prepared run that validates flopbench's CUDA path on a real GPU, in about 6 minutes on an H200.

Steps, each a child process with its own timeout, its output streamed to a log file as it runs:

1. environment: torch, CUDA, the driver and `nvidia-smi -q`;
2. gemm: a bfloat16 8192^3 GEMM timed three ways in one process (flopbench's CUDA timer, triton's do_bench when
   triton imports, a plain CUDA-event loop): each one's TFLOP/s and flopbench's ratio to do_bench (target >= 0.98);
3. peak: `flopbench peak --device cuda --measure --plot` (the ceilings by kernel, the memory levels, the sweep);
4. suites: the default, attention and models suites in one process, one round each, with their report;
5. impls: the implementations suite (torch.compile, the SDPA backends), one round, with its report;
6. graph: the quick suite under --cuda-graph.

NVML's clocks, temperature, power and throttle reasons are sampled every second throughout (nvml.csv). Everything
lands under OUT (the first argument, else $OUT/gpu_validation, else ./gpu_validation) and is packed, even when a
step fails or times out, into OUT.tar.gz beside a summary.md: two files to bring back. The ceilings cache lives in
OUT/cache (FLOPBENCH_CACHE_DIR), not the machine's home directory.

    python benchmarks/gpu_validation.py [OUT] [--steps gemm,peak,...] [--deadline S]
    python benchmarks/gpu_validation.py --dry-run OUT     # on a CPU: every step, on the CPU, small

--dry-run goes as far as the CUDA calls: every step runs on the CPU with small sizes and short budgets (the GEMM at
512^3, the suites limited to a few workloads), so the plan, the logs, the timeouts and the packing are exercised.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # flopbench from this checkout, installed or not

from flopbench.version import __version__  # noqa: E402


@dataclass
class Step:
    name: str
    args: list[str]  # flopbench's arguments, or this script's own (--step NAME) for an in-process step
    timeout_s: float
    own: bool = False  # a step of this script, run as a child of it
    dry_args: list[str] = field(default_factory=list)  # what replaces args in a dry run


SMALL = r"^(gemm-m256-n256-k256|attention-l128|resnet50-layer1-3x3|add|ln-chain-eager|gemm-eager|conv3x3-eager)"


def plan(out: Path) -> list[Step]:
    quick = ["--quick", "--rounds", "1", "--only", SMALL, "--time-budget", "20", "--no-measure"]
    return [
        Step("environment", ["--step", "environment"], 30, own=True),
        Step("gemm", ["--step", "gemm"], 75, own=True),
        Step(
            "peak",
            ["peak", "--device", "cuda", "--measure", "--plot", str(out / "bandwidth_sweep.png")],
            120,
            dry_args=["peak", "--device", "cpu"],
        ),
        Step(
            "suites",
            ["run", "default", "attention", "models", "--device", "cuda", "--rounds", "1", "--report"]
            + ["--time-budget", "150", "--out", str(out / "suites.jsonl")],
            200,
            dry_args=["run", "quick", "--device", "cpu", "--report", "--out", str(out / "suites.jsonl"), *quick],
        ),
        Step(
            "impls",
            ["run", "impls", "--device", "cuda", "--rounds", "1", "--report", "--time-budget", "90"]
            + ["--out", str(out / "impls.jsonl")],
            130,
            dry_args=["run", "impls", "--device", "cpu", "--out", str(out / "impls.jsonl"), "--impl", "eager", *quick],
        ),
        Step(
            "graph",
            ["run", "quick", "--device", "cuda", "--cuda-graph", "--rounds", "1", "--out", str(out / "graph.jsonl")],
            60,
            dry_args=["run", "quick", "--device", "cpu", "--out", str(out / "graph.jsonl"), *quick],
        ),
    ]


# --- the in-process steps (each in a child process of its own) -------------------------------------------------------


def environment(out: Path, dry: bool) -> None:
    import platform

    import torch

    facts = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if not dry else [],
    }
    try:
        import triton

        facts["triton"] = triton.__version__
    except Exception as exc:  # noqa: BLE001 - any failure to import triton is a fact to record
        facts["triton"] = f"unavailable: {exc}"
    print(json.dumps(facts, indent=2))
    (out / "environment.json").write_text(json.dumps(facts, indent=2) + "\n")
    try:
        smi = subprocess.run(["nvidia-smi", "-q"], capture_output=True, text=True, timeout=20)
        (out / "nvidia-smi.txt").write_text(smi.stdout + smi.stderr)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"nvidia-smi: {exc}")


def gemm(out: Path, dry: bool) -> None:
    import torch

    from flopbench.machine.device import describe
    from flopbench.measuring.runner import make_timer
    from flopbench.results.schema import RunSettings

    n, device_name = (512, "cpu") if dry else (8192, "cuda")
    dtype = torch.float32 if dry else torch.bfloat16
    device = describe(device_name)
    a = torch.randn(n, n, device=device_name, dtype=dtype)
    b = torch.randn(n, n, device=device_name, dtype=dtype)
    c = torch.empty(n, n, device=device_name, dtype=dtype)

    def fn():
        return torch.matmul(a, b, out=c)

    flops = 2 * n**3
    ours = make_timer(device, RunSettings(min_time_s=1.0, max_time_s=3.0)).measure(fn).median_s
    result: dict = {"n": n, "dtype": str(dtype), "flops": flops, "device": device.label, "flopbench_s": ours}
    result["peak"] = device.peak("float32" if dry else "bfloat16").value
    if not dry:  # a plain event loop: 50 back-to-back calls between two events, after warm-up
        for _ in range(10):
            fn()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(50):
            fn()
        end.record()
        torch.cuda.synchronize()
        result["event_loop_s"] = start.elapsed_time(end) / 1e3 / 50
    try:
        if dry:
            raise RuntimeError("dry run: do_bench needs a GPU")
        from triton.testing import do_bench

        result["do_bench_s"] = do_bench(fn, warmup=100, rep=1000) / 1e3
    except Exception as exc:  # noqa: BLE001 - triton missing, or failing on this driver: the other timers stand
        result["do_bench_s"], result["do_bench_error"] = None, f"{type(exc).__name__}: {exc}"
    for key in ("flopbench_s", "event_loop_s", "do_bench_s"):
        if result.get(key):
            result[key.replace("_s", "_tflops")] = flops / result[key] / 1e12
    if result["do_bench_s"]:
        result["flopbench_over_do_bench"] = result["do_bench_s"] / ours  # the FLOP/s ratio
    text = (
        f"{result['dtype']} {n}^3 GEMM on {result['device']}: flopbench {result.get('flopbench_tflops', 0):.1f}"
        f" TFLOP/s, event loop {result.get('event_loop_tflops', float('nan')):.1f}, do_bench"
        f" {result.get('do_bench_tflops', float('nan')):.1f}; flopbench / do_bench ="
        f" {result.get('flopbench_over_do_bench', float('nan')):.3f} (target >= 0.98)"
    )
    print(text)
    (out / "gemm_comparison.json").write_text(json.dumps(result, indent=2) + "\n")


OWN_STEPS = {"environment": environment, "gemm": gemm}


# --- running the steps -----------------------------------------------------------------------------------------------


class NvmlSampler:
    """Clocks, temperature, power and throttle reasons once a second, to a CSV (nothing where NVML is missing). NVML
    only: this process opens no CUDA context, so the steps' processes are the only ones on the GPU."""

    def __init__(self, path: Path):
        from flopbench.machine.device import Nvml

        self.nvml, self.path, self.stop = Nvml(0), path, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["t_s", "sm_clock_mhz", "max_sm_clock_mhz", "temperature_c", "power_w", "throttle"])
            start = time.time()
            while not self.stop.wait(1.0):
                s = self.nvml.snapshot()
                row = [s.get(k) for k in ("sm_clock_mhz", "max_sm_clock_mhz", "temperature_c", "power_w")]
                writer.writerow([round(time.time() - start, 1), *row, ";".join(s.get("throttle", []))])
                f.flush()

    def __enter__(self):
        if self.nvml.available:
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


@dataclass
class Outcome:
    name: str
    status: str  # ok, failed (exit N), timed out, skipped (no time left)
    seconds: float
    log: Path


def run_step(command: list[str], log: Path, timeout_s: float, env: dict[str, str]) -> tuple[str, float]:
    """Run `command`, its output streamed into `log`; kill it (and its children) past `timeout_s`."""
    started = time.monotonic()
    with log.open("w") as f:
        f.write(f"$ {' '.join(command)}\n")
        f.flush()
        process = subprocess.Popen(
            command, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True
        )
        try:
            code = process.wait(timeout=timeout_s)
            status = "ok" if code == 0 else f"failed (exit {code})"
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
            status = f"timed out after {timeout_s:.0f} s"
            f.write(f"\n[gpu_validation: {status}; killed]\n")
    return status, time.monotonic() - started


def pack(out: Path) -> Path:
    """Everything under OUT into OUT.tar.gz (the tarball beside the folder)."""
    archive = out.with_name(out.name + ".tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(out, arcname=out.name)
    return archive


def summary(out: Path, outcomes: list[Outcome], dry: bool, took_s: float) -> str:
    lines = [f"# gpu_validation of flopbench {__version__}{' (dry run, on the CPU)' if dry else ''}: {took_s:.0f} s\n"]
    lines += ["| step | status | seconds | log |", "|---|---|---:|---|"]
    lines += [f"| {o.name} | {o.status} | {o.seconds:.0f} | {o.log.relative_to(out)} |" for o in outcomes]
    gemm_json = out / "gemm_comparison.json"
    if gemm_json.exists():
        lines += ["", "```json", gemm_json.read_text().strip(), "```"]
    for o in outcomes:
        if o.log.exists():
            tail = o.log.read_text(errors="replace").splitlines()[-25:]
            lines += ["", f"## {o.name}: last lines", "```", *tail, "```"]
    return "\n".join(lines) + "\n"


def validate(out: Path, steps: list[str] | None, deadline_s: float, dry: bool) -> int:
    started = time.monotonic()
    (out / "steps").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FLOPBENCH_CACHE_DIR": str(out / "cache"), "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    outcomes: list[Outcome] = []
    try:
        with NvmlSampler(out / "nvml.csv"):
            for i, step in enumerate(s for s in plan(out) if steps is None or s.name in steps):
                log = out / "steps" / f"{i + 1}-{step.name}.log"
                left = deadline_s - (time.monotonic() - started)
                if left < 10:
                    outcomes.append(Outcome(step.name, "skipped (no time left)", 0.0, log))
                    continue
                args = step.dry_args if dry and step.dry_args else step.args
                own = [__file__, *args, str(out)] + (["--dry-run"] if dry else [])
                command = [sys.executable, *own] if step.own else [sys.executable, "-m", "flopbench", *args]
                status, seconds = run_step(command, log, min(step.timeout_s, left), env)
                outcomes.append(Outcome(step.name, status, seconds, log))
                print(f"gpu_validation: {step.name}: {status} in {seconds:.0f} s", flush=True)
    finally:
        text = summary(out, outcomes, dry, time.monotonic() - started)
        (out / "summary.md").write_text(text)
        archive = pack(out)
        out.with_name(out.name + "-summary.md").write_text(text)
        print(f"gpu_validation: packed into {archive} ({archive.stat().st_size / 1e6:.1f} MB)", flush=True)
    return 0 if outcomes and all(o.status == "ok" for o in outcomes) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, help="output folder (default: $OUT/gpu_validation)")
    parser.add_argument("--steps", help="only these steps, comma-separated: " + ", ".join(s.name for s in plan(Path())))
    parser.add_argument("--deadline", type=float, default=540, help="seconds for all steps (540: under 10 minutes)")
    parser.add_argument("--dry-run", action="store_true", help="every step on the CPU, small: as far as CUDA calls")
    parser.add_argument("--step", choices=sorted(OWN_STEPS), help=argparse.SUPPRESS)  # a child: run one step
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = Path(os.environ["OUT"]) / "gpu_validation" if os.environ.get("OUT") else Path("gpu_validation")
    out = args.out.resolve()
    if args.step:
        OWN_STEPS[args.step](out, args.dry_run)
        return 0
    names = {s.name for s in plan(out)}
    steps = args.steps.split(",") if args.steps else None
    if steps and (unknown := [s for s in steps if s not in names]):
        print(f"gpu_validation: --steps {','.join(unknown)}: no such step; steps: {', '.join(sorted(names))}")
        return 2
    if not args.dry_run:
        os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")  # ask NVML: no CUDA context in this process
        import torch

        if not torch.cuda.is_available():
            print("gpu_validation: no CUDA device here; --dry-run runs every step on the CPU", file=sys.stderr)
            return 2
    return validate(out, steps, args.deadline, args.dry_run)


if __name__ == "__main__":
    raise SystemExit(main())
