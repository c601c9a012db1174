"""Do a model's per-layer times add up to its whole time? The reference networks profiled as `flopbench run
--per-layer` profiles them, each beside its plain step timed in the same rounds.

Prints per model: the plain step's median, the sum of its layers' profiled times (and any ops outside every layer),
their ratio, and how much of the time is in calls without a formula and in data movement. Target (issue 15): the
layers' sum within 10% of the whole step for resnet50, mobilenet_v2, vit_b_16 and gpt2_small.

    .venv/bin/python benchmarks/per_layer.py [--models resnet50,mobilenet_v2,vit_b_16,gpt2_small] [--batch 1]
        [--iterations 5] [--device cpu] [--train]
"""

from __future__ import annotations

import argparse

TARGET = 0.10
MODELS = "resnet50,mobilenet_v2,vit_b_16,gpt2_small"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--train", action="store_true")
    args = parser.parse_args()

    import torch

    from flopbench.machine.resolve import default_threads
    from flopbench.units import seconds
    from flopbench.workloads import make_workload
    from flopbench.workloads.models.profile import profile_model
    from flopbench.workloads.ops.model import layer_counts

    torch.set_num_threads(default_threads())
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {device}, batch {args.batch}")
    print(
        f"{'model':<14} {'whole':>9} {'layers':>9} {'outside':>9} {'sum/whole':>9} {'no formula':>10}"
        f" {'movement':>9}  within {TARGET:.0%}"
    )
    misses = 0
    for name in args.models.split(","):
        workload = make_workload("model", {"model": name, "batch": args.batch, "train": args.train})
        spec, p = workload.spec, workload.p
        t = spec.inputs(p, torch.float32, device, torch.Generator(device=device).manual_seed(0))
        measured = profile_model(
            t["model"], [t["x"]], train=args.train, iterations=args.iterations, counted=layer_counts(dict(p)), name=name
        )
        layers = sum(layer.time_s for layer in measured.layers)
        ratio = measured.ops_s / measured.whole_s
        ok = abs(ratio - 1) <= TARGET
        misses += not ok
        without = sum(measured.without_formula_s.values())
        print(
            f"{name:<14} {seconds(measured.whole_s):>9} {seconds(layers):>9} {seconds(measured.outside_layers_s):>9}"
            f" {ratio:>9.3f} {without / measured.whole_s:>10.1%} {measured.movement_s / measured.whole_s:>9.1%}"
            f"  {'yes' if ok else 'NO'}"
        )
        for note in measured.notes:
            print(f"  note: {note}")
    return 1 if misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
