"""Pretrained BERT-family encoders fine-tuned for text classification (Hugging Face transformers).

`model.pretrained` is a local Hugging Face folder, a hub id, or `minilm` (the offline default,
see `gradkit.pretrained`). The data is tokenised by the model's own tokenizer (config
validation sets `data.tokenizer=pretrained`), and batches carry only as much padding as their
longest text, so the encoder never computes on a full `max_length` of [PAD]s.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from gradkit.data import pretrained_text as pretrained
from gradkit.config import Section
from gradkit.errors import ConfigError
from gradkit.models import register
from gradkit.models.freeze import Frozen


class BertConfig(Section):
    pretrained: str = pretrained.OFFLINE_DEFAULT  # folder, hub id, or minilm (offline MiniLM-L6)
    # encoder: train the head only, on a frozen encoder, until train.unfreeze_at_epoch (if set)
    freeze: Literal["none", "encoder"] = "none"
    # cls: the [CLS] token's state; mean: the mean over real tokens (what MiniLM-L6 was trained
    # for, as a sentence encoder); pooler: BERT's dense+tanh over [CLS], as BertForSequenceClassification
    pool: Literal["cls", "mean", "pooler"] = "mean"
    dropout: float = Field(0.1, ge=0.0, lt=1.0)  # before the head


class BertClassifier(nn.Module):
    """A pretrained encoder -> pooled (B, hidden) -> dropout -> linear head (B, classes).

    While `frozen` (`gradkit.models.freeze`), the encoder runs in eval mode without gradients:
    the optimiser skips it, and backward stops at the head. `unfreeze()` (called by the loop at
    `train.unfreeze_at_epoch`) makes it trainable.
    """

    def __init__(self, cfg: BertConfig, spec, out_features: int) -> None:
        super().__init__()
        if spec.kind != "text":
            raise ConfigError(f"model.name=bert reads text; this data is {spec.kind}; use a text "
                              "data set (data.name=text-csv or wordnet-supersenses)")
        self.cfg = cfg
        self.encoder = pretrained.load("model", cfg.pretrained)
        vocab = self.encoder.config.vocab_size
        if spec.vocab_size != vocab:
            raise ConfigError(f"the data was tokenised with a vocabulary of {spec.vocab_size} tokens, "
                              f"but {cfg.pretrained} has {vocab}: a pretrained model needs its own "
                              f"tokenizer (data.tokenizer=pretrained data.pretrained={cfg.pretrained})")
        positions = getattr(self.encoder.config, "max_position_embeddings", None)
        if positions and spec.input_shape[0] > positions:
            raise ConfigError(f"data.max_length={spec.input_shape[0]} exceeds the {positions} "
                              f"positions of {cfg.pretrained}; set data.max_length={positions} or less")
        if cfg.pool != "pooler" and getattr(self.encoder, "pooler", None) is not None:
            self.encoder.pooler = None  # unused: no weights that never train, no wasted matmul
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.encoder.config.hidden_size, out_features)
        self.frozen = Frozen([self.encoder] if cfg.freeze == "encoder" else [])

    def backbone_parameters(self):
        return self.encoder.parameters()

    def unfreeze(self) -> None:
        self.frozen.release()
        self.train(self.training)

    def train(self, mode: bool = True) -> BertClassifier:
        super().train(mode)
        self.frozen.hold()  # no dropout noise in features nobody trains
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L) ids, 0 = [PAD] -> (B, out)
        mask = x != 0
        out = self.encoder(input_ids=x, attention_mask=mask.long())
        if self.cfg.pool == "pooler":
            if getattr(out, "pooler_output", None) is None:
                raise ConfigError(f"{self.cfg.pretrained} has no pooler; use model.pool=cls or mean")
            pooled = out.pooler_output
        elif self.cfg.pool == "cls":
            pooled = out.last_hidden_state[:, 0]
        else:
            keep = mask.unsqueeze(-1).to(out.last_hidden_state.dtype)  # (B, L, 1)
            pooled = (out.last_hidden_state * keep).sum(1) / keep.sum(1).clamp_min(1)
        return self.head(self.drop(pooled))


def _build(cfg: BertConfig, spec) -> BertClassifier:
    return BertClassifier(cfg, spec, spec.output_dim)


register("bert", BertConfig, "a pretrained BERT-family encoder (offline: MiniLM-L6) fine-tuned, "
         "with its own tokenizer", own_tokenizer=True)(_build)
