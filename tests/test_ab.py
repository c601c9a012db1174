"""flopbench ab: the ABBA order of paired blocks (flopbench.measuring.paired) on fake timers, the merge of whole
processes' rounds, and the command end to end: in one process (A/A and two implementations), its files read by
compare, report and export, Ctrl-C and --resume, its one-line refusals, and two Pythons alternating."""

import json
import sys

import pytest

from flopbench.commands.ab.processes import sides
from flopbench.measuring.paired import PairedTimer, Side, merge_rounds
from flopbench.measuring.timing import Budget
from tests.helpers import assert_one_line_error, flopbench


class LogTimer:
    """A timer that logs what it was asked to do: warm-ups, the untimed calls and the timed samples."""

    name, resolution_s = "fake", 1e-9

    def __init__(self, log, label, seconds=1e-3, min_samples=3):
        self.log, self.label, self.seconds = log, label, seconds
        self.budget = Budget(min_time_s=0.0, max_time_s=1.0, min_samples=min_samples, target_rel_iqr=1.0)

    def warm(self, fn, max_call_s=None):
        self.log.append(f"warm {self.label}")
        return self.seconds

    def block_calls(self, per_call_s, samples=20):
        return 4

    def sample(self, fn, calls):
        self.log.append(f"sample {self.label}")
        return self.seconds


def _side(log, label):
    return Side(lambda: log.append(f"call {label}"), lambda: log.append(f"enter {label}"))


def test_blocks_alternate_abba_with_an_untimed_call_after_each_switch():
    log = []
    timer = PairedTimer((LogTimer(log, "A"), LogTimer(log, "B")), max_pairs=4)
    measured = timer.measure(_side(log, "A"), _side(log, "B"))
    timed = [entry for entry in log if entry.startswith(("sample", "call", "enter"))]
    blocks = [timed[i : i + 3] for i in range(2, len(timed), 3)]  # after the two warm-ups' enters
    order = [block[2].split()[1] for block in blocks]
    # The budget's 3 samples a side, rounded up to a whole ABBA: a round ends only after a BA pair, so that an effect
    # of coming first falls on each side equally within the round.
    assert order == ["A", "B", "B", "A", "A", "B", "B", "A"]
    assert all(block == [f"enter {s}", f"call {s}", f"sample {s}"] for block, s in zip(blocks, order))
    assert measured.pairs == (0, 1, 2, 3) and len(measured.a.samples_s) == len(measured.b.samples_s) == 4
    assert measured.a.calls_per_sample == 4
    log.clear()
    again = timer.measure(_side(log, "A"), _side(log, "B"))
    assert again.pairs == (4, 5, 6, 7)  # a workload's pair ids never repeat across its rounds
    timed = [entry for entry in log if entry.startswith("sample")]
    assert [entry.split()[1] for entry in timed] == ["B", "A", "A", "B", "B", "A", "A", "B"]  # B starts round 2


def test_pairs_stop_at_the_cap_even_when_the_budget_wants_more():
    log = []
    timers = (LogTimer(log, "A", min_samples=50), LogTimer(log, "B", min_samples=50))
    assert len(PairedTimer(timers, max_pairs=6).measure(_side(log, "A"), _side(log, "B")).pairs) == 6
    assert len(PairedTimer(timers, max_pairs=5).measure(_side(log, "A"), _side(log, "B")).pairs) == 6  # whole ABBAs
    assert len(PairedTimer(timers, max_pairs=1).measure(_side(log, "A"), _side(log, "B")).pairs) == 2  # at least 2


def test_processes_of_two_pythons_alternate_abba():
    assert [sides(k) for k in range(3)] == ["AB", "BA", "AB"]


def test_merged_rounds_are_summarised_and_placed_again_from_every_process(tmp_path):
    """Three processes' one-round records of one workload: one record with three rounds tagged by pair, its figure the
    median of the round medians, its FLOP/s from that figure."""
    from flopbench.machine.roofline import Roofline
    from flopbench.results.schema import RunSettings
    from flopbench.workloads import make_workload
    from tests.fakes import fake_device, measured_record

    w = make_workload("matmul", dict(m=64, n=64, k=64))
    device = fake_device()
    roofline = Roofline.build(device, threads=2)
    taken = []
    for pair, seconds in enumerate((1e-3, 3e-3, 2e-3)):
        record = measured_record(w, seconds, device, roofline)
        from flopbench.results.schema import Round

        one = Round(round=0, position=0, time_s=seconds, samples_s=[seconds] * 3, calls_per_sample=1)
        taken.append((pair, record.model_copy(update={"rounds": [one]})))
    merged = merge_rounds(taken, w, roofline, RunSettings(min_time_s=0.2, max_time_s=1.0), device, 2)
    assert [r.pairs for r in merged.rounds] == [[0, 0, 0], [1, 1, 1], [2, 2, 2]]
    assert [r.round for r in merged.rounds] == [0, 1, 2]
    assert merged.time_s == pytest.approx(2e-3) and merged.total_flops_per_s == pytest.approx(
        w.counts.total_flops / 2e-3
    )
    assert any(warning.startswith("unstable:") for warning in merged.warnings)  # 1 to 3 ms: the rounds disagree
    # The ledger is the merged figure's: its residual step ends at the merged time (each process's record had its own).
    assert merged.ledger is not None and merged.ledger[-1].name == "residual"
    assert merged.ledger[-1].ideal_s == pytest.approx(merged.time_s)
    assert merged.energy_source == "unknown"  # no round was metered


SUITE = """
name = "tiny"

[[workload]]
op = "matmul"
m = 64
n = 64
k = 64

[[workload]]
op = "elementwise"
kind = "add"
numel = 4096
"""


@pytest.fixture
def suite(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE)
    return path


FAST = ("--min-time", "0.002", "--pairs", "4", "--rounds", "2", "--max-rounds", "2", "--no-measure")


def test_an_aa_run_in_one_process_writes_two_paired_files_that_compare_reads(in_process, suite, tmp_path):
    done = in_process("ab", str(suite), "--impl", "eager,eager", "-o", "ab", "--format", "json", *FAST)
    assert done.returncode == 0, done.stderr
    a, b = tmp_path / "ab" / "A.jsonl", tmp_path / "ab" / "B.jsonl"
    from flopbench.results.files import read_run

    runs = [read_run(a), read_run(b)]
    assert [run.header.pairing.side for run in runs] == ["A", "B"]
    assert runs[0].header.pairing.session == runs[1].header.pairing.session
    assert {r.pair_key for r in runs[0].records} == {r.pair_key for r in runs[1].records} and len(runs[0].records) == 2
    for ra, rb in zip(runs[0].records, runs[1].records):
        assert [r.pairs for r in ra.rounds] == [r.pairs for r in rb.rounds]
        ids = [p for r in ra.rounds for p in r.pairs]
        assert len(ids) == len(set(ids)) == 8  # 2 rounds x 4 pairs, each id once (a retried round's ids are spent)
    data = json.loads(done.stdout)
    assert "paired (interleaved in one process)" in data["how"][0]
    assert {row["interval_from[B]"] for row in data["workloads"]} == {"rounds"}
    assert "compare them again with: flopbench compare" in done.stderr
    for command in (("report", str(a), str(b), "-o", "rep"), ("export", str(a), "--to", "csv", "-o", "a.csv")):
        assert in_process(*command).returncode == 0


def test_two_implementations_pair_by_the_suite_workload(in_process, tmp_path):
    """eager against channels-last: the convolution pairs (its identity in the suite is the pair key), the matmul,
    which has no channels-last form, is left out with a warning."""
    suite = tmp_path / "conv.toml"
    suite.write_text(
        SUITE.replace(
            'op = "elementwise"\nkind = "add"\nnumel = 4096',
            'op = "conv2d"\nbatch = 1\nin_channels = 8\nout_channels = 8\nheight = 8\nwidth = 8\nkernel = 3',
        )
    )
    done = in_process("ab", str(suite), "--impl", "eager,channels-last", "-o", "ab", *FAST)
    assert done.returncode in (0, 2), done.stderr
    assert "--impl channels-last: 1 left out: matmul" in done.stderr
    from flopbench.results.files import read_run

    (ra,), (rb,) = read_run(tmp_path / "ab" / "A.jsonl").records, read_run(tmp_path / "ab" / "B.jsonl").records
    assert ra.pair_key == rb.pair_key and (ra.impl, rb.impl) == ("eager", "channels-last") and ra.op == "conv2d"
    assert (ra.call_form, rb.call_form) == ("returns", "returns")  # both sides: the call that returns its output
    assert "both sides time the call as its users write it" in done.stderr


@pytest.mark.parametrize(
    "args, fragments",
    [
        (("--impl", "eager,nope"), ("--impl eager,nope", "unknown value 'nope'")),
        (("--impl", "eager"), ("--impl eager", "expected two values")),
        (("--impl", "eager,eager", "--dtype", "float32,bfloat16"), ("--impl and --dtype",)),
        ((), ("none given",)),
        (("--threads", "1,x"), ("'x' is not a thread count",)),
        (("--python", sys.executable), ("give it twice",)),
        (("--python", "/no/python", "--python", sys.executable), ("--python /no/python: no such program",)),
        (("--python", "/bin/true", "--python", "/bin/true"), ("--python /bin/true",)),
        (("--tf32", "off,on"), ("TF32 is a CUDA setting",)),
        (("--matmul-precision", "highest,low"), ("--matmul-precision highest,low", "unknown value 'low'")),
        (("--cache", "warm,cold", "--matmul-precision", "highest,high"), ("--cache and --matmul-precision",)),
        (("--impl", "eager,eager", "--resume", "nowhere"), ("--resume nowhere: no A/B run there",)),
    ],
)
def test_bad_input_is_one_line(in_process, suite, args, fragments):
    assert_one_line_error(in_process("ab", str(suite), *args, *FAST), *fragments)


def test_an_axis_is_a_kind_whose_side_values_set_each_sides_session(suite, tmp_path):
    """--matmul-precision highest,medium: each side's settings say its precision (its header records it), the cache
    default stays the session's (warm on a CPU), and what enters a side sets torch's precision for its blocks."""
    import argparse

    import torch

    from flopbench.cli import build_parser
    from flopbench.commands.ab.axis import MatmulPrecision, axis_of
    from flopbench.commands.ab.inprocess import selection_and_settings, side_session
    from flopbench.machine.resolve import Machine
    from tests.fakes import fake_device

    args = build_parser().parse_args(["ab", str(suite), "--matmul-precision", "highest,medium"])
    axis = axis_of(args)
    assert isinstance(axis, MatmulPrecision) and axis.values == ("highest", "medium") and not axis.same
    _, settings = selection_and_settings(args)
    machine = Machine(fake_device(), 2, {}, None)
    sides = [side_session(machine, settings, axis, value) for value in axis.values]
    assert [s.settings.matmul_precision for s in sides] == ["highest", "medium"]
    assert [s.settings.cache for s in sides] == ["warm", "warm"]
    was = torch.get_float32_matmul_precision()
    try:
        axis.enter(machine, "medium")()
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision(was)
    # An axis the option does not name is no axis; two named are refused (test_bad_input_is_one_line).
    assert not MatmulPrecision.given(argparse.Namespace(matmul_precision=None))


def test_the_session_sets_the_matmul_precision_it_is_given_and_restores_torchs():
    import torch

    from flopbench.measuring.runner import torch_settings

    was = torch.get_float32_matmul_precision()
    with torch_settings("cpu", torch.get_num_threads(), False, "medium"):
        assert torch.get_float32_matmul_precision() == "medium"
    assert torch.get_float32_matmul_precision() == was
    with torch_settings("cpu", torch.get_num_threads(), False):
        assert torch.get_float32_matmul_precision() == was  # none given: left as torch had it


def test_ctrl_c_keeps_the_pairs_measured_and_resume_finishes_them(in_process, suite, tmp_path, monkeypatch):
    from flopbench.measuring import paired

    real, calls = paired.PairRunner._round, []

    def interrupted(self, pair, step):
        calls.append(step)
        if len(calls) == 3:  # the second workload's first round
            raise KeyboardInterrupt
        return real(self, pair, step)

    monkeypatch.setattr(paired.PairRunner, "_round", interrupted)
    stopped = in_process("ab", str(suite), "--impl", "eager,eager", "-o", "ab", *FAST)
    assert stopped.returncode == 130 and "continue with" in stopped.stderr and "--resume ab" in stopped.stderr
    monkeypatch.setattr(paired.PairRunner, "_round", real)
    resumed = in_process("ab", str(suite), "--impl", "eager,eager", "--resume", "ab", *FAST)
    assert resumed.returncode == 0, resumed.stderr
    from flopbench.results.files import read_run

    for side in "AB":
        records = read_run(tmp_path / "ab" / f"{side}.jsonl").records
        assert sorted(r.status for r in records).count("ok") >= 2
        assert len({r.pair_key for r in records if r.status == "ok"}) == 2
    other = in_process("ab", str(suite), "--dtype", "float32,bfloat16", "--resume", "ab", *FAST)
    assert_one_line_error(other, "--resume ab: it holds another A/B run")
    suite.write_text(SUITE.replace("m = 64", "m = 32"))
    changed = in_process("ab", str(suite), "--impl", "eager,eager", "--resume", "ab", *FAST)
    assert_one_line_error(changed, "--resume ab: it measured other suites (tiny, or another version of them)")


def test_two_pythons_alternate_whole_processes_and_merge_each_side(tmp_path, suite):
    """The project's own Python on both sides (an A/A across processes): two pairs of processes, ABBA, merged into
    one file per side whose rounds are the processes, paired by their order."""
    done = flopbench(
        "ab",
        str(suite),
        "--python",
        sys.executable,
        "--python",
        sys.executable,
        "--rounds",
        "2",
        "--max-rounds",
        "2",
        "--min-time",
        "0.002",
        "--no-measure",
        "-o",
        str(tmp_path / "ab"),
        process=True,
        timeout=300,
    )
    assert done.returncode in (0, 2), done.stderr  # 2 pairs of processes may well be inconclusive
    assert "side A, process 2 of 2" in done.stderr and "alternating processes" in done.stdout
    from flopbench.results.files import read_run

    a = read_run(tmp_path / "ab" / "A.jsonl")
    assert a.header.pairing.how == "processes" and a.header.pairing.axis == "python"
    for record in a.records:
        assert [r.pairs[0] for r in record.rounds] == [0, 1]
    assert sorted(p.name for p in (tmp_path / "ab" / "processes").iterdir()) == [
        "A-0.jsonl",
        "A-1.jsonl",
        "B-0.jsonl",
        "B-1.jsonl",
    ]


def test_more_pairs_of_processes_run_only_the_workloads_still_open(tmp_path, monkeypatch):
    """After the planned pairs, another pair runs (ABBA going on) with --only the workloads whose comparison is still
    short of the threshold, until none is, or --max-rounds pairs, or --max-time."""
    import argparse

    from flopbench.commands.ab import processes
    from flopbench.commands.ab.axis import Python

    ran, still = [], [["gemm-a", "relu"], ["relu"], []]
    monkeypatch.setattr(processes, "check_python", lambda python: "flopbench x, torch y")
    monkeypatch.setattr(processes, "selection_and_settings", lambda args: (None, None))
    monkeypatch.setattr("flopbench.workloads.selection.select", lambda selection: ([], []))
    monkeypatch.setattr(processes, "merge_sides", lambda *a: (tmp_path / "A.jsonl", tmp_path / "B.jsonl"))
    monkeypatch.setattr(processes, "open_rows", lambda *a: still.pop(0))
    monkeypatch.setattr(processes, "run_one", lambda args, axis, d, k, side, only, what: ran.append((k, side, only)))
    args = argparse.Namespace(
        rounds=2, max_rounds=10, max_time=None, fail_slower=None, threshold=None, suites=["s"], quick=False
    )
    processes.run_processes(args, Python(("a", "b")), tmp_path)
    assert [(k, side) for k, side, _ in ran] == [
        (0, "A"),
        (0, "B"),
        (1, "B"),
        (1, "A"),
        (2, "A"),
        (2, "B"),
        (3, "B"),
        (3, "A"),
    ]
    assert [only for k, _, only in ran if k == 2] == ["^(?:gemm\\-a|relu)$"] * 2
    assert [only for k, _, only in ran if k == 3] == ["^(?:relu)$"] * 2
    ran.clear()
    still[:] = [["relu"]] * 10
    processes.run_processes(argparse.Namespace(**{**vars(args), "max_rounds": 3}), Python(("a", "b")), tmp_path)
    assert max(k for k, _, _ in ran) == 2  # --max-rounds 3: pairs 0, 1 and 2


def test_sides_share_their_inputs_only_where_the_inputs_are_the_same():
    """Two builds of one workload differ by where their tensors landed; sides that take the same inputs share one set
    (an A/A, eager and compile), sides whose inputs differ (two dtypes, a layout) each have their own."""
    from dataclasses import replace

    from flopbench.measuring.paired import SharedInputs
    from flopbench.workloads import make_workload

    conv = make_workload("conv2d", dict(batch=1, in_channels=4, out_channels=4, height=8, width=8, kernel=3, padding=1))
    key = SharedInputs.key
    assert key(conv) == key(replace(conv, impl="compile")) == key(replace(conv))
    assert key(conv) != key(replace(conv, impl="channels-last"))
    assert key(conv) != key(replace(conv, dtype="bfloat16"))
    shared = SharedInputs("cpu")
    first, again = shared(conv), shared(replace(conv, impl="compile"))
    assert first is again and shared(replace(conv, dtype="bfloat16")) is not first
    shared.drop()
    assert shared(conv) is not first  # the next round's inputs are new (both sides' again)
