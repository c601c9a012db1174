"""Suite files: defaults, sweeps, names, and one-line errors that name file, entry and key."""

import textwrap

import pytest

from flopbench.errors import FlopbenchError
from flopbench.workloads.suite import available_suites, load_suite, parse_value, single_workload


def write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_defaults_apply_where_the_op_takes_the_key(tmp_path):
    suite = load_suite(
        write(
            tmp_path,
            """
        name = "mine"
        description = "two ops"
        [defaults]
        dtype = "bfloat16"
        bias = false
        [[workload]]
        op = "linear"
        tokens = 4
        in_features = 8
        out_features = 2
        [[workload]]
        op = "matmul"
        m = 2
        n = 3
        k = 4
    """,
        )
    )
    linear, matmul = suite.workloads
    assert suite.name == "mine" and suite.description == "two ops"
    assert linear.dtype == matmul.dtype == "bfloat16"
    assert linear.p["bias"] is False
    assert "bias" not in matmul.p
    assert len(suite.sha256) == 64


def test_sweep_is_a_cartesian_product_with_tied_keys(tmp_path):
    suite = load_suite(
        write(
            tmp_path,
            """
        [[workload]]
        op = "matmul"
        name = "sq"
        batch = 2
        [workload.sweep]
        "m=n=k" = [64, 128, 256]
        dtype = ["float32", "bfloat16"]
    """,
        )
    )
    assert len(suite.workloads) == 6
    shapes = {(w.p["m"], w.p["n"], w.p["k"], w.dtype) for w in suite.workloads}
    assert shapes == {(s, s, s, d) for s in (64, 128, 256) for d in ("float32", "bfloat16")}
    assert suite.workloads[0].name == "sq-m64-n64-k64-float32"
    assert all(w.p["batch"] == 2 for w in suite.workloads)


def test_sweep_over_per_dimension_values(tmp_path):
    suite = load_suite(
        write(
            tmp_path,
            """
        [[workload]]
        op = "conv2d"
        batch = 1
        in_channels = 4
        out_channels = 4
        height = 16
        width = 16
        [workload.sweep]
        kernel = [1, 3, [1, 7]]
    """,
        )
    )
    assert [w.p["kernel"] for w in suite.workloads] == [(1, 1), (3, 3), (1, 7)]
    # Without a given name, the name is generated from every key, swept or not.
    assert suite.workloads[2].name == "conv2d-b1-cin4-cout4-h16-w16-k1x7"


def test_entry_devices_filter(tmp_path):
    suite = load_suite(
        write(
            tmp_path,
            """
        [[workload]]
        op = "matmul"
        m = 1
        n = 1
        k = 1
        devices = ["cuda"]
    """,
        )
    )
    w = suite.workloads[0]
    assert w.runs_on("cuda") and not w.runs_on("cpu")


def test_every_shipped_suite_loads():
    names = available_suites()
    assert {"quick", "matmul", "conv", "attention", "roofline", "default"} <= set(names)
    for name in names:
        suite = load_suite(name)
        assert suite.workloads, name
        assert suite.description, name


@pytest.mark.parametrize(
    "body,fragments",
    [
        ('[[workload]]\nop = "matmull"\nm = 1', ["workload 1", "key 'op'", "did you mean 'matmul'"]),
        ("[[workload]]\nm = 1", ["workload 1", "key 'op'", "missing"]),
        ('[[workload]]\nop = "matmul"\nname = "g"\nm = 1\nn = 1\nk = -3', ["workload 1 (g)", "key 'k'", ">= 1"]),
        ('[[workload]]\nop = "matmul"\nm = 1\nn = 1\nk = "x"', ["key 'k'", "a string"]),
        (
            '[[workload]]\nop = "matmul"\nm = 1\nn = 1\nk = 1\n[[workload]]\nop = "conv2d"\nbatch = 1\n'
            "in_channels = 3\nout_channels = 4\nheight = 8\nwidth = 8\nkernel = 3\ngroups = 2",
            ["workload 2", "key 'groups'", "not divisible"],
        ),
        ('[[workload]]\nop = "matmul"\nn = 1\nk = 1\n[workload.sweep]\nm = [1, 0]', ["key 'm'", "at sweep point m=0"]),
        (
            '[[workload]]\nop = "matmul"\nn = 1\nk = 1\n[workload.sweep]\nmm = [1, 2]',
            ["key 'sweep.mm'", "did you mean 'm'"],
        ),
        (
            '[[workload]]\nop = "matmul"\nm = 1\nn = 1\nk = 1\n[workload.sweep]\nm = [1, 2]',
            ["key 'm'", "both directly"],
        ),
        ('[[workload]]\nop = "matmul"\nn = 1\nk = 1\n[workload.sweep]\nm = 4', ["sweep.m", "non-empty list"]),
        ('[[workload]]\nop = "matmul"\nm = 1\nn = 1\nk = 1\ndevices = ["tpu"]', ["key 'devices'", "cpu, cuda"]),
        ('[defaults]\ncausal = true\n[[workload]]\nop = "matmul"\nm = 1\nn = 1\nk = 1', ["[defaults] key 'causal'"]),
        (
            '[[workload]]\nop = "matmul"\nm = 1\nn = 1\nk = 1\n[[workload]]\nop = "matmul"\nm = 1\nn = 1\nk = 1',
            ["two workloads are named 'matmul-m1-n1-k1'", "the same workload twice"],
        ),
        (
            'nmae = "x"\n[[workload]]\nop = "matmul"\nm = 1\nn = 1\nk = 1',
            ["unknown top-level key 'nmae'", "did you mean 'name'"],
        ),
        ('name = "empty"', ["no workloads"]),
        ('[[workload]\nop = "matmul"', ["malformed TOML", "line 1"]),
    ],
)
def test_errors_name_file_entry_and_key(tmp_path, body, fragments):
    path = write(tmp_path, body)
    with pytest.raises(FlopbenchError) as info:
        load_suite(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_missing_suite_lists_the_shipped_ones():
    with pytest.raises(FlopbenchError, match="did you mean 'quick'") as info:
        load_suite("quik")
    assert "roofline" in str(info.value)


def test_command_line_values_are_toml():
    assert parse_value("8") == 8
    assert parse_value("1e6") == 1e6
    assert parse_value("[3, 5]") == [3, 5]
    assert parse_value("true") is True
    assert parse_value("same") == "same"
    w = single_workload(
        "conv2d",
        [
            "batch=1",
            "in_channels=3",
            "out_channels=8",
            "height=9",
            "width=9",
            "kernel=[3,1]",
            "padding=same",
            "dtype=bfloat16",
        ],
    )
    assert w.p["kernel"] == (3, 1) and w.p["padding"] == "same" and w.dtype == "bfloat16"
    big = single_workload("elementwise", ["kind=copy", "numel=1e6"])
    assert big.p["numel"] == 1_000_000


def test_command_line_errors():
    with pytest.raises(FlopbenchError, match="not key=value"):
        single_workload("matmul", ["m"])
    with pytest.raises(FlopbenchError, match=r"command line \(matmul\): key 'n': missing"):
        single_workload("matmul", ["m=1", "k=1"])
