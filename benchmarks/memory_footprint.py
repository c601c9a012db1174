"""Memory footprint, checked against independent measurements (flopbench.measuring.footprint, on the CPU).

1. Kernels whose memory is known: SDPA at 2048 tokens under the math path (it materialises the L x L score matrix) and
   the flash path (it does not), and a 2048^3 GEMM (it holds its output). Each figure beside the growth of the peak
   resident set (VmHWM, reset through /proc/self/clear_refs) of a fresh process making the same call, and the analytic
   size.
2. Models: resnet50, vit_b_16 and gpt2_small (a shorter context), forward pass and training step: parameters, FLOPs,
   time and peak memory; beside them what autograd keeps for the backward (every saved tensor's storage, counted
   once, through torch.autograd.graph.saved_tensors_hooks) and the gradients' bytes.
3. gpt2_small by hand: its kept activations, gradients and the training step's peak counted from the architecture
   (gpt2_by_hand), against the measured figures.

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


def saved_bytes(step, parameters) -> int:
    """What autograd keeps for the backward during one forward of a training step: every saved tensor's storage,
    counted once (a storage saved by two ops is one allocation), the parameters' own storages left out (they existed
    before the step: a weight saved for the backward allocates nothing)."""
    import torch

    owned = {p.untyped_storage().data_ptr() for p in parameters}
    storages: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in owned:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    return sum(storages.values())


def gpt2_by_hand(tokens: int, batch: int, dim: int = 768, layers: int = 12, vocab: int = 50257) -> tuple[int, int, int]:
    """(kept activations, gradients, the training step's peak), in bytes, counted by hand for flopbench's GPT-2 small
    (flopbench/workloads/models/language.py; float32, no dropout, SDPA's flash path on a CPU, which keeps q, k, v, its
    output and a log-sum-exp rather than the score matrix). With e = tokens x batch x dim elements:

    - each block keeps 17 e: ln_1's input (e), c_attn's input (e), q, k, v (one 3e storage), the attention output (e),
      c_proj's input (the transposed copy, e), ln_2's input (e), the MLP's input (e), GELU's input (4e), the second
      linear's input (4e); then ln_f's and lm_head's inputs (2e). Per-row statistics (mean, rstd, log-sum-exp) are
      under 1% and left out.
    - gradients: every parameter once (the tied embedding / lm_head weight is one parameter).
    - the peak: the larger of two moments. The start of the backward: the kept activations, the logits (tokens x
      vocab) and lm_head's weight gradient (vocab x dim). The end of the backward, when every gradient exists and the
      activations are gone: the tied weight's second gradient (the embedding's, vocab x dim) and the out-of-place sum
      that accumulates it into the first (vocab x dim again).
    """
    e = tokens * batch * dim
    activations = 4 * (17 * e * layers + 2 * e)
    block_parameters = (dim * 3 * dim + 3 * dim) + (dim * dim + dim) + (dim * 4 * dim + 4 * dim) + (4 * dim * dim + dim)
    block_parameters += 4 * dim  # two layer norms, weight and bias
    parameters = vocab * dim + 1024 * dim + layers * block_parameters + 2 * dim
    gradients = 4 * parameters
    start = activations + 4 * tokens * batch * vocab + 4 * vocab * dim
    end = gradients + 2 * 4 * vocab * dim
    return activations, gradients, max(start, end)


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
        " kept activations (autograd's saved tensors, parameters left out) | gradients |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    measured = {}
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
        # the training step closes over its model's parameter list (flopbench.workloads.ops.model: Model.timed)
        (owned,) = [c.cell_contents for c in step_fn.__closure__ or () if isinstance(c.cell_contents, list)]
        kept = saved_bytes(step_fn, owned)
        extra = step.peak_bytes - forward.peak_bytes
        measured[name] = (parameters, kept, step.peak_bytes)
        print(
            f"| {name} {params.get('batch')}x | {parameters / 1e6:.1f} M | {fwd.counts.total_flops / 1e9:.1f} /"
            f" {stp.counts.total_flops / 1e9:.1f} GFLOP | {t_fwd * 1e3:.0f} / {t_step * 1e3:.0f} ms |"
            f" {forward.peak_bytes / MiB:.0f} MiB | {step.peak_bytes / MiB:.0f} MiB | {extra / MiB:.0f} MiB |"
            f" {kept / MiB:.0f} MiB | {parameters * 4 / MiB:.0f} MiB |"
        )
    parameters, kept, peak = measured["gpt2_small"]
    activations, gradients, hand_peak = gpt2_by_hand(tokens=256, batch=1)
    print("\n# gpt2_small (1 x 256 tokens), by hand (gpt2_by_hand: where each byte comes from)\n")
    print("| figure | by hand | measured | measured / hand |")
    print("|---|---:|---:|---:|")
    for what, hand, found in (
        ("parameters' bytes", gradients, parameters * 4),
        ("kept activations (autograd's saved tensors)", activations, kept),
        ("training step's peak (flopbench)", hand_peak, peak),
    ):
        print(f"| {what} | {hand / MiB:.1f} MiB | {found / MiB:.1f} MiB | {found / hand:.3f} |")


def main() -> int:
    started = time.perf_counter()
    kernels()
    models()
    print(f"\n({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
