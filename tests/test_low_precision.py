"""int8 and float8 products (matmul in int8 and float8): counts, output checks, where they run, and the peaks."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from flopbench.errors import SpecError
from flopbench.machine.device import cpu_flops_per_cycle
from flopbench.measuring.admission import unsupported
from flopbench.results.schema import Device, Peak
from flopbench.workloads import make_workload
from flopbench.workloads.check import check_output
from tests.helpers import flopbench


def test_low_precision_counts_by_hand():
    int8 = make_workload("matmul", dict(m=64, n=32, k=48), dtype="int8")
    assert int8.counts.flops == 2 * 64 * 32 * 48
    assert int8.counts.bytes == (64 * 48 + 48 * 32) * 1 + 64 * 32 * 4  # int32 out
    fp8 = make_workload("matmul", dict(m=64, n=32, k=48), dtype="float8")
    assert fp8.counts.bytes == (64 * 48 + 48 * 32) * 1 + 64 * 32 * 2  # bfloat16 out


def test_float8_counts_as_pytorchs_counter_and_int8_by_hand():
    w = make_workload("matmul", dict(m=32, n=48, k=64), dtype="float8")
    t = w.spec.inputs(w.p, torch.float8_e4m3fn, torch.device("cpu"), torch.Generator())
    with FlopCounterMode(display=False) as mode:
        out = w.spec.forward(w.p, t)
    assert mode.get_total_flops() == w.counts.flops and out.dtype == torch.bfloat16
    # PyTorch's counter has no formula for torch._int_mm: the count is 2 * m * n * k by hand.
    i8 = make_workload("matmul", dict(m=32, n=48, k=64), dtype="int8")
    assert i8.counts.flops == 2 * 32 * 48 * 64


@pytest.mark.parametrize("dtype", ["int8", "float8"])
def test_low_precision_b_operands_are_column_major(dtype):
    """cuBLASLt's int8 and float8 kernels take B column-major; a row-major B is copied first, inside the timed call."""
    w = make_workload("matmul", dict(m=32, n=48, k=64), dtype=dtype)
    torch_dtype = torch.int8 if dtype == "int8" else torch.float8_e4m3fn
    b = w.spec.inputs(w.p, torch_dtype, torch.device("cpu"), torch.Generator())["b"]
    assert b.shape == (64, 48) and b.stride() == (1, 64)


@pytest.mark.parametrize("dtype", ["int8", "float8"])
def test_low_precision_products_pass_their_output_check(dtype):
    check = check_output(make_workload("matmul", dict(m=96, n=64, k=128), dtype=dtype), "cpu")
    assert check.ok, check.describe()
    if dtype == "int8":
        assert check.error == 0  # integer sums are exact


def test_the_output_check_catches_a_wrong_int8_kernel(monkeypatch):
    w = make_workload("matmul", dict(m=32, n=32, k=32), dtype="int8")
    real = w.spec.forward
    monkeypatch.setattr(w.spec, "forward", lambda p, t: real(p, t) + 1)
    assert not check_output(w, "cpu").ok


@pytest.mark.parametrize(
    "op, params, dtype, key, fragment",
    [
        (
            "conv2d",
            dict(batch=1, in_channels=3, out_channels=4, height=8, width=8, kernel=3),
            "int8",
            "dtype",
            "int8 is for matmul",
        ),
        ("matmul", dict(m=64, n=64, k=64, batch=2), "float8", "batch", "2-d"),
        ("matmul", dict(m=64, n=30, k=64), "int8", "n", "multiples of 16"),
        ("matmul", dict(m=8, n=32, k=64), "float8", "m", "m > 16"),
    ],
)
def test_low_precision_shapes_and_ops_are_checked(op, params, dtype, key, fragment):
    with pytest.raises(SpecError) as info:
        make_workload(op, params, dtype=dtype)
    assert info.value.key == key and fragment in str(info.value)


def device(kind, facts, peaks=None):
    return Device(kind, 0 if kind == "cuda" else None, "Test", facts, peaks or {}, Peak(None, "unknown", "none"))


def test_float8_is_skipped_where_it_would_be_emulated_or_cannot_run():
    w = make_workload("matmul", dict(m=64, n=64, k=64), dtype="float8")
    cpu = device("cpu", {"isa": "avx2 avx512f amx_bf16"})
    assert "no native float8" in unsupported(w, cpu)
    given = device("cpu", {"isa": "avx2"}, {"float8": Peak(1e9, "user", "given")})
    assert unsupported(w, given) == ""  # the user said what to expect: it is timed
    assert "compute capability 8.9" in unsupported(w, device("cuda", {"compute_capability": "8.0"}))
    assert unsupported(w, device("cuda", {"compute_capability": "9.0"})) == ""
    assert unsupported(make_workload("matmul", dict(m=64, n=64, k=64), dtype="int8"), cpu) == ""


def test_int8_peaks_from_the_isa():
    avx512 = {"avx2", "fma", "avx512f"}
    assert "int8" not in cpu_flops_per_cycle(None, avx512)[0]
    assert cpu_flops_per_cycle(None, avx512 | {"avx512_vnni"})[0]["int8"] == 4 * 64
    assert cpu_flops_per_cycle(None, avx512 | {"amx_int8", "amx_bf16"})[0]["int8"] == 2048


def test_run_dtype_leaves_out_the_ops_without_that_dtype(tmp_path):
    suite = tmp_path / "lp.toml"
    suite.write_text(
        'name = "lp"\n[[workload]]\nop = "matmul"\nm = 64\nn = 64\nk = 64\n'
        '[[workload]]\nop = "elementwise"\nkind = "add"\nnumel = 4096\n'
    )
    out = tmp_path / "lp.jsonl"
    result = flopbench(
        "run", str(suite), "--dtype", "int8", "--quick", "--out", str(out), "--no-measure", "--rounds", "1"
    )
    assert result.returncode == 0, result.stderr
    assert "--dtype int8: 1 left out: elementwise-add-n4096 in int8 (elementwise does not run in int8" in result.stderr
    from flopbench.results.files import read_run

    (record,) = read_run(out).records
    assert record.dtype == "int8" and record.status == "ok" and record.check_error == 0
