"""One measuring session, which every way of measuring drives: `flopbench run` (single-device and each distributed
rank), `flopbench ab` in one process, `flopbench.measure` and `flopbench.ab`, and the ceilings' own measurement. A
resolved machine and the run's settings go in (RunSettings: the one typed set of options, completed here with the
defaults that depend on the device); out come the machine watched, runners and pair runners built alike, the footer
of a results file, and what a run teaches the machine's cache. No command builds a Runner, a Measurer or a probe.

pyperf's Runner is the model: one object behind the CLI and the API, so that both judge alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flopbench.measuring.admission import DEFAULT_MAX_CALL_S

if TYPE_CHECKING:
    from flopbench.machine.resolve import Machine
    from flopbench.measuring.paired import PairRunner
    from flopbench.measuring.runner import Runner
    from flopbench.results.schema import Footer, Interference, Record, RunSettings
    from flopbench.workloads import Workload


PAIRED_ENERGY = "a paired run: each window holds both sides' calls, so neither side's energy is known"


@dataclass
class Watch:
    """The machine as the session starts: its monitor, what the header records of the quiet check, the first sample."""

    monitor: Any
    quiet_check: dict[str, Any]
    at_start: Interference


def completed(settings: RunSettings, device_type: str, cache: str | None = None, capped: bool = True) -> RunSettings:
    """The settings with the defaults that depend on the device, decided here alone: the per-call cap (2 s on a CPU, 1 s
    on a GPU: flopbench.measuring.admission; none where not `capped`: a user's own function is timed however long it
    takes) and the caches (cold on a GPU, the L2 flushed as triton's do_bench does; warm on a CPU), where the user gave
    none."""
    cap = settings.max_call_s or (DEFAULT_MAX_CALL_S.get(device_type) if capped else None)
    return settings.model_copy(
        update={"max_call_s": cap, "cache": cache or ("cold" if device_type == "cuda" else "warm")}
    )


class Session:
    """A machine and a run's settings (completed for the device); `running()` holds torch's settings and watches the
    machine while the session measures."""

    def __init__(self, machine: Machine, settings: RunSettings, cache: str | None = None, capped: bool = True):
        """`cache`: warm or cold as the user asked; None: the device's default. `capped`: the per-call cap's default
        applies (a suite's workloads; not a user's own function)."""
        self.machine = machine
        self.settings = completed(settings, machine.device.type, cache, capped)
        self.watch: Watch | None = None

    @contextlib.contextmanager
    def running(self, threads: int | None = None) -> Iterator[Watch]:
        """torch's threads and TF32 as the session needs them (restored afterwards), and the machine watched."""
        from flopbench.measuring.runner import torch_settings

        settings = self.settings
        with torch_settings(
            self.machine.device.type, threads or self.machine.threads, settings.tf32, settings.matmul_precision
        ):
            self.watch = watch_machine(self.machine)
            yield self.watch

    def runner(self, on_record: Callable[[Record], None], *, context: Any = None, energy: bool = True) -> Runner:
        """A runner of this session: watched by its monitor; with `context`, one rank of a distributed run (its
        collectives timed in lockstep); without `energy`, no meter (a paired window holds both sides' calls)."""
        from flopbench.measuring.energy import NoMeter
        from flopbench.measuring.runner import Runner

        monitor = self.watch.monitor if self.watch else None
        meter = None if energy else NoMeter(PAIRED_ENERGY)
        if context is None:
            return Runner(
                self.machine.device, self.machine.roofline, self.settings, on_record, monitor=monitor, meter=meter
            )
        from flopbench.measuring.distributed import CollectiveTimer
        from flopbench.measuring.timing import Budget

        return Runner(
            self.machine.device,
            self.machine.roofline,
            self.settings,
            on_record,
            world_size=context.world_size,
            monitor=monitor,
            meter=meter,
            agree=context.agree,
            collective_timer=CollectiveTimer(context, Budget.of(self.settings), self.machine.device.type),
        )

    def pair_runner(
        self,
        other: Session,
        on_pair: Callable[[Record, Record], None],
        *,
        max_pairs: int,
        enter: tuple[Callable[[], None], Callable[[], None]],
        more: Callable[[list[Any], list[Any]], bool] | None = None,
        time_left: Callable[[], bool] = lambda: True,
    ) -> PairRunner:
        """The pair runner of this session (side A) and `other` (side B): each side's runner, no energy meter, one
        measurer whose probes watch both sides' window together under this session's busy policy."""
        from flopbench.measuring.paired import PairRunner

        runners = (self.runner(lambda record: None, energy=False), other.runner(lambda record: None, energy=False))
        return PairRunner(
            runners,
            self.pair_measurer(),
            (runners[0].measurer.timer, runners[1].measurer.timer),
            on_pair,
            rounds=self.settings.rounds,
            max_pairs=max_pairs,
            enter=enter,
            max_rounds=self.settings.max_rounds,
            more=more,
            time_left=time_left,
        )

    def round_costs(self, workloads: list[Workload]) -> list[tuple[Workload, float]]:
        """Each workload's predicted seconds a round (from its roofline cost and the timing budget): what a progress
        bar's time left rests on."""
        import time

        from flopbench.measuring.admission import Admission, round_cost_s
        from flopbench.measuring.timing import Budget

        machine, settings = self.machine, self.settings
        admission = Admission(machine.device, machine.roofline, settings, time.perf_counter, time.perf_counter())
        budget = Budget.of(settings)
        return [(w, round_cost_s(admission.predicted_call_s(w), budget)) for w in workloads]

    def pair_measurer(self) -> Any:
        """The measurer of a pair's rounds: the machine watched around each pair's window (both sides' calls in it),
        under the session's busy policy, no energy meter."""
        from flopbench.measuring.policy import BusyPolicy, Measurer
        from flopbench.measuring.probes import CompileProbe, InterferenceProbe, Probe

        monitor = self.watch.monitor if self.watch else None
        probes: list[Probe] = [InterferenceProbe(monitor), CompileProbe()] if monitor else [CompileProbe()]
        return Measurer(None, probes, BusyPolicy(self.settings.on_busy), monitor)

    def paired(self, max_pairs: int) -> tuple[Any, Any]:
        """(the measurer, a PairedTimer of two of the session's timers): two functions measured as a pair, round by
        round (flopbench.measuring.api.measure_pair)."""
        from flopbench.measuring.paired import PairedTimer
        from flopbench.measuring.runner import make_timer

        device = self.machine.device
        timers = (make_timer(device, self.settings), make_timer(device, self.settings))
        return self.pair_measurer(), PairedTimer(timers, max_pairs)

    def learn(self, records: list[Record]) -> None:
        """What a run teaches the machine's cache about its canary (its quietest run, its quiet reference)."""
        from flopbench.console import info
        from flopbench.machine import cache
        from flopbench.results.trust import run_speed
        from flopbench.units import seconds

        monitor = self.watch.monitor if self.watch else None
        speed = run_speed(records, getattr(monitor, "baseline_s", None))
        if speed is None or speed.median_s is None:
            return
        device, threads = self.machine.device, self.machine.threads
        cache.learn_canary(device, threads, "run_canary_s", speed.median_s)
        if speed.fast and cache.learn_canary(device, threads, "canary_s", speed.median_s):
            info(
                f"flopbench: this machine's cached quiet canary is now this run's median canary,"
                f" {seconds(speed.median_s)} (it was taken on a slower machine)"
            )


def watch_machine(machine: Machine) -> Watch:
    """The machine's monitor started, and what the header records of the quiet check before the first measurement."""
    from flopbench.measuring.interference import make_monitor
    from flopbench.measuring.policy import QUIET_SAMPLE_S
    from flopbench.results.schema import dump

    monitor = make_monitor(machine.device, machine.threads, machine.canary_reference_s, machine.canary_run_reference_s)
    quiet = monitor.start_run()
    at_start = monitor.sample(QUIET_SAMPLE_S)
    quiet["interference"] = dump(at_start)
    if machine.ceilings_disturbed:
        quiet["ceilings_disturbed"] = machine.ceilings_disturbed
    return Watch(monitor, quiet, at_start)


def footer(records: list[Record], runners: list[Any], wall_s: float, interrupted: bool) -> Footer:
    """A results file's last line: how the run ended, its trust counts, the stale ceilings its runners met."""
    from flopbench.measuring.header import now_iso
    from flopbench.results.schema import Footer
    from flopbench.results.trust import run_speed

    speed = run_speed(records, None)
    return Footer(
        finished_at=now_iso(),
        wall_s=wall_s,
        records=len(records),
        interrupted=interrupted,
        disturbed=sum(r.disturbed for r in records),
        unstable=sum(r.stable is False for r in records),
        skipped_for_time=len(skipped_for_time(records)),
        max_canary_slowdown=speed.max_slowdown if speed else None,
        median_canary_slowdown=speed.median_slowdown if speed else None,
        stale_ceilings=[text for runner in runners for text in runner.stale.values()],
    )


def skipped_for_time(records: list[Record]) -> list[Record]:
    """The records skipped for their cost (--max-call-s, --time-budget, a sweep that stopped growing)."""
    from flopbench.measuring.admission import Cause

    causes = {c.value for c in Cause if c.for_time}
    return [r for r in records if r.status == "skipped" and r.cause in causes]
