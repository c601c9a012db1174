"""Energy per call (flopbench.measuring.energy): NVML's counter and its update interval, power sampling where the
counter is missing or too coarse, RAPL from a powercap tree, and `unknown` with the reason; the record, report and
compare."""

import time
from pathlib import Path

import pytest

from flopbench.measuring.energy import NoMeter, NvmlMeter, RaplMeter, Reading, make_meter, per_call, rapl_zones
from flopbench.workloads import make_workload
from tests.helpers import FixedTimer, device, runner


class FakeNvml:
    """A GPU drawing `watts`; its energy counter (mJ) advances in steps of `interval` seconds, as real ones do."""

    def __init__(self, watts=300.0, interval=0.02, counter=True, power=True):
        self.watts, self.interval, self.counter, self.power = watts, interval, counter, power
        self.t0 = time.perf_counter()

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.counter:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        steps = int((time.perf_counter() - self.t0) / self.interval)
        return int(steps * self.interval * self.watts * 1e3)

    def nvmlDeviceGetPowerUsage(self, handle):
        if not self.power:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return int(self.watts * 1e3)


def window(meter, seconds):
    token = meter.start()
    time.sleep(seconds)
    return meter.stop(token)


def test_the_counter_update_interval_is_measured_and_a_long_window_reads_the_counter():
    meter = NvmlMeter(FakeNvml(watts=300, interval=0.02), handle=None)
    assert meter.interval_s == pytest.approx(0.02, rel=0.3)
    reading = window(meter, 0.4)  # 20 updates: the counter alone
    assert reading.source == "nvml energy counter" and reading.note == ""
    assert reading.watts == pytest.approx(300, rel=0.15)


def test_a_window_shorter_than_ten_updates_is_power_sampled():
    meter = NvmlMeter(FakeNvml(watts=250, interval=0.05), handle=None)
    reading = window(meter, 0.3)  # 6 updates of 50 ms
    assert reading.source == "nvml power samples" and "shorter than 10 updates" in reading.note
    assert reading.watts == pytest.approx(250, rel=0.05)


def test_a_gpu_without_the_counter_is_sampled_and_one_without_either_has_a_reason():
    sampled = window(NvmlMeter(FakeNvml(watts=70, counter=False), handle=None), 0.2)
    assert sampled.source == "nvml power samples" and "no energy counter" in sampled.note
    assert sampled.watts == pytest.approx(70, rel=0.05)

    class Driver:
        available, handle, nvml = True, None, FakeNvml(counter=False, power=False)

    meter = make_meter("cuda", Driver())
    assert isinstance(meter, NoMeter) and "neither energy nor power" in meter.reason
    assert "NVML is not available" in make_meter("cuda", None).reason


def powercap(root: Path, packages: dict[int, int], wrap=262143328850) -> Path:
    for index, energy in packages.items():
        zone = root / f"intel-rapl:{index}"
        zone.mkdir(parents=True, exist_ok=True)
        (zone / "energy_uj").write_text(f"{energy}\n")
        (zone / "max_energy_range_uj").write_text(f"{wrap}\n")
        sub = root / f"intel-rapl:{index}:0"  # a core subzone: inside the package, never added to it
        sub.mkdir(exist_ok=True)
        (sub / "energy_uj").write_text("5\n")
    return root


def test_rapl_sums_the_packages_and_undoes_a_wrap(tmp_path):
    root = powercap(tmp_path / "powercap", {0: 1_000_000, 1: 262143328850 - 500_000})
    zones, reason = rapl_zones(root)
    assert [z.name for z in zones] == ["intel-rapl:0", "intel-rapl:1"] and reason == ""
    meter = RaplMeter(zones)
    token = meter.start()
    powercap(root, {0: 3_000_000, 1: 1_500_000})  # package 0: +2 J; package 1 wrapped: +2 J
    reading = meter.stop(token)
    assert reading.joules == pytest.approx(4.0) and reading.source == "rapl package"
    assert "every process on the socket" in reading.note
    assert isinstance(make_meter("cpu", root=root), RaplMeter)


def test_no_powercap_gives_the_reason(tmp_path):
    assert "RAPL is not exposed here" in rapl_zones(tmp_path / "absent")[1]
    (tmp_path / "empty").mkdir()
    assert "no RAPL package zone" in rapl_zones(tmp_path / "empty")[1]
    zone = tmp_path / "locked" / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "energy_uj").mkdir()  # unreadable as a number (root reads every file: a directory stands in)
    assert "not readable" in rapl_zones(tmp_path / "locked")[1]
    meter = make_meter("cpu", root=tmp_path / "absent")
    assert isinstance(meter, NoMeter) and meter.stop(meter.start()).joules is None


def test_per_call_by_hand():
    fields = per_call(Reading(joules=20.0, seconds=2.0, source="rapl package"), time_s=0.01, flops=1e9, traffic=4e6)
    assert fields["power_w"] == 10.0 and fields["joules_per_call"] == pytest.approx(0.1)
    assert fields["flops_per_joule"] == pytest.approx(1e10) and fields["joules_per_byte"] == pytest.approx(2.5e-8)
    unknown = per_call(Reading(None, 1.0, "unknown", "no powercap"), 0.01, 1e9, 4e6)
    assert unknown == {"energy_source": "unknown", "energy_note": "no powercap"}


class ConstantMeter:
    source, reason = "rapl package", ""

    def __init__(self, watts):
        self.watts = watts

    def start(self):
        return None

    def stop(self, token):
        return Reading(self.watts * 0.5, 0.5, "rapl package", "the whole package")


def test_records_carry_energy_or_its_absence():
    gemm = make_workload("matmul", {"m": 64, "n": 64, "k": 64})
    records = []
    runner(device(), rounds=2, timer=FixedTimer(1e-3), on_record=records.append, meter=ConstantMeter(40.0)).run([gemm])
    (record,) = records
    assert record.energy_source == "rapl package" and record.power_w == pytest.approx(40.0)
    assert record.joules_per_call == pytest.approx(0.04)
    assert record.flops_per_joule == pytest.approx(2 * 64**3 / 0.04)
    assert [r.joules for r in record.rounds] == [20.0, 20.0]
    records.clear()
    meter = NoMeter("no /sys/class/powercap")
    runner(device(), timer=FixedTimer(1e-3), on_record=records.append, meter=meter).run([gemm])
    assert records[0].energy_source == "unknown" and records[0].energy_note == "no /sys/class/powercap"


class FlushingTimer(FixedTimer):
    """A cold timer: an eviction (here, a log entry) before every call it times."""

    def __init__(self, seconds, log):
        super().__init__(seconds)
        self.log = log

    def measure(self, fn, max_call_s=None):
        for _ in range(3):
            self.log.append("flush")
            fn()
        return super().measure(fn, max_call_s)


class LoggingMeter(ConstantMeter):
    interval_s = 0.02  # ten updates: 0.2 s of back-to-back calls

    def __init__(self, watts, log):
        super().__init__(watts)
        self.log = log

    def start(self):
        self.log.append("start")

    def stop(self, token):
        self.log.append("stop")
        return super().stop(token)


def test_cold_timing_meters_energy_over_back_to_back_calls_without_flushes():
    """Metered around a cold timer's samples, a short kernel's energy would be mostly the flushes'. Cold, energy is
    read over a window of back-to-back calls of its own: ten counter updates (or 0.1 s) of calls, nothing else."""
    gemm = make_workload("matmul", {"m": 16, "n": 16, "k": 16})
    log, records = [], []
    calls = []
    original = gemm.build

    def build(device):
        fn = original(device)
        return lambda: (calls.append(log[-1] if log else None), fn())[1]

    object.__setattr__(gemm, "build", build)
    timer = FlushingTimer(1e-3, log)
    meter = LoggingMeter(40.0, log)
    runner(device(), timer=timer, on_record=records.append, meter=meter, cache="cold").run([gemm])
    window = log[log.index("start") : log.index("stop") + 1]
    assert window == ["start", "stop"]  # no flush inside the metered window
    assert sum(1 for c in calls if c == "start") == 200  # 0.2 s / 1 ms: back-to-back calls, metered
    assert records[0].power_w == pytest.approx(40.0) and records[0].joules_per_call == pytest.approx(0.04)
    log.clear()
    runner(device(), timer=FlushingTimer(1e-3, log), meter=LoggingMeter(40.0, log)).run([gemm])
    assert log[0] == "start" and log.count("flush") == 3  # warm (a CPU's default): metered around the timer


def test_report_and_compare_show_energy(tmp_path):
    import json

    from tests.fakes import fake_device, write_run
    from tests.helpers import flopbench

    paths = []
    for name, watts in (("a", 100.0), ("b", 50.0)):
        path = write_run(tmp_path / f"{name}.jsonl", fake_device(f"CPU {name}"))
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        for line in lines:
            if line.get("time_s"):
                j = watts * line["time_s"]
                line.update(
                    energy_source="rapl package",
                    power_w=watts,
                    joules_per_call=j,
                    flops_per_joule=line["total_flops"] / j if line["total_flops"] else None,
                    joules_per_byte=j / line["bytes"],
                )
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        paths.append(path)
    report = flopbench("report", str(paths[0]), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| FLOP/J |" in md.replace("FLOP/J | trust", "FLOP/J |") and "## Energy" in md and "pJ per FLOP" in md
    assert (tmp_path / "report" / "energy_roofline.png").stat().st_size > 10_000
    compare = flopbench("compare", *map(str, paths), "--format", "markdown")
    assert compare.returncode == 0, compare.stderr
    assert "FLOP/J ratio" in compare.stdout and "| 2x |" in compare.stdout
