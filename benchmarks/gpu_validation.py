"""One prepared run that validates flopbench's CUDA path on a real GPU (issue 17), in about 8 minutes.

1. A bfloat16 8192^3 GEMM timed three ways, side by side in one process: flopbench's CUDA timer (events, L2 flush),
   triton.testing.do_bench (when triton is installed) and a plain CUDA-event loop; prints each one's TFLOP/s and
   flopbench's ratio to do_bench (target >= 0.98).
2. The device's ceilings (`flopbench peak --measure`) beside its datasheet peaks.
3. The default, attention and models suites, and the quick suite with --cuda-graph, each with its report; NVML's
   clocks, temperature, power and throttle reasons sampled every second throughout, and energy in every record.

Everything is written under OUT (the first argument, else $OUT, else ./gpu_validation): a log, the GEMM
comparison as JSON, the NVML samples as CSV and one results file and report per suite, ready for
results/reference/. On a machine without CUDA it says so and exits 2.

    python benchmarks/gpu_validation.py [OUT]
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

N = 8192
SUITES = [("default", []), ("attention", []), ("models", []), ("quick", ["--cuda-graph"])]


def gemm_comparison(out: Path) -> dict:
    import torch

    from flopbench.device import describe
    from flopbench.runner import make_timer
    from flopbench.schema import RunSettings

    device = describe("cuda")
    a = torch.randn(N, N, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(N, N, device="cuda", dtype=torch.bfloat16)
    c = torch.empty(N, N, device="cuda", dtype=torch.bfloat16)

    def fn():
        return torch.matmul(a, b, out=c)

    flops = 2 * N**3
    timer = make_timer(device, RunSettings(min_time_s=1.0, max_time_s=3.0))
    ours = timer.measure(fn).median_s
    result = {
        "n": N,
        "dtype": "bfloat16",
        "flops": flops,
        "flopbench_s": ours,
        "device": device.label,
        "peak_bfloat16": device.peak("bfloat16").value,
    }
    # A plain event loop: 50 back-to-back calls between two events, after warm-up.
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
        from triton.testing import do_bench

        result["do_bench_s"] = do_bench(fn, warmup=100, rep=1000) / 1e3
    except ImportError:
        result["do_bench_s"] = None
    for key in ("flopbench_s", "event_loop_s", "do_bench_s"):
        if result[key]:
            result[key.replace("_s", "_tflops")] = flops / result[key] / 1e12
    if result["do_bench_s"]:
        result["flopbench_over_do_bench"] = result["do_bench_s"] / ours  # FLOP/s ratio
    (out / "gemm_comparison.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


class NvmlSampler:
    """Clocks, temperature, power and throttle reasons once a second, to a CSV."""

    def __init__(self, path: Path):
        from flopbench.device import Nvml

        self.nvml, self.path, self.stop = Nvml(0), path, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["t_s", "sm_clock_mhz", "max_sm_clock_mhz", "temperature_c", "power_w", "throttle"])
            start = time.time()
            while not self.stop.wait(1.0):
                s = self.nvml.snapshot()
                writer.writerow(
                    [
                        round(time.time() - start, 1),
                        s.get("sm_clock_mhz"),
                        s.get("max_sm_clock_mhz"),
                        s.get("temperature_c"),
                        s.get("power_w"),
                        ";".join(s.get("throttle", [])),
                    ]
                )
                f.flush()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", "gpu_validation"))
    import torch

    if not torch.cuda.is_available():
        print("gpu_validation: no CUDA device here; this script validates the CUDA path on a GPU", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "log.txt").open("w")

    def say(text: str) -> None:
        print(text, flush=True)
        log.write(text + "\n")
        log.flush()

    flopbench = [sys.executable, "-m", "flopbench"]
    with NvmlSampler(out / "nvml.csv"):
        g = gemm_comparison(out)
        say(
            f"bf16 {N}^3 GEMM on {g['device']}: flopbench {g.get('flopbench_tflops', 0):.1f} TFLOP/s, event loop"
            f" {g.get('event_loop_tflops', 0):.1f}, do_bench {g.get('do_bench_tflops') or float('nan'):.1f};"
            f" flopbench / do_bench = {g.get('flopbench_over_do_bench') or float('nan'):.3f} (target >= 0.98);"
            f" datasheet {(g['peak_bfloat16'] or 0) / 1e12:.0f} TFLOP/s"
        )
        peak = subprocess.run([*flopbench, "peak", "--device", "cuda", "--measure"], capture_output=True, text=True)
        say(peak.stdout + peak.stderr)
        for suite, extra in SUITES:
            name = f"{suite}{'-graph' if extra else ''}"
            started = time.time()
            run = subprocess.run(
                [*flopbench, "run", suite, "--device", "cuda", "--report", "--out", str(out / f"{name}.jsonl"), *extra],
                capture_output=True,
                text=True,
            )
            say(f"--- {name}: exit {run.returncode} in {time.time() - started:.0f} s")
            say(run.stdout[-6000:] + run.stderr[-3000:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
