"""Device peaks: the spec table, sparse halving, derived CPU and GPU peaks, provenance, and NVML fakes."""

from types import SimpleNamespace

import pytest

from flopbench.errors import FlopbenchError
from flopbench.machine import device as dev

# torch.cuda.get_device_name() strings as drivers report them -> the datasheet entry they must hit.
GPU_NAMES = {
    "NVIDIA H100 80GB HBM3": "NVIDIA H100 SXM5",
    "NVIDIA H100 PCIe": "NVIDIA H100 PCIe",
    "NVIDIA H100 NVL": "NVIDIA H100 NVL",
    "NVIDIA H200": "NVIDIA H200 SXM",
    "NVIDIA H200 NVL": "NVIDIA H200 NVL",
    "NVIDIA A100-SXM4-80GB": "NVIDIA A100 SXM4 80GB",
    "NVIDIA A100-SXM4-40GB": "NVIDIA A100 SXM4 40GB",
    "NVIDIA A100 80GB PCIe": "NVIDIA A100 PCIe 80GB",
    "NVIDIA A100-PCIE-40GB": "NVIDIA A100 PCIe 40GB",
    "NVIDIA L4": "NVIDIA L4",
    "NVIDIA L40S": "NVIDIA L40S",
    "Tesla T4": "NVIDIA T4",
    "Tesla V100-SXM2-32GB": "NVIDIA V100 SXM2",
    "Tesla V100-PCIE-16GB": "NVIDIA V100 PCIe",
    "NVIDIA A10": "NVIDIA A10",
    "NVIDIA GeForce RTX 4090": "NVIDIA GeForce RTX 4090",
    "NVIDIA GeForce RTX 3090": "NVIDIA GeForce RTX 3090",
    "NVIDIA B200": "NVIDIA B200",
    "AMD Instinct MI300X": "AMD Instinct MI300X",
}


@pytest.mark.parametrize("reported,entry", GPU_NAMES.items())
def test_gpu_names_match_their_datasheet(reported, entry):
    spec = dev.match_gpu_spec(reported)
    assert spec is not None and spec["name"] == entry
    peaks, bandwidth = dev.spec_peaks(spec)
    assert bandwidth.source == "spec" and bandwidth.value > 1e11
    assert peaks["float32"].source == "spec"
    # Dense tensor rates are at least the plain float32 rate, and no dense peak passes 5 PFLOP/s.
    for key in ("float16", "bfloat16", "tf32"):
        if key in peaks:
            assert peaks["float32"].value <= peaks[key].value < 5e15


def test_similar_names_do_not_borrow_a_datasheet():
    assert dev.match_gpu_spec("NVIDIA A10G") is None  # an AWS part with other numbers
    assert dev.match_gpu_spec("NVIDIA GeForce RTX 4080") is None


def test_sparse_numbers_are_halved_and_say_so():
    peaks, bandwidth = dev.spec_peaks(dev.match_gpu_spec("NVIDIA H100 80GB HBM3"))
    assert peaks["bfloat16"].value == pytest.approx(989.5e12)
    assert "halved" in peaks["bfloat16"].detail and "sparsity" in peaks["bfloat16"].detail
    assert peaks["tf32"].value == pytest.approx(494.5e12)
    assert peaks["float8"].value == pytest.approx(1979e12)
    assert peaks["float32"].value == 67e12 and "halved" not in peaks["float32"].detail
    assert bandwidth.value == 3.35e12


def test_a100_datasheet_values_are_already_dense():
    peaks, _ = dev.spec_peaks(dev.match_gpu_spec("NVIDIA A100-SXM4-80GB"))
    assert peaks["bfloat16"].value == 312e12 and peaks["tf32"].value == 156e12


@pytest.mark.parametrize(
    "capability,sms,ghz,key,expected",
    [
        ("8.0", 108, 1.41, "bfloat16", 312e12),  # A100
        ("9.0", 132, 1.83, "bfloat16", 989e12),  # H100 SXM
        ("7.5", 40, 1.59, "float16", 65e12),  # T4
        ("8.9", 142, 2.52, "float32", 91.6e12),  # L40S
    ],
)
def test_derived_gpu_peaks_reproduce_datasheets(capability, sms, ghz, key, expected):
    peak = dev.derived_gpu_peaks(capability, sms, ghz * 1e9)[key]
    assert peak.source == "derived"
    assert peak.value == pytest.approx(expected, rel=0.02)
    assert f"{sms} SMs" in peak.detail


def test_no_derived_peak_without_a_clock_or_a_known_capability():
    assert dev.derived_gpu_peaks("9.0", 132, None) == {}
    assert dev.derived_gpu_peaks("42.0", 132, 2e9) == {}


def _uarch(vendor, family, model):
    return dev._match_uarch(vendor, family, model)


@pytest.mark.parametrize(
    "vendor,family,model,flags,fp64,fp32",
    [
        ("AuthenticAMD", 0x17, 0x31, {"avx2", "fma"}, 16, 32),  # Zen 2 (Rome)
        ("AuthenticAMD", 0x19, 0x11, {"avx2", "fma", "avx512f"}, 16, 32),  # Zen 4: AVX-512 in two halves
        ("GenuineIntel", 6, 0x55, {"avx2", "fma", "avx512f"}, 32, 64),  # Skylake-SP, two AVX-512 FMA units
        ("GenuineIntel", 6, 0x3F, {"avx2", "fma"}, 16, 32),  # Haswell-EP
        ("AuthenticAMD", 0x1A, 0x02, {"avx2", "fma", "avx512f"}, 32, 64),  # Zen 5 (Turin)
        ("AuthenticAMD", 0x1A, 0x02, {"avx2", "fma"}, 16, 32),  # the same, AVX-512 hidden by a hypervisor
    ],
)
def test_cpu_flops_per_cycle(vendor, family, model, flags, fp64, fp32):
    rates, how = dev.cpu_flops_per_cycle(_uarch(vendor, family, model), flags)
    assert (rates["float64"], rates["float32"]) == (fp64, fp32)
    assert "FMA" in how


def test_cpu_low_precision_rates_follow_the_isa():
    zen4 = _uarch("AuthenticAMD", 0x19, 0x11)
    rates, _ = dev.cpu_flops_per_cycle(zen4, {"avx2", "fma", "avx512f", "avx512_bf16"})
    assert rates["bfloat16"] == 2 * rates["float32"] and "float16" not in rates
    spr = _uarch("GenuineIntel", 6, 0x8F)
    rates, _ = dev.cpu_flops_per_cycle(spr, {"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "avx512_fp16"})
    assert rates["bfloat16"] == 1024 and rates["float16"] == 128


def test_unknown_cpu_assumes_two_fma_units_and_says_so():
    rates, how = dev.cpu_flops_per_cycle(None, {"avx2", "fma"})
    assert rates["float32"] == 32
    assert "unknown microarchitecture" in how


def test_this_cpu_has_derived_peaks_with_their_arithmetic():
    d = dev.describe("cpu")
    assert d.type == "cpu" and d.facts["logical_cpus"] >= 1
    assert not d.bandwidth.known and d.bandwidth.source == "unknown"
    if d.peaks:  # x86 with a known frequency
        f32 = d.peaks["float32"]
        assert f32.source == "derived" and "FLOP/cycle" in f32.detail and "GHz" in f32.detail
        assert d.peaks["float64"].value == pytest.approx(f32.value / 2)
    if d.facts["virtual_machine"]:
        assert any("virtual machine" in note for note in d.notes)


def test_user_values_replace_other_sources():
    d = dev.describe("cpu").with_user_values({"float32": 1e12}, 5e10)
    assert d.peak("float32") == dev.Peak(1e12, "user", "given on the command line")
    assert d.bandwidth.value == 5e10 and d.bandwidth.source == "user"
    assert not d.peak("float8").known  # never invented


def test_device_json_holds_every_peak_with_its_source_and_round_trips():
    import json

    from pydantic import TypeAdapter

    from flopbench.results.schema import Device, dump

    d = dev.describe("cpu").with_user_values({"float32": 1e12}, 5e10)
    data = json.loads(json.dumps(dump(d)))
    assert data["peaks"]["float32"] == {"value": 1e12, "source": "user", "detail": "given on the command line"}
    assert data["bandwidth"]["value"] == 5e10 and data["name"] == d.name and data["facts"] == d.facts
    assert TypeAdapter(Device).validate_python(data) == d


@pytest.mark.parametrize(
    "text,fragment", [("gpu", "expected cpu, cuda"), ("cpu:1", "no index"), ("cuda:0", "--device cpu")]
)
def test_bad_device_names(text, fragment, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(FlopbenchError, match=fragment):
        dev.parse_device(text)


def test_auto_picks_the_cpu_without_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.parse_device("auto") == ("cpu", None)


class FakeNvml:
    def __init__(self, index):
        self.available = True

    def max_sm_clock_hz(self):
        return 1.98e9

    def memory_bandwidth(self):
        return 3.0e12


def fake_cuda(monkeypatch, name, capability=(9, 0), sms=132):
    import torch

    props = SimpleNamespace(
        name=name,
        major=capability[0],
        minor=capability[1],
        multi_processor_count=sms,
        total_memory=80 * 2**30,
        L2_cache_size=50 * 2**20,
    )
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    monkeypatch.setattr(dev, "Nvml", FakeNvml)


def test_known_gpu_uses_its_datasheet_and_fills_gaps_by_derivation(monkeypatch):
    fake_cuda(monkeypatch, "NVIDIA L4", capability=(8, 9), sms=58)
    d = dev.describe_cuda(0)
    assert d.peaks["bfloat16"].source == "spec" and d.peaks["bfloat16"].value == pytest.approx(121e12)
    assert d.peaks["float64"].source == "derived"  # the L4 datasheet gives no FP64 figure
    assert d.bandwidth.source == "spec" and d.notes == ()


def test_unknown_gpu_gets_derived_peaks_and_a_note(monkeypatch):
    fake_cuda(monkeypatch, "NVIDIA Hypothetical H1", capability=(9, 0), sms=100)
    d = dev.describe_cuda(0)
    assert d.peaks["bfloat16"].source == "derived"
    assert d.peaks["bfloat16"].value == pytest.approx(100 * 4096 * 1.98e9)
    assert d.bandwidth.source == "derived" and d.bandwidth.value == 3.0e12
    assert "not in the datasheet table" in d.notes[0]


def test_nvml_without_a_driver_answers_nothing():
    nvml = dev.Nvml(0)  # no GPU or driver on the test machines
    if not nvml.available:
        assert nvml.snapshot() == {} and nvml.max_sm_clock_hz() is None


def test_throttle_warnings():
    assert dev.throttle_warnings({"throttle": ["hardware thermal slowdown"]}) == [
        "GPU throttled: hardware thermal slowdown"
    ]
    assert "under 90%" in dev.throttle_warnings({"sm_clock_mhz": 1200, "max_sm_clock_mhz": 1980, "throttle": []})[0]
    assert dev.throttle_warnings({"sm_clock_mhz": 1980, "max_sm_clock_mhz": 1980, "throttle": []}) == []


def fake_pynvml(**functions):
    """An Nvml on a fake pynvml: each NVML query answers what the test says (or raises, as a driver that lacks it)."""
    nvml = dev.Nvml.__new__(dev.Nvml)
    nvml.handle = object()
    nvml.nvml = SimpleNamespace(**functions)
    return nvml


def test_nvml_tells_other_processes_on_the_gpu_and_its_utilization():
    import os

    from flopbench.measuring.interference import NvmlProbe

    nvml = fake_pynvml(
        nvmlDeviceGetComputeRunningProcesses=lambda h: [SimpleNamespace(pid=os.getpid()), SimpleNamespace(pid=4242)],
        nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=37, memory=5),
    )
    assert nvml.compute_processes() == [os.getpid(), 4242] and nvml.utilization() == 37.0
    assert NvmlProbe(nvml).others() == (1, 37.0)  # this process is not "another"

    def unsupported(handle):
        raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")

    silent = fake_pynvml(nvmlDeviceGetComputeRunningProcesses=unsupported, nvmlDeviceGetUtilizationRates=unsupported)
    assert silent.compute_processes() == [] and silent.utilization() is None
