"""Memory footprint (flopbench.measuring.footprint): the CUDA path on a fake allocator (reset, read, outside the
timed samples), the CPU path on real kernels whose memory is known (a GEMM holds its output; SDPA's math path the
L x L score matrix, flash not), the record's fields and note, and the views that show it."""

import pytest
import torch

from flopbench.measuring.footprint import (
    CPU_SOURCE,
    CUDA_SOURCE,
    Footprint,
    cpu_footprint,
    cuda_footprint,
    output_bytes,
    preallocated_bytes,
)
from flopbench.workloads import make_workload


class FakeCudaMemory:
    """A caching allocator's counters: allocate / free move `allocated`; the peak since the last reset follows it.
    Reads before a synchronization see the counters as they were at the last one (work still in flight)."""

    def __init__(self):
        self.allocated = self.peak = 0
        self.synced = self.resets = 0
        self.log = []

    def alloc(self, n):
        self.allocated += n
        self.peak = max(self.peak, self.allocated)

    def free(self, n):
        self.allocated -= n

    def synchronize(self):
        self.synced += 1
        self.log.append("sync")

    def reset_peak_memory_stats(self):
        self.resets += 1
        self.peak = self.allocated
        self.log.append("reset")

    def memory_allocated(self):
        self.log.append("allocated")
        return self.allocated

    def max_memory_allocated(self):
        self.log.append("peak")
        return self.peak


def test_the_cuda_footprint_is_the_allocator_peak_of_one_call_less_what_was_there():
    memory = FakeCudaMemory()
    memory.alloc(1000)  # the inputs, allocated before
    out = torch.empty(256)  # stands for a 1 KiB device tensor

    def call():
        memory.alloc(5000)  # a workspace
        memory.free(5000)
        memory.alloc(1024)  # the output
        memory.log.append("call")
        return torch.empty(256)

    found = cuda_footprint(call, memory)
    # after the first call 2024 B are allocated (inputs, its output); the measured call peaks at 2024 + 5000
    assert found == Footprint(5000, output_bytes(out), CUDA_SOURCE)
    # the order: a call before (not measured), then sync, reset, read the base, the measured call, sync, read the peak
    assert memory.log[-6:] == ["sync", "reset", "allocated", "call", "sync", "peak"]
    assert memory.resets == 1


def test_outputs_written_into_buffers_the_call_owns_count_as_its_memory():
    owned = torch.empty(1000)
    assert preallocated_bytes(owned, owned) == 4000  # the same buffer both calls: an out= output
    assert preallocated_bytes(torch.empty(1000), torch.empty(1000)) == 0  # a fresh one each call
    assert preallocated_bytes((owned, torch.empty(3)), [owned]) == 4000
    assert output_bytes({"a": torch.empty(2), "b": [torch.empty(3, dtype=torch.float64)], "c": None}) == 8 + 24


def test_a_gemm_holds_its_output_and_nothing_more():
    w = make_workload("matmul", dict(m=256, n=128, k=64))
    found = cpu_footprint(w.build("cpu"))
    assert found.output_bytes == 256 * 128 * 4
    assert found.peak_bytes == pytest.approx(found.output_bytes, rel=0.10)
    assert found.source == CPU_SOURCE and found.note() is None


def test_sdpas_math_path_holds_the_score_matrix_and_flash_does_not():
    """batch 1, 2 heads, 512 tokens, float32: the score matrix is 2 x 512 x 512 x 4 B = 2 MiB, the output 256 KiB."""
    p = dict(batch=1, heads=2, seq_len=512, head_dim=64)
    scores = 2 * 512 * 512 * 4
    math_path = cpu_footprint(make_workload("attention", p, impl="sdpa-math").build("cpu"))
    flash = cpu_footprint(make_workload("attention", p, impl="sdpa-flash").build("cpu"))
    assert math_path.peak_bytes >= scores + math_path.output_bytes
    assert flash.peak_bytes < scores / 2 and flash.peak_bytes >= flash.output_bytes
    note = math_path.note()
    assert note is not None and note.startswith("memory: one call allocates") and "x its output" in note


def test_what_a_call_frees_of_the_previous_calls_counts():
    """Each call frees the previous call's 4 MiB buffer, allocates its own, then a 1 MiB scratch it frees: beyond the
    memory before it, it never holds more than the scratch. A profiler that missed the free of the earlier buffer would
    read 5 MiB."""
    import torch

    kept = {}

    def call():
        kept.pop("buffer", None)
        kept["buffer"] = torch.empty(1 << 20)  # 4 MiB of float32
        scratch = torch.empty(1 << 18)  # 1 MiB
        del scratch

    found = cpu_footprint(call)
    assert found.peak_bytes == 1 << 20 and found.output_bytes == 0


def test_a_training_step_ends_without_gradients_so_its_peak_is_all_its_own():
    step = make_workload("model", dict(model="keras_mlp_small", batch=4, train=True)).build("cpu")
    step()
    (parameters,) = [c.cell_contents for c in step.__closure__ if isinstance(c.cell_contents, list)]
    assert parameters and all(parameter.grad is None for parameter in parameters)


def test_the_note_needs_both_a_ratio_and_a_size():
    assert Footprint(3 << 20, 1 << 20, CPU_SOURCE).note() is not None  # 3x and 2 MiB more
    assert Footprint(1 << 20, 1 << 19, CPU_SOURCE).note() is None  # 2x but only 512 KiB more
    assert Footprint(int(1.4 * (64 << 20)), 64 << 20, CPU_SOURCE).note() is None  # 25 MiB more but 1.4x
    assert "with no output" in Footprint(8 << 20, 0, CPU_SOURCE).note()


def test_the_note_measures_the_need_against_the_estimate_admission_used():
    """Admitted on 5 MiB of inputs and outputs (4 MiB in, 1 MiB out); the call peaked at 10 MiB beyond its inputs, so
    it needed 4 + 10 = 14 MiB: 2.8x. A call whose peak is its output needs no more than it was admitted on."""
    from flopbench.measuring.admission import memory_estimate

    note = Footprint(10 << 20, 1 << 20, CPU_SOURCE).note(admitted_bytes=5 << 20)
    assert "it needed 2.8x the 5.24 MB of inputs and outputs it was admitted on" in note
    assert "admitted" not in Footprint(10 << 20, 1 << 20, CPU_SOURCE).note()
    assert Footprint(1 << 20, 1 << 20, CPU_SOURCE).note(admitted_bytes=5 << 20) is None
    workload = make_workload("attention", dict(batch=1, heads=2, seq_len=512, head_dim=64), impl="sdpa-math")
    assert memory_estimate(workload) == workload.counts.bytes  # the one estimate admission and the note share


def test_a_run_records_each_workloads_memory(tmp_path, in_process):
    suite = tmp_path / "m.toml"
    suite.write_text(
        'name = "m"\n[[workload]]\nop = "matmul"\nm = 64\nn = 64\nk = 64\n'
        '[[workload]]\nop = "model"\nmodel = "keras_mlp"\nbatch = 4\ntrain = true\n'
    )
    done = in_process("run", str(suite), "--rounds", "1", "--min-time", "0.002", "--no-measure", "-o", "r.jsonl")
    assert done.returncode == 0, done.stderr
    from flopbench.reading.analysis import model_memory
    from flopbench.reading.view import load_view
    from flopbench.results.files import read_run

    gemm, step = read_run(tmp_path / "r.jsonl").records
    assert gemm.peak_memory_bytes == gemm.output_bytes == 64 * 64 * 4 and gemm.memory_source == CPU_SOURCE
    assert step.peak_memory_bytes > 0 and step.output_bytes == 0  # a training step returns nothing
    assert step.parameters > 0
    table = model_memory(load_view(tmp_path / "r.jsonl"))
    assert table.iloc[0]["parameters"] == step.parameters and bool(table.iloc[0]["train"])


def test_compare_shows_the_memory_ratio(tmp_path):
    from flopbench.reading.comparison import compare
    from flopbench.reading.view import load_views
    from flopbench.results.files import ResultsWriter, read_run
    from tests.fakes import fake_device, write_run

    a = write_run(tmp_path / "a.jsonl", fake_device())
    run = read_run(a)
    paths = []
    for name, peak in (("a2", 1000), ("b2", 3000)):
        path = tmp_path / f"{name}.jsonl"
        writer = ResultsWriter.create(path, run.header.model_copy(update={"run_id": name}))
        for record in run.records:
            writer.record(record.model_copy(update={"peak_memory_bytes": peak, "output_bytes": 1000}))
        writer.close()
        paths.append(path)
    result = compare(load_views(paths))
    assert (result.table["memory_ratio[B]"] == 3.0).all()
