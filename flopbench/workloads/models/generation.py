"""Decoders that generate with a KV cache, as serving engines run them: a preallocated cache of keys and values per
layer (its dtype its own), a prefill that runs the prompt and fills it, and decode steps that each run one new token
per sequence against everything cached so far.

Two styles of the decoders flopbench has (flopbench.workloads.models.language):
- gpt2: LayerNorm, one fused QKV projection with biases, learned positions, a GELU MLP of 4 x d_model, the LM head
  tied to the token embedding;
- llama: RMSNorm, Q/K/V/O projections without biases, rotary positions, a SwiGLU MLP, grouped-query attention
  (kv_heads key/value heads shared by heads / kv_heads query heads), an LM head of its own.

The logits are the last position's only (what sampling the next token needs; vLLM computes no others in prefill).
The cache holds `capacity` positions; a call writes its tokens' keys and values at [position, position + tokens) and
attends to [0, position + tokens): a prompt causally, a decode step to every cached position.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from flopbench.workloads.models.language import RMSNorm, SwiGLU, apply_rotary, rotary_tables


class CachedBlock(nn.Module):
    def __init__(self, style: str, dim: int, heads: int, kv_heads: int, hidden: int):
        super().__init__()
        self.style, self.heads, self.kv_heads, self.head_dim = style, heads, kv_heads, dim // heads
        gpt2 = style == "gpt2"
        self.norm_1 = nn.LayerNorm(dim) if gpt2 else RMSNorm(dim)
        self.norm_2 = nn.LayerNorm(dim) if gpt2 else RMSNorm(dim)
        kv = kv_heads * self.head_dim
        self.qkv = nn.Linear(dim, dim + 2 * kv, bias=gpt2)
        self.out = nn.Linear(dim, dim, bias=gpt2)
        if gpt2:
            self.mlp: nn.Module = nn.Sequential(
                nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim)
            )
        else:
            self.mlp = SwiGLU(dim, hidden)

    def forward(self, x: torch.Tensor, cache_k: torch.Tensor, cache_v: torch.Tensor, position: int) -> torch.Tensor:
        b, t, d = x.shape
        kv = self.kv_heads * self.head_dim
        q, k, v = self.qkv(self.norm_1(x)).split((d, kv, kv), dim=2)
        q = q.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = k.view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        if self.style == "llama":
            cos, sin = rotary_tables(position + t, self.head_dim, 10000.0, x.device, x.dtype)
            cos, sin = cos[position:], sin[position:]
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        end = position + t
        cache_k[:, :, position:end] = k
        cache_v[:, :, position:end] = v
        keys, values = cache_k[:, :, :end], cache_v[:, :, :end]
        if keys.dtype != q.dtype:  # a cache kept in another dtype: read back into the compute dtype
            keys, values = keys.to(q.dtype), values.to(q.dtype)
        y = F.scaled_dot_product_attention(q, keys, values, is_causal=t > 1, enable_gqa=self.kv_heads != self.heads)
        x = x + self.out(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.norm_2(x))


class CachedDecoder(nn.Module):
    """A decoder of `style` whose forward(ids, cache_k, cache_v) runs ids (batch x tokens) at `self.position` (0: a
    prompt; later: a decode step) and returns the last position's logits."""

    def __init__(
        self, style: str, vocab: int, dim: int, layers: int, heads: int, kv_heads: int, hidden: int, capacity: int
    ):
        super().__init__()
        self.style, self.position = style, 0
        self.embed = nn.Embedding(vocab, dim)
        self.positions = nn.Embedding(capacity, dim) if style == "gpt2" else None
        self.blocks = nn.ModuleList([CachedBlock(style, dim, heads, kv_heads, hidden) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim) if style == "gpt2" else RMSNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        if style == "gpt2":
            self.lm_head.weight = self.embed.weight  # tied, as in GPT-2

    def forward(self, ids: torch.Tensor, cache_k: torch.Tensor, cache_v: torch.Tensor) -> torch.Tensor:
        position, t = self.position, ids.shape[1]
        x = self.embed(ids)
        if self.positions is not None:
            x = x + self.positions(torch.arange(position, position + t, device=ids.device))
        for layer, block in enumerate(self.blocks):
            x = block(x, cache_k[layer], cache_v[layer], position)
        return self.lm_head(self.norm(x[:, -1:]))


def cache(
    layers: int, batch: int, kv_heads: int, head_dim: int, capacity: int, dtype: torch.dtype, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """A preallocated KV cache: keys and values, each layers x batch x kv_heads x capacity x head_dim."""
    shape = (layers, batch, kv_heads, capacity, head_dim)
    return torch.zeros(shape, dtype=dtype, device=device), torch.zeros(shape, dtype=dtype, device=device)
