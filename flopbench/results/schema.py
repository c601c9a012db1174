"""The results schema: one typed model of every line a results file holds, with each field's unit and meaning.

A results file is JSON Lines: a `Header`, then one `Record` per workload (flushed as it is measured), `Resume`
marks where a run was continued, and a `Footer` where a run ended. These pydantic models are the only definition of
those lines: the runner builds them, every reader validates against them, and docs/results.md and the shipped JSON
Schema (flopbench/results/results.schema.json) are generated from them (`python docs/generate.py`).

Why pydantic: the same declaration validates a line with the exact location of a defect (`samples_s.3: Input should
be a valid number`), carries each field's unit and meaning into the JSON Schema, and dumps JSON in one call; the
hand-written alternative is a validator, a schema generator and a serializer kept in step by hand.

Versions: every header carries `schema_version`. Files from older versions are migrated step by step
(flopbench.results.migrations, applied to the raw lines before validation); files newer than this code are refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flopbench.errors import validation_text
from flopbench.fields import UNITS, F, Part, Peak  # noqa: F401 (Peak and UNITS: re-exported, the schema's vocabulary)
from flopbench.machine.device import Device
from flopbench.machine.roofline import STALE_CEILING, Placement, Roofline
from flopbench.results.trust import CANARY_NOISE_MULTIPLE, CANARY_SLOWDOWN

SCHEMA_VERSION = 4


def dump(value: Any) -> Any:
    """Any schema value (a model, a Peak, a Device, a dict of them) as JSON-ready Python data."""
    from pydantic import TypeAdapter

    return TypeAdapter(type(value)).dump_python(value, mode="json")


class Line(BaseModel):
    """Unknown keys are kept (a file edited by hand, or written by a later minor version), never dropped."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, validate_assignment=False)


# --- header ----------------------------------------------------------------------------------------


class SuiteRef(Line):
    name: str = F("", "the suite's name")
    path: str = F("", "the file it was loaded from")
    sha256: str = F("", "SHA-256 of the suite file's bytes: two runs of the same suite file have the same hash")
    description: str = F("", "the suite's description", "")


class RunSettings(Line):
    """What was measured and how: the options that change the numbers. The runner reads its options from here (the
    one settings type of a run, written into its header)."""

    min_time_s: float = F("s", "minimum seconds of timed samples per workload (and per round)", gt=0)
    max_time_s: float = F("s", "at most this many seconds of samples per workload and round", gt=0)
    target_rel_iqr: float | None = F("1", "sampling continues until IQR / median is under this (or max_time_s)", None)
    warmup_s: float = F("s", "warm-up per workload and round before its samples, at least", 0.025, ge=0)
    min_samples: int = F("", "samples per workload and round, at least", 5, ge=1)
    max_samples: int = F("", "samples per workload and round, at most", 10_000, ge=1)
    tf32: bool = F("", "TF32 allowed for float32 contractions on CUDA", False)
    cuda_graph: bool = F("", "CUDA workloads timed as CUDA-graph replays", False)
    dtype: str | None = F("", "the --dtype override, or null: each workload's own dtype", None)
    impl: str | None = F("", "the --impl override, or null: each workload's own implementation", None)
    only: str | None = F("", "the --only regular expression, or null", None)
    train: bool = F("", "model workloads timed as training steps (--train)", False)
    large: bool = F("", "suite entries marked large were included (--large)", False)
    rounds: int = F(
        "",
        "rounds: every workload measured once per round, the order rotated; its figure is the median over rounds",
        1,
        ge=1,
    )
    on_busy: Literal["warn", "wait", "retry"] = F(
        "",
        "what a disturbed measurement gets: warn (flagged), wait (for"
        " the machine to be quiet first) or retry (measured again)",
        "warn",
    )
    max_call_s: float | None = F(
        "s", "a workload whose single call takes longer is skipped (and a sweep stops growing)", None, gt=0
    )
    time_budget_s: float | None = F("s", "the run's time budget: workloads that would not fit are skipped", None, gt=0)
    target_precision: float | None = F(
        "1",
        "after its planned rounds, a workload gets more (up to max_rounds, within the time budget) until its figure"
        " is known to within this share (its time_precision); null: the planned rounds only",
        None,
        gt=0,
    )
    max_rounds: int | None = F(
        "", "the most rounds a workload gets when rounds are added (target_precision)", None, ge=1
    )
    per_layer: bool = F("", "model workloads were also profiled layer by layer (--per-layer)", False)
    cache: Literal["warm", "cold"] = F(
        "",
        "warm: calls back to back, data left in the caches; cold: the caches evicted before every timed call",
        "warm",
    )
    matmul_precision: Literal["highest", "high", "medium"] | None = F(
        "",
        "torch's float32 matmul precision where the run set it (torch.set_float32_matmul_precision; flopbench ab"
        " --matmul-precision): highest computes in float32, high allows TF32 (or three bfloat16 passes), medium allows"
        " bfloat16; null: left as torch had it",
        None,
    )


class Pairing(Line):
    """One side of a paired A/B run: what varies, and how its measurements were paired with the other side's."""

    session: str = F("", "the A/B run's id: both sides' files carry it")
    side: Literal["A", "B"] = F("", "which side this file holds")
    axis: str = F("", "what varies between the sides: one of flopbench ab's axes (impl, dtype, threads, ..., python)")
    value: str = F("", "this side's value of the axis")
    other: str = F("", "the other side's value")
    how: Literal["interleaved", "processes"] = F(
        "",
        "interleaved: both sides in one process, blocks in ABBA order within each round, each pair a sample of each;"
        " processes: whole processes alternating ABBA, each pair a round of each",
    )


class RankInfo(Line):
    rank: int = F("", "the rank's number", ge=0)
    host: str = F("", "its host name")
    threads: int = F("", "its torch threads", ge=1)
    device: Device = F("", "its device, with peaks and provenance")


class DistributedInfo(Line):
    world_size: int = F("", "ranks in the run", ge=1)
    backend: str = F("", "torch.distributed backend of the collectives (gloo, nccl)")
    ranks: list[RankInfo] = F("", "every rank's host, threads and device", default_factory=list)


class Header(Line):
    """Line 1 of a results file: the machine, the software, the settings and the suites of one run."""

    type: Literal["header"] = "header"
    schema_version: int = F("", "the results schema this file follows", SCHEMA_VERSION, ge=1)
    source: str = F("", "what measured the run: `flopbench run` or `pytest-benchmark` (imported)", "flopbench run")
    migrated_from: int | None = F(
        "",
        "the schema the file was written in, when it was migrated (when read, or by `flopbench upgrade`)",
        None,
        ge=1,
    )
    run_id: str = F("", "a unique id of the run; records of one run share it")
    started_at: str | None = F("", "when the run started (ISO 8601)", None)
    host: str | None = F("", "host name of the machine (of rank 0 in a distributed run)", None)
    os: str | None = F("", "operating system (platform.platform())", None)
    python: str | None = F("", "Python version", None)
    torch: str | None = F("", "PyTorch version", None)
    blas: str | None = F("", "the BLAS PyTorch was built with", None)
    onednn: str | None = F("", "oneDNN version, where PyTorch has it", None)
    cpu_capability: str | None = F(
        "", "the vector ISA PyTorch's CPU kernels use (torch.backends.cpu.get_cpu_capability)", None
    )
    cuda: str | None = F("", "CUDA version PyTorch was built with", None)
    cudnn: int | None = F("", "cuDNN version", None)
    flopbench_version: str | None = F("", "flopbench version that wrote the file", None)
    allocator: str | None = F(
        "",
        "what the C allocator did with freed memory while a CPU run timed (flopbench.measuring.memory): kept for the"
        " next call, or as the environment or system set it; null: not recorded",
        None,
    )
    threads: int | None = F("", "torch threads of the run", None, ge=1)
    device: Device | None = F("", "the device: name, facts, every peak with its source, bandwidth, notes", None)
    ceilings: dict[str, Peak] = F(
        "", "measured ceilings per peak key (and `bandwidth`) used by the run", default_factory=dict
    )
    ceilings_measured_at: str | None = F("", "when those ceilings were measured (ISO 8601)", None)
    roofline: Roofline | None = F(
        "",
        "the device's roofs (flopbench.machine.roofline): compute per peak key, bandwidth per memory level, the"
        " per-call floor, each with its source; null in files before schema 4 (built from device and ceilings when"
        " read)",
        None,
    )
    command: list[str] = F("", "the command line", default_factory=list)
    suites: list[SuiteRef] = F("", "the suites run, with their hashes", default_factory=list)
    settings: RunSettings | None = F("", "what was measured and how", None)
    distributed: DistributedInfo | None = F("", "a distributed run's ranks, or null", None)
    quiet_check: dict[str, Any] | None = F(
        "",
        "the machine at the run's start: the canary's baseline (its time at the"
        " start, the cached quiet reference, their faster, its noise), the median canary of the quietest earlier"
        " run on this machine (canary_run_reference_s) and the interference of a short quiet sample",
        None,
    )
    pairing: Pairing | None = F("", "one side of a paired A/B run (flopbench ab), or null", None)

    @property
    def device_label(self) -> str | None:
        return self.device.label if self.device else None


# --- records ---------------------------------------------------------------------------------------


class Call(Line):
    """One functional call inside a model layer: what the layer-wise roofline needs, at the run's dtype."""

    name: str = F("", "the function called (linear, conv2d, add, ...)")
    core_flops: int = F("FLOP", "core FLOPs of the call", ge=0)
    elementwise_flops: int = F("FLOP", "elementwise FLOPs of the call", ge=0)
    bytes: float = F(
        "B",
        "compulsory traffic of the call alone: its tensor arguments read once, its output written"
        " once, at the run's dtype",
        ge=0,
    )


class Layer(Line):
    """One module of a model (every call of it in a forward pass), with the functional calls it made itself (not its
    children's)."""

    path: str = F("", "the module's path in the model (layer1.0.conv1)")
    type: str = F("", "the module's class")
    calls: list[Call] = F("", "its own functional calls", default_factory=list)
    time_s: float | None = F(
        "s", "measured (run --per-layer): its ops' time per forward, from torch.profiler", None, ge=0
    )


class LayerProfile(Line):
    """How a model's measured time splits (run --per-layer, flopbench.workloads.models.profile)."""

    iterations: int = F(
        "", "profiled rounds, each a plain step and a profiled one; figures from the median round", ge=1
    )
    timer: str = F("", "what a layer's time is: torch.profiler CPU self time, or CUDA kernel time")
    whole_s: float = F("s", "the model step timed alone in the same rounds (median)", gt=0)
    ops_s: float = F("s", "the profiled ops' time per step: every layer's, and any outside all layers", ge=0)
    outside_layers_s: float = F("s", "ops outside every module call (in training: the backward pass)", ge=0)
    without_formula_s: dict[str, float] = F(
        "s", "per functional call flopbench has no formula for: its ops' time", default_factory=dict
    )
    movement_s: float = F("s", "calls that are 0 FLOPs by definition (views, copies, concatenation)", 0.0, ge=0)
    counted_calls_s: float = F("s", "calls flopbench counts", 0.0, ge=0)
    notes: list[str] = F("", "what to keep in mind about the split", default_factory=list)

    @property
    def remainder_s(self) -> float:
        """The whole step's time beyond its ops': Python and dispatch between ops (negative: the profiler's own cost
        inside ops exceeded it)."""
        return self.whole_s - self.ops_s


class Interference(Line):
    """What the machine was doing during one measurement (flopbench.measuring.interference), and the verdict."""

    window_s: float = F("s", "the measurement's wall time", ge=0)
    usable_cpus: int = F("CPU", "the CPUs this process may use", ge=1)
    threads: int = F("", "the run's torch threads", ge=1)
    other_cpus: float | None = F(
        "CPU",
        "CPUs' worth of time other processes used during the window (/proc/stat busy time minus this process's own)",
        None,
        ge=0,
    )
    steal: float | None = F("1", "share of CPU time the hypervisor gave to other guests", None, ge=0)
    loadavg: float | None = F("", "1-minute load average at the end", None, ge=0)
    involuntary_switches: int | None = F("", "times this process was preempted during the window", None, ge=0)
    canary_slowdown: float | None = F(
        "1", "the canary's time around the window over the machine's quietest, less 1", None
    )
    canary_threshold: float | None = F(
        "1",
        f"the slowdown above which the canary calls the machine disturbed: {CANARY_SLOWDOWN:.0%}, or"
        f" {CANARY_NOISE_MULTIPLE}x the canary's own noise (its"
        " interquartile range over its median at the run's start, or the spread of the faster half of its canaries"
        " between workloads so far, whichever is larger)",
        None,
        ge=0,
    )
    gpu_processes: int | None = F("", "CUDA: other compute processes on the GPU", None, ge=0)
    gpu_utilization: float | None = F("1", "CUDA: GPU utilization in percent just before the measurement", None, ge=0)
    busy: bool = F("", "the verdict: the measurement was disturbed")
    reasons: list[str] = F("", "why, in words", default_factory=list)


class Attempt(Line):
    """A measurement of one round that was disturbed and measured again (--on-busy retry), kept for the record."""

    time_s: float = F("s", "its median seconds per call", gt=0)
    reasons: list[str] = F("", "why it was not kept", default_factory=list)


class Round(Line):
    """One round of a workload: its own samples and the state of the machine during them."""

    round: int = F("", "the round's number, from 0", ge=0)
    position: int = F("", "the workload's place in that round's (rotated) order", ge=0)
    time_s: float = F("s", "median seconds per call of this round's samples", gt=0)
    samples_s: list[Annotated[float, Field(gt=0)]] = F("s", "this round's samples", default_factory=list)
    calls_per_sample: int = F("", "calls per timed block", ge=1)
    page_faults_per_call: float | None = F(
        "", "this process's page faults per timed call, all threads (CPU; null: not counted)", None, ge=0
    )
    waited_s: float = F("s", "seconds waited for a quiet machine before it (--on-busy wait)", 0.0, ge=0)
    interference: Interference | None = F("", "the machine during this round's samples", None)
    attempts: list[Attempt] = F("", "disturbed measurements of this round, measured again", default_factory=list)
    joules: float | None = F("J", "energy over this round's measurement window (null: no meter)", None, ge=0)
    window_s: float | None = F("s", "that window's length: the timer's whole call, warm-up included", None, ge=0)
    pairs: list[int] | None = F(
        "",
        "a paired run (flopbench ab): the pair each sample belongs to, one id per sample of samples_s; the other"
        " side's file has the same ids (null: not paired)",
        None,
    )


class WorkloadPart(Part):
    """What the workload is."""

    name: str = F("", "the workload's name, unique in its suite")
    op: str = F("", "the op (matmul, conv2d, attention, model, ...) or `callable` for a pytest-benchmark function")
    family: str = F("", "the op's family (flopbench.workloads.families()), or custom for a pytest-benchmark callable")
    params: dict[str, Any] = F("", "the op's validated parameters", default_factory=dict)
    dtype: str = F("", "the dtype it ran in")
    identity: str = F("", "op, parameters and dtype as JSON: what makes two records the same measurement")
    group: str = F("", "the suite entry it came from (its name, or `op #N`)", "")
    swept: list[str] = F("", "that entry's sweep axes; tied keys joined by `=`", default_factory=list)
    impl: str = F(
        "",
        "how it ran: an implementation of flopbench.workloads.impls (docs/results.md lists them); part of its"
        " identity, not of its counts",
        "eager",
    )
    pair_key: str | None = F(
        "",
        "a paired run (flopbench ab): what joins this record to its counterpart in the other side's file (its"
        " identity without the varied axis); null: not paired",
        None,
    )


class CountsPart(Part):
    """What one call costs (docs/flops.md)."""

    core_flops: int = F("FLOP", "core FLOPs of one call: the contractions' multiply-accumulates x 2", ge=0)
    macs: int = F("MAC", "multiply-accumulates of one call: core_flops / 2", ge=0)
    elementwise_flops: int = F("FLOP", "elementwise FLOPs of one call: bias, activations, softmax, norms", ge=0)
    total_flops: int = F("FLOP", "core_flops + elementwise_flops: what achieved FLOP/s and intensity count", ge=0)
    bytes: int = F("B", "compulsory memory traffic of one call: inputs read once, outputs written once", ge=0)
    intensity: float | None = F("FLOP/B", "total_flops / bytes; null without bytes", None)
    eager_bytes: int | None = F(
        "B",
        "fusion chains: the traffic of running it op by op, every intermediate written and read again (null: the"
        " compulsory bytes)",
        None,
        ge=0,
    )


class WherePart(Part):
    """Where and when it ran."""

    device: str | None = F("", "the torch device (cpu, cuda:0)", None)
    device_label: str | None = F("", "the device with its name", None)
    device_name: str | None = F("", "the device's name", None)
    rank: int = F("", "the rank that measured it (0 outside distributed runs)", 0, ge=0)
    world_size: int = F("", "ranks in the run", 1, ge=1)
    host: str | None = F("", "host name of the rank", None)
    tf32: bool = F("", "TF32 was allowed", False)
    started_at: str | None = F("", "when its measurement started (ISO 8601)", None)
    wall_s: float | None = F("s", "wall time spent on it: check, build, warm-up and samples", None, ge=0)


class OutcomePart(Part):
    """Whether it was measured, and what was found before timing."""

    status: Literal["ok", "skipped", "failed"] = F(
        "", "ok: measured; skipped: not attempted (reason says why); failed: an error or a failed output check"
    )
    reason: str | None = F("", "why it was skipped or failed", None)
    cause: str | None = F(
        "",
        "why it was skipped, as a code (flopbench.measuring.admission.Cause): memory, unsupported, max_call_s,"
        " sweep_stopped, time_budget, interrupted; failed: check_failed, check_error, build_error, run_error",
        None,
    )
    warnings: list[str] = F(
        "", "what a reader of the figure must know (noisy, above the peak, ...)", default_factory=list
    )
    check_error: float | None = F("1", "normwise relative error of the output check against a float64 reference", None)
    check_tolerance: float | None = F("1", "the largest error the check accepts for this dtype", None)
    predicted_call_s: float | None = F(
        "s",
        "before running: the least one call can take on the roofline (FLOPs / compute roof, bytes / bandwidth roof)",
        None,
        ge=0,
    )
    one_call_s: float | None = F(
        "s", "skipped for its cost: the time its one (warm-up) call took, when it ran", None, gt=0
    )


class TimingPart(Part):
    """The samples and the figure (flopbench.measuring.summary): the median of round medians, the spread of pooled
    samples."""

    samples_s: list[Annotated[float, Field(gt=0)]] = F(
        "s",
        "raw samples (per-call seconds of each timed block) of a record without rounds; a run keeps each round's in"
        " rounds[].samples_s, once (Record.pooled_samples_s pools them; older files hold both)",
        default_factory=list,
    )
    calls_per_sample: int | None = F("", "calls in each timed block", None, ge=1)
    timer: str | None = F("", "perf_counter, cuda_events, cuda_graph, collective or pytest-benchmark", None)
    timer_resolution_s: float | None = F("s", "the timer's resolution", None, ge=0)
    timed_s: float | None = F("s", "seconds inside timed blocks", None, ge=0)
    time_s: float | None = F("s", "median seconds per call: the figure every rate divides by", None, gt=0)
    time_iqr_s: float | None = F("s", "interquartile range of the samples", None, ge=0)
    time_min_s: float | None = F("s", "fastest sample", None, gt=0)
    time_mean_s: float | None = F("s", "mean of the samples", None, gt=0)
    time_cv: float | None = F("1", "standard deviation / mean of the samples", None, ge=0)
    page_faults_per_call: float | None = F(
        "",
        "page faults per timed call, the median over rounds: memory fresh from the OS each call (CPU; null: not"
        " counted)",
        None,
        ge=0,
    )
    rounds: list[Round] = F(
        "", "every round's samples and interference; time_s is the median of their medians", default_factory=list
    )
    round_spread: float | None = F("1", "(slowest - fastest round median) / time_s", None, ge=0)
    time_precision: float | None = F(
        "1",
        "how well the rounds pin time_s: the half-width of its 95% interval from the round medians (t on their logs),"
        " as a share (0.05: within about 5%); null with one round",
        None,
        ge=0,
    )
    stable: bool | None = F(
        "",
        "the figure is known well enough: time_precision within the stability threshold (files before"
        " time_precision: the rounds' spread within 5%); null with one round",
        None,
    )


class CollectiveFigures(Part):
    """Collectives (family comm), as nccl-tests reports them."""

    message_bytes: int | None = F("B", "collectives: message size S", None, ge=0)
    algbw_bytes_per_s: float | None = F("B/s", "collectives: algorithm bandwidth S / time_s", None, ge=0)
    bus_factor: float | None = F(
        "1", "collectives: the ring's traffic factor (2(n-1)/n for all_reduce, ...)", None, ge=0
    )
    busbw_bytes_per_s: float | None = F("B/s", "collectives: algorithm bandwidth x bus_factor", None, ge=0)


class ModelFigures(Part):
    """Models: what a whole network's figure means beyond the placement."""

    mfu: float | None = F("1", "models: core_flops_per_s / peak_flops_per_s (model FLOP utilization)", None, ge=0)


class GenerationFigures(ModelFigures):
    """Generation (op generate): a prefill's or a decode step's figures as serving reports them (its MFU is the
    model's field)."""

    phase: str | None = F("", "generation: prefill (the prompt: its time is the time to first token) or decode", None)
    tokens_per_s: float | None = F(
        "1/s", "generation: batch x tokens of the call / time_s (a decode step: batch / time per output token)", None
    )
    mbu: float | None = F(
        "1",
        "generation: (the weights and KV cache one call reads, and what it writes) / time_s / the DRAM bandwidth"
        " roof (memory bandwidth utilization, as Databricks defines it: parameter bytes plus KV-cache bytes per time"
        " per output token, over the peak bandwidth)",
        None,
        ge=0,
    )
    kv_cache_bytes: int | None = F("B", "generation: the KV cache after the call (its positions, every layer)", None)


class ModelFields(Part):
    """Models: the layers and conventions, known before timing; the profile, measured after (--per-layer)."""

    layers: list[Layer] | None = F(
        "",
        "models: every layer's calls with their costs at the run's dtype, so that"
        " the layer-wise roofline is read from the file, never recomputed",
        None,
    )
    layers_source: str | None = F(
        "",
        "models: how `layers` was obtained (`flopbench run`, or `flopbench upgrade`"
        " with the counter of that version for files written before schema 3)",
        None,
    )
    flop_convention: str | None = F("", "models: how core_flops (and so mfu) count a model", None)
    convention_flops: dict[str, int] | None = F(
        "FLOP",
        "transformers: the step's contraction FLOPs under other conventions (palm: 6N + 12LHQT; full_square: causal"
        " attention over the full square), to quote MFU under them",
        None,
    )
    profile: LayerProfile | None = F("", "models measured with --per-layer: how their time splits", None)
    parameters: int | None = F("", "models: their parameters (weights and biases), counted layer by layer", None, ge=0)


class ImplFigures(Part):
    """What its implementation cost beyond the steady state (flopbench.workloads.impls)."""

    compile_s: float | None = F(
        "s", "compiled implementations: the first call, compilation included (never a sample)", None, ge=0
    )
    compile_cache: str | None = F(
        "", "compiled: cold (compiled from scratch) or warm (inductor's cache had it); null: not told", None
    )
    recompiles: int | None = F("", "compiled: graphs compiled again while it was timed (warned)", None, ge=0)
    attention_backend: str | None = F(
        "", "attention: the scaled_dot_product_attention kernel that ran (flash, efficient, cudnn, math)", None
    )
    call_form: Literal["out", "returns"] | None = F(
        "",
        "what its timed call was: out (it wrote into a preallocated output, eager's default where the op has one) or"
        " returns (a new output each call, as a compiled function, and both sides of an A/B of implementations, run"
        " it); null: not recorded",
        None,
    )


class EnergyPart(Part):
    """Energy per call, where the hardware tells it (flopbench.measuring.energy)."""

    energy_source: str | None = F(
        "",
        "where the energy comes from: nvml energy counter, nvml power samples, rapl package, or unknown",
        None,
    )
    energy_note: str | None = F("", "what to keep in mind about the energy, or why it is unknown", None)
    power_w: float | None = F("W", "the device's average power during the measurement windows", None, ge=0)
    joules_per_call: float | None = F("J", "power_w x time_s: one call's energy, idle draw included", None, ge=0)
    flops_per_joule: float | None = F("FLOP/J", "total_flops / joules_per_call", None, ge=0)
    joules_per_byte: float | None = F("J/B", "joules_per_call / bytes", None, ge=0)


class LedgerStep(Line):
    """One step of a record's loss ledger (flopbench.measuring.ledger): the ideal time once this constraint is added,
    and the factor it costs (the previous step's time over this one's)."""

    name: str = F("", "peak, clock, kernel, memory, overhead, parallelism or residual")
    factor: float | None = F("1", "the previous ideal time over this one (under 1: a loss); null: unknown here", None)
    ideal_s: float = F("s", "the ideal time with this constraint (the measured time, for the residual)", ge=0)
    source: str = F("", "measured, derived, spec, user, or unknown")
    detail: str = F("", "what the step rests on, or why it is unknown", "")


class LedgerPart(Part):
    """Where the FLOP/s went between the peak and the measured time (flopbench.measuring.ledger): the factors multiply
    to achieved / peak (for work without arithmetic, a copy: to achieved bandwidth / its level's roof)."""

    ledger: list[LedgerStep] | None = F("", "the chain of ideal times from the peak to the measured time", None)
    ledger_note: str | None = F("", "why a placed record has no ledger", None)
    largest_loss: str | None = F(
        "",
        "the step with the smallest factor, where one loses at least 1% (flopbench.measuring.ledger.NAMED_LOSS)",
        None,
    )


class MemoryPart(Part):
    """One call's memory footprint (flopbench.measuring.footprint), measured once outside the timed samples."""

    peak_memory_bytes: int | None = F(
        "B",
        "the peak of what one call allocated beyond the memory allocated before it (its outputs and workspace; a"
        " training step's kept activations and gradients); null: not measured",
        None,
        ge=0,
    )
    output_bytes: int | None = F("B", "the bytes of the tensors one call returned", None, ge=0)
    memory_source: str | None = F("", "how the peak was measured, or why it was not", None)


class TrustPart(Part):
    """What the machine was doing while it was measured."""

    disturbed: bool = F("", "some round's measurement was disturbed by other work on the machine", False)
    interference: Interference | None = F(
        "", "the most disturbed round's interference (every round's is in rounds)", None
    )
    gpu: dict[str, Any] | None = F(
        "", "CUDA: NVML readings (clocks, temperature, power, throttling) before and after the measurement", None
    )


class _RecordLine(Part):
    type: Literal["record"] = "record"


# The parts in reverse: pydantic orders a model's fields from its last base to its first, so a file's record reads
# what it is, what it costs, where, the outcome, the timing, the placement, then the rest.
class Record(
    Line,
    TrustPart,
    MemoryPart,
    LedgerPart,
    EnergyPart,
    ImplFigures,
    ModelFields,
    GenerationFigures,
    CollectiveFigures,
    Placement,
    TimingPart,
    OutcomePart,
    WherePart,
    CountsPart,
    WorkloadPart,
    _RecordLine,
):
    """One workload of one run on one device (rank): what it is, what it costs, and what was measured. Built from
    typed parts (Record.build); read back from files, unknown fields are kept."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, validate_assignment=False)

    @classmethod
    def build(cls, *parts: Part) -> Record:
        """A record from its parts: the write path. A later part's field replaces an earlier one's; every field must
        be a record's (a part is typed, so it cannot carry another)."""
        values: dict[str, Any] = {}
        for part in parts:
            values.update({name: getattr(part, name) for name in part.model_fields_set | _required(part)})
        unknown = set(values) - set(cls.model_fields)
        if unknown:  # a Part subclass that is no base of Record
            raise ValueError(f"record fields unknown to the schema: {', '.join(sorted(unknown))}")
        return cls(**values)

    @model_validator(mode="after")
    def _consistent(self) -> Record:
        if self.total_flops != self.core_flops + self.elementwise_flops:
            raise ValueError(
                f"total_flops {self.total_flops} is not core_flops {self.core_flops} +"
                f" elementwise_flops {self.elementwise_flops}"
            )
        if self.status == "ok" and self.time_s is None:
            raise ValueError("status is ok but there is no time_s")
        for count, rate in ((self.total_flops, self.total_flops_per_s), (self.core_flops, self.core_flops_per_s)):
            if rate is not None and self.time_s and not math.isclose(rate, count / self.time_s, rel_tol=1e-9):
                raise ValueError(f"a rate {rate:.6g} FLOP/s is not its FLOPs {count} / time_s {self.time_s:.6g}")
        return self

    @property
    def measured(self) -> bool:
        return self.status == "ok"

    @property
    def pooled_samples_s(self) -> list[float]:
        """Every raw sample: samples_s where the record has its own, else its rounds' pooled."""
        return list(self.samples_s) or [s for r in self.rounds for s in r.samples_s]


def _required(part: Part) -> set[str]:
    return {name for name, info in type(part).model_fields.items() if info.is_required()}


# --- marks -----------------------------------------------------------------------------------------


class Resume(Line):
    """Where a run was continued (`flopbench run --resume`)."""

    type: Literal["resume"] = "resume"
    at: str | None = F("", "when (ISO 8601)", None)
    command: list[str] = F("", "the resuming command line", default_factory=list)
    skipped: int | None = F("", "workloads already in the file, not measured again", None, ge=0)
    repaired: str | None = F("", "what was repaired before appending (a cut last line)", None)


class Footer(Line):
    """Where a run (or a resumed part of it) ended."""

    type: Literal["footer"] = "footer"
    finished_at: str | None = F("", "when (ISO 8601)", None)
    wall_s: float | None = F("s", "wall time of the run", None, ge=0)
    records: int | None = F("", "records written by this run (or this resumed part)", None, ge=0)
    interrupted: bool = F("", "stopped by Ctrl-C or an error before the last workload", False)
    disturbed: int | None = F("", "records with a disturbed measurement", None, ge=0)
    unstable: int | None = F("", "records whose rounds disagree beyond the stability threshold", None, ge=0)
    skipped_for_time: int | None = F("", "workloads skipped by --max-call-s or --time-budget", None, ge=0)
    max_canary_slowdown: float | None = F("1", "the canary's largest slowdown during the run", None)
    median_canary_slowdown: float | None = F(
        "1",
        "the canary's median slowdown over the run's measurements, against the run's baseline (the whole run is"
        " called slow against the quietest earlier run's median canary instead: docs/methodology.md)",
        None,
    )
    stale_ceilings: list[str] = F(
        "",
        f"cached ceilings this run beat by more than {STALE_CEILING - 1:.0%} (refresh with flopbench peak --measure)",
        default_factory=list,
    )


LINE_TYPES: dict[str, type[Line]] = {"header": Header, "record": Record, "resume": Resume, "footer": Footer}


# --- a file, read ----------------------------------------------------------------------------------


@dataclass
class Run:
    """One results file, read and validated."""

    path: Path
    header: Header
    records: list[Record]
    notes: list[str] = field(default_factory=list)  # what was repaired or skipped, a sentence each
    footers: list[Footer] = field(default_factory=list)
    resumes: list[Resume] = field(default_factory=list)
    kind: str = "flopbench"  # which reader read it
    lines: list[Line] = field(default_factory=list)  # every valid line after the header, in file order
    written_schema: int = SCHEMA_VERSION  # the schema the file itself is in (before any migration on reading)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(text: str) -> Any:
    """json.loads, refusing NaN and Infinity (not JSON; flopbench never writes them)."""
    return json.loads(text, parse_constant=_reject_constant)


def validate_record(raw: dict[str, Any], where: str, notes: list[str]) -> Record | None:
    """A Record, or None with a note saying why the line was skipped."""
    try:
        return Record.model_validate(raw)
    except ValidationError as exc:
        name = raw.get("name") if isinstance(raw.get("name"), str) else "?"
        notes.append(f"{where}: record {name!r} is malformed ({validation_text(exc)}); skipped")
        return None
