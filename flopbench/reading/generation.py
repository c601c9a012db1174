"""Generation read as serving reports it, and where FLOPs stop predicting it (op generate: a decoder's prefill and
decode steps with a KV cache).

The figures, each defined once here and named so in every caption (the tools disagree on their words):
- TTFT (time to first token): the prefill's time, the prompt run and the first token's logits computed;
- TPOT (time per output token): one decode step's time, the median of its rounds, at each batch and cache position;
  vLLM's TPOT is per request, (end-to-end - TTFT) / (output tokens - 1) averaged over requests, its ITL every gap
  between tokens pooled; TensorRT-LLM and genai-perf call that per-request figure ITL. A decode step measured alone is
  the same quantity for a batch that stays full;
- tokens/s: batch x tokens / time (decode: batch / TPOT);
- MFU: core FLOPs / time / the dtype's peak;
- MBU (as Databricks defines it): the bytes a call must move, its weights and KV cache read and what it writes, per
  second over the DRAM bandwidth roof (gpt-fast's "bandwidth achieved" leaves the cache out).

The crossover batch, where decode turns from memory- to compute-bound: predicted as the least batch whose FLOPs per
byte reach the ridge (the compute roof over the DRAM roof, both of this run's roofline); measured as t(1) / (t(B) / B)
at the largest batch B measured (a step takes max(t(1), c x B) on the roofline: the knee of that line).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flopbench.reading.view import RunView
    from flopbench.results.schema import Record

DEFINITIONS = (
    "TTFT: the prefill's time (the prompt, and the first token's logits). TPOT: one decode step's time, the median of"
    " its rounds (vLLM's per-request (end-to-end - TTFT) / (tokens - 1), for a batch that stays full; TensorRT-LLM"
    " calls it ITL). tokens/s: batch x tokens / time. MFU: core FLOPs per second over the dtype's peak. MBU: the"
    " bytes a call must move (weights and KV cache read, what it writes) per second over the DRAM bandwidth roof, as"
    " Databricks defines it."
)


@dataclass
class Crossover:
    """Where decode turns compute-bound, for one model, dtype and cache position."""

    model: str
    dtype: str
    position: int
    predicted: float | None  # the least batch whose FLOPs per byte reach the ridge
    measured: float | None  # t(1) / (t(B) / B) at the largest batch measured
    ridge: float | None  # FLOP per byte
    largest: int


@dataclass
class Study:
    rows: list[dict[str, Any]]  # one per generation record: what serving reports of it
    crossovers: list[Crossover] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)  # decode steps: measured vs roofline vs FLOPs


def _rows(records: list[Record]) -> list[dict[str, Any]]:
    from flopbench.workloads.ops.generation import tokens_and_position

    rows = []
    for r in records:
        if r.op != "generate" or r.status != "ok" or not r.time_s:
            continue
        tokens, position = tokens_and_position(dict(r.params))
        batch = r.params["batch"]
        rows.append(
            {
                "name": r.name,
                "model": r.params["model"],
                "dtype": r.dtype,
                "phase": r.params["phase"],
                "batch": batch,
                "tokens": tokens,
                "position": position,
                "time_s": r.time_s,
                "precision": r.time_precision,
                "tokens_per_s": batch * tokens / r.time_s,
                "flops_per_token": (r.core_flops or 0) / (batch * tokens),
                "time_per_token_s": r.time_s / (batch * tokens),
                "core_flops": r.core_flops or 0,
                "bytes": r.bytes or 0,
                "mfu": r.mfu,
                "mbu": r.mbu,
                "bound": r.bound,
                "kv_cache_bytes": r.kv_cache_bytes,
                "params": dict(r.params),
            }
        )
    return rows


def study(view: RunView) -> Study | None:
    """The generation records of a run as serving reports them, the crossover batches, and each decode step's time
    against what its bytes and its FLOPs predict; None when the run has none."""
    rows = _rows(view.records)
    if not rows:
        return None
    return Study(rows, _crossovers(rows, view), _predictions(rows, view))


def _roofs(view: RunView, dtype: str) -> tuple[float | None, float | None]:
    """(compute roof FLOP/s, DRAM roof B/s) of the run's roofline for `dtype`."""
    roofline = view.roofline
    return roofline.roof(dtype).roof.value, roofline.memory.roof.value


def _crossovers(rows: list[dict[str, Any]], view: RunView) -> list[Crossover]:
    from flopbench.workloads import make_workload

    found = []
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for row in rows:
        if row["phase"] == "decode":
            groups.setdefault((row["model"], row["dtype"], row["position"]), []).append(row)
    for (model, dtype, position), members in groups.items():
        batches = {row["batch"]: row for row in members}
        if len(batches) < 3 or 1 not in batches:
            continue
        compute, memory = _roofs(view, dtype)
        ridge = compute / memory if compute and memory else None
        predicted = None
        if ridge:
            params = {k: v for k, v in members[0]["params"].items() if k != "batch"}
            for batch in range(1, 4097):
                counts = make_workload("generate", {**params, "batch": batch}, dtype=dtype).counts
                if counts.flops / counts.bytes >= ridge:
                    predicted = float(batch)
                    break
        largest = max(batches)
        slope = batches[largest]["time_s"] / largest
        measured = batches[1]["time_s"] / slope if slope > 0 else None
        found.append(Crossover(model, dtype, position, predicted, measured, ridge, largest))
    return found


def _predictions(rows: list[dict[str, Any]], view: RunView) -> list[dict[str, Any]]:
    """Each decode step's time against the roofline's prediction (the longer of its bytes over the DRAM roof and its
    FLOPs over the compute roof) and against FLOPs alone (its FLOPs over the peak)."""
    found = []
    for row in rows:
        if row["phase"] != "decode":
            continue
        compute, memory = _roofs(view, row["dtype"])
        if not (compute and memory):
            continue
        roofline = max(row["bytes"] / memory, row["core_flops"] / compute)
        flops_only = row["core_flops"] / compute
        found.append(
            {
                "name": row["name"],
                "batch": row["batch"],
                "measured_s": row["time_s"],
                "roofline_s": roofline,
                "flops_s": flops_only,
                "roofline_factor": row["time_s"] / roofline,
                "flops_factor": row["time_s"] / flops_only,
            }
        )
    return found


def summary_rows(result: Study) -> list[dict[str, Any]]:
    """Per model and dtype: TTFT, TPOT at batch 1 (the median over cache positions, and its growth per 1000
    positions), tokens/s at batch 1 and at best, each phase's MFU and MBU."""
    out = []
    keys = sorted({(r["model"], r["dtype"]) for r in result.rows})
    for model, dtype in keys:
        mine = [r for r in result.rows if r["model"] == model and r["dtype"] == dtype]
        prefill = [r for r in mine if r["phase"] == "prefill"]
        one = sorted((r for r in mine if r["phase"] == "decode" and r["batch"] == 1), key=lambda r: r["position"])
        decode = [r for r in mine if r["phase"] == "decode"]
        growth = None
        if len(one) >= 2 and one[-1]["position"] > one[0]["position"]:
            span = one[-1]["position"] - one[0]["position"]
            growth = (one[-1]["time_s"] / one[0]["time_s"] - 1) * 1000 / span
        out.append(
            {
                "model": model,
                "dtype": dtype,
                "ttft_s": prefill[0]["time_s"] if prefill else None,
                "prompt": prefill[0]["tokens"] if prefill else None,
                "tpot_s": statistics.median(r["time_s"] for r in one) if one else None,
                "tpot_growth_per_1k": growth,
                "tokens_per_s": one[0]["tokens_per_s"] if one else None,
                "best_tokens_per_s": max((r["tokens_per_s"] for r in decode), default=None),
                "prefill_mfu": prefill[0]["mfu"] if prefill else None,
                "prefill_mbu": prefill[0]["mbu"] if prefill else None,
                "decode_mfu": one[0]["mfu"] if one else None,
                "decode_mbu": one[0]["mbu"] if one else None,
            }
        )
    return out


def sentences(result: Study) -> list[str]:
    """The crossover batches and the decode predictions, in words."""
    from flopbench.units import seconds

    said = []
    for c in result.crossovers:
        predicted = f"{c.predicted:.0f}" if c.predicted else "beyond 4096"
        measured = f"{c.measured:.1f}" if c.measured else "-"
        said.append(
            f"{c.model} ({c.dtype}, {c.position} cached): decode turns compute-bound at a batch of about {predicted}"
            f" by the roofline (its FLOPs per byte reach the ridge of {c.ridge:.3g} FLOP/B), {measured} as measured"
            f" (t(1) / (t(B) / B) at batch {c.largest})."
        )
    if result.predictions:
        roofline = [p["roofline_factor"] for p in result.predictions]
        flops = [p["flops_factor"] for p in result.predictions]
        one = [p for p in result.predictions if p["batch"] == 1]
        said.append(
            f"Decode steps take {statistics.median(roofline):.2g}x what their bytes over the DRAM roof predict (the"
            f" roofline's time; {min(roofline):.2g}-{max(roofline):.2g}x over {len(roofline)} steps) and"
            f" {statistics.median(flops):.3g}x what their FLOPs over the peak predict ({min(flops):.3g}-"
            f"{max(flops):.3g}x)"
            + (
                f": at batch 1 a step of {seconds(one[0]['measured_s'])} was predicted"
                f" {seconds(one[0]['roofline_s'])} by its bytes, {seconds(one[0]['flops_s'])} by its FLOPs."
                if one
                else "."
            )
        )
    return said


SUMMARY_COLUMNS = ["model", "dtype", "TTFT", "TPOT", "TPOT +/1k pos", "tokens/s", "best tokens/s", "MFU", "MBU"]


def summary_cells(result: Study) -> list[list[str]]:
    """The summary as table cells (the run's end and the report print the same)."""
    from flopbench.units import percent, seconds

    def rate(value: float | None) -> str:
        return f"{value:.3g}" if value else "-"

    def share(prefill: float | None, decode: float | None) -> str:
        return " / ".join(percent(v) if v is not None else "-" for v in (prefill, decode))

    return [
        [
            r["model"],
            r["dtype"],
            f"{seconds(r['ttft_s'])} ({r['prompt']} tok)" if r["ttft_s"] else "-",
            seconds(r["tpot_s"]) if r["tpot_s"] else "-",
            f"{r['tpot_growth_per_1k']:+.1%}" if r["tpot_growth_per_1k"] is not None else "-",
            rate(r["tokens_per_s"]),
            rate(r["best_tokens_per_s"]),
            share(r["prefill_mfu"], r["decode_mfu"]),
            share(r["prefill_mbu"], r["decode_mbu"]),
        ]
        for r in summary_rows(result)
    ]


CAPTION = (
    "TPOT and tokens/s at batch 1 (TPOT: the median over the cache positions measured, and how much a step grows per"
    " 1000 more cached positions); best tokens/s: the best decode batch. MFU and MBU: prefill / decode at batch 1. "
    + DEFINITIONS
)
