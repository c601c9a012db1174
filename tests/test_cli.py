"""The command line as a user meets it: in a subprocess, checking output and exit status."""

import json
import subprocess
import sys

import pytest

from tests.helpers import assert_one_line_error, flopbench


def test_count_one_workload_as_json():
    out = flopbench(
        "count",
        "conv2d",
        "batch=1",
        "in_channels=3",
        "out_channels=64",
        "height=224",
        "width=224",
        "kernel=3",
        "padding=1",
        "--format",
        "json",
        check=True,
    ).stdout
    rows = json.loads(out)
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == {
        "name",
        "op",
        "params",
        "dtype",
        "core_flops",
        "macs",
        "elementwise_flops",
        "total_flops",
        "bytes",
        "intensity",
    }
    assert row["core_flops"] == 173_408_256 and row["macs"] == 86_704_128
    assert row["total_flops"] == row["core_flops"] + row["elementwise_flops"]
    assert row["params"]["kernel"] == [3, 3] and row["params"]["padding"] == [1, 1]
    assert row["intensity"] == pytest.approx(row["total_flops"] / row["bytes"])


def test_count_suite_table_scales_units_and_shows_macs(tmp_path):
    out = flopbench("count", "quick", check=True).stdout
    assert "gemm-bf16" in out and "MFLOP" in out and "MMAC" in out
    assert "1 MAC = 2 FLOPs" in out


def test_count_csv_has_one_row_per_workload():
    import io

    import pandas as pd

    frame = pd.read_csv(io.StringIO(flopbench("count", "roofline", "--format", "csv", check=True).stdout))
    assert len(frame) == 25
    assert json.loads(frame.loc[0, "params"])["kind"] == "copy"


def test_module_and_console_script_agree():
    import shutil

    script = shutil.which("flopbench", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert script, "the console script is installed beside the interpreter"
    direct = subprocess.run(
        [script, "count", "matmul", "m=2", "n=2", "k=2", "--format", "json"], capture_output=True, text=True
    )
    assert json.loads(direct.stdout) == json.loads(
        flopbench("count", "matmul", "m=2", "n=2", "k=2", "--format", "json").stdout
    )


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["count", "conv2d", "batch=1", "in_chanels=3"], ["key 'in_chanels'", "did you mean 'in_channels'"]),
        (["count", "matmul", "m=1", "n=1"], ["key 'k'", "missing"]),
        (["count", "attention", "batch=1", "heads=6", "kv_heads=4", "seq_len=8", "head_dim=8"], ["kv_heads"]),
        (["count", "no_such_suite.toml"], ["no such suite"]),
        (["count", "quick", "m=3"], ["follows a suite"]),
        (["count", "quick", "--format", "xml"], ["invalid choice"]),
        (["cnt", "quick"], ["invalid choice"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, fragments):
    assert_one_line_error(flopbench(*args), *fragments)


def test_malformed_suite_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[[workload]\n")
    assert_one_line_error(flopbench("count", str(path)), str(path), "malformed TOML")
