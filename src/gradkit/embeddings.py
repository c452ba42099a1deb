"""Sentence embeddings from a pretrained text encoder, as the articles use BERT's
`last_hidden_state`: each text's token vectors averaged over its real tokens (mean pooling, the
pooling MiniLM's sentence-transformers checkpoint was trained with).

    vectors = gk.embed(["a small bird", "a large cat"])           # (2, 384) with MiniLM-L6
    vectors = gk.embed(texts, model="bert-base-uncased", device="cuda", normalize=True)

`model` is what `model.pretrained` takes (gradkit.data.pretrained_text): `minilm` (offline,
the default), a Hugging Face model folder, or a hub id. A fine-tuned run's own features:
`run.embed(texts)` (gradkit.engine.run).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gradkit.data import pretrained_text
from gradkit.errors import ConfigError
from gradkit.training.runtime import select_device

_LOADED: dict[str, tuple[Any, Any]] = {}  # model name -> (tokenizer, encoder), per process


def embed(texts: str | list[str], model: str = pretrained_text.OFFLINE_DEFAULT, *,
          batch_size: int = 64, max_length: int = 256, device: str = "auto",
          normalize: bool = False) -> np.ndarray:
    """Mean-pooled last hidden states, (N, hidden) float32, one row per text, in order; with
    `normalize`, unit length (cosine similarity is then a dot product)."""
    single = isinstance(texts, str)
    texts = [texts] if single else list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise ConfigError("gk.embed takes a string or a list of strings")
    if batch_size < 1 or max_length < 1:
        raise ConfigError("batch_size and max_length must be at least 1")
    tokenizer, encoder = _load(model)
    dev = select_device(device)
    encoder.to(dev).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt").to(dev)
            hidden = encoder(**enc).last_hidden_state.float()  # (B, L, H)
            keep = enc["attention_mask"].unsqueeze(-1).float()
            out.append(((hidden * keep).sum(1) / keep.sum(1).clamp_min(1)).cpu())
    vectors = torch.cat(out) if out else torch.zeros(0, encoder.config.hidden_size)
    if normalize:
        vectors = torch.nn.functional.normalize(vectors, dim=1)
    return vectors.numpy()


def _load(name: str) -> tuple[Any, Any]:
    if name not in _LOADED:
        _LOADED[name] = (pretrained_text.load("tokenizer", name), pretrained_text.load("model", name))
    return _LOADED[name]
