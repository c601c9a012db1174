"""Generation (issue 50): a decoder's prefill and decode steps with a KV cache, counted exactly (against PyTorch's own
counter where it counts the op, by hand where it does not), checked against a float64 reference, and read back as
serving reports it (flopbench.reading.generation)."""

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from flopbench import formulas
from flopbench.workloads import make_workload
from flopbench.workloads.ops.generation import shape

TINY = dict(d_model=64, layers=2, heads=4, d_ff=96, vocab=128)


def _workload(**keys):
    return make_workload("generate", {**TINY, **keys})


def _torch_count(w) -> int:
    """PyTorch's count of the call, its attention on the math backend (matmuls the counter sees)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    p, t = w.inputs_for("cpu")
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.no_grad():
        w.spec.forward(p, t)
    return counter.get_total_flops()


@pytest.mark.parametrize("model, kv_heads", [("llama", 2), ("llama", 4), ("gpt2", None)])
@pytest.mark.parametrize("batch, position", [(1, 8), (3, 17)])
def test_a_decode_step_counts_what_pytorchs_counter_counts(model, kv_heads, batch, position):
    """One new token against `position` cached ones: no mask, so PyTorch's counter and flopbench agree exactly."""
    w = _workload(
        model=model, phase="decode", batch=batch, prompt=position, **({"kv_heads": kv_heads} if kv_heads else {})
    )
    assert w.counts.flops == _torch_count(w)


@pytest.mark.parametrize("model", ["llama", "gpt2"])
def test_a_prefill_counts_the_causal_pairs_where_pytorch_counts_the_square(model):
    """A prompt of 12 tokens attends causally: flopbench counts the 78 unmasked pairs of each head, PyTorch's counter
    the 144 of the full square; the difference is the masked pairs' two products, 4 x layers x batch x heads x
    head_dim x 66."""
    w = _workload(model=model, phase="prefill", batch=2, prompt=12)
    s = shape(w.p)
    masked = 4 * s.layers * 2 * s.heads * s.head_dim * (12 * 12 - 12 * 13 // 2)
    assert w.counts.flops + masked == _torch_count(w)


def test_llama_7b_by_hand():
    """LLaMA-7B (d 4096, 32 layers, 32 heads of 128, d_ff 11008, vocab 32000): 6,738,415,616 parameters, as published.
    A decode step at a cache of 1024 positions: per layer 4096 x (4096 + 2 x 4096) + 4096^2 + 3 x 4096 x 11008 =
    202,375,168 MACs; 2 x 32 x that = 12.95 GFLOPs of projections, 4 x 32 x 4096 x 1025 = 0.537 GFLOPs of attention over
    the cache, 2 x 4096 x 32000 = 0.262 GFLOPs of LM head: 13.75 GFLOPs per token, not the "~80 GFLOPs/token" the source
    documents' table gives (about 2 x 6.7 G, as docs/flops.md derives). Its prefill of 1024 tokens: 1024 x the
    projections, the causal pairs 1024 x 1025 / 2 per head, one LM head."""
    s = shape({"model": "llama-7b"})
    assert s.parameters() == 6_738_415_616
    assert s.layer_macs == 4096 * (4096 + 2 * 4096) + 4096**2 + 3 * 4096 * 11008 == 202_375_168
    decode = make_workload("generate", {"model": "llama-7b", "phase": "decode", "prompt": 1024}).counts
    assert decode.flops == 2 * 32 * 202_375_168 + 4 * 32 * 4096 * 1025 + 2 * 4096 * 32000 == 13_751_549_952
    prefill = make_workload("generate", {"model": "llama-7b", "phase": "prefill", "prompt": 1024}).counts
    assert prefill.flops == 2 * 1024 * 32 * 202_375_168 + 4 * 32 * 4096 * (1024 * 1025 // 2) + 2 * 4096 * 32000
    assert shape({"model": "gpt2"}).parameters() == 124_439_808  # GPT-2 small, its LM head tied to the embedding


def test_bytes_are_the_weights_once_and_the_cache_by_hand():
    """A decode step (float32, batch 2, 8 cached positions, a bfloat16 cache): the weights but the embedding table
    (its two rows read), the cache's 9 positions of keys and values per layer and sequence, ids in, logits out."""
    w = _workload(model="llama", phase="decode", batch=2, prompt=8, kv_heads=2, cache_dtype="bfloat16")
    s = shape(w.p)
    weights = s.parameters() - 128 * 64 + 2 * 64
    cache = 2 * 2 * 2 * (2 * 16) * 9 * 2  # keys and values x layers x batch x kv_dim x positions x 2 bytes
    assert w.counts.bytes == weights * 4 + cache + 2 * 8 + 2 * 128 * 4
    assert formulas.kv_cache_bytes(s, 2, 9, "bfloat16") == cache
    same = _workload(model="llama", phase="decode", batch=2, prompt=8, kv_heads=2)
    assert same.counts.bytes - w.counts.bytes == cache  # a float32 cache: twice the bytes
    gqa, mha = (_workload(model="llama", phase="decode", prompt=8, kv_heads=k).counts for k in (1, 4))
    assert mha.bytes > gqa.bytes and mha.flops > gqa.flops  # fewer key/value heads: a smaller cache and K/V projection


@pytest.mark.parametrize("keys", [dict(model="llama", phase="decode", prompt=6), dict(model="gpt2", phase="prefill")])
def test_both_phases_match_their_float64_reference(keys):
    from flopbench.workloads.check import check_output

    check = check_output(_workload(**keys, batch=2, kv_heads=2 if keys["model"] == "llama" else None), "cpu")
    assert check.ok, check.describe()


def test_a_decode_step_is_memory_bound_and_a_prefill_compute_bound_on_flops_per_byte():
    decode = make_workload("generate", {"model": "llama", "phase": "decode", "prompt": 256}).counts
    prefill = make_workload("generate", {"model": "llama", "phase": "prefill", "prompt": 256}).counts
    assert decode.intensity < 1 < 100 < prefill.intensity  # float32: about a FLOP per 2 bytes at batch 1


@pytest.mark.parametrize(
    "keys, key, fragment",
    [
        (dict(phase="prefill", position=4), "position", "position is for decode steps"),
        (dict(phase="decode", heads=4, kv_heads=3), "kv_heads", "not divisible"),
        (dict(phase="decode", model="gpt2", prompt=1024), "position", "exceed gpt2's context of 1024"),
    ],
)
def test_bad_keys_say_what_and_where(keys, key, fragment):
    from flopbench.errors import SpecError

    with pytest.raises(SpecError) as raised:
        make_workload("generate", {"model": "llama", **TINY, **keys})
    assert raised.value.key == key and fragment in str(raised.value)


def test_the_count_command_shows_the_derivation(in_process):
    done = in_process("count", "generate", "model=llama-7b", "phase=decode", "prompt=1024", "--format", "markdown")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "13.8 GFLOP" in text and "202,375,168 MACs" in text and "1,025 query-key pairs" in text
    assert "per token 2 x 6.61 G = 13.2 GFLOP" in text
    assert math.isclose(13_751_549_952 / 1e9, 13.75, rel_tol=1e-3)


# --- read as serving reports it (flopbench.reading.generation) ------------------------------------------------------


class _View:
    """What the study reads of a run: its records and its roofline."""

    def __init__(self, records, roofline):
        self.records, self.roofline = records, roofline


def _records(times: dict[int, float], prefill_s: float = 0.02):
    """What the study reads of generate records of the CPU-sized llama: a prefill and decode steps at 256 cached
    positions, by batch."""
    from types import SimpleNamespace

    base = {"model": "llama", "prompt": 256}
    calls = [({**base, "phase": "prefill", "batch": 1}, prefill_s)]
    calls += [({**base, "phase": "decode", "batch": batch}, seconds) for batch, seconds in times.items()]
    found = []
    for keys, seconds in calls:
        w = make_workload("generate", keys)
        found.append(
            SimpleNamespace(
                name=w.name,
                op="generate",
                status="ok",
                params=w.p,
                dtype="float32",
                time_s=seconds,
                time_precision=0.01,
                core_flops=w.counts.flops,
                bytes=w.counts.bytes,
                mfu=None,
                mbu=None,
                bound=None,
                kv_cache_bytes=None,
            )
        )
    return found


def test_the_crossover_batch_predicted_from_the_ridge_and_measured_from_the_knee():
    """Decode steps that take max(8 ms, 0.5 ms x B): the knee is at B = 16 (t(1) / (t(64) / 64) = 8 / 0.5). The
    roofline's: the least batch whose FLOPs per byte reach the ridge (100 GFLOP/s / 10 GB/s = 10 FLOP/B)."""
    from flopbench.machine.roofline import Roofline
    from flopbench.reading import generation
    from tests.fakes import fake_device

    times = {b: max(8e-3, 0.5e-3 * b) for b in (1, 2, 4, 8, 16, 32, 64)}
    view = _View(_records(times), Roofline.build(fake_device(float32=100e9, bandwidth=10e9)))
    result = generation.study(view)
    (crossover,) = result.crossovers
    assert crossover.measured == pytest.approx(16.0) and crossover.ridge == pytest.approx(10.0)
    base = dict(model="llama", phase="decode", prompt=256)
    below = make_workload("generate", {**base, "batch": int(crossover.predicted) - 1}).counts
    at = make_workload("generate", {**base, "batch": int(crossover.predicted)}).counts
    assert below.flops / below.bytes < 10 <= at.flops / at.bytes
    (row,) = generation.summary_rows(result)
    assert row["ttft_s"] == 0.02 and row["tpot_s"] == 8e-3 and row["tokens_per_s"] == pytest.approx(125.0)
    assert row["best_tokens_per_s"] == pytest.approx(64 / 32e-3)
    one = next(p for p in result.predictions if p["batch"] == 1)
    assert one["roofline_s"] == pytest.approx(
        at.bytes * 0 + make_workload("generate", {**base, "batch": 1}).counts.bytes / 10e9
    )
    assert one["flops_factor"] > 10 * one["roofline_factor"]  # FLOPs explain a decode step far worse than its bytes
    words = " ".join(generation.sentences(result))
    assert "16.0 as measured" in words and "by the roofline" in words


def test_a_generation_run_prints_and_reports_the_serving_figures(in_process, tmp_path):
    suite = tmp_path / "g.toml"
    sizes = 'model = "llama"\nd_model = 64\nlayers = 2\nheads = 4\nkv_heads = 2\nd_ff = 96\nvocab = 128\nprompt = 8\n'
    suite.write_text(
        'name = "g"\n[[workload]]\nop = "generate"\nphase = "prefill"\n'
        + sizes
        + '[[workload]]\nop = "generate"\nphase = "decode"\n'
        + sizes
        + "[workload.sweep]\nbatch = [1, 2, 4]\n"
    )
    done = in_process(
        "run",
        str(suite),
        "--device",
        "cpu",
        "--rounds",
        "1",
        "--min-time",
        "0.005",
        "--bandwidth",
        "1e10",
        "--no-measure",
        "--report",
        "-o",
        "g.jsonl",
        "--format",
        "markdown",
    )
    assert done.returncode == 0, done.stderr
    assert "Generation: prefill and decode" in done.stdout and "TTFT" in done.stdout and "MBU" in done.stdout
    assert "decode turns compute-bound at a batch of about" in done.stdout
    report = (tmp_path / "g" / "report.md").read_text()
    assert "## Generation: prefill and decode" in report and (tmp_path / "g" / "generation.png").stat().st_size > 10_000
    from flopbench.results import read_run

    records = read_run(tmp_path / "g.jsonl").records
    decode = next(r for r in records if r.params["phase"] == "decode" and r.params["batch"] == 2)
    assert decode.phase == "decode" and decode.tokens_per_s == pytest.approx(2 / decode.time_s)
    assert decode.mbu == pytest.approx(decode.bytes / decode.time_s / 1e10) and decode.parameters > 0
