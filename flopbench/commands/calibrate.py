"""flopbench calibrate: a device's fitted efficiencies and per-call overhead, as a file simulators can read."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from flopbench.units import seconds

NAME = "calibrate"
HELP = "fit a device's efficiencies per family and dtype and its per-call overhead: calibrate RESULTS -o device.json"
DESCRIPTION = (
    "Fit time = overhead + roofline / efficiency on the runs of one device (the `fitted` predictor of flopbench"
    " predict) and write the efficiencies per family and dtype with their leave-one-out errors, the overhead, the"
    " roofs they are relative to and the device's identity, as JSON."
)
IMPORTS = ("numpy", "pandas", "scipy.optimize")
VERSION = 1  # of the file's layout


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS", help="results files of one device")
    parser.add_argument("-o", "--out", type=Path, required=True, metavar="FILE", help="the JSON file to write")


def main(args: argparse.Namespace) -> int:
    from flopbench.commands.predict import one_device
    from flopbench.console import info
    from flopbench.reading.predict import calibration, leave_one_out
    from flopbench.results.files import read_run
    from flopbench.version import __version__

    source = one_device(args.results, "calibrate")
    evaluation = leave_one_out(source)
    assert evaluation.fit is not None
    from flopbench.reading.view import view_of

    view = view_of(read_run(args.results[0]))
    header, roofline = view.header, view.roofline
    device = header.device
    frame = source.frame
    fitted_families = {f: next(s for s in scores if s.name == "fitted") for f, scores in evaluation.families.items()}
    out = {
        "calibration_version": VERSION,
        "flopbench": __version__,
        "device": {
            "label": device.label if device else None,
            "name": device.name if device else None,
            "facts": device.facts if device else {},
            "threads": header.threads,
            "torch": header.torch,
            "host": header.host,
        },
        "runs": [str(p) for p in args.results],
        "roofs": {
            "compute": {d: _measured_first(roofline.roof(d)) for d in sorted(set(frame["dtype"]))},
            "bandwidth": _measured_first(roofline.memory),
            "source": "the measured ceilings (the peak where a dtype had none)",
        },
        **calibration(evaluation.fit),
        "errors": {
            "evaluation": "leave-one-out",
            "fitted": next(s for s in evaluation.scores if s.name == "fitted").as_json(),
            "per_family": {f: s.as_json() for f, s in fitted_families.items()},
        },
    }
    from flopbench.outputs import output_file, write_text

    write_text(output_file(args.out, "-o", replace=True), json.dumps(out, indent=2) + "\n", "-o")
    fitted = out["errors"]["fitted"]
    info(
        f"flopbench: {len(out['efficiencies'])} efficiencies and a {seconds(evaluation.fit.overhead_s)} overhead"
        f" for {source.label} (leave-one-out median error {fitted['median_factor']:.2f}x) -> {args.out}"
    )
    return 0


def _measured_first(roof) -> float | None:
    """A roof's measured ceiling, or its peak where none was measured (a ComputeRoof or a Level)."""
    return roof.ceiling.value if roof.ceiling is not None and roof.ceiling.known else roof.peak.value
