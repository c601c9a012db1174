"""flopbench count: FLOPs, MACs, elementwise FLOPs and bytes of workloads, without timing anything."""

from __future__ import annotations

import argparse
import json
import sys

from flopbench import formulas
from flopbench.commands.common import add_format_argument

NAME = "count"
HELP = "count FLOPs, MACs and bytes of workloads (no timing)"
DESCRIPTION = (
    "Count FLOPs, MACs, elementwise FLOPs and bytes of each workload of suites, or of one workload given on"
    " the command line: flopbench count conv2d batch=1 in_channels=3 out_channels=64 height=224"
    " width=224 kernel=3 padding=1"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "targets",
        nargs="+",
        metavar="SUITE|OP",
        help="suite files or shipped suite names; or an op name followed by key=value pairs",
    )
    add_format_argument(parser)
    parser.add_argument(
        "--train",
        action="store_true",
        help="count the training step too: forward and backward, every floating input needing a gradient"
        " (models: their training step, counted layer by layer)",
    )
    parser.add_argument(
        "--per-layer",
        action="store_true",
        help="for model workloads, the per-layer table (module, type, shapes, parameters, MACs, FLOPs,"
        " elementwise FLOPs, share of the total, PyTorch's own count)",
    )


def workloads_from_targets(targets: list[str]):
    """`SUITE [SUITE...]` or `OP key=value ...`: the workloads, in order."""
    from flopbench.workloads.suite import from_targets

    return [w for suite in from_targets(targets) for w in suite.workloads]


def rows(workloads, train: bool = False) -> list[dict]:
    """One row of counts per workload; with train, the training step's beside them (train_*; null for ops without a
    backward pass: collectives)."""
    table = []
    for w in workloads:
        row = {
            "name": w.name,
            "op": w.op,
            "params": w.params_json,
            "dtype": w.dtype,
            "core_flops": w.counts.flops,
            "macs": w.counts.macs,
            "elementwise_flops": w.counts.elementwise_flops,
            "total_flops": w.counts.total_flops,
            "bytes": w.counts.bytes,
            "intensity": w.counts.intensity,
        }
        if train:
            # Collectives, and int8 and float8 products (no autograd for their kernels), have no training step.
            trainable = w.spec.trainable and w.dtype in formulas.FLOAT_DTYPES
            step = w.spec.training_counts(w.p, w.dtype) if trainable else None
            row.update(
                train_core_flops=step.flops if step else None,
                train_macs=step.macs if step else None,
                train_elementwise_flops=step.elementwise_flops if step else None,
                train_total_flops=step.total_flops if step else None,
                train_bytes=step.bytes if step else None,
            )
        table.append(row)
    return table


CONVENTION = (
    "FLOPs: core (matmul, conv, attention products), 1 MAC = 2 FLOPs. Elementwise FLOPs (bias, activations,"
    " softmax, norms) are separate. Bytes: compulsory traffic. FLOP/byte counts both kinds of FLOPs."
    " Derivations: docs/flops.md."
)
TRAINING = (
    " Training: forward + backward with every floating input needing a gradient: core 3x forward, elementwise 2x,"
    " bytes 2x forward + the inputs' gradients written; models count their training step (train = true)."
)


def print_layers(
    layers, title: str, published: tuple[float, int, str] | None = None, batch: int = 1, fmt: str = "table"
) -> None:
    """The per-layer table of a model and its totals, with FLOPs and MACs told apart (table or markdown)."""
    from flopbench.console import print_table, print_text
    from flopbench.units import si

    frame = layers.frame()
    print_table(
        title,
        [
            "module",
            "type",
            "input",
            "output",
            "params",
            "MACs",
            "FLOPs",
            "elementwise",
            "FLOP/byte",
            "%",
            "PyTorch's counter",
            "note",
        ],
        (
            [
                r.path,
                r.type,
                r.input,
                r.output,
                si(r.params),
                si(r.macs, "MAC"),
                si(r.core_flops, "FLOP"),
                si(r.elementwise_flops, "FLOP"),
                f"{r.intensity:.3g}" if r.intensity == r.intensity and r.intensity is not None else "-",
                f"{r.share:.1%}",
                si(r.torch_flops, "FLOP"),
                r.note,
            ]
            for r in frame.itertuples()
        ),
        numeric=["params", "MACs", "FLOPs", "elementwise", "FLOP/byte", "%", "PyTorch's counter"],
        caption="FLOP/byte: the layer's FLOPs over its own compulsory traffic (float32), as if each layer ran"
        " alone: layers far below the device's ridge point are memory-bound inside the network.",
        fmt=fmt,
        wrap=["module", "input", "output"],
        notes="note",
        optional=["input", "output", "PyTorch's counter", "%", "FLOP/byte", "type"],
    )
    print_text(
        f"[bold]{layers.model}[/bold]: {si(layers.macs, 'MAC')} = {si(layers.flops, 'FLOP')} core (1 MAC = 2"
        f' FLOPs; tables that print "GFLOPS" for models, torchvision\'s among them, print the MACs),'
        f" + {si(layers.elementwise_flops, 'FLOP')} elementwise; {si(layers.parameters)} parameters."
        f" PyTorch's counter: {si(layers.torch_forward, 'FLOP')} forward.",
        fmt,
    )
    if published:  # these models' FLOPs are linear in the batch
        macs, at_batch, source = published
        print_text(
            f"Published: {si(macs, 'MAC')} at batch {at_batch} ({source}); flopbench counts"
            f" {si(layers.macs * at_batch / batch, 'MAC')} at that batch.",
            fmt,
        )
    if layers.train:
        print_text(
            f"Training step: backward {si(layers.backward_flops, 'FLOP')} core (PyTorch's counter:"
            f" {si(layers.torch_backward, 'FLOP')}) + {si(layers.backward_elementwise_flops, 'FLOP')}"
            f" elementwise; forward + backward {si(layers.flops + layers.backward_flops, 'FLOP')} core.",
            fmt,
        )
    if layers.unsupported:
        print_text(
            "Not counted (flopbench has no formula for these calls): "
            + ", ".join(f"{name} x{n}" for name, n in layers.unsupported.most_common()),
            fmt,
        )


def main(args: argparse.Namespace) -> int:
    from flopbench.workloads.ops.model import layer_counts

    workloads = workloads_from_targets(args.targets)
    table = rows(workloads, train=args.train)
    if args.per_layer:
        for row, w in zip(table, workloads):
            if w.op == "model":
                row["layers"] = layer_counts(w.p).frame().to_dict(orient="records")
    if args.format == "json":
        print(json.dumps(table, indent=2))
    elif args.format == "csv":
        import pandas as pd

        frame = pd.DataFrame(table)
        frame["params"] = frame["params"].map(lambda p: json.dumps(p, sort_keys=True))
        frame.to_csv(sys.stdout, index=False)
    else:
        from flopbench.console import print_table
        from flopbench.units import si

        training = ["training FLOPs", "training elementwise", "training bytes"] if args.train else []

        def step(r: dict) -> list[str]:
            if not args.train:
                return []
            if r["train_core_flops"] is None:
                return ["-", "-", "-"]
            return [
                si(r["train_core_flops"], "FLOP"),
                si(r["train_elementwise_flops"], "FLOP"),
                si(r["train_bytes"], "B"),
            ]

        print_table(
            None,
            ["name", "dtype", "FLOPs", "MACs", "elementwise", "bytes", "FLOP/byte", *training],
            (
                [
                    r["name"],
                    r["dtype"],
                    si(r["core_flops"], "FLOP"),
                    si(r["macs"], "MAC"),
                    si(r["elementwise_flops"], "FLOP"),
                    si(r["bytes"], "B"),
                    f"{r['intensity']:.3g}" if r["intensity"] is not None else "-",
                    *step(r),
                ]
                for r in table
            ),
            numeric=["FLOPs", "MACs", "elementwise", "bytes", "FLOP/byte", *training],
            caption=CONVENTION + (TRAINING if args.train else ""),
            fmt=args.format,
            wrap=["name"],
            optional=["dtype", "FLOP/byte"],
        )
        from flopbench.console import print_text

        for w in workloads:
            for line in w.spec.derivation(w.p, w.dtype):
                print_text(f"{w.name}: {line}", args.format)
        if args.per_layer:
            models = [w for w in workloads if w.op == "model"]
            from flopbench.workloads.models import MODELS

            for w in models:
                published = MODELS[w.p["model"]].published_macs
                same_size = all(w.p.get(k) == v for k, v in MODELS[w.p["model"]].sizes.items() if k in w.p)
                print_layers(
                    layer_counts(w.p),
                    f"{w.name}: per layer",
                    published if same_size else None,
                    batch=w.p["batch"],
                    fmt=args.format,
                )
            if not models:
                print("(--per-layer: none of these workloads is a model)")
    return 0
