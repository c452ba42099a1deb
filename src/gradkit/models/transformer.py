"""A Transformer encoder written from self-attention up, for text and series.

    attention(q, k, v) = softmax(q kᵀ / √d_head, padding masked) v        one head
    causal attention: position i also masks every key j > i (a language model's decoder)
    multi-head: project to q, k, v, split into heads, attend, join, project back
    block (pre-norm): x + attn(norm(x)), then x + ff(norm(x))
    encoder: embeddings + positions (sinusoidal or learned) -> blocks -> norm -> pool -> head
             (or, with `head: many-to-many`, the head on every position: a language model)

The tests check `scaled_dot_product_attention` against PyTorch's fused kernel and a whole block
against `nn.TransformerEncoderLayer(norm_first=True)` with the same weights. Set
`record_attention = True` on the model to keep each layer's attention weights (the report's
heat maps).
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from gradkit.config import Section
from gradkit.models import register
from gradkit.models.layers import SequenceInput


class TransformerConfig(Section):
    dim: int = Field(128, ge=2)  # model width (embedding size)
    heads: int = Field(4, ge=1)  # dim must divide by heads
    layers: int = Field(2, ge=1)  # encoder blocks
    ff_dim: int = Field(256, ge=1)  # hidden width of each block's feed-forward part
    dropout: float = Field(0.1, ge=0.0, lt=1.0)  # in attention, feed-forward and embeddings
    activation: Literal["relu", "gelu"] = "gelu"  # of the feed-forward part
    positions: Literal["sinusoidal", "learned"] = "sinusoidal"  # how token positions are encoded
    pool: Literal["mean", "cls", "max"] = "mean"  # many-to-one: how the tokens become one vector
    attention: Literal["bidirectional", "causal"] = "bidirectional"  # causal: no token sees later ones
    head: Literal["many-to-one", "many-to-many"] = "many-to-one"  # one output, or one per token

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> TransformerConfig:
        if self.dim % self.heads:
            raise ValueError(f"model.dim={self.dim} must be a multiple of model.heads={self.heads}, "
                             f"e.g. model.dim={self.heads * max(1, round(self.dim / self.heads))}")
        return self


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 pad: torch.Tensor | None = None, dropout: float = 0.0,
                                 causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ / √d) v over (B, H, L, d) tensors; `pad` (B, L) is True at padded keys;
    `causal` masks each query's later keys (query i sees keys 0..i).

    Returns the output (B, H, L, d) and the attention weights (B, H, L, L).
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if pad is not None:
        scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))
    if causal:  # (L, L) True above the diagonal: key j > query i; key 0 is always left open
        n = scores.shape[-1]
        future = torch.ones(n, n, dtype=torch.bool, device=scores.device).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    weights = scores.softmax(-1)
    if dropout:
        weights = F.dropout(weights, dropout)
    return weights @ v, weights


class MultiHeadSelfAttention(nn.Module):
    """Self-attention with `heads` heads; parameters laid out as `nn.MultiheadAttention`'s."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, causal: bool = False) -> None:
        super().__init__()
        self.heads, self.dropout, self.causal = heads, dropout, causal
        self.in_proj = nn.Linear(dim, 3 * dim)  # q, k, v stacked
        self.out_proj = nn.Linear(dim, dim)
        self.weights: torch.Tensor | None = None  # last attention weights, when recorded
        self.record = False

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.in_proj(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out, weights = scaled_dot_product_attention(q, k, v, pad, self.dropout if self.training else 0.0,
                                                    self.causal)
        if self.record:
            self.weights = weights.detach()
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


class EncoderBlock(nn.Module):
    """Pre-norm: x + dropout(attention(norm(x))), then x + dropout(ff(norm(x)))."""

    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float, act: str,
                 causal: bool = False) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads, dropout, causal)
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.GELU() if act == "gelu" else nn.ReLU(),
                                nn.Dropout(dropout), nn.Linear(ff_dim, dim))
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.drop1(self.attn(self.norm1(x), pad))
        return x + self.drop2(self.ff(self.norm2(x)))


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """(length, dim): sin on even features, cos on odd ones, wavelengths 2π..10000·2π."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    out = torch.zeros(length, dim)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return out


class TransformerEncoder(nn.Module):
    """Embeddings + positions -> pre-norm blocks -> norm -> pooled -> linear head.

    >>> spec = DataSpec("classification", "text", (20,), 4, vocab_size=100)
    >>> TransformerEncoder(spec, 4, TransformerConfig())(torch.randint(1, 100, (2, 20))).shape
    torch.Size([2, 4])
    """

    def __init__(self, spec, out_features: int, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.inputs = SequenceInput(spec, cfg.dim)
        if self.inputs.text:  # std 1/√dim, so that embeddings · √dim start on the positions' scale
            nn.init.normal_(self.inputs.layer.weight, std=cfg.dim ** -0.5)
            with torch.no_grad():
                self.inputs.layer.weight[0].zero_()  # the padding row stays zero
        length = self.inputs.steps + (cfg.pool == "cls")
        if cfg.positions == "learned":
            self.positions = nn.Parameter(torch.randn(length, cfg.dim) * 0.02)
        else:
            self.register_buffer("positions", sinusoidal_positions(length, cfg.dim), persistent=False)
        self.cls = nn.Parameter(torch.randn(1, 1, cfg.dim) * 0.02) if cfg.pool == "cls" else None
        self.drop = nn.Dropout(cfg.dropout)
        causal = cfg.attention == "causal"
        self.blocks = nn.ModuleList(EncoderBlock(cfg.dim, cfg.heads, cfg.ff_dim, cfg.dropout,
                                                 cfg.activation, causal) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, out_features)

    @property
    def record_attention(self) -> bool:
        return self.blocks[0].attn.record

    @record_attention.setter
    def record_attention(self, on: bool) -> None:
        for block in self.blocks:
            block.attn.record = on

    def attention_weights(self) -> list[torch.Tensor]:
        """Each layer's (B, heads, L, L) weights from the last forward with recording on."""
        return [b.attn.weights for b in self.blocks if b.attn.weights is not None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L) ids or (B, L, F) -> (B, out) or (B, L, out)
        h, pad = self.inputs(x)
        if self.inputs.text:
            h = h * math.sqrt(self.cfg.dim)  # embeddings on the scale of the positions
        if self.cls is not None:
            h = torch.cat([self.cls.expand(len(h), -1, -1), h], dim=1)
            if pad is not None:
                pad = F.pad(pad, (1, 0), value=False)
        h = self.drop(h + self.positions[: h.shape[1]])
        for block in self.blocks:
            h = block(h, pad)
        h = self.norm(h)
        if self.cfg.head == "many-to-many":  # every position: (B, L, out); a [CLS] token is dropped
            return self.head(h if self.cls is None else h[:, 1:])
        if self.cls is not None:
            pooled = h[:, 0]
        elif self.cfg.pool == "max":
            pooled = h.masked_fill(pad.unsqueeze(-1), float("-inf")).amax(1) if pad is not None else h.amax(1)
        elif pad is not None:
            keep = (~pad).unsqueeze(-1).to(h.dtype)
            pooled = (h * keep).sum(1) / keep.sum(1).clamp_min(1)
        else:
            pooled = h.mean(1)
        return self.head(pooled)


def _build(cfg: TransformerConfig, spec) -> TransformerEncoder:
    return TransformerEncoder(spec, spec.output_dim, cfg)


register("transformer", TransformerConfig,
         "Transformer from self-attention up: heads, layers, positions, pooling; "
         "causal for language models")(_build)
