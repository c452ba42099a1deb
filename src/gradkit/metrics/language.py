"""Language-model figures and the character n-gram baselines a model must beat.

A unigram model knows only how often each character occurs; a bigram model also knows which
character tends to follow which. A character-level network that does not beat the bigram has
learnt nothing beyond letter pairs. Both are scored on exactly the model's test targets.
"""
from __future__ import annotations

import math

import torch

from gradkit.data import Dataset


def lm_metrics(loss: float) -> dict[str, float]:
    """Mean nats per token -> loss, perplexity = exp(loss), bits per character = loss / ln 2."""
    return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "bits_per_char": loss / math.log(2)}


def unigram(train_y: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """(V,) add-one smoothed character frequencies of the training targets; padding gets 0."""
    counts = torch.bincount(train_y, minlength=vocab_size).double() + 1.0
    counts[0] = 0.0
    return counts / counts.sum()


def bigram_probs(train_x: torch.Tensor, train_y: torch.Tensor, prev: torch.Tensor,
                 nxt: torch.Tensor, uni: torch.Tensor) -> torch.Tensor:
    """P(nxt | prev) for each test pair: Witten-Bell interpolation of the bigram and `uni`.

    P = λ c(p, n) / c(p) + (1 - λ) P_uni(n), λ = c(p) / (c(p) + T(p)), T(p) = distinct followers
    of p (Witten & Bell 1991). Pair counts are kept sparse (unique codes p·V + n), so a large
    vocabulary costs no V x V table.
    """
    v = len(uni)
    codes, counts = torch.unique(train_x * v + train_y, return_counts=True)  # sorted
    after = torch.bincount(codes // v, weights=counts.double(), minlength=v)  # c(p)
    types = torch.bincount(codes // v, minlength=v).double()  # T(p)
    wanted = prev * v + nxt
    pos = torch.searchsorted(codes, wanted).clamp_max(len(codes) - 1)
    pair = torch.where(codes[pos] == wanted, counts[pos].double(), torch.zeros((), dtype=torch.float64))
    n, t = after[prev], types[prev]
    lam = n / (n + t).clamp_min(1.0)
    return lam * pair / n.clamp_min(1.0) + (1 - lam) * uni[nxt]


def char_baselines(ds: Dataset) -> dict[str, float]:
    """`baseline/unigram/...` and `baseline/bigram/...`: loss, perplexity, bits_per_char on test."""
    train_x, train_y = ds.train.x.flatten(), ds.train.y.flatten()
    test_x, test_y = ds.test.x.flatten(), ds.test.y.flatten()
    real = test_y != 0
    test_x, test_y = test_x[real], test_y[real]
    uni = unigram(train_y, ds.spec.vocab_size)
    out: dict[str, float] = {}
    for name, probs in (("unigram", uni[test_y]),
                        ("bigram", bigram_probs(train_x, train_y, test_x, test_y, uni))):
        nll = float(-probs.log().mean())
        out.update({f"baseline/{name}/{k}": v for k, v in lm_metrics(nll).items()})
    return out
