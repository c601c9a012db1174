"""A workload's figures from its rounds (flopbench.measuring.summary), by hand: the figure is the median of the round
medians, the spread pools every round's samples, the rounds' span flags it unstable, the most disturbed round speaks
for the record, and energy is the metered rounds' average power times the median call."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flopbench.measuring.energy import Reading
from flopbench.measuring.summary import energy_part, pooled, summarize, timing_part, trust_part
from flopbench.measuring.timing import Measurement
from flopbench.results.schema import Interference, Round


def _watch(busy: bool = False, reasons: tuple[str, ...] = (), other: float | None = None, canary: float = 0.0):
    return Interference(
        window_s=1.0,
        usable_cpus=2,
        threads=2,
        other_cpus=other,
        canary_slowdown=canary,
        busy=busy,
        reasons=list(reasons),
    )


def _round(index: int, time_s: float, watch: Interference | None = None) -> Round:
    return Round(round=index, position=0, time_s=time_s, samples_s=[time_s], calls_per_sample=1, interference=watch)


def _measured(*samples: float, faults: float | None = None, timer: str = "perf_counter") -> Measurement:
    return Measurement(tuple(samples), 1, timer, 1e-9, (), faults)


# --- pooled and timing_part ------------------------------------------------------------------------------------------


def test_pooling_keeps_every_sample_the_first_rounds_timer_and_the_median_of_the_faults():
    together = pooled(
        [_measured(1.0, 2.0, faults=1.0), _measured(3.0, faults=None, timer="b"), _measured(4.0, faults=5.0)]
    )
    assert together.samples_s == (1.0, 2.0, 3.0, 4.0)
    assert together.timer == "perf_counter" and together.resolution_s == 1e-9
    assert together.page_faults_per_call == 3.0  # the median of 1 and 5: the unmetered round is left out
    assert pooled([_measured(1.0)]).page_faults_per_call is None


def test_timing_part_takes_the_figure_given_else_the_samples_median():
    measured = _measured(1.0, 2.0, 6.0)
    assert timing_part(measured).time_s == 2.0
    assert timing_part(measured, 5.0).time_s == 5.0
    assert timing_part(measured, None, time_min_s=0.5).time_min_s == 0.5  # a round's field replaces the samples'


# --- summarize -------------------------------------------------------------------------------------------------------


def test_the_figure_is_the_median_of_round_medians_and_their_span_flags_it():
    rounds = [_round(0, 1.0), _round(1, 1.2), _round(2, 1.1)]
    summary = summarize(rounds, [_measured(1.0), _measured(1.2), _measured(1.1)], planned_rounds=3)
    assert summary.time_s == 1.1
    assert summary.timing.round_spread == pytest.approx(0.2 / 1.1)
    assert summary.timing.stable is False  # 1.0, 1.2, 1.1: known to +-25% (t(2) 4.303 x 0.0913 / sqrt 3)
    assert summary.timing.time_precision == pytest.approx(
        math.exp(4.302653 * np.std(np.log([1.0, 1.2, 1.1]), ddof=1) / math.sqrt(3)) - 1
    )
    assert summary.timing.timed_s == pytest.approx(3.3)  # every round's timed seconds
    assert summary.timing.samples_s == [] and len(summary.timing.rounds) == 3  # each sample kept once, in its round
    assert any(w.startswith("unstable: its 3 rounds leave it known to ±25%") for w in summary.warnings)
    assert not any(w.startswith("fewer rounds") for w in summary.warnings)


def test_the_figure_is_the_rounds_not_the_pooled_samples_median():
    """Three samples at 1.0 in the first round outvote the others pooled; the rounds' medians do not."""
    rounds = [_round(0, 1.0), _round(1, 1.2), _round(2, 1.1)]
    summary = summarize(rounds, [_measured(1.0, 1.0, 1.0), _measured(1.2), _measured(1.1)], planned_rounds=3)
    assert summary.time_s == 1.1 and summary.timing.time_iqr_s == pytest.approx(0.1)  # the spread: pooled (1.0 to 1.1)


def test_the_timed_seconds_are_each_rounds_own():
    """Rounds that timed different numbers of calls per sample: 2 x 1.0 s and 1 x 1.0 s."""
    two, one = Measurement((1.0,), 2, "perf_counter", 1e-9), Measurement((1.0,), 1, "perf_counter", 1e-9)
    assert summarize([_round(0, 1.0), _round(1, 1.0)], [two, one], planned_rounds=2).timing.timed_s == 3.0


def test_rounds_within_the_limit_are_stable_and_say_nothing():
    """1.0, 1.01 and 1.005: known to about +-1.2%, well within 10%; two rounds 4% apart are not (t(1) is 12.7)."""
    rounds = [_round(0, 1.0), _round(1, 1.01), _round(2, 1.005)]
    summary = summarize(rounds, [_measured(1.0), _measured(1.01), _measured(1.005)], planned_rounds=3)
    assert summary.timing.stable is True and summary.timing.round_spread == pytest.approx(0.01 / 1.005)
    assert summary.timing.time_precision < 0.015
    assert summary.warnings == []
    two = summarize([_round(0, 1.0), _round(1, 1.04)], [_measured(1.0), _measured(1.04)], planned_rounds=2)
    assert two.timing.stable is False


def test_one_round_has_no_spread_and_no_verdict():
    summary = summarize([_round(0, 2.0)], [_measured(2.0)], planned_rounds=1)
    assert summary.timing.round_spread is None and summary.timing.stable is None
    assert summary.warnings == []


def test_fewer_rounds_than_planned_says_how_many_and_why():
    summary = summarize([_round(0, 2.0)], [_measured(2.0)], planned_rounds=3, ended="interrupted")
    assert "fewer rounds: 1 of 3, interrupted" in summary.warnings
    bare = summarize([_round(0, 2.0)], [_measured(2.0)], planned_rounds=3)
    assert "fewer rounds: 1 of 3" in bare.warnings


def test_a_gpus_state_is_kept_and_its_throttling_warned():
    gpu = {"after": {"throttle": ["thermal"], "sm_clock_mhz": 1000, "max_sm_clock_mhz": 2000}}
    summary = summarize([_round(0, 2.0)], [_measured(2.0)], planned_rounds=1, gpu=gpu)
    assert summary.trust.gpu == gpu
    assert summary.warnings == ["GPU throttled: thermal"]
    quiet = summarize([_round(0, 2.0)], [_measured(2.0)], planned_rounds=1)
    assert quiet.trust.gpu is None
    rounds = [_round(0, 1.0), _round(1, 1.5)]
    both = summarize(rounds, [_measured(1.0), _measured(1.5)], planned_rounds=2, gpu=gpu)
    assert any(w.startswith("unstable") for w in both.warnings) and both.warnings[-1] == "GPU throttled: thermal"
    unread = summarize([_round(0, 2.0)], [_measured(2.0)], planned_rounds=1, gpu={"before": {}})
    assert unread.warnings == [] and unread.trust.gpu == {"before": {}}  # no state after: nothing to warn of


# --- trust_part ------------------------------------------------------------------------------------------------------


def test_the_most_disturbed_round_speaks_and_the_share_of_rounds_is_said():
    calm = _watch(other=0.1)
    one = _watch(busy=True, reasons=("busy: a",), other=1.5, canary=0.3)
    two = _watch(busy=True, reasons=("busy: b", "slow machine: c"), other=0.2, canary=0.1)
    trust, warnings = trust_part([_round(0, 1.0, calm), _round(1, 1.0, one), _round(2, 1.0, two)])
    assert trust.disturbed and trust.interference == two  # more reasons outweigh more CPUs
    assert warnings == ["busy: b (2 of 3 rounds)", "slow machine: c (2 of 3 rounds)"]


def test_between_equally_many_reasons_the_busier_then_the_slower_round_speaks():
    lighter = _watch(busy=True, reasons=("x",), other=None, canary=0.9)
    heavier = _watch(busy=True, reasons=("y",), other=0.5, canary=0.0)
    assert trust_part([_round(0, 1.0, lighter), _round(1, 1.0, heavier)])[0].interference == heavier
    slower = _watch(busy=True, reasons=("z",), other=None, canary=0.4)
    faster = _watch(busy=True, reasons=("w",), other=None, canary=0.2)
    assert trust_part([_round(0, 1.0, faster), _round(1, 1.0, slower)])[0].interference == slower
    unknown = _watch(busy=True, reasons=("v",), other=None, canary=None)
    assert trust_part([_round(0, 1.0, unknown), _round(1, 1.0, faster)])[0].interference == faster


def test_one_disturbed_round_of_one_says_no_share():
    trust, warnings = trust_part([_round(0, 1.0, _watch(busy=True, reasons=("busy: a",)))])
    assert trust.disturbed and warnings == ["busy: a"]
    _, of_two = trust_part([_round(0, 1.0), _round(1, 1.0, _watch(busy=True, reasons=("busy: a",)))])
    assert of_two == ["busy: a (1 of 2 rounds)"]


def test_an_undisturbed_record_keeps_its_busiest_window():
    idle = _watch(other=None)
    busier = _watch(other=0.4)
    trust, warnings = trust_part([_round(0, 1.0, busier), _round(1, 1.0, idle)])
    assert trust.disturbed is False and trust.interference == busier and warnings == []
    unwatched, _ = trust_part([_round(0, 1.0)])
    assert unwatched.disturbed is False and unwatched.interference is None


# --- energy_part -----------------------------------------------------------------------------------------------------


def test_energy_is_the_metered_rounds_average_power_times_the_median_call():
    readings = [
        Reading(10.0, 1.0, "nvml energy counter", "a"),
        Reading(None, 1.0, "unknown", "not metered"),
        Reading(0.0, 1.0, "nvml power samples", "b"),
        Reading(30.0, 2.0, "nvml energy counter", "a"),
    ]
    part = energy_part(readings, time_s=0.5, flops=1e9, traffic=1e8, reason="no meter")
    assert part.power_w == pytest.approx(40.0 / 4.0)  # 40 J over 4 s of metered windows (the zero counts)
    assert part.joules_per_call == pytest.approx(5.0)
    assert part.flops_per_joule == pytest.approx(2e8) and part.joules_per_byte == pytest.approx(5e-8)
    assert part.energy_source == "nvml energy counter"  # the first metered round's
    assert part.energy_note == "a; b"  # each note once, in order


def test_without_a_metered_round_energy_is_unknown_with_the_reason():
    unknown = energy_part([Reading(None, 1.0, "unknown")], time_s=0.5, flops=1e9, traffic=1e8, reason="no meter")
    assert unknown.energy_source == "unknown" and unknown.energy_note == "no meter" and unknown.power_w is None
    said = energy_part([Reading(None, 1.0, "unknown", "NVML absent")], 0.5, 1e9, 1e8, reason="no meter")
    assert said.energy_note == "NVML absent"  # a round's own reason before the run's
