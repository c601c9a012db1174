"""The report of one run, as blocks: the device and its peaks, trust, the tables per family, implementations, where
each workload's data lives, the figures, the FLOPs-versus-latency study, energy, MFU, the predictors, the layers of
profiled models, and a distributed run's ranks."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from flopbench.formulas import PEAK_KEYS
from flopbench.reading.analysis import Study, collectives, layer_times, profiled, rank_spread, study, time_split
from flopbench.reading.plots import Drawn, draw_figures, layer_figure_name
from flopbench.reading.report.document import Figure, Heading, Para, Table
from flopbench.reading.view import RunView, collective_rows
from flopbench.results.schema import Header, Record
from flopbench.results.trust import UNSTABLE_PRECISION, disturbances_of, said_by_trust
from flopbench.units import count, percent, seconds, si


def pct(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


def _peak_rows(header: Header) -> list[list[Any]]:
    device = header.device
    rows = []
    for key in (*PEAK_KEYS, "bandwidth"):
        peak = (device.bandwidth if key == "bandwidth" else device.peaks.get(key)) if device else None
        ceiling = header.ceilings.get(key)
        if not peak and not ceiling:
            continue
        unit = "B/s" if key == "bandwidth" else "FLOP/s"
        value = si(peak.value, unit) if peak and peak.value else "unknown"
        rows.append(
            [
                key,
                value,
                peak.source if peak else "-",
                si(ceiling.value, unit) if ceiling else "-",
                peak.detail if peak and (peak.known or not ceiling) else ceiling.detail if ceiling else "",
            ]
        )
    return rows


def has_trust(view: RunView) -> bool:
    """Whether the run recorded how trustworthy each figure is (interference, rounds): schema 3 runs do."""
    return any(r.rounds for r in view.records)


def trust(record: Record | None) -> str:
    """One cell: is this figure to be trusted? ok, or what disturbed it, or how far its rounds disagree."""
    if record is None or record.status != "ok":
        return "-"
    notes = []
    if record.disturbed and record.interference is not None:
        notes += [d.short for d in disturbances_of(record.interference)]
    if record.stable is False and record.round_spread is not None:
        notes.append(f"unstable {percent(record.round_spread)}")
    spread = (
        f" ({len(record.rounds)} rounds within {percent(record.round_spread)})"
        if len(record.rounds) > 1 and record.round_spread is not None and not notes
        else ""
    )
    return ", ".join(notes) or f"ok{spread}"


def has_energy(run: pd.DataFrame) -> bool:
    return "flops_per_joule" in run.columns and run["flops_per_joule"].notna().any()


def _family_rows(view: RunView, rows: pd.DataFrame, with_trust: bool, with_energy: bool = False) -> list[list[Any]]:
    out = []
    for _, r in rows.iterrows():
        extra = [trust(view.record(r["identity"]))] if with_trust else []
        if with_energy:
            value = r.get("flops_per_joule")
            extra = [si(value, "FLOP/J") if value == value and value is not None else "-", *extra]
        if r["status"] != "ok":
            out.append(
                [r["name"], r["dtype"], "-", "-", "-", "-", "-", "-", "-", *extra, f"{r['status']}: {r['reason']}"]
            )
            continue
        out.append(
            [
                r["name"],
                r["dtype"],
                si(r["total_flops"], "FLOP"),
                seconds(r["time_s"]),
                f"{r['time_iqr_s'] / r['time_s']:.0%}",
                si(r["total_flops_per_s"], "FLOP/s"),
                pct(r["utilization"]),
                pct(r["roofline_efficiency"]),
                bound_text(r),
                *extra,
                "; ".join(w for w in r["warnings"] if not (with_trust and said_by_trust(w))),
            ]
        )
    return out


def bound_text(r: pd.Series | Record) -> str:
    """compute, memory (with the cache level its data lives in, when not DRAM), or overhead."""
    bound, level = r["bound"] if isinstance(r, pd.Series) else r.bound, _get(r, "level")
    if not isinstance(bound, str):
        return "-"
    return f"{bound} ({level})" if bound == "memory" and isinstance(level, str) and level != "DRAM" else bound


def _get(r: pd.Series | Record, key: str) -> Any:
    return r.get(key) if isinstance(r, pd.Series) else getattr(r, key, None)


def above_own_roof(view: RunView) -> list[Record]:
    """Measured records faster than the roof of their own level by more than the tolerance: each a defect to explain
    (a stale ceiling, a count of bytes that is too high, a working set that stays closer than its level)."""
    from flopbench.machine.roofline import ABOVE_PEAK

    return [
        r
        for r in view.records
        if r.status == "ok" and r.roofline_efficiency is not None and r.roofline_efficiency > ABOVE_PEAK
    ]


def _impl_blocks(view: RunView) -> list:
    """Same FLOPs, different latency: each workload measured under several implementations, side by side."""
    from flopbench.reading.analysis import implementations

    table = implementations(view)
    if table.empty:
        return []
    rows = [
        [
            r.name,
            r.impl,
            seconds(r.time_s),
            si(r.total_flops_per_s, "FLOP/s"),
            pct(r.roofline_efficiency),
            f"{r.speedup:.2f}x" if r.speedup == r.speedup else "-",
            seconds(r.compile_s) + (f" ({r.compile_cache})" if isinstance(r.compile_cache, str) else "")
            if r.compile_s == r.compile_s
            else "-",
            f"{r.break_even_calls:,.0f}" if r.break_even_calls == r.break_even_calls else "-",
            _bytes(r.peak_memory_bytes),
            r.why,
        ]
        for r in table.itertuples()
    ]
    text = (
        "Each workload below ran under more than one implementation: the same FLOPs and compulsory bytes (its counts"
        " belong to the op), a different time (it belongs to the implementation). Speedup is eager's time over this"
        " one's; a compiled implementation's first call (compilation included) is its compile time, never a sample;"
        " break-even is the number of calls after which compiling has paid for itself (compile time over the time"
        " saved per call); peak memory is what one call holds beyond its inputs (its outputs and workspace)."
    )
    columns = ["workload", "impl", "time", "achieved", "% roofline", "speedup", "compile", "break-even", "peak memory"]
    columns.append("why")
    return [Heading(2, "Same FLOPs, different latency"), Para(text), Table(columns, rows)]


def _placement_blocks(view: RunView) -> list:
    """Where each workload's data lives and the roof that judged it, in words; only for runs whose roofline has
    more than DRAM (cache levels measured) or a per-call floor."""
    roofs = view.roofline
    if not (any(level.roof.known for level in roofs.caches) or roofs.overhead_s):
        return []
    rows: list[list[Any]] = []
    said: list[str] = []
    dram = roofs.memory.roof
    for r in view.records:
        if r.status != "ok" or r.bound is None or r.working_set_bytes is None:
            continue
        rows.append(
            [
                r.name,
                si(r.working_set_bytes, "B"),
                r.level or "-",
                si(r.bandwidth_bytes_per_s, "B/s"),
                bound_text(r),
                pct(r.roofline_efficiency),
                r.dram_bound or "-",
                pct(r.dram_roofline_efficiency),
            ]
        )
        if r.level not in (None, "DRAM") and r.bound == "memory" and len(said) < 4:
            said.append(
                f"{r.name}: its {si(r.working_set_bytes, 'B')} working set fits in {r.level}: judged against"
                f" {r.level}'s {si(r.bandwidth_bytes_per_s, 'B/s')}, not DRAM's {si(dram.value, 'B/s')}"
                f" ({pct(r.roofline_efficiency)} of it, where DRAM's roof would read"
                f" {pct(r.dram_roofline_efficiency)})."
            )
        elif r.bound == "overhead" and len(said) < 4 and r.time_s:
            said.append(
                f"{r.name}: a call of {seconds(r.time_s)}, of which the per-call floor is"
                f" {seconds(roofs.overhead_s)}: overhead-bound, whatever its FLOPs and bytes."
            )
    text = (
        "Each workload is judged against the roof of the memory level its data lives in: the smallest measured level"
        " that holds its working set (the distinct bytes one call touches), or DRAM when the caches were evicted"
        f" before every call; a call whose per-call floor ({seconds(roofs.overhead_s)}) is more than half of it is"
        " overhead-bound. The DRAM placement is beside it."
    )
    columns = ["workload", "working set", "level", "its bandwidth", "bound", "% of its roof", "DRAM: bound", "% DRAM"]
    return [Heading(2, "Where each workload's data lives"), Para(text), Table(columns, rows), *(Para(t) for t in said)]


def trust_blocks(view: RunView) -> list:
    """How far the run's figures can be trusted: the machine at the start, and what disturbed it during the run."""
    settings, trust_ = view.header.settings, view.trust
    text = []
    if settings is not None and settings.rounds > 1:
        more = (
            f", then more (up to {settings.max_rounds}) for those not yet within ±{settings.target_precision:.0%}"
            if settings.target_precision and settings.max_rounds
            else ""
        )
        text.append(
            f"Each workload was measured in {settings.rounds} rounds{more}, the order rotated from round to round;"
            f" its time is the median of its round medians, known to within its ± (the half-width of its 95% interval"
            f" from its rounds); one known to no better than ±{UNSTABLE_PRECISION:.0%} is unstable."
            f" Disturbed measurements: --on-busy {settings.on_busy}."
        )
    quiet = trust_.quiet_check
    if quiet.get("canary_baseline_s"):
        reference = (
            f" (the machine's cached quiet reference: {seconds(quiet['canary_reference_s'])})"
            if quiet.get("canary_reference_s")
            else ""
        )
        text.append(
            f"A canary (a small GEMM and a copy) ran between workloads: {seconds(quiet['canary_baseline_s'])}"
            f" at its quietest{reference}, {quiet.get('canary_noise', 0):.0%} noise at the start."
        )
    if trust_.speed is not None:
        sentence = trust_.speed.sentence()
        sentence = f"{sentence[0].upper()}{sentence[1:]}."
        text.append(f"**{sentence}**" if trust_.speed.slow else sentence)
    if trust_.at_start is not None and trust_.at_start.busy:
        text.append(f"At the start, {'; '.join(trust_.at_start.reasons)}.")
    if quiet.get("ceilings_disturbed"):
        text.append(f"The ceilings were measured while the machine was busy ({quiet['ceilings_disturbed']}).")
    text.append(
        f"**{trust_.disturbed} of {trust_.measured}** measured workloads were disturbed by other work on the machine"
        f" and **{trust_.unstable}** are unstable; the trust column says which, and why."
    )
    text += [f"{note[0].upper()}{note[1:].rstrip('.')}." for note in trust_.stale if note]  # each a sentence
    above = above_own_roof(view)
    if above:
        names = ", ".join(f"{r.name} ({pct(r.roofline_efficiency)} of its {r.level or 'DRAM'} roof)" for r in above[:6])
        text.append(
            f"**{len(above)} measured workload{'s' * (len(above) > 1)} ran above {'their' if len(above) > 1 else 'its'}"
            f" own roof**, each a defect to explain (a stale or low ceiling, a working set that stays closer than its"
            f" level): {names}{' ...' if len(above) > 6 else ''}."
        )
    return [Heading(2, "Trust: the machine during the run"), Para(" ".join(text))]


def _study_blocks(s: Study) -> list:
    blocks: list = [Heading(2, "How far do FLOPs predict latency?")]
    blocks.append(
        Para(
            f"Over the {s.workloads} measured workloads with FLOPs, the Spearman rank correlation between FLOPs and"
            f" median time is **{s.spearman:.2f}** (1 would mean more FLOPs always take longer). Achieved FLOP/s spans"
            f" a factor of **{s.spread:.0f}**: the slowest workload per FLOP, {s.worst['name']}"
            f" ({si(s.worst['total_flops_per_s'], 'FLOP/s')}), takes {s.spread:.0f}x more time per FLOP than the"
            f" fastest, {s.best['name']} ({si(s.best['total_flops_per_s'], 'FLOP/s')}); between the 10th and 90th"
            f" percentiles the factor is {s.spread_p90_p10:.1f}."
        )
    )
    if s.spearman_by_family:
        blocks.append(
            Table(
                ["family", "Spearman ρ (FLOPs, time)", "workloads"],
                [[f, f"{rho:.2f}", n] for f, (rho, n) in s.spearman_by_family.items()],
            )
        )
    if s.contrasts:
        blocks.append(Heading(3, "Contrasts: FLOPs ratio against time ratio"))
        blocks.append(
            Table(
                ["contrast", "A", "B", "FLOPs A/B", "time A/B", "time per FLOP, A over B", "cause"],
                [
                    [
                        c.title,
                        c.a["name"],
                        c.b["name"],
                        f"{c.flops_ratio:.3g}",
                        f"{c.time_ratio:.3g}",
                        f"{c.per_flop:.3g}x",
                        c.cause or "(FLOPs predict it)",
                    ]
                    for c in s.contrasts
                ],
            )
        )
        for c in s.contrasts:
            blocks.append(Para(f"**{c.title[0].upper() + c.title[1:]}.** {c.conclusion()}"))
    return blocks


def run_blocks(view: RunView) -> list:
    """The report of one run, as blocks; its figures drawn (written only when the report is)."""
    blocks: list = [Heading(1, f"flopbench: {view.header.device_label}"), *_run_blocks(view)]
    blocks.append(Heading(2, "Device and peaks"))
    header = view.header
    for note in [*(header.device.notes if header.device else ()), *view.run.notes]:
        blocks.append(Para(f"Note: {note}"))
    blocks.append(Table(["", "peak", "source", "measured ceiling", "where it comes from"], _peak_rows(header)))
    blocks.append(
        Para(
            "FLOPs (all) are core plus elementwise FLOPs, what achieved FLOP/s divides by time."
            " Utilization is achieved FLOP/s over the peak of the workload's dtype; % roofline is achieved"
            " over min(peak, intensity × bandwidth). Sources: spec = datasheet, derived = units × FLOPs per"
            " cycle × clock, measured = `flopbench peak --measure`, user = given on the command line."
        )
    )
    if view.distributed:
        blocks += _distributed_blocks(view)
    if has_trust(view):
        blocks += trust_blocks(view)
    blocks += _family_blocks(view)
    blocks += _impl_blocks(view)
    blocks += _placement_blocks(view)
    drawn = draw_figures(view)
    single = [d for d in drawn if d.spec != "layers"]
    if single:
        blocks += [Heading(2, "Figures"), *(Figure(d) for d in single)]
    s = study(view)
    if s:
        blocks += _study_blocks(s)
    blocks += _generation_blocks(view)
    blocks += _energy_blocks(view)
    blocks += _ledger_blocks(view)
    blocks += _model_memory_blocks(view)
    blocks += _mfu_blocks(view)
    blocks += _predictor_blocks(view)
    blocks += _layer_blocks(view, {d.name: d for d in drawn})
    return blocks


def _generation_blocks(view: RunView) -> list:
    """Generation as serving reports it: TTFT, TPOT, tokens/s, MFU and MBU per phase, the crossover batch, and how far
    FLOPs are from predicting a decode step (flopbench.reading.generation)."""
    from flopbench.reading import generation

    result = generation.study(view)
    if result is None:
        return []
    return [
        Heading(2, "Generation: prefill and decode"),
        Para(generation.CAPTION),
        Table(generation.SUMMARY_COLUMNS, generation.summary_cells(result)),
        *(Para(text) for text in generation.sentences(result)),
    ]


def _run_blocks(view: RunView) -> list:
    header = view.header
    suites = ", ".join(f"{s.name} ({s.sha256[:8]})" for s in header.suites)
    return [
        Para(
            f"Run `{header.run_id}` started {header.started_at} on host `{header.host}`: "
            f"{header.os}, Python {header.python}, torch {header.torch}, BLAS {header.blas}"
            + (f", CUDA {header.cuda}, cuDNN {header.cudnn}" if header.cuda else "")
            + (f"; {count(header.threads, 'thread')}" if header.threads else "")
            + (f"; allocator: {header.allocator}" if header.allocator else "")
            + f"; suites {suites}. Command: `{' '.join(header.command)}`."
        )
    ]


def _family_blocks(view: RunView) -> list:
    with_trust, with_energy = has_trust(view), has_energy(view.workloads)
    blocks: list = [Heading(2, "Results by family")]
    if view.distributed:
        blocks.append(Para("Each rank's records folded into their median; the spread across ranks is above."))
    for family, rows in view.workloads[~collective_rows(view.workloads)].groupby("family", sort=False):
        blocks.append(Heading(3, family))
        columns = ["workload", "dtype", "FLOPs (all)", "time (median)", "IQR", "achieved", "% peak", "% roofline"]
        columns += ["bound", *(["FLOP/J"] if with_energy else []), *(["trust"] if with_trust else []), "warnings"]
        blocks.append(Table(columns, _family_rows(view, rows, with_trust, with_energy)))
    return blocks


def _energy_blocks(view: RunView) -> list:
    """Energy: where it came from, or why there is none; the device's joules per FLOP and per byte."""
    from flopbench.reading.analysis import energy_roofline

    run = view.workloads
    if "energy_source" not in run.columns or run["energy_source"].isna().all():
        return []
    blocks: list = [Heading(2, "Energy")]
    if not has_energy(run):
        reasons = sorted({str(n) for n in run["energy_note"].dropna()} if "energy_note" in run else set())
        return blocks + [Para("No energy was measured: " + ("; ".join(reasons) or "no meter") + ".")]
    sources = ", ".join(sorted(set(run["energy_source"].dropna()) - {"unknown"}))
    text = (
        f"Energy from {sources}: the device's average power during each workload's measurement windows times its"
        " median call (idle draw included). FLOP/J is in the tables above."
    )
    fit = energy_roofline(view)
    if fit:
        text += (
            f" Fitted over the run (energy roofline, E = FLOPs x e_flop + bytes x e_byte): {fit[0] * 1e12:.3g} pJ per"
            f" FLOP and {fit[1] * 1e12:.3g} pJ per byte."
        )
    notes = sorted({str(n) for n in run["energy_note"].dropna()}) if "energy_note" in run else []
    return blocks + [Para(text + "".join(f" Note: {n}." for n in notes))]


def _bytes(value: Any) -> str:
    return si(float(value), "B") if value is not None and value == value else "-"


def _ledger_blocks(view: RunView) -> list:
    """Where the FLOP/s went, in words, for the run's worst and best workloads (flopbench.reading.losses)."""
    from flopbench.reading.losses import in_words, worst_and_best

    chosen = worst_and_best(view)
    if not chosen:
        return []
    return [
        Heading(2, "Where the FLOP/s went"),
        Para(
            "Each placed workload carries a ledger: ideal times from the peak, adding one constraint at a time (the"
            " clock it ran at, the best kernel measured here, the roof of the memory level its data lives in, the"
            " per-call floor, its parallel work on the device's units), ending at the measured time. The factors"
            " multiply to the share of the peak achieved; the residual is what the kernel itself leaves. The run's"
            " lowest and highest (`flopbench explain RESULTS WORKLOAD` for any other):"
        ),
        *(Para(in_words(record)) for record in chosen),
    ]


def _model_memory_blocks(view: RunView) -> list:
    """Each model's FLOPs, parameters, peak memory and time side by side (flopbench.reading.analysis.model_memory)."""
    from flopbench.reading.analysis import model_memory

    table = model_memory(view)
    if table.empty:
        return []
    rows = [
        [
            r.name,
            "training step" if r.train else "forward",
            si(r.total_flops, "FLOP"),
            f"{r.parameters / 1e6:.3g} M" if r.parameters == r.parameters and r.parameters is not None else "-",
            _bytes(r.peak_memory_bytes),
            seconds(r.time_s),
        ]
        for r in table.itertuples()
    ]
    return [
        Heading(2, "Models: FLOPs, parameters, memory and time"),
        Table(["model", "step", "FLOPs", "parameters", "peak memory", "time"], rows),
        Para(
            "FLOPs alone do not judge a model: its parameters, the memory one call holds beyond its inputs (a forward"
            " pass: the activations of a layer or two; a training step: every activation kept for the backward and"
            " the gradients) and its measured time come beside them."
        ),
    ]


def _mfu_blocks(view: RunView) -> list:
    """Each model's MFU under the three FLOP conventions, each named (formulas.FLOP_CONVENTIONS)."""
    from flopbench.formulas import FLOP_CONVENTIONS
    from flopbench.reading.analysis import mfu_conventions

    table = mfu_conventions(view.workloads)
    if table.empty:
        return []
    return [
        Heading(2, "Model FLOP utilization, under three conventions"),
        Table(
            ["model", "dtype", "MFU (flopbench)", "MFU (PaLM 6N + 12LHQT)", "MFU (full-square causal)"],
            [[r.name, r.dtype, pct(r.mfu), pct(r.mfu_palm), pct(r.mfu_full_square)] for r in table.itertuples()],
        ),
        Para(
            "The same measured time over the same peak; only the FLOP count differs. "
            + " ".join(f"**{name}**: {text}." for name, text in FLOP_CONVENTIONS.items())
            + " PaLM's N leaves out the embeddings, and with them a tied output layer's product; only transformers"
            " have the other two."
        ),
    ]


def _predictor_blocks(view: RunView) -> list:
    """How well FLOPs, the roofline and the fitted roofline predict this run's times (flopbench.reading.predict)."""
    from flopbench.reading.predict import in_words, leave_one_out, points

    found = points(view)
    if len(found.frame) < 3:
        return []
    evaluation = leave_one_out(found)
    blocks: list = [Heading(2, "How well do FLOPs predict latency? Five predictors")]
    blocks.append(Para(in_words(evaluation)))
    blocks.append(
        Table(
            ["predictor", "median error", "within 1.25x", "within 2x", "worst"],
            [
                [
                    s.name,
                    f"{s.median_factor:.2f}x",
                    pct(s.within_1_25x),
                    pct(s.within_2x),
                    f"{s.worst_name} ({s.worst_factor:.1f}x)",
                ]
                for s in evaluation.scores
            ],
        )
    )
    blocks.append(
        Table(
            ["family", *(s.name for s in evaluation.scores)],
            [[family, *(f"{s.median_factor:.2f}x" for s in scores)] for family, scores in evaluation.families.items()],
        )
    )
    notes = [*evaluation.points.notes]
    if evaluation.points.excluded:
        notes.append("not judged: " + "; ".join(f"{k} ({v})" for k, v in evaluation.points.excluded.items()))
    blocks.append(
        Para(
            "flops: time proportional to FLOPs (one constant per dtype); roofline-peak and roofline-dram:"
            " max(FLOPs / compute roof, bytes / DRAM bandwidth) from the peaks and from the measured ceilings;"
            " roofline-measured: the same with the bandwidth of the cache level each working set lives in, never under"
            " the per-call floor (where levels were measured); fitted: an efficiency per family and dtype and a"
            " per-call overhead over that roofline. Every prediction is leave-one-out; error ="
            " exp|log(predicted / measured)|. `flopbench predict` prints these, `--target` another machine's."
            + "".join(f" Note: {n}." for n in notes)
        )
    )
    return blocks


LAYERS_IN_REPORT = 10  # rows of a profiled model's table: its slowest layers


def _layer_blocks(view: RunView, figures: dict[str, Drawn]) -> list:
    """Where the time goes in each model profiled layer by layer (run --per-layer): its slowest layers' time beside
    their FLOPs and the layer-wise roofline, and the split of its time into what FLOPs cover and what they do not."""
    records = profiled(view)
    if records.empty:
        return []
    blocks: list = [Heading(2, "Where the time goes, layer by layer")]
    blocks.append(
        Para(
            "Each model below was profiled after it was timed: torch.profiler ranges around every module and"
            " functional call, each op's own time given to the innermost layer. A layer's share of the time beside its"
            " share of the FLOPs shows where FLOPs mispredict; measured / roofline is the layer's time over"
            " max(FLOPs / peak, bytes / bandwidth) for each of its calls."
        )
    )
    for _, record in records.iterrows():
        table = layer_times(record["layers"], view.roofline, record["peak_key"])
        blocks.append(Heading(3, f"{record['name']} ({record['dtype']})"))
        blocks.append(Para(time_split(record["profile"])))
        blocks.append(
            Table(
                ["layer", "type", "time", "% time", "% FLOPs", "achieved", "measured / roofline", "bound"],
                [
                    [
                        r.path,
                        r.type,
                        seconds(r.time_s),
                        pct(r.time_share),
                        pct(r.flop_share),
                        si(r.flops_per_s, "FLOP/s") if r.flops_per_s == r.flops_per_s else "-",
                        f"{r.over_roofline:.2f}x" if r.over_roofline == r.over_roofline else "-",
                        r.bound or "-",
                    ]
                    for r in table.head(LAYERS_IN_REPORT).itertuples()
                ],
            )
        )
        top = table.head(LAYERS_IN_REPORT)
        blocks.append(
            Para(
                f"Its {len(top)} slowest of {len(table)} layers take {top['time_share'].sum():.0%} of the layers' time"
                f" and hold {top['flop_share'].sum():.0%} of the FLOPs."
            )
        )
        name = layer_figure_name(record)
        if name in figures:
            blocks.append(Figure(figures[name]))
    return blocks


def _distributed_blocks(view: RunView) -> list:
    header, run = view.header, view.frame
    info = header.distributed
    world_size = info.world_size if info else run["world_size"].max()
    blocks: list = [Heading(2, f"{world_size} devices ({info.backend if info else '?'})")]
    blocks.append(
        Table(
            ["rank", "host", "device", "threads"],
            [[r.rank, r.host, r.device.name, r.threads] for r in (info.ranks if info else [])],
        )
    )
    spread = rank_spread(view)
    if not spread.empty:
        blocks.append(Heading(3, "Spread across devices"))
        blocks.append(
            Para(
                "Every rank ran each workload at the same time (a barrier starts each one). Spread ="
                " fastest rank's achieved FLOP/s over the slowest's."
            )
        )
        blocks.append(
            Table(
                ["workload", "dtype", "slowest", "median", "fastest", "spread", "slowest rank"],
                [
                    [
                        r["name"],
                        r["dtype"],
                        si(r["min_flops_per_s"], "FLOP/s"),
                        si(r["median_flops_per_s"], "FLOP/s"),
                        si(r["max_flops_per_s"], "FLOP/s"),
                        f"{r['spread']:.3f}x",
                        r["slowest_rank"],
                    ]
                    for _, r in spread.iterrows()
                ],
            )
        )
    comm = collectives(view)
    if not comm.empty:
        blocks.append(Heading(3, "Collectives"))
        blocks.append(
            Para(
                "nccl-tests' conventions: algorithm bandwidth = S / time (S the message size, the slowest"
                " rank's time); bus bandwidth = algorithm bandwidth x 2(n-1)/n for all_reduce, (n-1)/n for"
                " all_gather and reduce_scatter, 1 for broadcast."
            )
        )
        blocks.append(
            Table(
                ["collective", "dtype", "size", "time", "algorithm bandwidth", "bus factor", "bus bandwidth"],
                [
                    [
                        r["op"],
                        r["dtype"],
                        si(r["message_bytes"], "B"),
                        seconds(r["time_s"]),
                        si(r["algbw_bytes_per_s"], "B/s"),
                        f"{r['bus_factor']:.3g}",
                        si(r["busbw_bytes_per_s"], "B/s"),
                    ]
                    for _, r in comm.iterrows()
                ],
            )
        )
    return blocks
