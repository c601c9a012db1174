"""flopbench profile-model: where any model's time goes, layer by layer, beside what its FLOPs say."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from flopbench.commands.common import add_device_arguments, positive
from flopbench.errors import FlopbenchError, first_line

NAME = "profile-model"
HELP = "measure any nn.Module layer by layer: flopbench profile-model package.module:factory --input 1,3,224,224"
DESCRIPTION = (
    "Import FACTORY (package.module:function), build the model on the device, count it layer by layer, then time it"
    " alone and under torch.profiler in interleaved rounds: every layer's measured time beside its share of the"
    " FLOPs, its achieved FLOP/s and the layer-wise roofline's time, and what the model's time has beyond its"
    " layers (calls without a formula, data movement, Python and dispatch between ops)."
)
# Imported whole before the command runs (see cli.interrupts_deferred).
IMPORTS = ("numpy", "pandas", "torch", "torch.profiler")
SHOWN = 25  # table rows: the slowest layers (json and csv have all)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from flopbench.commands.count_model import add_arguments as count_arguments

    count_arguments(parser)
    add_device_arguments(parser)
    parser.add_argument("--dtype", default="float32", help="the model's parameters and floating inputs (float32)")
    parser.add_argument(
        "--iterations",
        type=positive("--iterations", maximum=1000, integer=True),
        default=5,
        help="profiled rounds, each a plain step timed 3 times and one profiled step (5)",
    )


def roofs_in_words(machine: Any, dtype: str) -> str:
    """Where the roofs of the layer-wise roofline come from (flopbench.machine.roofline's rule), in a sentence."""
    from flopbench.units import si

    compute, bandwidth = machine.roofline.roof(dtype).roof, machine.roofline.memory.roof
    if not (compute.known and bandwidth.known):
        return (
            "no layer-wise roofline: no compute peak or bandwidth is known; pass --peak and --bandwidth, or --measure"
        )
    return (
        f"{dtype} {si(compute.value, 'FLOP/s')} ({compute.source}), bandwidth {si(bandwidth.value, 'B/s')}"
        f" ({bandwidth.source})"
    )


def main(args: argparse.Namespace) -> int:
    import torch

    from flopbench import formulas
    from flopbench.commands.common import resolve_machine
    from flopbench.commands.count_model import (
        build,
        count_on_meta,
        input_bytes,
        load,
        make_inputs,
        refuse_if_too_big,
        shapes_text,
    )
    from flopbench.reading.analysis import layer_times
    from flopbench.results.schema import dump
    from flopbench.workloads.models.counter import count_layers
    from flopbench.workloads.models.profile import profile_model, to_record

    if args.dtype not in formulas.DTYPE_BYTES or args.dtype.startswith(("int", "float8")):
        choices = ", ".join(d for d in formulas.DTYPE_BYTES if not d.startswith(("int", "float8")))
        raise FlopbenchError(f"--dtype {args.dtype}: not a floating dtype a model runs in; use one of {choices}")
    machine = resolve_machine(args, measure_if_needed=False)
    device = torch.device(machine.device.torch_device)
    factory = load(args.factory, "factory")
    dtype = getattr(torch, args.dtype)
    # On the meta device first: a shape the model does not take is its own error, said before anything is allocated,
    # and the model's parameters and inputs are known to fit (the run's rule) before they are built on the device.
    _, built, _ = count_on_meta(args, factory, dtype)
    inputs_size = input_bytes(args)
    if built is not None or inputs_size is not None:
        refuse_if_too_big((built or 0) + (inputs_size or 0), str(device), "for the model and its inputs")
    torch.set_num_threads(machine.threads)
    model = build(factory, args.factory, device).to(dtype)
    inputs = tuple(x.to(dtype) if x.is_floating_point() else x for x in make_inputs(args, device))
    try:
        counted = count_layers(model, inputs, train=args.train, name=args.factory)
    except Exception as exc:
        raise FlopbenchError(
            f"{args.factory} failed on inputs of shape {shapes_text(args)}: {first_line(exc)}; check --input"
        ) from None
    roofs = roofs_in_words(machine, args.dtype)
    measured = profile_model(
        model,
        inputs,
        dtype=args.dtype,
        train=args.train,
        roofline=machine.roofline,
        key=args.dtype,
        iterations=args.iterations,
        counted=counted,
        name=args.factory,
    )
    layers, split = to_record(measured, counted, args.dtype)
    frame = layer_times([dump(layer) for layer in layers], machine.roofline, args.dtype)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "model": args.factory,
                    "device": machine.device.label,
                    "threads": machine.threads,
                    "dtype": args.dtype,
                    "train": args.train,
                    "peak_flops_per_s": machine.roofline.roof(args.dtype).roof.value,
                    "bandwidth_bytes_per_s": machine.roofline.memory.roof.value,
                    "profile": dump(split),
                    "remainder_s": split.remainder_s,
                    "layers": json.loads(frame.to_json(orient="records")),
                },
                indent=2,
            )
        )
    elif args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    else:
        print_profile(args.factory, machine.device.label, frame, split, roofs, args.format)
    return 0


def print_profile(model: str, device: str, frame: Any, split: Any, roofs: str, fmt: str) -> None:
    """The slowest layers and the split of the model's time (table or markdown)."""
    from flopbench.console import print_table, print_text
    from flopbench.reading.analysis import time_split
    from flopbench.units import seconds, si

    def ratio(value: float) -> str:
        return f"{value:.2f}x" if value == value else "-"

    print_table(
        f"{model} on {device}: where the time goes (slowest {min(SHOWN, len(frame))} of {len(frame)} layers)",
        [
            "module",
            "type",
            "calls",
            "time",
            "% time",
            "% FLOPs",
            "FLOP/s",
            "roofline time",
            "measured / roofline",
            "bound",
        ],
        (
            [
                r.path,
                r.type,
                r.calls,
                seconds(r.time_s),
                f"{r.time_share:.1%}",
                f"{r.flop_share:.1%}",
                si(r.flops_per_s, "FLOP/s") if r.flops_per_s == r.flops_per_s else "-",
                seconds(r.predicted_s) if r.predicted_s == r.predicted_s else "-",
                ratio(r.over_roofline),
                r.bound,
            ]
            for r in frame.head(SHOWN).itertuples()
        ),
        numeric=["time", "% time", "% FLOPs", "FLOP/s", "roofline time", "measured / roofline"],
        caption=f"time: the layer's ops per step, {split.timer}, median of {split.iterations} profiled rounds."
        f" Roofline time: each call at max(FLOPs / peak, bytes / bandwidth); roofs: {roofs}.",
        fmt=fmt,
    )
    print_text(time_split(split), fmt)
    for note in split.notes:
        print_text(f"Note: {note}.", fmt)
