"""What the device is, and its peak FLOP/s per dtype and memory bandwidth, each with its provenance.

Sources, in the order a run prefers them: `user` (--peak, --bandwidth), `spec` (a vendor datasheet in
peaks.toml), `derived` (units x FLOPs per cycle x clock), `measured` (ceilings from `flopbench peak
--measure`, kept separately and shown beside the peaks). A value nobody knows is `unknown`: flopbench
then says so instead of showing a utilization.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from flopbench.errors import FlopbenchError
from flopbench.fields import D, Peak
from flopbench.formulas import PEAK_KEYS
from flopbench.machine.clock import Clock
from flopbench.units import si


@dataclass(frozen=True)
class Device:
    """A device as one run sees it. `facts` is a flat dict of simple values (pyperf-style metadata)."""

    type: Annotated[str, D("", "cpu or cuda")]
    index: Annotated[int | None, D("", "the CUDA device index; null for the CPU")]
    name: Annotated[str, D("", "the device's name (CPU brand, GPU name)")]
    facts: Annotated[
        dict[str, Any],
        D("", "what the device is: microarchitecture, ISA, cores, clocks, caches, memory, compute capability, ..."),
    ]
    peaks: Annotated[
        dict[str, Peak],
        D("", "peak FLOP/s per key (float64, float32, tf32, float16, bfloat16, float8, int8), each with its source"),
    ]
    bandwidth: Annotated[Peak, D("B/s", "peak memory bandwidth with its source")]
    notes: Annotated[tuple[str, ...], D("", "what to keep in mind about this device's peaks")] = ()

    @property
    def torch_device(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    @property
    def label(self) -> str:
        return f"{self.torch_device} ({self.name})"

    def peak(self, key: str) -> Peak:
        return self.peaks.get(key) or Peak(
            None, "unknown", f"no {key} peak known for {self.name}; pass --peak {key}=FLOPS"
        )

    def with_user_values(self, peaks: dict[str, float], bandwidth: float | None) -> Device:
        """--peak key=value and --bandwidth: they replace any other source for this run."""
        new_peaks = dict(self.peaks)
        for key, value in peaks.items():
            new_peaks[key] = Peak(value, "user", "given on the command line")
        new_bandwidth = Peak(bandwidth, "user", "given on the command line") if bandwidth else self.bandwidth
        return replace(self, peaks=new_peaks, bandwidth=new_bandwidth)


UNKNOWN_BANDWIDTH = Peak(
    None, "unknown", "no datasheet value for this device's memory; run `flopbench peak --measure` or pass --bandwidth"
)


@functools.cache
def peak_tables() -> dict[str, Any]:
    with open(Path(__file__).with_name("peaks.toml"), "rb") as f:
        return tomllib.load(f)


# --- choosing the device -------------------------------------------------------------------------


def parse_device(text: str) -> tuple[str, int | None]:
    """'cpu', 'cuda', 'cuda:1' or 'auto' (CUDA if there is one) -> (type, index)."""
    import torch

    if text == "auto":
        return ("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else ("cpu", None)
    match = re.fullmatch(r"(cpu|cuda)(?::(\d+))?", text)
    if not match:
        raise FlopbenchError(f"--device {text!r}: expected cpu, cuda, cuda:N or auto")
    kind, index = match.group(1), match.group(2)
    if kind == "cpu":
        if index is not None:
            raise FlopbenchError(f"--device {text!r}: the CPU has no index; use --device cpu")
        return "cpu", None
    if not torch.cuda.is_available():
        raise FlopbenchError(
            f"--device {text}: this PyTorch ({torch.__version__}) sees no CUDA device; use --device cpu"
        )
    index_int = int(index) if index is not None else torch.cuda.current_device()
    if index_int >= torch.cuda.device_count():
        raise FlopbenchError(
            f"--device {text}: there are {torch.cuda.device_count()} CUDA devices"
            f" (cuda:0 to cuda:{torch.cuda.device_count() - 1})"
        )
    return "cuda", index_int


def unseen_gpu(
    which: Callable[[str], str | None] = shutil.which, exists: Callable[[str], bool] = os.path.exists
) -> str | None:
    """Why `--device auto` is about to choose the CPU on what looks like a GPU machine: a CUDA build of PyTorch (or
    a driver, nvidia-smi) that sees no GPU, as when a newer CUDA wheel meets an older driver. None where no GPU is
    in sight."""
    import torch

    if torch.cuda.is_available():
        return None
    built = torch.version.cuda
    signs = [s for s, here in (("nvidia-smi", which("nvidia-smi")), ("/dev/nvidia0", exists("/dev/nvidia0"))) if here]
    if not signs:
        return None
    build = (
        f"this PyTorch ({torch.__version__}) was built for CUDA {built}"
        if built
        else (f"this PyTorch ({torch.__version__}) is a CPU build")
    )
    return (
        f"--device auto: {' and '.join(signs)} {'are' if len(signs) > 1 else 'is'} here but {build} and sees no GPU"
        " (a driver older than the wheel's CUDA?): measuring the CPU. `nvidia-smi` shows the driver's CUDA version;"
        " install the matching torch wheel, or pass --device cpu to silence this"
    )


def select_device(text: str) -> tuple[str, int | None]:
    """parse_device, and on CUDA that device made the current one (torch.cuda.set_device): events, graphs, streams,
    synchronize() and NCCL without a device argument use the current device, cuda:0 unless told."""
    kind, index = parse_device(text)
    if kind == "cuda":
        import torch

        torch.cuda.set_device(index or 0)
    return kind, index


def describe(device: str = "auto", threads: int | None = None, clock: Clock | None = None) -> Device:
    """The device (made the current one on CUDA); on a CPU, its peaks are those of the cores `threads` threads can
    use (all by default), derived from the measured sustained `clock` where one is given (flopbench.machine.clock)."""
    kind, index = select_device(device)
    return describe_cpu(threads, clock) if kind == "cpu" else describe_cuda(index or 0)


def clock_unknown(device: Device) -> bool:
    """Whether a CPU's derived peaks rest on a nominal clock (no cpufreq range: a VM, or the model name's base
    clock), so that the sustained clock is worth measuring (flopbench.machine.clock)."""
    return device.type == "cpu" and not str(device.facts.get("frequency_source", "")).startswith(
        ("maximum frequency from cpufreq", "sustained clock measured")
    )


# --- CPUs ----------------------------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _size_bytes(text: str | None) -> int | None:
    """'32768K' or '32 MiB' -> bytes."""
    if not text:
        return None
    match = re.match(r"(\d+)\s*([KMG]?)", text)
    if not match:
        return None
    return int(match.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[match.group(2)]


def _last_level_cache() -> int | None:
    sizes = []
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        if _read(f"{index}/type") in ("Unified", "Data"):
            sizes.append((int(_read(f"{index}/level") or 0), _size_bytes(_read(f"{index}/size")) or 0))
    return max(sizes)[1] if sizes else None


def cache_levels(cpus: set[int], root: str = "/sys/devices/system/cpu") -> dict[str, int]:
    """The data caches the CPUs this process may use reach, as flat facts: l1_bytes, l1_instances, l2_bytes, ...: the
    size of one instance of each level and how many distinct instances those CPUs hold (a private L2 per core, one L3
    shared by all), from sysfs."""
    found: dict[str, dict[str, Any]] = {}
    for cpu in sorted(cpus):
        for index in Path(f"{root}/cpu{cpu}/cache").glob("index*"):
            if _read(f"{index}/type") not in ("Unified", "Data"):
                continue
            level, size = _read(f"{index}/level"), _size_bytes(_read(f"{index}/size"))
            shared = _read(f"{index}/shared_cpu_list") or str(cpu)
            if not level or not size:
                continue
            entry = found.setdefault(f"L{level}", {"bytes": size, "instances": set()})
            entry["instances"].add(shared)
    facts = {}
    for name, entry in sorted(found.items()):
        facts[f"{name.lower()}_bytes"] = entry["bytes"]
        facts[f"{name.lower()}_instances"] = len(entry["instances"])
    return facts


def _physical_cores(cpus: set[int]) -> int | None:
    """Distinct (package, core) pairs among the logical CPUs this process may use."""
    cores = set()
    for cpu in cpus:
        core = _read(f"/sys/devices/system/cpu/cpu{cpu}/topology/core_id")
        package = _read(f"/sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id")
        if core is None or package is None:
            return None
        cores.add((package, core))
    return len(cores)


def _cpu_frequency(info: dict[str, Any]) -> tuple[float | None, str]:
    khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if khz:
        return int(khz) * 1e3, "maximum frequency from cpufreq"
    match = re.search(r"([\d.]+)\s*GHz", info.get("brand_raw", ""))
    if match:
        return float(match.group(1)) * 1e9, "frequency in the model name (base clock; boost is higher)"
    hz = info.get("hz_advertised") or info.get("hz_actual")
    if hz and hz[0]:
        return float(hz[0]), "current clock from /proc/cpuinfo (no cpufreq: boost may be higher)"
    return None, "no frequency available"


def _match_uarch(vendor: str, family: int | None, model: int | None) -> dict[str, Any] | None:
    for entry in peak_tables()["cpu"].values():
        if (
            entry["vendor"] == vendor
            and entry["family"] == family
            and model is not None
            and any(lo <= model <= hi for lo, hi in entry["models"])
        ):
            return entry
    return None


def cpu_flops_per_cycle(uarch: dict[str, Any] | None, flags: set[str]) -> tuple[dict[str, int], str]:
    """FLOPs per cycle per core by dtype, and how they were obtained.

    The vector width is the smaller of the microarchitecture's FMA datapath and what the ISA flags
    expose (a hypervisor may hide AVX-512).
    """
    isa_bits = 512 if "avx512f" in flags else 256 if {"avx2", "fma"} <= flags else 128
    if uarch:
        units, bits = uarch["fma_units"], min(uarch["vector_bits"], isa_bits)
        how = f"{uarch['name']}: {units} x {bits}-bit FMA"
        if uarch.get("note"):
            how += f"; {uarch['note']}"
    else:
        units, bits = 2, isa_bits
        how = f"unknown microarchitecture: assumed 2 x {bits}-bit FMA units from the ISA flags"
    fp32 = units * bits // 32 * 2
    rates = {"float32": fp32, "float64": fp32 // 2}
    # AMX tiles: the microarchitecture's rate, or, when a hypervisor hides the model (it reports one that matches
    # no entry), the rate of the first CPUs with AMX (Sapphire Rapids), read off the flags.
    amx = peak_tables()["cpu"]["sapphire_emerald_rapids"]
    if "amx_bf16" in flags and (uarch or amx).get("amx_bfloat16"):
        rates["bfloat16"] = (uarch or amx)["amx_bfloat16"]
    elif "avx512_bf16" in flags:
        rates["bfloat16"] = 2 * fp32
    # int8 (OP/s): AMX tiles; else VNNI's dot products (VPDPBUSD: 4 int8 multiply-adds per 32-bit lane, 4x fp32).
    if "amx_int8" in flags and (uarch or amx).get("amx_int8"):
        rates["int8"] = (uarch or amx)["amx_int8"]
    elif flags & {"avx512_vnni", "avx_vnni"}:
        rates["int8"] = 4 * fp32
    if "amx_fp16" in flags and uarch and uarch.get("amx_float16"):
        rates["float16"] = uarch["amx_float16"]
    elif "avx512_fp16" in flags:
        rates["float16"] = 2 * fp32
    return rates, how


def emulated_dtypes(device: Device) -> set[str]:
    """The floating dtypes a CPU has no arithmetic of its own for (converted to float32 on the way: at best the
    float32 rate), from its recorded facts as the peaks are derived (cpu_flops_per_cycle): a Zen 3's bfloat16 and
    float16, a Zen 4's float16. None on a GPU (its datasheet's rates are its own)."""
    if device.type != "cpu":
        return set()
    facts = device.facts
    flags = set(str(facts.get("isa") or "").split())
    uarch = _match_uarch(str(facts.get("vendor") or ""), facts.get("family"), facts.get("model"))
    rates, _ = cpu_flops_per_cycle(uarch, flags)
    return {key for key in ("bfloat16", "float16") if key not in rates}


@functools.cache
def _cpu_info() -> dict[str, Any]:
    import cpuinfo

    return cpuinfo.get_cpu_info()  # slow (about a second): once per process


ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512_bf16",
    "avx512_fp16",
    "avx512_vnni",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "amx_fp16",
    "amx_fp8",
    "avx10_2",
    "asimd",
    "sve",
)


def describe_cpu(threads: int | None = None, clock: Clock | None = None) -> Device:
    """The CPU this process may use: its facts, and its peaks per dtype derived for the cores `threads` threads reach
    (at the measured sustained `clock` where one is given and the OS gives no clock range)."""
    info = _cpu_info()
    flags = set(info.get("flags", []))
    cpus = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    facts = cpu_facts(info, flags, cpus, clock)
    notes = []
    if facts["virtual_machine"]:
        notes.append(
            "virtual machine: the topology is the hypervisor's; logical CPUs may share physical cores,"
            " which would halve the peak per CPU"
        )
    # Threads beyond the physical cores share FMA units (SMT), so the peak counts cores, not threads.
    cores = min(threads or len(cpus), facts["physical_cores"] or len(cpus))
    facts["peak_cores"] = cores
    uarch = _match_uarch(facts["vendor"], facts["family"], facts["model"])
    frequency = facts["frequency_hz"]
    peaks = cpu_peaks(uarch, flags, cores, frequency, facts["frequency_source"]) if frequency else {}
    if info.get("arch") not in ("X86_64", "X86_32"):
        peaks = {}
    name = info.get("brand_raw") or platform.processor() or "CPU"
    return Device("cpu", None, name, facts, peaks, UNKNOWN_BANDWIDTH, tuple(notes))


def cpu_facts(info: dict[str, Any], flags: set[str], cpus: set[int], clock: Clock | None) -> dict[str, Any]:
    """What the CPU is, as flat facts: vendor, family and model, ISA, CPUs and cores, the clock behind its peaks (and
    where it comes from), caches, memory."""
    vendor = info.get("vendor_id_raw", "")
    family, model = info.get("family"), info.get("model")
    nominal, nominal_source = _cpu_frequency(info)
    frequency, frequency_source = nominal, nominal_source
    if clock is not None and clock.hz and not nominal_source.startswith("maximum frequency from cpufreq"):
        frequency, frequency_source = clock.hz, clock.how
    elif clock is not None and not clock.hz:
        frequency_source = f"{nominal_source}; {clock.how}"
    uarch = _match_uarch(vendor, family, model)
    return {
        "vendor": vendor,
        "model_name": info.get("brand_raw", ""),
        "family": family,
        "model": model,
        "stepping": info.get("stepping"),
        "flags_sha256": hashlib.sha256(" ".join(sorted(flags)).encode()).hexdigest()[:16],
        "microarchitecture": uarch["name"] if uarch else "unknown",
        "arch": info.get("arch", platform.machine()),
        "isa": " ".join(f for f in ISA_FLAGS if f in flags),
        "logical_cpus": len(cpus),
        "physical_cores": _physical_cores(cpus),
        "frequency_hz": frequency,
        "frequency_source": frequency_source,
        "nominal_frequency_hz": nominal,
        "llc_bytes": _last_level_cache() or info.get("l3_cache_size"),
        **cache_levels(cpus),
        "virtual_machine": "hypervisor" in flags,
        "memory_bytes": _memory_bytes(),
    }


def cpu_peaks(
    uarch: dict[str, Any] | None, flags: set[str], cores: int, frequency: float, frequency_source: str
) -> dict[str, Peak]:
    """Each dtype's derived peak: cores x FLOPs per cycle x clock, with how each factor was found."""
    rates, how = cpu_flops_per_cycle(uarch, flags)
    peaks: dict[str, Peak] = {}
    if "int8" in rates:  # OP/s; where no int8 units are known, no peak: int8 has no float32 fallback to bound it
        peaks["int8"] = Peak(
            cores * rates["int8"] * frequency,
            "derived",
            f"{cores} core{'s' * (cores > 1)} x {rates['int8']} OP/cycle"
            f" ({'AMX-INT8' if 'amx_int8' in flags else 'VNNI: 4 int8 multiply-adds per 32-bit lane'}) x"
            f" {frequency / 1e9:.3g} GHz ({frequency_source})",
        )
    for key in ("float64", "float32", "bfloat16", "float16"):
        if key in rates:
            unit = how
            if key == "bfloat16" and "amx_bf16" in flags and not uarch:
                unit = "AMX-BF16, as the first CPUs with the amx_bf16 flag (Sapphire Rapids) have it"
            detail = (
                f"{cores} core{'s' * (cores > 1)} x {rates[key]} FLOP/cycle ({unit}) x"
                f" {frequency / 1e9:.3g} GHz ({frequency_source})"
            )
        else:
            rates[key] = rates["float32"]
            detail = (
                f"no native {key} arithmetic: converted to float32, so at best the float32 rate,"
                f" {cores} x {rates[key]} FLOP/cycle x {frequency / 1e9:.3g} GHz"
            )
        peaks[key] = Peak(cores * rates[key] * frequency, "derived", detail)
    return peaks


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def available_memory(device: Device) -> int | None:
    """Bytes a workload may still allocate on the device."""
    return free_memory(device.torch_device)


def free_memory(torch_device: str) -> int | None:
    """Bytes that may still be allocated on a torch device (cpu, cuda:N); None where nobody says."""
    if torch_device.startswith("cuda"):
        import torch

        return torch.cuda.mem_get_info(torch.device(torch_device))[0]
    meminfo = _read("/proc/meminfo") or ""
    match = re.search(r"MemAvailable:\s+(\d+) kB", meminfo)
    return int(match.group(1)) * 1024 if match else None


MEMORY_HEADROOM = 0.8  # what may take at most this share of the free memory: the rest is for what else runs


def too_big(nbytes: float, free: int | None, where: str, what: str) -> str | None:
    """The one rule for whether tensors fit before they are allocated (a workload's, a model's, its inputs): why not,
    in words ("needs 5.6 TiB for inputs and outputs; 20.1 GiB is free on cpu"), or None when they fit or nobody
    knows the free memory."""
    if free is None or nbytes <= MEMORY_HEADROOM * free:
        return None
    return f"needs {_bytes_text(nbytes)} {what}; {_bytes_text(free)} is free on {where}"


def _bytes_text(nbytes: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{nbytes / 2**10:.3g} KiB"


# --- GPUs ----------------------------------------------------------------------------------------


def match_gpu_spec(name: str) -> dict[str, Any] | None:
    for entry in peak_tables()["gpu"].values():
        if any(re.search(pattern, name) for pattern in entry["match"]):
            return entry
    return None


def spec_peaks(spec: dict[str, Any]) -> tuple[dict[str, Peak], Peak]:
    """Datasheet values as dense peaks: values quoted with sparsity are halved, and said to be."""
    peaks = {}
    for key in PEAK_KEYS:
        if key in spec:
            value = spec[key]
            detail = spec["source"]
            if key in spec.get("sparse", ()):
                detail += f"; quoted {si(value, 'FLOP/s')} with 2:4 sparsity, halved to dense"
                value /= 2
            peaks[key] = Peak(value, "spec", detail)
    bandwidth = Peak(spec["bandwidth"], "spec", spec["source"]) if "bandwidth" in spec else UNKNOWN_BANDWIDTH
    return peaks, bandwidth


def derived_gpu_peaks(capability: str, multiprocessors: int, sm_clock_hz: float | None) -> dict[str, Peak]:
    rates = peak_tables()["per_sm"].get(capability)
    if not rates or not sm_clock_hz:
        return {}
    return {
        key: Peak(
            multiprocessors * rate * sm_clock_hz,
            "derived",
            f"{multiprocessors} SMs x {rate} FLOP/clock (compute capability {capability}) x "
            f"{sm_clock_hz / 1e9:.3g} GHz (maximum SM clock from NVML)",
        )
        for key, rate in rates.items()
    }


class Nvml:
    """Clocks, temperature and throttling from NVML, when the driver offers it; otherwise empty answers."""

    THROTTLE_REASONS = {  # the reasons that mean the GPU is running slower than it could
        0x8: "hardware slowdown",
        0x20: "software thermal slowdown",
        0x40: "hardware thermal slowdown",
        0x4: "software power cap",
        0x80: "hardware power brake",
    }

    def __init__(self, device_index: int):
        """NVML numbers GPUs ignoring CUDA_VISIBLE_DEVICES, so the device is found by its UUID."""
        self.handle = None
        try:
            import pynvml
            import torch

            pynvml.nvmlInit()
            self.nvml = pynvml
            uuid = getattr(torch.cuda.get_device_properties(device_index), "uuid", None)
            self.handle = (
                pynvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
                if uuid
                else pynvml.nvmlDeviceGetHandleByIndex(device_index)
            )
        except Exception:  # no driver, no library, or a device NVML does not know: run without NVML
            self.handle = None

    @property
    def available(self) -> bool:
        return self.handle is not None

    def _call(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self.nvml, name)(self.handle, *args)
        except Exception:  # a query this GPU or driver does not support
            return None

    def max_sm_clock_hz(self) -> float | None:
        mhz = self._call("nvmlDeviceGetMaxClockInfo", 1) if self.available else None  # 1 = NVML_CLOCK_SM
        return mhz * 1e6 if mhz else None

    def memory_bandwidth(self) -> float | None:
        """Bus width x memory clock x 2 (double data rate)."""
        if not self.available:
            return None
        mhz, bits = self._call("nvmlDeviceGetMaxClockInfo", 2), self._call("nvmlDeviceGetMemoryBusWidth")
        return mhz * 1e6 * 2 * bits / 8 if mhz and bits else None

    def compute_processes(self) -> list[int]:
        """PIDs of the processes computing on this GPU (this one included)."""
        found = self._call("nvmlDeviceGetComputeRunningProcesses") if self.available else None
        return [p.pid for p in found or ()]

    def utilization(self) -> float | None:
        """Percent of the last sample period during which a kernel ran."""
        rates = self._call("nvmlDeviceGetUtilizationRates") if self.available else None
        return float(rates.gpu) if rates is not None else None

    def snapshot(self) -> dict[str, Any]:
        if not self.available:
            return {}
        reasons = self._call("nvmlDeviceGetCurrentClocksThrottleReasons") or 0
        power = self._call("nvmlDeviceGetPowerUsage")
        return {
            "sm_clock_mhz": self._call("nvmlDeviceGetClockInfo", 1),
            "max_sm_clock_mhz": self._call("nvmlDeviceGetMaxClockInfo", 1),
            "temperature_c": self._call("nvmlDeviceGetTemperature", 0),
            "power_w": power / 1e3 if power else None,
            "throttle": [text for bit, text in self.THROTTLE_REASONS.items() if reasons & bit],
        }


def throttle_warnings(snapshot: dict[str, Any]) -> list[str]:
    found = [f"GPU throttled: {reason}" for reason in snapshot.get("throttle", [])]
    clock, top = snapshot.get("sm_clock_mhz"), snapshot.get("max_sm_clock_mhz")
    if clock and top and clock < 0.9 * top and not found:
        found.append(f"GPU clock: {clock} MHz, under 90% of its maximum {top} MHz")
    return found


def describe_cuda(index: int) -> Device:
    import torch

    props = torch.cuda.get_device_properties(index)
    name = props.name
    nvml = Nvml(index)
    capability = f"{props.major}.{props.minor}"
    facts = {
        "name": name,
        "compute_capability": capability,
        "multiprocessors": props.multi_processor_count,
        "memory_bytes": props.total_memory,
        "l2_bytes": getattr(props, "L2_cache_size", None),
        "cuda": torch.version.cuda,
        "hip": getattr(torch.version, "hip", None),
        "max_sm_clock_hz": nvml.max_sm_clock_hz(),
        "nvml": nvml.available,
        "uuid": str(getattr(props, "uuid", "")) or None,
    }
    spec = match_gpu_spec(name)
    peaks, bandwidth = spec_peaks(spec) if spec else ({}, UNKNOWN_BANDWIDTH)
    facts["spec"] = spec["name"] if spec else None
    facts["rates_clock_mhz"] = spec.get("rates_clock_mhz") if spec else None  # the clock the datasheet's rates assume
    # Keys the datasheet leaves out (fp64 of an L4, say) come from units x rate x clock.
    for key, peak in derived_gpu_peaks(capability, props.multi_processor_count, nvml.max_sm_clock_hz()).items():
        peaks.setdefault(key, peak)
    if not bandwidth.known and (derived := nvml.memory_bandwidth()):
        bandwidth = Peak(derived, "derived", "memory bus width x maximum memory clock x 2 (NVML)")
    notes = [] if spec else [f"{name} is not in the datasheet table (flopbench/peaks.toml): peaks are derived"]
    return Device("cuda", index, name, facts, peaks, bandwidth, tuple(notes))
