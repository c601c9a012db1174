"""flopbench count-model: the per-layer table of any model, named by the function that builds it."""

from __future__ import annotations

import argparse
import importlib
import math
import os
import re
import sys
from typing import TYPE_CHECKING

from flopbench.commands.common import add_format_argument
from flopbench.console import info
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


class MetaFailure(Exception):
    """A failure of the meta device's own (an op with no meta kernel, data-dependent shapes, a factory that needs
    real values): real tensors may not raise it. `cause` says which, in words."""

    def __init__(self, cause: str):
        super().__init__(cause)
        self.cause = cause


def meta_cause(exc: BaseException) -> str | None:
    """Why a failure on the meta device is the meta device's own, in words; None: the model's own error (a shape that
    does not fit, a wrong argument), which real tensors would raise too."""
    text = f"{type(exc).__name__}: {exc}"
    if "DataDependent" in type(exc).__name__ or "data-dependent" in text or "data dependent" in text:
        return f"its shapes depend on tensor values, which the meta device does not hold ({first_line(exc, 120)})"
    if re.search(r"\bmeta\b", text, re.IGNORECASE):
        return f"an op cannot run on the meta device ({first_line(exc, 120)})"
    return None


def build(factory, target: str, device):
    """The model the factory builds on `device`. On the meta device, a failure of the meta device's own is a
    MetaFailure; any other failure of the factory is one line."""
    import torch

    try:
        with torch.device(device):
            model = factory()
    except Exception as exc:
        if str(device) == "meta" and (cause := meta_cause(exc)):
            raise MetaFailure(f"the factory needs real tensors: {cause}") from None
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


def input_bytes(args) -> int | None:
    """Bytes the --input tensors take (None with an --input-factory: only calling it tells)."""
    from flopbench.workloads.models.counter import parse_shape

    if args.input_factory or not args.input:
        return None
    total = 0
    for text in args.input:
        try:
            shape, dtype = parse_shape(text)
        except ValueError as exc:
            raise FlopbenchError(f"--input {exc}") from None
        total += math.prod(shape) * dtype.itemsize
    return total


def model_bytes(model, dtype=None) -> int:
    """Bytes of a model's parameters and buffers (floating ones at `dtype`, when given), read off its tensors' shapes:
    on the meta device, what building it for real would allocate."""
    total = 0
    for tensor in [*model.parameters(), *model.buffers()]:
        size = dtype.itemsize if dtype is not None and tensor.is_floating_point() else tensor.element_size()
        total += tensor.numel() * size
    return total


def refuse_if_too_big(nbytes: int, torch_device: str, what: str) -> None:
    """Refuse in one line, before anything is allocated, what would not fit in the free memory (the run's own rule:
    flopbench.machine.device.too_big)."""
    from flopbench.machine.device import free_memory, too_big

    if reason := too_big(nbytes, free_memory(torch_device), torch_device, what):
        raise FlopbenchError(f"{reason}; give smaller --input shapes (or a smaller model)")


def count_on_meta(args, factory, dtype=None) -> tuple[LayerCounts | None, int | None, str | None]:
    """(its counts, its parameters' bytes, None) when the model counts on the meta device, where nothing is
    allocated; (None, the bytes if it was built, why the meta device failed) when only real tensors can tell. An
    error that real tensors would raise too (a shape the model does not take) is one line, at once."""
    from flopbench.workloads.models.counter import count_layers

    built: int | None = None
    try:
        model = build(factory, args.factory, "meta")
        built = model_bytes(model, dtype)
        inputs = make_inputs(args, "meta")
        return count_layers(model, inputs, train=args.train, name=args.factory), built, None
    except MetaFailure as exc:
        return None, built, exc.cause
    except FlopbenchError:
        raise
    except Exception as exc:
        if cause := meta_cause(exc):
            return None, built, cause
        raise FlopbenchError(
            f"{args.factory} failed on inputs of shape {shapes_text(args)}: {first_line(exc)}; check --input"
        ) from None


def shapes_text(args) -> str:
    """The --input shapes as a message names them: 16x33, 1x128."""
    if not args.input:
        return f"from {args.input_factory}"
    return ", ".join(text.partition(":")[0].replace(" ", "").replace(",", "x") for text in args.input)


def main(args: argparse.Namespace) -> int:
    import json

    from flopbench.commands.count import print_layers
    from flopbench.workloads.models.counter import count_layers

    factory = load(args.factory, "factory")
    counted, built, cause = count_on_meta(args, factory)
    if counted is None:  # the meta device cannot count it: real CPU tensors, if they fit
        inputs_size = input_bytes(args)
        if built is not None or inputs_size is not None:
            refuse_if_too_big((built or 0) + (inputs_size or 0), "cpu", f"to count it on real tensors ({cause})")
        info(f"flopbench: counting {args.factory} on real CPU tensors: {cause}")
        model = build(factory, args.factory, "cpu")
        inputs = make_inputs(args, "cpu")
        try:
            counted = count_layers(model, inputs, train=args.train, name=args.factory)
        except Exception as exc:
            raise FlopbenchError(
                f"{args.factory} failed on inputs of shape {shapes_text(args)}: {first_line(exc)}; check --input"
            ) from None
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
