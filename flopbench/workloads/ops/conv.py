"""Convolutions: conv1d/2d/3d, depthwise, pointwise (1x1), depthwise-separable and transposed 1-, 2- and 3-d."""

from __future__ import annotations

import math
from typing import Any

from flopbench import formulas
from flopbench.errors import SpecError
from flopbench.workloads.base import Counts, Op, register
from flopbench.workloads.params import Bool, Dims, Int, Padding

SPATIAL = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}
_SHORT = {"length": "l", "height": "h", "width": "w", "depth": "d"}
_CONV_FNS = {1: "conv1d", 2: "conv2d", 3: "conv3d"}  # torch.nn.functional's, looked up when first run


def _spatial_params(ndim: int) -> tuple[Int, ...]:
    return tuple(Int(name, short=_SHORT[name], doc="input size") for name in SPATIAL[ndim])


def _window_params(ndim: int, *, padding: bool = True) -> tuple:
    return (
        Dims("kernel", ndim=ndim, short="k"),
        Dims("stride", 1, ndim=ndim, short="s"),
        *(
            (
                Padding(
                    "padding",
                    0,
                    ndim=ndim,
                    short="p",
                    doc='zero padding per side, or "same" (stride 1 only) or "valid"',
                ),
            )
            if padding
            else ()
        ),
        Dims("dilation", 1, ndim=ndim, short="dil"),
    )


def padding_pairs(padding: tuple[int, ...] | str, kernel, dilation) -> list[tuple[int, int]]:
    """(before, after) zero padding per spatial dimension; "same" may pad one more at the end, as PyTorch."""
    if isinstance(padding, str):
        if padding == "same":
            return [formulas.same_padding(k, d) for k, d in zip(kernel, dilation)]
        return [(0, 0)] * len(kernel)  # "valid"
    return [(pad, pad) for pad in padding]


def conv_out_size(p: dict[str, Any], ndim: int) -> tuple[int, ...]:
    sizes = tuple(p[name] for name in SPATIAL[ndim])
    if p["padding"] == "same":
        return sizes
    pads = [before for before, _ in padding_pairs(p["padding"], p["kernel"], p["dilation"])]
    return tuple(formulas.conv_output_size(*args) for args in zip(sizes, p["kernel"], p["stride"], pads, p["dilation"]))


def validate_window(p: dict[str, Any], ndim: int) -> None:
    """Errors PyTorch would raise late (or never), raised early with the key that causes them."""
    if p["padding"] == "same" and any(s != 1 for s in p["stride"]):
        raise SpecError(
            "padding",
            f'"same" needs stride 1 (PyTorch does not pad strided convolutions'
            f' to "same"), got stride {list(p["stride"])}; give the padding as integers',
        )
    pairs = padding_pairs(p["padding"], p["kernel"], p["dilation"])
    for name, k, d, (before, after) in zip(SPATIAL[ndim], p["kernel"], p["dilation"], pairs):
        span = d * (k - 1) + 1
        if span > p[name] + before + after:
            raise SpecError(
                "kernel",
                f"kernel {k} (dilation {d}) spans {span} but the padded input along"
                f" {name} is {p[name] + before + after} ({name} {p[name]} + padding"
                f" {before + after}); use a smaller kernel or dilation, or more padding",
            )


def _check_groups(p: dict[str, Any], channel_keys: tuple[str, ...]) -> None:
    for key in channel_keys:
        if p[key] % p["groups"]:
            raise SpecError(
                "groups",
                f"{key} {p[key]} is not divisible by groups {p['groups']};"
                f" choose groups that divide both channel counts",
            )


def _small_channels(p: dict[str, Any]) -> dict[str, Any]:
    """At most 4 groups of at most 8 channels each: the grouping structure survives, the size does not."""
    g = p["groups"]
    small_g = min(g, 4)
    return {
        "groups": small_g,
        "in_channels": small_g * min(p["in_channels"] // g, 8),
        "out_channels": small_g * min(p["out_channels"] // g, 8),
    }


def _small_spatial(p: dict[str, Any], ndim: int, minimum: int = 12) -> dict[str, int]:
    """Spatial sizes cut to what still fits the kernel (the check must stay a valid convolution)."""
    spans = [d * (k - 1) + 1 for k, d in zip(p["kernel"], p["dilation"])]
    return {name: min(p[name], max(minimum, span)) for name, span in zip(SPATIAL[ndim], spans)}


# Small instances the tests build, check, time and place, per spatial dimensions.
CONV_EXAMPLES: dict[int, dict[str, Any]] = {
    1: dict(batch=2, in_channels=4, out_channels=6, length=30, kernel=5, stride=2, dilation=2, groups=2),
    2: dict(batch=2, in_channels=3, out_channels=8, height=14, width=12, kernel=[3, 5], padding=1),
    3: dict(batch=1, in_channels=2, out_channels=4, depth=5, height=6, width=7, kernel=3, padding="same"),
}
CONV_TRANSPOSE_EXAMPLES: dict[int, dict[str, Any]] = {
    1: dict(batch=2, in_channels=4, out_channels=6, length=9, kernel=4, stride=3, padding=1, groups=2),
    2: dict(
        batch=1,
        in_channels=4,
        out_channels=6,
        height=7,
        width=7,
        kernel=3,
        stride=2,
        padding=1,
        output_padding=1,
        groups=2,
    ),
    3: dict(
        batch=1, in_channels=2, out_channels=4, depth=3, height=4, width=5, kernel=[2, 3, 3], stride=2, output_padding=1
    ),
}

# Implementations of 2-d convolutions: eager, compiled, and in channels_last memory format.
CONV2D_IMPLS = (*Op.impls, "channels-last")


class Conv(Op):
    family = "conv"

    def __init__(self, ndim: int):
        self.ndim = ndim
        if ndim == 2:
            self.impls = CONV2D_IMPLS
        self.name = f"conv{ndim}d"
        self.example = CONV_EXAMPLES[ndim]
        self.doc = (
            "Core FLOPs = 2*batch*out_channels*prod(output size)*(in_channels/groups)*prod(kernel); "
            "output size as PyTorch computes it."
        )
        self.params = (
            Int("batch", short="b"),
            Int("in_channels", short="cin"),
            Int("out_channels", short="cout"),
            *_spatial_params(ndim),
            *_window_params(ndim),
            Int("groups", 1, short="g"),
            Bool("bias", True),
        )

    def validate(self, p):
        _check_groups(p, ("in_channels", "out_channels"))
        validate_window(p, self.ndim)

    def counts(self, p, dtype):
        out = conv_out_size(p, self.ndim)
        b, cin, cout, g = p["batch"], p["in_channels"], p["out_channels"], p["groups"]
        flops = formulas.conv_flops(b, cout, out, cin // g, p["kernel"])
        out_numel = b * cout * math.prod(out)
        in_numel = b * cin * math.prod(p[name] for name in SPATIAL[self.ndim])
        weights = cout * (cin // g) * math.prod(p["kernel"]) + (cout if p["bias"] else 0)
        size = formulas.DTYPE_BYTES[dtype]
        compulsory = (in_numel + weights + out_numel) * size
        return Counts(
            flops=flops,
            elementwise_flops=formulas.elementwise_flops("bias", out_numel) if p["bias"] else 0,
            bytes=compulsory,
            eager_bytes=self._padded_copy(p, in_numel, compulsory, size),
        )

    def _padded_copy(self, p, in_numel: int, compulsory: int, size: int) -> int | None:
        """padding="same" with an odd total padding (an even kernel): PyTorch pads the input into a zero-padded copy
        first (one more at the end), then convolves that: the copy is written and read instead of the input, traffic
        the compulsory bytes leave out (docs/flops.md). None: no copy."""
        if p["padding"] != "same":
            return None
        pads = padding_pairs("same", p["kernel"], p["dilation"])
        if all(before == after for before, after in pads):
            return None
        sizes = [p[name] + before + after for name, (before, after) in zip(SPATIAL[self.ndim], pads)]
        padded = p["batch"] * p["in_channels"] * math.prod(sizes)
        return compulsory + (2 * padded - in_numel) * size

    def parallel_work(self, p, device_type):
        """As an implicit GEMM: (batch x output pixels) x out_channels per group, in output tiles of the GEMM's size
        (flopbench.workloads.ops.matmul.TILE)."""
        from flopbench.workloads.ops.matmul import TILE
        from flopbench.workloads.parallel import tile_work

        tile = TILE[device_type]
        pixels = p["batch"] * math.prod(conv_out_size(p, self.ndim))
        return tile_work(
            pixels,
            p["out_channels"] // p["groups"],
            p["groups"],
            tile,
            f"{tile}x{tile} implicit-GEMM tiles",
            f"an implicit GEMM of (batch x output pixels) by output channels per group, {tile}x{tile} tiles assumed",
            device_type == "cuda",
        )

    def inputs(self, p, dtype, device, generator):
        from flopbench.workloads.check import randn, weight

        cin, cout, g = p["in_channels"], p["out_channels"], p["groups"]
        fan_in = cin // g * math.prod(p["kernel"])
        tensors = {
            "x": randn((p["batch"], cin, *(p[n] for n in SPATIAL[self.ndim])), dtype, device, generator),
            "w": weight((cout, cin // g, *p["kernel"]), fan_in, dtype, device, generator),
        }
        if p["bias"]:
            tensors["b"] = randn((cout,), dtype, device, generator, std=0.1)
        return tensors

    def forward(self, p, t):
        import torch.nn.functional as F

        padding = p["padding"] if isinstance(p["padding"], str) else list(p["padding"])
        return getattr(F, _CONV_FNS[self.ndim])(
            t["x"], t["w"], t.get("b"), list(p["stride"]), padding, list(p["dilation"]), p["groups"]
        )

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        return ref.conv(
            t["x"],
            t["w"],
            t.get("b"),
            p["stride"],
            padding_pairs(p["padding"], p["kernel"], p["dilation"]),
            p["dilation"],
            p["groups"],
        )

    def small(self, p):
        return {**p, "batch": 1, **_small_channels(p), **_small_spatial(p, self.ndim)}


class _ConvVariant(Op):
    impls = CONV2D_IMPLS
    """An op defined as a general conv2d with some keys fixed; counts and computation are conv2d's."""

    family = "conv"
    conv = Conv(2)

    def as_conv(self, p: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def validate(self, p):
        self.conv.validate(self.as_conv(p))

    def counts(self, p, dtype):
        return self.conv.counts(self.as_conv(p), dtype)

    def parallel_work(self, p, device_type):
        return self.conv.parallel_work(self.as_conv(p), device_type)

    def inputs(self, p, dtype, device, generator):
        return self.conv.inputs(self.as_conv(p), dtype, device, generator)

    def forward(self, p, t):
        return self.conv.forward(self.as_conv(p), t)

    def reference(self, p, t):
        return self.conv.reference(self.as_conv(p), t)


class DepthwiseConv2d(_ConvVariant):
    name = "depthwise_conv2d"
    example = dict(batch=2, channels=8, height=15, width=15, kernel=3, stride=2, padding=1)
    doc = "A conv2d with groups = in_channels = out_channels: 2*batch*channels*prod(output)*prod(kernel)."
    params = (
        Int("batch", short="b"),
        Int("channels", short="c"),
        *_spatial_params(2),
        *_window_params(2),
        Bool("bias", True),
    )

    def as_conv(self, p):
        rest = {k: v for k, v in p.items() if k != "channels"}
        return {**rest, "in_channels": p["channels"], "out_channels": p["channels"], "groups": p["channels"]}

    def small(self, p):
        return {**p, "batch": 1, "channels": min(p["channels"], 8), **_small_spatial(p, 2)}


class PointwiseConv2d(_ConvVariant):
    name = "pointwise_conv2d"
    example = dict(batch=2, in_channels=8, out_channels=12, height=9, width=9)
    doc = "A 1x1 conv2d: 2*batch*in_channels*out_channels*prod(output size)."
    params = (
        Int("batch", short="b"),
        Int("in_channels", short="cin"),
        Int("out_channels", short="cout"),
        *_spatial_params(2),
        Dims("stride", 1, ndim=2, short="s"),
        Bool("bias", True),
    )

    def as_conv(self, p):
        return {**p, "kernel": (1, 1), "padding": (0, 0), "dilation": (1, 1), "groups": 1}

    def small(self, p):
        return {
            **p,
            "batch": 1,
            "in_channels": min(p["in_channels"], 16),
            "out_channels": min(p["out_channels"], 16),
            "height": min(p["height"], 12),
            "width": min(p["width"], 12),
        }


class SeparableConv2d(Op):
    name = "separable_conv2d"
    example = dict(batch=1, in_channels=8, out_channels=16, height=12, width=12, kernel=3, padding=1)
    family = "conv"
    doc = (
        "A depthwise conv (kernel, stride, padding, dilation; no bias) then a pointwise 1x1 conv to "
        "out_channels (with the bias), counted as the sum of the two, as Keras' SeparableConv2D."
    )
    params = (
        Int("batch", short="b"),
        Int("in_channels", short="cin"),
        Int("out_channels", short="cout"),
        *_spatial_params(2),
        *_window_params(2),
        Bool("bias", True),
    )

    depthwise = DepthwiseConv2d()
    pointwise = PointwiseConv2d()

    def _parts(self, p):
        depthwise = {
            "batch": p["batch"],
            "channels": p["in_channels"],
            "height": p["height"],
            "width": p["width"],
            "kernel": p["kernel"],
            "stride": p["stride"],
            "padding": p["padding"],
            "dilation": p["dilation"],
            "bias": False,
        }
        out = conv_out_size(self.depthwise.as_conv(depthwise), 2)
        pointwise = {
            "batch": p["batch"],
            "in_channels": p["in_channels"],
            "out_channels": p["out_channels"],
            "height": out[0],
            "width": out[1],
            "stride": (1, 1),
            "bias": p["bias"],
        }
        return depthwise, pointwise

    def validate(self, p):
        self.depthwise.validate(self._parts(p)[0])

    def counts(self, p, dtype):
        depthwise, pointwise = self._parts(p)
        dw = self.depthwise.counts(depthwise, dtype)
        pw = self.pointwise.counts(pointwise, dtype)
        # The depthwise output is an intermediate: written by one conv and read by the next, it is not
        # compulsory traffic of the block, so it is taken out of both sides' bytes.
        intermediate = p["batch"] * p["in_channels"] * pointwise["height"] * pointwise["width"]
        return Counts(
            flops=dw.flops + pw.flops,
            elementwise_flops=dw.elementwise_flops + pw.elementwise_flops,
            bytes=dw.bytes + pw.bytes - 2 * intermediate * formulas.DTYPE_BYTES[dtype],
        )

    def inputs(self, p, dtype, device, generator):
        depthwise, pointwise = self._parts(p)
        dw = self.depthwise.inputs(depthwise, dtype, device, generator)
        pw = self.pointwise.inputs(pointwise, dtype, device, generator)
        return {**dw, **{f"pw_{k}": v for k, v in pw.items() if k != "x"}}

    def forward(self, p, t):
        depthwise, pointwise = self._parts(p)
        y = self.depthwise.forward(depthwise, t)
        return self.pointwise.forward(pointwise, {"x": y, "w": t["pw_w"], "b": t.get("pw_b")})

    def reference(self, p, t):
        depthwise, pointwise = self._parts(p)
        y = self.depthwise.reference(depthwise, t)
        return self.pointwise.reference(pointwise, {"x": y, "w": t["pw_w"], "b": t.get("pw_b")})

    def small(self, p):
        return {
            **p,
            "batch": 1,
            "in_channels": min(p["in_channels"], 8),
            "out_channels": min(p["out_channels"], 16),
            **_small_spatial(p, 2),
        }


class ConvTranspose(Op):
    family = "conv"

    def __init__(self, ndim: int):
        self.ndim = ndim
        self.name = f"conv_transpose{ndim}d"
        self.example = CONV_TRANSPOSE_EXAMPLES[ndim]
        self.doc = (
            "Core FLOPs counted from the input size, as PyTorch's counter, fvcore and thop do: "
            "2*batch*in_channels*prod(input size)*(out_channels/groups)*prod(kernel)."
        )
        self.params = (
            Int("batch", short="b"),
            Int("in_channels", short="cin"),
            Int("out_channels", short="cout"),
            *_spatial_params(ndim),
            Dims("kernel", ndim=ndim, short="k"),
            Dims("stride", 1, ndim=ndim, short="s"),
            Dims("padding", 0, ndim=ndim, minimum=0, short="p"),
            Dims("output_padding", 0, ndim=ndim, minimum=0, short="op"),
            Dims("dilation", 1, ndim=ndim, short="dil"),
            Int("groups", 1, short="g"),
            Bool("bias", True),
        )

    def in_size(self, p) -> tuple[int, ...]:
        return tuple(p[name] for name in SPATIAL[self.ndim])

    def out_size(self, p) -> tuple[int, ...]:
        return tuple(
            formulas.conv_transpose_output_size(*args)
            for args in zip(self.in_size(p), p["kernel"], p["stride"], p["padding"], p["dilation"], p["output_padding"])
        )

    def validate(self, p):
        _check_groups(p, ("in_channels", "out_channels"))
        for op_, s, d in zip(p["output_padding"], p["stride"], p["dilation"]):
            if op_ >= max(s, d):
                raise SpecError(
                    "output_padding",
                    f"{list(p['output_padding'])} must be smaller than the stride"
                    f" or the dilation ({list(p['stride'])}, {list(p['dilation'])})",
                )
        for name, size in zip(SPATIAL[self.ndim], self.out_size(p)):
            if size < 1:
                raise SpecError(
                    "padding",
                    f"{list(p['padding'])} leaves an output {name} of {size}; use less padding or a larger kernel",
                )

    def counts(self, p, dtype):
        b, cin, cout, g = p["batch"], p["in_channels"], p["out_channels"], p["groups"]
        in_size = self.in_size(p)
        out_numel = b * cout * math.prod(self.out_size(p))
        weights = cin * (cout // g) * math.prod(p["kernel"]) + (cout if p["bias"] else 0)
        return Counts(
            flops=formulas.conv_transpose_flops(b, cin, in_size, cout // g, p["kernel"]),
            elementwise_flops=formulas.elementwise_flops("bias", out_numel) if p["bias"] else 0,
            bytes=(b * cin * math.prod(in_size) + weights + out_numel) * formulas.DTYPE_BYTES[dtype],
        )

    def inputs(self, p, dtype, device, generator):
        from flopbench.workloads.check import randn, weight

        cin, cout, g = p["in_channels"], p["out_channels"], p["groups"]
        tensors = {
            "x": randn((p["batch"], cin, *self.in_size(p)), dtype, device, generator),
            "w": weight((cin, cout // g, *p["kernel"]), cin // g * math.prod(p["kernel"]), dtype, device, generator),
        }
        if p["bias"]:
            tensors["b"] = randn((cout,), dtype, device, generator, std=0.1)
        return tensors

    def forward(self, p, t):
        import torch.nn.functional as F

        return getattr(F, self.name)(
            t["x"],
            t["w"],
            t.get("b"),
            list(p["stride"]),
            list(p["padding"]),
            list(p["output_padding"]),
            p["groups"],
            list(p["dilation"]),
        )

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        return ref.conv_transpose(
            t["x"], t["w"], t.get("b"), p["stride"], p["padding"], p["output_padding"], p["dilation"], p["groups"]
        )

    def small(self, p):
        # The smallest input that still gives a non-empty output, or 8 (4 in 3-d), whichever is larger.
        sizes = {}
        floor = 4 if self.ndim == 3 else 8
        for name, k, s, pad, d, op_ in zip(
            SPATIAL[self.ndim], p["kernel"], p["stride"], p["padding"], p["dilation"], p["output_padding"]
        ):
            needed = 1 + max(0, -(-(2 * pad - d * (k - 1) - op_) // s))
            sizes[name] = min(p[name], max(floor, needed))
        return {**p, "batch": 1, **_small_channels(p), **sizes}


OPS = register(
    Conv(1),
    Conv(2),
    Conv(3),
    DepthwiseConv2d(),
    PointwiseConv2d(),
    SeparableConv2d(),
    ConvTranspose(1),
    ConvTranspose(2),
    ConvTranspose(3),
)
