"""Artifacts that look inside a trained classifier, written at the end of a run for its report.

    artifacts/confusions.json  the most frequent (true -> predicted) test confusions, with their
                               counts and, for each of the top few, a few test examples that have
                               it: test index, probabilities, and the text when there is one
    artifacts/attention.npz    a Transformer's attention weights on a few short test texts, per
                               layer and head, with their tokens; padding is cut off and zeroed

Both start from the test pass's predicted classes: only the few examples kept run through the
model again. They are extras, so a failure to write them is printed and the run goes on (the
report then says the artifact is missing).
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch

from gradkit.rundir import atomic_write
from gradkit.training import predict_split

TOP_PAIRS = 5  # confusion pairs kept with examples
EXAMPLES_PER_PAIR = 3
ATTENTION_EXAMPLES = 4
ATTENTION_MAX_TOKENS = 24  # longer texts make heat maps whose tick labels overlap


def write_inspection(task, data, cfg, run, device, pred: torch.Tensor | None) -> None:
    """Write the artifacts above for a classification run; `pred` is in the test split's order."""
    if pred is None or len(pred) != len(data.test) or not len(pred):
        return
    try:
        write_confusions(task, data, cfg.train.eval_batch_size, run, device, pred)
        if callable(getattr(task.model, "attention_weights", None)) and data.test.text is not None:
            write_attention(task.model, data, run, device, pred)
    except Exception as exc:  # an extra for the report must not lose a finished run
        print(f"gradkit: the report's confusion/attention artifacts were not written "
              f"({type(exc).__name__}: {exc})", flush=True)


def confusion_pairs(y: np.ndarray, pred: np.ndarray, k: int = TOP_PAIRS) -> list[tuple[int, int, int]]:
    """The k most frequent (true, predicted, count) with true != predicted, most frequent first;
    ties go to the lower true class, then the lower predicted one."""
    num = int(max(y.max(), pred.max())) + 1
    cm = np.zeros((num, num), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    np.fill_diagonal(cm, 0)
    pairs = [(int(t), int(p), int(cm[t, p])) for t, p in zip(*np.nonzero(cm))]
    return sorted(pairs, key=lambda tpc: (-tpc[2], tpc[0], tpc[1]))[:k]


def write_confusions(task, data, batch_size: int, run, device, pred: torch.Tensor) -> None:
    y = data.test.y.cpu()
    pred = pred.cpu()
    pairs = confusion_pairs(y.numpy(), pred.numpy())
    chosen = [torch.nonzero((y == t) & (pred == p)).flatten()[:EXAMPLES_PER_PAIR] for t, p, _ in pairs]
    idx = torch.cat(chosen) if chosen else torch.zeros(0, dtype=torch.int64)
    shown = data.test.take(idx)
    prob = predict_split(task, shown, data.spec, batch_size, device) if len(idx) else None
    out, row = [], 0
    for (t, p, count), rows in zip(pairs, chosen):
        examples = []
        for i in rows.tolist():
            example: dict[str, Any] = {"index": i, "prob_pred": float(prob[row, p]),
                                       "prob_true": float(prob[row, t])}
            if shown.text is not None:
                example["text"] = shown.text[row]
            examples.append(example)
            row += 1
        out.append({"true": t, "pred": p, "count": count, "examples": examples})
    run.write_json("artifacts/confusions.json", {"test_examples": len(y),
                                                 "misclassified": int((y != pred).sum()),
                                                 "pairs": out})


def attention_examples(lengths: torch.Tensor, wrong: torch.Tensor,
                       n: int = ATTENTION_EXAMPLES) -> torch.Tensor:
    """Up to n test indices with 3..ATTENTION_MAX_TOKENS tokens: half misclassified, in split
    order; any short text when too few fit."""
    short = (lengths >= 3) & (lengths <= ATTENTION_MAX_TOKENS)
    pool = short if short.any() else lengths > 0
    bad = torch.nonzero(pool & wrong).flatten()
    good = torch.nonzero(pool & ~wrong).flatten()
    half = min(len(bad), n // 2)
    return torch.cat([bad[:half], good[: n - half], bad[half:]])[:n].sort().values


@torch.inference_mode()
def write_attention(model, data, run, device, pred: torch.Tensor) -> None:
    """Attention of `model` on a few short test texts, in `artifacts/attention.npz`:

    tokens (E, L) str ('' past a text's end; '[CLS]' first with pool=cls), length (E,),
    weights (E, layers, heads, L, L) float32, rows = queries, zero on padding, each real row
    summing to 1; index, y, pred, prob (E,) and text (E,) of each example.
    """
    from gradkit.data.text import load_tokenizer

    test = data.test
    lengths = (test.x != 0).sum(1)
    idx = attention_examples(lengths, pred.cpu() != test.y)
    shown = test.take(idx)
    model.eval()
    was = model.record_attention
    model.record_attention = True
    try:
        logits = model(shown.x.to(device)).float()
        layers = torch.stack([w.float().cpu() for w in model.attention_weights()], 1)  # (E, layers, H, L, L)
    finally:
        model.record_attention = was
    prob = logits.softmax(-1).cpu()
    tokenizer = load_tokenizer(data.spec.tokenizer)
    cls = int(layers.shape[-1] == shown.x.shape[1] + 1)  # a [CLS] position in front of the text
    n = lengths[idx] + cls
    width = int(n.max())
    weights = torch.zeros(*layers.shape[:3], width, width)
    tokens = np.full((len(idx), width), "", dtype=object)
    for e in range(len(idx)):
        m = int(n[e])
        weights[e, :, :, :m, :m] = layers[e, :, :, :m, :m]  # padded queries and keys dropped
        ids = shown.x[e, : m - cls].tolist()
        tokens[e, :m] = ["[CLS]"] * cls + [tokenizer.id_to_token(i) or "?" for i in ids]
    p = pred[idx].cpu()
    buf = io.BytesIO()
    np.savez_compressed(buf, tokens=tokens.astype(str), length=n.numpy(), weights=weights.numpy(),
                        index=idx.numpy(), y=shown.y.numpy(), pred=p.numpy(),
                        prob=prob[torch.arange(len(idx)), p].numpy(), text=np.array(shown.text, dtype=str))
    atomic_write(run.path / "artifacts" / "attention.npz", buf.getvalue())
