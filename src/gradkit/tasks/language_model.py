"""Language modelling: predict each next token; cross-entropy over the vocabulary at every step.

The model maps ids (B, L) to logits (B, L, V): an RNN with `head: many-to-many` or a
Transformer with `attention: causal, head: many-to-many` (which must not see the future).
Metrics are per predicted token (padding targets, id 0, are ignored):

    loss           mean negative log-likelihood, nats per character
    perplexity     exp(loss)
    bits_per_char  loss / ln 2 (what a code built on the model would spend per character)
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gradkit.errors import ConfigError
from gradkit.metrics.language import lm_metrics
from gradkit.tasks import StepFn, register


@register("language-model")
class LanguageModelTask:
    targets = "characters"
    outputs = "next-token"
    options = ("label_smoothing",)
    default = True

    def __init__(self, model: nn.Module, spec: Any, cfg: Any) -> None:
        if cfg.loss not in ("auto", "cross_entropy"):
            raise ConfigError(f"task.loss={cfg.loss} does not fit a language model; use cross_entropy")
        if spec.task != "language-model":
            raise ConfigError(f"task.name=language-model needs a text corpus (data.name=wordnet-glosses "
                              f"or text-file), but this data set is for {spec.task}")
        self.models = {"model": model}
        self.model = model
        self.vocab_size = spec.vocab_size
        self.label_smoothing = cfg.label_smoothing
        self._reset()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if out.dim() != 3:
            raise ConfigError("a language model needs one output per position: set "
                              "model.head=many-to-many (and model.attention=causal for a transformer)")
        return out  # (B, L, V)

    def loss(self, logits: torch.Tensor, y: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
        # (B, L, V) and (B, L) -> mean over the real targets, in fp32 even under autocast
        return F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=0,
                               label_smoothing=smoothing)

    def train_step(self, batch, step: StepFn) -> dict[str, torch.Tensor]:
        x, y = batch
        loss = self.loss(self.logits(x), y, self.label_smoothing)
        step(loss, "model")
        return {"loss": loss.detach()}

    def _reset(self) -> None:
        self._nats = 0.0
        self._count = 0

    def eval_step(self, batch) -> None:
        x, y = batch
        logits = self.logits(x).float().flatten(0, 1)
        self._nats += float(F.cross_entropy(logits, y.flatten(), ignore_index=0, reduction="sum"))
        self._count += int((y != 0).sum())

    def eval_end(self) -> tuple[dict[str, float], dict[str, Any]]:
        scalars = lm_metrics(self._nats / max(self._count, 1))
        self._reset()
        return scalars, {}

    def check_outputs(self, out: torch.Tensor, x: torch.Tensor, ending: str | None = None) -> None:
        """A user's module must give next-token logits at every position: (batch, length, vocab)."""
        if out.dim() != 3 or tuple(out.shape[:2]) != tuple(x.shape[:2]) or out.shape[2] != self.vocab_size:
            raise ConfigError(f"your module returns {tuple(out.shape)} for token ids of shape "
                              f"{tuple(x.shape)}; a language model gives logits over the "
                              f"{self.vocab_size} tokens at every position: (batch, length, "
                              f"{self.vocab_size})")

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """ids (B, L) -> next-token probabilities (B, L, V)."""
        return self.logits(x).float().softmax(-1)

    def baselines(self, data: Any, seed: int) -> dict[str, float]:
        """Unigram and bigram character models of the training text."""
        from gradkit.metrics.language import char_baselines

        return char_baselines(data)

    def write_artifacts(self, end: Any) -> dict[str, float]:
        """Continuations of prompts from the test text (fixed seed), for the report."""
        from gradkit.artifacts.text import write_samples

        write_samples(self.model, end.data, end.run.path / "artifacts" / "samples.npz")
        return {}
