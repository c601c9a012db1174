"""The per-layer counter on calls that return tuples (recurrent layers, MHA) and on attention masks: exact against
PyTorch's counter where it counts the op, and against hand counts where it does not."""

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.bias import causal_lower_right
from torch.utils.flop_counter import FlopCounterMode

from flopbench import formulas
from flopbench.workloads.models.counter import count_layers


def torch_count(model, inputs):
    # oneDNN runs a CPU LSTM as one fused kernel that PyTorch's counter sees as 0; the default implementation (and
    # the math SDPA backend) decompose into the matmuls it counts.
    with torch.backends.mkldnn.flags(enabled=False), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as c:
        model(*inputs)
    return c.get_total_flops()


RECURRENT = [
    ("lstm", nn.LSTM(8, 16), (torch.randn(5, 3, 8),)),
    (
        "lstm 2 layers, bidirectional, batch first",
        nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True),
        (torch.randn(3, 5, 8),),
    ),
    ("lstm with projections", nn.LSTM(8, 16, proj_size=4, num_layers=2), (torch.randn(5, 3, 8),)),
    ("lstm without bias, unbatched", nn.LSTM(8, 16, bias=False), (torch.randn(5, 8),)),
    ("gru 3 layers", nn.GRU(8, 16, num_layers=3), (torch.randn(5, 3, 8),)),
    ("gru bidirectional", nn.GRU(6, 10, bidirectional=True), (torch.randn(4, 2, 6),)),
    ("rnn tanh", nn.RNN(8, 16), (torch.randn(5, 3, 8),)),
    ("rnn relu bidirectional", nn.RNN(8, 16, nonlinearity="relu", bidirectional=True), (torch.randn(5, 3, 8),)),
    ("lstm cell", nn.LSTMCell(8, 16), (torch.randn(3, 8),)),
    ("gru cell", nn.GRUCell(8, 16), (torch.randn(3, 8),)),
    ("rnn cell", nn.RNNCell(8, 16, nonlinearity="relu"), (torch.randn(3, 8),)),
]


@pytest.mark.parametrize("model, inputs", [c[1:] for c in RECURRENT], ids=[c[0] for c in RECURRENT])
def test_recurrent_layers_count_exactly_as_pytorchs_counter(model, inputs):
    layers = count_layers(model, inputs)
    assert layers.flops == torch_count(model, inputs) > 0
    assert not layers.unsupported


def test_a_recurrent_layer_by_hand():
    """nn.LSTM(8, 16, num_layers=2) over 5 steps of a batch of 3: layer 2 reads layer 1's 16 outputs."""
    tokens = 15
    layers = count_layers(nn.LSTM(8, 16, num_layers=2), (torch.randn(5, 3, 8),))
    assert layers.flops == formulas.recurrent_flops("lstm", tokens, 8, 16) + formulas.recurrent_flops(
        "lstm", tokens, 16, 16
    )
    assert formulas.recurrent_flops("lstm", tokens, 8, 16) == 2 * tokens * 4 * 16 * (8 + 16)
    # Per hidden unit and token: 22 for the gates and the cell update, 8 for the two biases of the four gates.
    assert layers.elementwise_flops == 2 * tokens * 16 * (22 + 8)
    gru = count_layers(nn.GRU(8, 16, bias=False), (torch.randn(5, 3, 8),))
    assert gru.elementwise_flops == tokens * 16 * 17 and gru.flops == 2 * tokens * 3 * 16 * (8 + 16)


def test_a_call_returning_a_tuple_without_a_rule_is_listed_never_silently_zero():
    class QR(nn.Module):
        def forward(self, x):
            q, r = torch.linalg.qr(x)  # a named tuple: flopbench has no formula for it
            return q @ r

    layers = count_layers(QR(), (torch.randn(4, 4),))
    assert layers.unsupported["linalg_qr"] == 1


def test_mha_with_kdim_and_vdim_charges_each_projection_its_own_width():
    mha = nn.MultiheadAttention(32, 4, kdim=16, vdim=24)
    q, k, v = torch.randn(5, 2, 32), torch.randn(7, 2, 16), torch.randn(7, 2, 24)
    batch, length, source, embed = 2, 5, 7, 32
    hand = 2 * batch * (
        length * embed * embed + source * 16 * embed + source * 24 * embed + length * embed * embed
    ) + 4 * batch * 4 * length * source * (embed // 4)
    layers = count_layers(mha, (q, k, v), train=True)  # training: the unfused path that PyTorch's counter sees
    assert layers.flops == hand == torch_count(mha, (q, k, v))


class _Attend(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.attn, self.kwargs = nn.MultiheadAttention(32, 4), kwargs

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False, **self.kwargs)[0]


def test_mha_with_a_causal_mask_counts_the_unmasked_pairs():
    x = torch.randn(6, 2, 32)
    mask = nn.Transformer.generate_square_subsequent_mask(6)
    projections = 2 * 2 * 4 * 6 * 32 * 32
    causal_core = 4 * 2 * 4 * formulas.attention_pairs(6, 6, causal=True) * 8
    hinted = count_layers(_Attend(attn_mask=mask, is_causal=True), (x,))
    assert hinted.flops == projections + causal_core
    assert "causal: the unmasked pairs only" in "; ".join(hinted.frame()["note"])
    read = count_layers(_Attend(attn_mask=mask), (x,))  # no hint: the mask's own values say which pairs attend
    assert read.flops == projections + causal_core


def test_sdpa_masks_a_decode_step_and_different_value_heads():
    class Decode(nn.Module):
        # Made outside the counted call: PyTorch's FlopCounterMode cannot create a CausalBias inside its scope.
        mask = causal_lower_right(1, 4096)

        def forward(self, q, k, v):
            return nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=self.mask)

    q, k, v = torch.randn(1, 8, 1, 64), torch.randn(1, 8, 4096, 64), torch.randn(1, 8, 4096, 32)
    layers = count_layers(Decode(), (q, k, v))
    pairs = 8 * 4096  # bottom-right: the one query sees all 4096 keys, in each of 8 heads
    assert layers.flops == 2 * pairs * 64 + 2 * pairs * 32
    full = torch_count(lambda *a: nn.functional.scaled_dot_product_attention(*a), (q, k, v))
    assert layers.flops == full  # here the unmasked pairs are all of them

    class TopLeft(nn.Module):
        def forward(self, q, k, v):
            return nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)

    q2, k2, v2 = torch.randn(1, 2, 5, 16), torch.randn(1, 2, 5, 16), torch.randn(1, 2, 5, 24)
    top = count_layers(TopLeft(), (q2, k2, v2))
    assert top.flops == 2 * 2 * 15 * 16 + 2 * 2 * 15 * 24  # 15 = 5 * 6 / 2 pairs per head
