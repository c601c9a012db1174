"""flopbench predict: how well FLOPs, the roofline and a fitted roofline predict the measured times."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from flopbench.commands.common import add_format_argument
from flopbench.errors import FlopbenchError

NAME = "predict"
HELP = "judge latency predictors (FLOPs, roofline, fitted roofline) on runs; predict another machine"
DESCRIPTION = (
    "Five predictors of each workload's time, judged leave-one-out on RESULTS (one device; several files of it are"
    " pooled): flops (time proportional to FLOPs), roofline-peak, roofline-dram, roofline-measured (cache-aware) and"
    " fitted (an efficiency per"
    " family and dtype and a per-call overhead). Errors are factors: median, share within 1.25x and 2x, the worst."
    " --target fits on RESULTS and predicts another run from its roofs; --device-spec predicts a device from"
    " peaks.toml without running it (a prediction, labelled so)."
)
IMPORTS = ("numpy", "pandas", "scipy.optimize")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS", help="results files of one device")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--target", type=Path, metavar="RESULTS_B", help="a run on another machine to predict")
    where.add_argument(
        "--device-spec", metavar="NAME", help="a device of peaks.toml to predict, e.g. h100_sxm or 'H100 SXM'"
    )
    add_format_argument(
        parser,
        "table (fits the terminal; whole in a pipe), markdown, json or csv (raw numbers, per workload)",
    )


def one_device(paths: list[Path], what: str):
    """The points of files that hold one device's runs; an error naming the devices otherwise."""
    from flopbench.commands.common import load_views
    from flopbench.reading.predict import points

    views = load_views(paths)
    if not any(view.records for view in views):
        raise FlopbenchError(f"{what}: no records in {', '.join(map(str, paths))}")
    devices = sorted({view.label for view in views if view.records})
    if len(devices) > 1:
        raise FlopbenchError(
            f"{what}: the files hold runs of {len(devices)} devices ({'; '.join(devices)}); give one device's runs,"
            f" and the other with --target"
        )
    found = points([view for view in views if view.records])
    if len(found.frame) < 3:
        raise FlopbenchError(
            f"{what}: {len(found.frame)} measured workloads with FLOPs and a peak; a predictor needs 3 at least"
        )
    return found


def device_spec(name: str) -> tuple[str, Any]:
    """A datasheet device of peaks.toml, by key or name: (its name, its roofline)."""
    from flopbench.errors import did_you_mean
    from flopbench.machine.device import match_gpu_spec, peak_tables, spec_peaks

    table = peak_tables()["gpu"]
    entry = table.get(name) or match_gpu_spec(name)
    if entry is None:
        lowered = name.lower()
        entry = next((e for e in table.values() if lowered in e["name"].lower()), None)
    if entry is None:
        raise FlopbenchError(
            f"--device-spec {name!r}: not in peaks.toml{did_you_mean(name, table)}; known: {', '.join(table)}"
        )
    from flopbench.machine.roofline import MEMORY, ComputeRoof, Level, Roofline

    peaks, bandwidth = spec_peaks(entry)
    compute = {key: ComputeRoof(key, peak) for key, peak in peaks.items() if peak.known}
    return entry["name"], Roofline(compute, (Level(MEMORY, None, bandwidth),))


def main(args: argparse.Namespace) -> int:
    from flopbench.reading.predict import across, leave_one_out, what_if

    source = one_device(args.results, "predict")
    own = leave_one_out(source)
    if args.device_spec:
        device, roofline = device_spec(args.device_spec)
        table = what_if(source, roofline, device)
        if table.empty:
            raise FlopbenchError(f"--device-spec {args.device_spec!r}: {device} has no peak for these dtypes")
        return _print_what_if(args, own, table, device)
    target = across(source, one_device([args.target], "--target")) if args.target else None
    if args.format == "json":
        out = own.as_json()
        if target is not None:
            out["target"] = target.as_json()
        print(json.dumps(out, indent=2))
    elif args.format == "csv":
        (target or own).table().to_csv(sys.stdout, index=False)
    else:
        _print_scores(own, args.format)
        if target is not None:
            _print_scores(target, args.format)
    return 0


def _print_scores(evaluation: Any, fmt: str) -> None:
    from flopbench.console import print_table, print_text
    from flopbench.reading.predict import PREDICTORS, in_words

    def row(family, s):
        worst = f"{s.worst_name} ({s.worst_factor:.1f}x)"
        return [
            family,
            s.name,
            s.workloads,
            f"{s.median_factor:.2f}x",
            f"{s.within_1_25x:.0%}",
            f"{s.within_2x:.0%}",
            worst,
        ]

    rows = [row("all", s) for s in evaluation.scores]
    rows += [row(family, s) for family, scores in evaluation.families.items() for s in scores]
    print_table(
        f"{evaluation.points.label}: latency predictors, {evaluation.what}",
        ["family", "predictor", "workloads", "median error", "within 1.25x", "within 2x", "worst"],
        rows,
        numeric=["workloads", "median error", "within 1.25x", "within 2x"],
        caption=f"Predictors: {', '.join(PREDICTORS)} (flopbench predict --help). Error: exp|log(predicted /"
        " measured)|, 2x = twice or half the time.",
        fmt=fmt,
        wrap=["worst"],
        optional=["within 1.25x", "worst"],
    )
    for note in evaluation.points.notes:
        print_text(f"Note: {note}.", fmt)
    if evaluation.points.excluded:
        print_text("Not judged: " + "; ".join(f"{k} ({v})" for k, v in evaluation.points.excluded.items()), fmt)
    if evaluation.what == "leave-one-out":
        print_text(in_words(evaluation), fmt)


def _print_what_if(args: argparse.Namespace, own: Any, table: Any, device: str) -> int:
    from flopbench.console import print_table, print_text
    from flopbench.units import seconds

    if args.format == "json":
        print(
            json.dumps(
                {
                    "prediction": True,
                    "device": device,
                    "source": own.points.label,
                    "source_errors": own.as_json()["predictors"],
                    "workloads": json.loads(table.to_json(orient="records")),
                },
                indent=2,
            )
        )
        return 0
    if args.format == "csv":
        table.to_csv(sys.stdout, index=False)
        return 0
    fitted = next(s for s in own.scores if s.name == "fitted")
    print_table(
        f"PREDICTION (not measured): {own.points.label} workloads on {device}",
        [
            "workload",
            "dtype",
            "measured here",
            "predicted: fitted",
            "predicted: roofline",
            "predicted: flops",
        ],
        (
            [
                r.name,
                r.dtype,
                seconds(r.measured_on_source_s),
                seconds(r.predicted_fitted_s),
                seconds(r.predicted_roofline_s),
                seconds(r.predicted_flops_s),
            ]
            for r in table.itertuples()
        ),
        numeric=["measured here", "predicted: fitted", "predicted: roofline", "predicted: flops"],
        caption=f"Measured here: on {own.points.label}. Predicted from {device}'s datasheet (peaks.toml) and the"
        " overhead and efficiencies fitted on the"
        " source run;"
        f" the fit's own leave-one-out error there is a median {fitted.median_factor:.2f}x. Another device's"
        " efficiencies differ: treat these as a what-if, not a measurement.",
        fmt=args.format,
        wrap=["workload"],
        optional=["dtype", "predicted: flops"],
    )
    print_text(f"These are predictions for {device}, not measurements.", args.format)
    return 0
