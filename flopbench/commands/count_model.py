"""flopbench count-model: the per-layer table of any model, named by the function that builds it."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import TYPE_CHECKING

from flopbench.commands.common import add_format_argument
from flopbench.errors import FlopbenchError, first_line

if TYPE_CHECKING:
    from flopbench.workloads.models.counter import LayerCounts

NAME = "count-model"
HELP = "count any nn.Module layer by layer: flopbench count-model package.module:factory --input 1,3,224,224"
DESCRIPTION = (
    "Import FACTORY (package.module:function, found from the current directory too), call it to build the"
    " model (on the meta device: nothing is allocated, unless the factory needs real tensors), run it on"
    " inputs of the given shapes and print the per-layer table, beside PyTorch's own counter."
)
# Imported whole before the command runs (see cli.interrupts_deferred).
IMPORTS = ("numpy", "torch")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("factory", metavar="FACTORY", help="package.module:function that returns an nn.Module")
    parser.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="SHAPE[:DTYPE]",
        help="an input's shape, e.g. 1,3,224,224 or 1,128:int64; repeat for several inputs",
    )
    parser.add_argument(
        "--input-factory",
        metavar="MODULE:FUNCTION",
        help="a function returning the input tensor (or a tuple of them), instead of --input",
    )
    parser.add_argument("--train", action="store_true", help="also count the backward pass of a training step")
    add_format_argument(parser)


def load(target: str, what: str):
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise FlopbenchError(f"{what} '{target}': expected package.module:function, e.g. torchvision.models:resnet50")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: the user's own modules are found
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or any error raised while the module runs
        raise FlopbenchError(
            f"{what} '{target}': cannot import {module_name} ({first_line(exc)}); check the name"
            f" and that it is installed or in the current directory"
        ) from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        from flopbench.errors import did_you_mean

        names = [n for n in dir(module) if not n.startswith("_")]
        raise FlopbenchError(
            f"{what} '{target}': {module_name} has no '{attribute}'{did_you_mean(attribute, names)}"
        ) from None


def build(factory, target: str, device):
    import torch

    try:
        with torch.device(device):
            model = factory()
    except Exception as exc:
        raise FlopbenchError(f"factory '{target}' failed: {first_line(exc)}") from None
    if not isinstance(model, torch.nn.Module):
        raise FlopbenchError(
            f"factory '{target}' returned {type(model).__name__}, not a torch.nn.Module;"
            f" name a function that builds the model"
        )
    return model


def make_inputs(args, device):
    import torch

    from flopbench.workloads.models.counter import parse_shape

    if args.input_factory:
        if args.input:
            raise FlopbenchError("give --input shapes or --input-factory, not both")
        factory = load(args.input_factory, "--input-factory")
        try:
            made = factory()
        except Exception as exc:
            raise FlopbenchError(f"--input-factory '{args.input_factory}' failed: {first_line(exc)}") from None
        made = made if isinstance(made, (tuple, list)) else (made,)
        if not all(isinstance(x, torch.Tensor) for x in made):
            raise FlopbenchError(f"--input-factory '{args.input_factory}' must return a tensor or a tuple of tensors")
        return tuple(x.to(device) for x in made)
    if not args.input:
        raise FlopbenchError("no input: give --input SHAPE (e.g. --input 1,3,224,224) or --input-factory")
    inputs = []
    for text in args.input:
        try:
            shape, dtype = parse_shape(text)
        except ValueError as exc:
            raise FlopbenchError(f"--input {exc}") from None
        inputs.append(
            torch.zeros(shape, dtype=dtype, device=device)
            if not dtype.is_floating_point
            else torch.randn(shape, dtype=dtype, device=device)
        )
    return tuple(inputs)


def main(args: argparse.Namespace) -> int:
    import json

    from flopbench.commands.count import print_layers
    from flopbench.workloads.models.counter import count_layers

    factory = load(args.factory, "factory")
    counted: LayerCounts | None = None
    for device in ("meta", "cpu"):  # meta allocates nothing; some models need real tensors to build or run
        model = build(factory, args.factory, device)
        inputs = make_inputs(args, device)
        try:
            counted = count_layers(model, inputs, train=args.train, name=args.factory)
            break
        except Exception as exc:
            failure = exc
            if device == "cpu":
                shapes = ", ".join("x".join(map(str, x.shape)) for x in inputs)
                raise FlopbenchError(
                    f"{args.factory} failed on inputs of shape {shapes}: {first_line(failure)}; check --input"
                ) from None
    assert counted is not None  # counted on one device, or an error was raised
    frame = counted.frame()
    if args.format == "json":
        print(
            json.dumps(
                {
                    "model": args.factory,
                    "macs": counted.macs,
                    "core_flops": counted.flops,
                    "elementwise_flops": counted.elementwise_flops,
                    "parameters": counted.parameters,
                    "torch_flops": counted.torch_forward,
                    "unsupported": dict(counted.unsupported),
                    "layers": frame.to_dict(orient="records"),
                },
                indent=2,
                default=str,
            )
        )
    elif args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    else:
        print_layers(counted, f"{args.factory}: per layer", fmt=args.format)
    return 0
