"""Recurrent layers as ops of their own: LSTM, GRU and the Elman RNN (nn.LSTM, nn.GRU, nn.RNN).

Every token multiplies its input by w_ih and the previous hidden state by w_hh, in every layer and direction; the
gates' elementwise work per hidden unit is formulas.RECURRENT_ELEMENTWISE (derived in docs/flops.md). Counted with
the formulas the model counter uses for the same calls inside a network.
"""

from __future__ import annotations

from flopbench import formulas
from flopbench.workloads.base import Counts, Op, register
from flopbench.workloads.params import Bool, Int

MODULES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


# Small instances the tests build, check, time and place.
EXAMPLES = {
    "lstm": dict(batch=2, seq_len=5, input_size=6, hidden_size=8, layers=2, bidirectional=True),
    "gru": dict(batch=2, seq_len=4, input_size=5, hidden_size=7),
    "rnn": dict(batch=3, seq_len=4, input_size=5, hidden_size=6, bias=False),
}


class Recurrent(Op):
    family = "recurrent"

    def __init__(self, name: str):
        self.name = name
        self.example = EXAMPLES[name]
        self.kind = "rnn_tanh" if name == "rnn" else name
        gates = formulas.RECURRENT_GATES[self.kind]
        self.doc = (
            f"nn.{MODULES[name]} over batch x seq_len tokens: per layer and direction 2*tokens*{gates}*hidden*(input"
            f" + hidden) core FLOPs, and {formulas.RECURRENT_ELEMENTWISE[self.kind]} elementwise per hidden unit per"
            f" token (+{2 * gates} with biases)."
        )
        self.params = (
            Int("batch", short="b"),
            Int("seq_len", short="l"),
            Int("input_size", short="i"),
            Int("hidden_size", short="hid"),
            Int("layers", 1, short="n"),
            Bool("bidirectional", False, short="bi"),
            Bool("bias", True),
        )

    def _layer_inputs(self, p) -> list[int]:
        directions = 2 if p["bidirectional"] else 1
        return [p["input_size"]] + [directions * p["hidden_size"]] * (p["layers"] - 1)

    def counts(self, p, dtype):
        directions = 2 if p["bidirectional"] else 1
        tokens, hidden = p["batch"] * p["seq_len"], p["hidden_size"]
        gates = formulas.RECURRENT_GATES[self.kind]
        flops = directions * sum(
            formulas.recurrent_flops(self.kind, tokens, size, hidden) for size in self._layer_inputs(p)
        )
        elementwise = (
            directions * p["layers"] * formulas.recurrent_elementwise_flops(self.kind, tokens, hidden, p["bias"])
        )
        weights = directions * sum(
            gates * hidden * (size + hidden) + (2 * gates * hidden if p["bias"] else 0)
            for size in self._layer_inputs(p)
        )
        # The input and the weights read, the output sequence and the final hidden (and cell) states written.
        states = directions * p["layers"] * p["batch"] * hidden * (2 if self.kind == "lstm" else 1)
        values = tokens * p["input_size"] + weights + tokens * directions * hidden + states
        return Counts(flops=flops, elementwise_flops=elementwise, bytes=values * formulas.DTYPE_BYTES[dtype])

    def training_counts(self, p, dtype):
        """As every op's (Op.training_counts), less the gradient of the initial hidden state, which is zeros and
        needs none: the first step of every layer and direction has no dh_prev = dgates @ w_hh (2*B*G*H*H FLOPs)."""
        step = super().training_counts(p, dtype)
        directions = 2 if p["bidirectional"] else 1
        gates, hidden = formulas.RECURRENT_GATES[self.kind], p["hidden_size"]
        unused = directions * p["layers"] * 2 * p["batch"] * gates * hidden * hidden
        return Counts(flops=step.flops - unused, elementwise_flops=step.elementwise_flops, bytes=step.bytes)

    def inputs(self, p, dtype, device, generator):
        import torch
        from torch import nn

        from flopbench.workloads.check import randn

        with torch.random.fork_rng(devices=[]):  # seeded weights, the same on every device
            torch.manual_seed(0)
            module = getattr(nn, MODULES[self.name])(
                p["input_size"],
                p["hidden_size"],
                p["layers"],
                bias=p["bias"],
                batch_first=True,
                bidirectional=p["bidirectional"],
            )
        module = module.to(device=device, dtype=dtype).eval()
        return {"m": module, "x": randn((p["batch"], p["seq_len"], p["input_size"]), dtype, device, generator)}

    def forward(self, p, t):
        return t["m"](t["x"])[0]

    def reference(self, p, t):
        from flopbench.workloads import reference as ref

        return ref.recurrent(self.kind, t["m"], t["x"])

    def small(self, p):
        return {
            **p,
            "batch": min(p["batch"], 2),
            "seq_len": min(p["seq_len"], 5),
            "input_size": min(p["input_size"], 8),
            "hidden_size": min(p["hidden_size"], 8),
            "layers": min(p["layers"], 2),
        }


OPS = register(Recurrent("lstm"), Recurrent("gru"), Recurrent("rnn"))
