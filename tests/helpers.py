"""Helpers the tests share: the CLI in this process or in a subprocess, its one-line errors, a test device and timer,
a runner on them, and results lines built by hand. Test files import from here (or from tests/fakes.py), never from
each other."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

from hypothesis import strategies as st

from flopbench.machine.roofline import Roofline
from flopbench.measuring.runner import Runner
from flopbench.measuring.timing import Measurement
from flopbench.results.schema import Device, Header, Peak, Record, RunSettings
from flopbench.workloads.ops.conv import SPATIAL

PROJECT = Path(__file__).resolve().parent.parent / "flopbench"  # the package's own modules are never forgotten

# --- the command line ------------------------------------------------------------------------------------------------


def flopbench(*args, cwd=None, check=False, env=None, timeout=None, process=False):
    """The CLI: in this process (cli, below), or with process=True in a subprocess, as a user meets it, for what only
    a process shows (start-up, signals, the interpreter's exit, limits, two processes at once)."""
    if not process:
        return cli(*args, cwd=cwd, check=check, env=env)
    result = subprocess.run(
        [sys.executable, "-m", "flopbench", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}: {result.stderr}")
    return result


QUICK_QUIET_CHECK_S = 0.05  # in-process runs watch the machine this long before they start (a run: 0.5 s)


def cli(*args, cwd=None, check=False, env=None) -> subprocess.CompletedProcess:
    """The CLI in this process: main() with its own argv, working directory, environment, stdout and stderr, as a
    subprocess would see them, without the seconds of a fresh interpreter and torch. An exception main() lets through
    fails the test, as a traceback would. Modules a command imported from the working directory (a user's model) are
    forgotten afterwards, so that another test's module of the same name is its own."""
    from flopbench.cli import main
    from flopbench.measuring import policy

    out, err = io.StringIO(), io.StringIO()
    saved = (dict(os.environ), os.getcwd(), sys.argv, list(sys.path), set(sys.modules), policy.QUIET_SAMPLE_S)
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        here = Path.cwd()
        sys.argv = ["flopbench", *map(str, args)]
        policy.QUIET_SAMPLE_S = QUICK_QUIET_CHECK_S
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        environ, cwd_before, sys.argv, sys.path[:], modules, policy.QUIET_SAMPLE_S = saved
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(cwd_before)
        for name in set(sys.modules) - modules:  # a user's modules, never an installed one (the venv may be here)
            where = getattr(sys.modules[name], "__file__", None) or ""
            if where.startswith(str(here)) and not where.startswith((sys.prefix, str(PROJECT))):
                del sys.modules[name]
    result = subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}: {result.stderr}")
    return result


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def ctrl_c_as_in_a_terminal() -> None:
    """The child's Ctrl-C at its default, as in a terminal: a test suite started in the background (`make test &`)
    ignores SIGINT, every child inherits that, and flopbench rightly keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# --- a device, a timer, a runner -------------------------------------------------------------------------------------

PEAKS = {"float32": Peak(100e9, "spec", "test sheet"), "bfloat16": Peak(400e9, "derived", "test arithmetic")}


def device(bandwidth=10e9, peaks=PEAKS, facts=None, name="Test CPU"):
    bw = Peak(bandwidth, "spec", "test sheet") if bandwidth else Peak(None, "unknown", "none")
    return Device("cpu", None, name, dict(facts or {}), dict(peaks), bw)


def measured(seconds, samples=5):
    return Measurement((seconds,) * samples, 1, "perf_counter", 1e-9)


class FixedTimer:
    """Every workload takes the same time: the runner's bookkeeping is what is tested."""

    def __init__(self, seconds):
        self.seconds = seconds

    def measure(self, fn, max_call_s=None):
        fn()
        return measured(self.seconds)


def settings(**options) -> RunSettings:
    """Run settings for a test: a short budget unless given."""
    return RunSettings(**{"min_time_s": 0.2, "max_time_s": 1.0, **options})


def runner(
    dev=None, ceilings=None, on_record=lambda r: None, timer=None, threads=1, levels=(), overhead_s=None, **options
) -> Runner:
    """A Runner on `dev` (the test CPU by default) with the given ceilings, cache levels and settings."""
    dev = dev or device()
    roofline = Roofline.build(dev, ceilings, tuple(levels), overhead_s, threads=threads)
    kwargs = {k: options.pop(k) for k in ("monitor", "clock", "meter", "world_size", "agree") if k in options}
    return Runner(dev, roofline, settings(**options), on_record, timer=timer or FixedTimer(1e-3), **kwargs)


# --- results lines by hand -------------------------------------------------------------------------------------------

GPU = Device("cuda", 0, "NVIDIA H100 80GB HBM3", {}, {}, Peak(3.35e12, "spec", "sheet"))


def header(**extra) -> Header:
    return Header(
        **{
            "run_id": "abc",
            "started_at": "2026-01-01T00:00:00",
            "host": "box",
            "torch": "2.5",
            "threads": 4,
            "device": GPU,
            **extra,
        }
    )


def record(name, time_s=1e-3, **extra) -> Record:
    fields = dict(
        name=name,
        op="matmul",
        family="matmul",
        dtype="float32",
        params={"m": 8, "n": 4, "k": 2},
        identity=name,
        core_flops=128,
        macs=64,
        elementwise_flops=0,
        total_flops=128,
        bytes=224,
        intensity=128 / 224,
        status="ok",
        time_s=time_s,
        total_flops_per_s=128 / time_s,
        core_flops_per_s=128 / time_s,
        samples_s=[time_s, time_s],
    )
    fields.update(extra)
    return Record(**fields)


# --- shapes ----------------------------------------------------------------------------------------------------------

small = st.integers(1, 8)


@st.composite
def conv_params(draw, ndim):
    groups = draw(st.integers(1, 4))
    kernel = [draw(st.integers(1, 7)) for _ in range(ndim)]
    dilation = [draw(st.integers(1, 3)) for _ in range(ndim)]
    padding_style = draw(st.sampled_from(["ints", "int", "same", "valid"]))
    stride = [1] * ndim if padding_style == "same" else [draw(st.integers(1, 3)) for _ in range(ndim)]
    padding = {
        "ints": [draw(st.integers(0, 3)) for _ in range(ndim)],
        "int": draw(st.integers(0, 3)),
        "same": "same",
        "valid": "valid",
    }[padding_style]
    pads = padding if isinstance(padding, list) else [padding if isinstance(padding, int) else 0] * ndim
    params = dict(
        batch=draw(st.integers(1, 4)),
        in_channels=groups * draw(small),
        out_channels=groups * draw(small),
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=draw(st.booleans()),
    )
    for name, k, d, pad in zip(SPATIAL[ndim], kernel, dilation, pads):
        # At least the kernel's span (so the convolution is valid), up to a realistic size.
        params[name] = max(1, d * (k - 1) + 1 - 2 * pad) + draw(st.integers(0, 40 if ndim < 3 else 12))
    return params
