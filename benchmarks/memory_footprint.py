"""Memory footprint, checked against independent measurements (flopbench.measuring.footprint, on the CPU).

1. Kernels whose memory is known: SDPA at 2048 tokens under the math path (it materialises the L x L score matrix) and
   the flash path (it does not), and a 2048^3 GEMM (it holds its output). Each figure beside the growth of the peak
   resident set (VmHWM, reset through /proc/self/clear_refs) of a fresh process making the same call, and the analytic
   size.
2. Models: resnet50, vit_b_16 and gpt2_small (a shorter context), forward pass and training step: parameters, FLOPs,
   time and peak memory; the training step's extra memory beside what autograd keeps for the backward (every saved
   tensor's storage, counted once, through torch.autograd.graph.saved_tensors_hooks) plus the gradients.

    .venv/bin/python benchmarks/memory_footprint.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MiB = 2**20

# The independent check: a fresh interpreter builds the inputs, makes one call (kept), resets its peak RSS, reads
# its RSS, makes the call again and reads the peak: what that call took from the OS at its highest.
RSS_PROBE = r"""
import json, sys, torch
torch.set_num_threads(2)
kind = sys.argv[1]
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
q = torch.randn(1, 4, 2048, 64)
a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
from torch.nn.attention import sdpa_kernel, SDPBackend
F = torch.nn.functional
calls = {"gemm": lambda: torch.matmul(a, b)}
def attention(backend):
    def call():
        with sdpa_kernel(backend):
            return F.scaled_dot_product_attention(q, q, q)
    return call
calls["math"] = attention(SDPBackend.MATH)
calls["flash"] = attention(SDPBackend.FLASH_ATTENTION)
with torch.no_grad():
    first = calls[kind]()
    open("/proc/self/clear_refs", "w").write("5")
    before = status("VmRSS:")
    out = calls[kind]()
    print(json.dumps({"growth": status("VmHWM:") - before}))
"""


def rss_growth(kind: str) -> int:
    done = subprocess.run([sys.executable, "-c", RSS_PROBE, kind], capture_output=True, text=True, check=True, cwd=ROOT)
    return int(json.loads(done.stdout.strip().splitlines()[-1])["growth"])


def kernels() -> None:
    import torch

    from flopbench.measuring.footprint import cpu_footprint
    from flopbench.workloads import make_workload

    torch.set_num_threads(2)
    attention = dict(batch=1, heads=4, seq_len=2048, head_dim=64)
    scores = 4 * 2048 * 2048 * 4
    rows = [
        ("SDPA math, 1x4x2048x64", make_workload("attention", attention, impl="sdpa-math"), "math", scores),
        ("SDPA flash, 1x4x2048x64", make_workload("attention", attention, impl="sdpa-flash"), "flash", 2 * MiB),
        ("GEMM 2048^3 float32", make_workload("matmul", dict(m=2048, n=2048, k=2048)), "gemm", 16 * MiB),
    ]
    print("# Kernels (CPU, float32)\n")
    print("| call | flopbench peak | output | fresh-process RSS growth | peak / RSS | analytic |")
    print("|---|---:|---:|---:|---:|---|")
    for label, workload, kind, analytic in rows:
        with torch.no_grad():
            found = cpu_footprint(workload.build("cpu"))
        rss = rss_growth(kind)
        what = {"math": "the 4 x 2048 x 2048 score matrix", "flash": "the output", "gemm": "the output"}[kind]
        print(
            f"| {label} | {found.peak_bytes / MiB:.1f} MiB | {found.output_bytes / MiB:.1f} MiB |"
            f" {rss / MiB:.1f} MiB | {found.peak_bytes / rss:.2f} | {what}: {analytic / MiB:.0f} MiB |"
        )


def saved_bytes(step) -> int:
    """What autograd keeps for the backward during one forward of a training step: every saved tensor's storage,
    counted once (a storage saved by two ops is one allocation)."""
    import torch

    storages: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    return sum(storages.values())


def models() -> None:
    import torch

    from flopbench.measuring.footprint import cpu_footprint
    from flopbench.workloads import make_workload

    cases = [
        ("resnet50", dict(model="resnet50", batch=2)),
        ("vit_b_16", dict(model="vit_b_16", batch=1)),
        ("gpt2_small", dict(model="gpt2_small", batch=1, seq_len=256)),
    ]
    print("\n# Models (CPU, float32)\n")
    print(
        "| model | parameters | FLOPs fwd / step | time fwd / step | peak fwd | peak step | step - fwd |"
        " saved for backward + gradients | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, params in cases:
        figures = {}
        for train in (False, True):
            w = make_workload("model", {**params, "train": train})
            fn = w.build("cpu")
            with torch.no_grad():
                found = cpu_footprint(fn)
                times = []
                for _ in range(3):
                    started = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - started)
            figures[train] = (w, found, statistics.median(times))
        (fwd, forward, t_fwd), (stp, step, t_step) = figures[False], figures[True]
        parameters = fwd.spec.record_fields(fwd.p, fwd.dtype).parameters
        step_fn = stp.build("cpu")
        kept = saved_bytes(step_fn) + parameters * 4
        extra = step.peak_bytes - forward.peak_bytes
        print(
            f"| {name} {params.get('batch')}x | {parameters / 1e6:.1f} M | {fwd.counts.total_flops / 1e9:.1f} /"
            f" {stp.counts.total_flops / 1e9:.1f} GFLOP | {t_fwd * 1e3:.0f} / {t_step * 1e3:.0f} ms |"
            f" {forward.peak_bytes / MiB:.0f} MiB | {step.peak_bytes / MiB:.0f} MiB | {extra / MiB:.0f} MiB |"
            f" {kept / MiB:.0f} MiB | {extra / kept:.2f} |"
        )


def main() -> int:
    started = time.perf_counter()
    kernels()
    models()
    print(f"\n({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
