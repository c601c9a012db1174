"""Implementations (flopbench.workloads.impls): the same counts under every one, compile time apart from the samples,
the budget judged after compilation, recompilations warned, skips with torch's reason; fusion chains counted by hand.
The compile tests use a fake compiler: no real compilation, except one small one at the end."""

import textwrap

import pytest

from flopbench import formulas
from flopbench.errors import FlopbenchError, SpecError
from flopbench.measuring.admission import Cause
from flopbench.workloads import OPS, impls, make_workload
from tests.conftest import EXAMPLES
from tests.helpers import FixedTimer, device, runner


@pytest.mark.parametrize("op", sorted(set(OPS) - {"all_reduce", "all_gather", "reduce_scatter", "broadcast"}))
def test_every_implementation_of_a_workload_carries_the_same_counts(op):
    workloads = [make_workload(op, EXAMPLES[op], impl=impl) for impl in OPS[op].impls]
    assert len({w.counts for w in workloads}) == 1
    assert len({w.identity for w in workloads}) == len(workloads)  # the implementation is part of the identity
    eager = workloads[0]
    assert eager.impl == "eager" and eager.identity.count('"') == make_workload(op, EXAMPLES[op]).identity.count('"')


def test_an_op_declares_its_implementations_and_a_wrong_one_is_a_clear_error():
    assert "sdpa-flash" in OPS["attention"].impls and "sdpa-flash" not in OPS["matmul"].impls
    assert "channels-last" in OPS["conv2d"].impls and "channels-last" not in OPS["conv1d"].impls
    assert OPS["all_reduce"].impls == ("eager",)
    with pytest.raises(SpecError, match="matmul does not run as sdpa-flash: it runs as eager, compile"):
        make_workload("matmul", EXAMPLES["matmul"], impl="sdpa-flash")
    with pytest.raises(SpecError, match="unknown implementation 'compiled' \\(did you mean 'compile'\\?\\)"):
        make_workload("matmul", EXAMPLES["matmul"], impl="compiled")


def test_names_say_the_implementation():
    w = make_workload("matmul", {"m": 8, "n": 8, "k": 8}, impl="compile")
    assert w.name == "matmul-m8-n8-k8-compile" and w.identity.endswith('"compile"]')


# --- a fake compiler -------------------------------------------------------------------------------------------------


class FakeCompiler:
    """torch.compile's stand-in: the first call of a compiled function 'compiles' (a graph counted, seconds passed on
    the runner's clock); `recompile_on` calls compile again."""

    def __init__(self, clock, compile_s=14.0, recompile_on=()):
        self.graphs, self.clock, self.compile_s, self.recompile_on = 0, clock, compile_s, set(recompile_on)
        self.compiled = []

    def __call__(self, fn, mode):
        self.compiled.append(mode)
        calls = [0]

        def compiled():
            calls[0] += 1
            if calls[0] == 1 or calls[0] in self.recompile_on:
                self.graphs += 1
                self.clock.now += self.compile_s
            return fn()

        return compiled


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def fake(monkeypatch):
    clock = Clock()
    compiler = FakeCompiler(clock)
    monkeypatch.setitem(impls.COMPILER, "compile", compiler)
    monkeypatch.setattr(impls, "graphs", lambda: compiler.graphs)
    return compiler


class CountingTimer(FixedTimer):
    """Calls the function (each call may 'recompile') and records what the cap was."""

    def __init__(self, seconds, calls=3):
        super().__init__(seconds)
        self.calls, self.caps = calls, []

    def measure(self, fn, max_call_s=None):
        self.caps.append(max_call_s)
        for _ in range(self.calls):
            fn()
        return super().measure(lambda: None, max_call_s)


def test_compile_time_is_recorded_apart_and_never_a_sample(fake):
    timer = CountingTimer(2e-3)
    r = runner(timer=timer, clock=fake.clock, rounds=2, max_call_s=2.0)
    record = r.run_one(make_workload("ln_gelu_residual", {"rows": 64, "cols": 128}, impl="compile"))
    assert record.status == "ok" and record.compile_s == pytest.approx(14.0)
    assert record.time_s == 2e-3 and max(record.pooled_samples_s) == 2e-3  # the 14 s first call is no sample
    assert record.recompiles == 0 and fake.compiled == ["default"]  # compiled once, kept for both rounds
    assert record.check_error is not None and record.check_error <= record.check_tolerance  # checked at full size


def test_the_cap_judges_the_first_call_after_compilation(fake):
    """A 14 s compile under --max-call-s 2 is not skipped as too slow: the cap is the timer's, after compiling."""
    timer = CountingTimer(2e-3)
    r = runner(timer=timer, clock=fake.clock, max_call_s=2.0)
    record = r.run_one(make_workload("matmul", {"m": 32, "n": 32, "k": 32}, impl="compile"))
    assert record.status == "ok" and timer.caps == [2.0]


def test_a_recompilation_while_timed_is_warned(fake):
    fake.recompile_on = {3}  # the second call inside the timed window compiles again
    record = runner(timer=CountingTimer(2e-3), clock=fake.clock).run_one(
        make_workload("matmul", {"m": 32, "n": 32, "k": 32}, impl="compile")
    )
    assert record.recompiles == 1
    assert any("recompiled: compile compiled again 1 time while it was timed" in w for w in record.warnings)


def test_a_compiler_that_fails_is_a_skip_with_its_reason(monkeypatch):
    def broken(fn, mode):
        def call():
            raise RuntimeError("inductor: no C compiler\nmore text")

        return call

    monkeypatch.setitem(impls.COMPILER, "compile", broken)
    record = runner().run_one(make_workload("matmul", {"m": 32, "n": 32, "k": 32}, impl="compile"))
    assert (record.status, record.cause) == ("skipped", Cause.UNSUPPORTED)
    assert record.reason == "compile: RuntimeError: inductor: no C compiler"


def test_an_implementation_this_device_cannot_run_is_skipped_with_the_reason():
    r = runner()
    cudnn = r.run_one(make_workload("attention", EXAMPLES["attention"], impl="sdpa-cudnn"))
    assert (cudnn.status, cudnn.cause) == ("skipped", Cause.UNSUPPORTED) and "cuda only" in cudnn.reason
    graphs = r.run_one(make_workload("matmul", EXAMPLES["matmul"], impl="compile-reduce-overhead"))
    assert graphs.status == "skipped" and "compile-reduce-overhead runs on cuda only" in graphs.reason


def test_a_backend_torch_refuses_is_a_skip_with_torchs_words():
    import torch

    q = torch.randn(1, 2, 8, 16)
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        with sdpa_kernel(SDPBackend.EFFICIENT_ATTENTION):
            torch.nn.functional.scaled_dot_product_attention(q, q, q)
        pytest.skip("this PyTorch runs the memory-efficient backend on this device")
    except RuntimeError:
        pass
    record = runner().run_one(make_workload("attention", EXAMPLES["attention"], impl="sdpa-efficient"))
    assert (record.status, record.cause) == ("skipped", Cause.UNSUPPORTED)
    assert record.reason.startswith("sdpa-efficient: RuntimeError: No viable backend")


def test_the_sdpa_kernel_that_ran_is_recorded():
    r = runner()
    math = r.run_one(make_workload("attention", EXAMPLES["attention"], impl="sdpa-math"))
    assert math.status == "ok" and math.attention_backend == "math"


def test_channels_last_and_onednn_are_checked_like_any_implementation():
    r = runner()
    conv = r.run_one(make_workload("conv2d", EXAMPLES["conv2d"], impl="channels-last"))
    assert conv.status == "ok" and conv.check_error <= conv.check_tolerance
    gemm = r.run_one(make_workload("matmul", {"m": 48, "n": 32, "k": 64}, impl="onednn"))
    assert gemm.status == "ok" and gemm.check_error <= gemm.check_tolerance


# --- fusion chains ---------------------------------------------------------------------------------------------------


def test_fusion_chains_by_hand():
    r, c = 8, 16
    ln = make_workload("ln_gelu_residual", {"rows": r, "cols": c}).counts
    assert ln.flops == 0 and ln.elementwise_flops == (7 + 5 + 1) * r * c + 4 * r
    assert ln.bytes == (2 * r * c + 2 * c) * 4 and ln.eager_bytes == (11 * r * c + 2 * c + 2 * r) * 4
    t, i, o = 4, 6, 5
    lin = make_workload("linear_bias_gelu", {"tokens": t, "in_features": i, "out_features": o}).counts
    assert lin.flops == 2 * t * i * o and lin.elementwise_flops == 6 * t * o
    assert lin.bytes == (t * i + o * i + o + t * o) * 4 and lin.eager_bytes == lin.bytes + 4 * t * o * 4
    b, h, length, d = 1, 2, 10, 4
    attention = make_workload("attention_by_hand", {"batch": b, "heads": h, "seq_len": length, "head_dim": d})
    plain = make_workload("attention", {"batch": b, "heads": h, "seq_len": length, "head_dim": d}).counts
    assert attention.counts.flops == plain.flops and attention.counts.elementwise_flops == plain.elementwise_flops
    assert attention.counts.eager_bytes == (4 * b * h * length * d + 6 * b * h * length**2) * 4
    assert formulas.ln_gelu_residual(r, c)[3] == 6 * r * c + 2 * c + 2 * r  # what an eager call touches


def test_the_flop_counter_agrees_on_the_chains_contractions():
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    for op, p in [
        ("linear_bias_gelu", {"tokens": 4, "in_features": 6, "out_features": 5}),
        ("attention_by_hand", {"batch": 1, "heads": 2, "seq_len": 10, "head_dim": 4}),
    ]:
        w = make_workload(op, p)
        tensors = w.spec.inputs(w.p, torch.float32, torch.device("meta"), torch.Generator())
        with FlopCounterMode(display=False) as mode:
            w.spec.forward(w.p, tensors)
        assert mode.get_total_flops() == w.counts.flops, op


def test_an_eager_chain_touches_its_intermediates_and_a_compiled_one_only_its_data():
    w = make_workload("ln_gelu_residual", {"rows": 64, "cols": 128})
    assert w.spec.working_set(w.p, w.dtype, "eager") == (6 * 64 * 128 + 2 * 128 + 2 * 64) * 4
    assert w.spec.working_set(w.p, w.dtype, "compile") is None  # its compulsory bytes


# --- suites and the command line -------------------------------------------------------------------------------------


def test_a_suite_sweeps_implementations_like_any_key(tmp_path):
    from flopbench.workloads.suite import load_suite

    path = tmp_path / "s.toml"
    path.write_text(
        textwrap.dedent(
            """
            [[workload]]
            op = "attention"
            name = "a"
            batch = 1
            heads = 2
            seq_len = 16
            head_dim = 8
            [workload.sweep]
            impl = ["eager", "sdpa-math"]
            """
        )
    )
    suite = load_suite(path)
    assert [(w.name, w.impl) for w in suite.workloads] == [("a-eager", "eager"), ("a-sdpa-math", "sdpa-math")]
    path.write_text('[[workload]]\nop = "matmul"\nm = 8\nn = 8\nk = 8\nimpl = "sdpa-flash"\n')
    with pytest.raises(FlopbenchError, match="workload 1: key 'impl': matmul does not run as sdpa-flash"):
        load_suite(path)


def test_run_impl_expands_each_workload_where_its_op_runs_under_it(capsys):
    from dataclasses import replace

    from flopbench.workloads.selection import Selection, select

    selection = Selection(("quick",), impl="eager,sdpa-flash")
    workloads, _ = select(selection)
    attention = [w for w in workloads if w.op == "attention"]
    assert {w.impl for w in attention} == {"eager", "sdpa-flash"}
    assert {w.impl for w in workloads if w.op == "matmul"} == {"eager"}
    err = capsys.readouterr().err
    assert "--impl eager,sdpa-flash:" in err and "left out" in err and "as sdpa-flash (matmul does not run" in err
    with pytest.raises(FlopbenchError, match="unknown implementation 'flash'"):
        select(replace(selection, impl="flash"))


# --- one real compile ------------------------------------------------------------------------------------------------


def test_one_real_compile_of_a_small_chain(tmp_path, monkeypatch):
    """torch.compile for real, once in the suite (10-20 s on 2 cores): compiled, checked, timed, faster or not."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    record = runner(timer=FixedTimer(1e-3)).run_one(
        make_workload("ln_gelu_residual", {"rows": 64, "cols": 256}, impl="compile")
    )
    assert record.status == "ok", record.reason
    assert record.compile_s > 0 and record.compile_cache in ("cold", "warm") and record.recompiles == 0
    assert record.check_error <= record.check_tolerance


def test_device_unavailability_is_known_before_a_call():
    assert impls.IMPLS["sdpa-cudnn"].unavailable(OPS["attention"], "cpu", "float32")
    assert impls.IMPLS["onednn"].unavailable(OPS["matmul"], "cpu", "float64")
    assert impls.IMPLS["onednn"].unavailable(OPS["matmul"], "cuda", "float32")
    assert impls.IMPLS["compile"].unavailable(OPS["matmul"], "cpu", "float32") is None
    assert device().type == "cpu"


# --- the call each implementation times (issue 47: like forms) -------------------------------------------------------


def test_a_compiled_implementation_times_the_call_that_returns_its_output(fake):
    """torch.compile of a call into a preallocated output adds a copy into it: a compiled function is timed in the form
    its users write, which returns a new output; eager keeps its call into the buffer unless asked (an A/B of
    implementations asks both sides), and each record says which form it timed."""
    import dataclasses

    compiled = make_workload("matmul", {"m": 8, "n": 8, "k": 8}, impl="compile")
    eager = make_workload("matmul", {"m": 8, "n": 8, "k": 8})
    assert compiled.call_form == "returns" and eager.call_form == "out"
    asked = dataclasses.replace(eager, returning=True)
    assert asked.call_form == "returns" and asked.identity == eager.identity  # the same measurement, another form
    p, tensors = eager.inputs_for("cpu")
    out = tensors["out"]
    assert impls.IMPLS["eager"].callable(eager.spec, p, tensors)() is out  # into the preallocated buffer
    fresh = impls.IMPLS["eager"].callable(eager.spec, p, tensors, returning=True)()
    assert fresh is not out and fresh.data_ptr() != out.data_ptr()
    assert impls.IMPLS["compile"].callable(compiled.spec, p, tensors)() is not out
    add = make_workload("elementwise", {"kind": "relu", "numel": 64})
    p, tensors = add.inputs_for("cpu")
    assert impls.IMPLS["eager"].callable(add.spec, p, tensors, returning=True)() is not tensors["out"]
    assert make_workload("softmax", {"rows": 4, "cols": 8}).call_form == "returns"  # no buffer: one form only


def test_records_say_their_call_form_and_compare_names_a_difference(fake, tmp_path):
    import dataclasses

    from flopbench.reading.comparison import compare
    from flopbench.reading.view import load_views
    from flopbench.results.files import ResultsWriter, read_run
    from tests.fakes import fake_device, write_run

    r = runner(timer=CountingTimer(2e-3), clock=fake.clock, rounds=2)
    w = make_workload("matmul", {"m": 16, "n": 16, "k": 16})
    assert r.run_one(w).call_form == "out"
    assert r.run_one(dataclasses.replace(w, returning=True)).call_form == "returns"
    paths = []
    for name, form in (("a", "out"), ("b", "returns")):
        run = read_run(write_run(tmp_path / f"plain-{name}.jsonl", fake_device()))
        writer = ResultsWriter.create(tmp_path / f"{name}.jsonl", run.header)
        for record in run.records:
            writer.record(record.model_copy(update={"call_form": form}))
        writer.close()
        paths.append(tmp_path / f"{name}.jsonl")
    warnings = compare(load_views(paths)).warnings
    assert any(w.startswith("the runs differ in the timed call's form") and "A: out; B: returns" in w for w in warnings)
