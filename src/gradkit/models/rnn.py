"""Recurrent networks: vanilla RNN, GRU and LSTM over text or series, many-to-one or many-to-many.

Padded text is packed (`pack_padded_sequence`), so neither direction of a bidirectional network
reads the padding, and "last" is each sequence's true last step.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from gradkit.config import Section
from gradkit.models import register
from gradkit.models.layers import SequenceInput

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RNNConfig(Section):
    embed_dim: int = Field(128, ge=1)  # text: width of the token embedding
    hidden: int = Field(128, ge=1)  # hidden state size per direction
    layers: int = Field(1, ge=1)  # stacked recurrent layers
    bidirectional: bool = False  # also read the sequence backwards (doubles the output width)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # between stacked layers and before the head
    pool: Literal["last", "mean", "max"] = "last"  # many-to-one: how steps become one vector
    head: Literal["many-to-one", "many-to-many"] = "many-to-one"  # one output, or one per step


class SimpleRNNConfig(RNNConfig):
    """The PyTorch article's SimpleRNN / SimpleLSTM: 2 stacked layers of 20 units, the last
    step's hidden state into one linear layer."""

    hidden: int = Field(20, ge=1)
    layers: int = Field(2, ge=1)


class RecurrentNet(nn.Module):
    """Inputs -> RNN/GRU/LSTM -> pooled (or per-step) features -> a linear head.

    >>> spec = DataSpec("classification", "text", (20,), 4, vocab_size=100)
    >>> RecurrentNet("lstm", spec, 4, RNNConfig())(torch.randint(1, 100, (2, 20))).shape
    torch.Size([2, 4])
    """

    def __init__(self, cell: str, spec, out_features: int, cfg: RNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.inputs = SequenceInput(spec, cfg.embed_dim if spec.kind == "text" else None)
        self.rnn = CELLS[cell](self.inputs.width, cfg.hidden, cfg.layers, batch_first=True,
                               dropout=cfg.dropout if cfg.layers > 1 else 0.0,
                               bidirectional=cfg.bidirectional)
        width = cfg.hidden * (2 if cfg.bidirectional else 1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(width, out_features)

    def forward(self, x):  # (B, L) ids or (B, L, F) -> (B, out) or (B, L, out)
        h, pad = self.inputs(x)
        steps = h.shape[1]
        if pad is not None:
            lengths = (~pad).sum(1).clamp_min(1)
            packed = pack_padded_sequence(h, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, state = self.rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
        else:
            out, state = self.rnn(h)
        if self.cfg.head == "many-to-many":
            return self.head(self.dropout(out))
        if self.cfg.pool == "last":
            h_n = state[0] if isinstance(state, tuple) else state  # (layers * dirs, B, hidden)
            last = h_n[-2:] if self.cfg.bidirectional else h_n[-1:]
            pooled = torch.cat(list(last), dim=-1)
        elif pad is None:
            pooled = out.mean(1) if self.cfg.pool == "mean" else out.amax(1)
        else:
            keep = (~pad).unsqueeze(-1)
            if self.cfg.pool == "mean":
                pooled = (out * keep).sum(1) / keep.sum(1).clamp_min(1)
            else:
                pooled = out.masked_fill(~keep, float("-inf")).amax(1)
        return self.head(self.dropout(pooled))


def _builder(cell: str):
    def build(cfg: RNNConfig, spec) -> RecurrentNet:
        return RecurrentNet(cell, spec, spec.output_dim, cfg)

    return build


register("rnn", RNNConfig, "vanilla (tanh) RNN over text or a series")(_builder("rnn"))
register("gru", RNNConfig, "GRU over text or a series")(_builder("gru"))
register("lstm", RNNConfig, "LSTM over text or a series: layers, bidirectional, pooling")(_builder("lstm"))
register("simple-rnn", SimpleRNNConfig, "PyTorch article's SimpleRNN: 2 layers of 20, linear head")(_builder("rnn"))
register("simple-lstm", SimpleRNNConfig, "PyTorch article's SimpleLSTM: 2 layers of 20, linear head")(_builder("lstm"))
