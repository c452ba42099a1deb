"""Report parts for text classification: the top confusions with example texts, and a
Transformer's attention heat maps.

Each part reads its own artifact (written by `gradkit.artifacts.inspection` at the end of training).
A missing or unreadable artifact shrinks that part to a note; it never fails the report.
"""
from __future__ import annotations

import json
import zipfile
from typing import Any

import numpy as np

from gradkit.report import plots
from gradkit.report.rundir import RunData
from gradkit.report.sections import esc, figure, note, table

CONFUSIONS, ATTENTION = "confusions.json", "attention.npz"
MAX_PAIRS, MAX_EXAMPLES, MAX_MAPS, MAX_LAYERS = 5, 3, 4, 6


def is_text(run: RunData) -> bool:
    return run.spec.get("kind") == "text" or (run.samples or {}).get("text") is not None


def top_confusions(run: RunData) -> str:
    """The most frequent (true -> predicted) pairs with counts, each with a few test texts."""
    if not is_text(run):
        return ""
    head = "<h3>Top confusions</h3>\n"
    data, problem = _read(run, CONFUSIONS, lambda p: json.loads(p.read_text(encoding="utf-8")))
    pairs = None
    if problem is None:
        try:
            pairs = _parse_pairs(data)
        except (TypeError, ValueError, KeyError) as err:
            problem = f"artifacts/{CONFUSIONS} is malformed ({type(err).__name__}: {err})"
    if problem is not None:
        return head + note(f"No top confusions: {problem}.")
    if not pairs:
        return head + note("No test example was misclassified, so there are no confusions to show.")
    names = run.class_names(int(run.spec.get("num_classes") or 0))
    cm = run.confusion_matrix()
    intro = note("The most frequent mistakes on the test split (true class → predicted class, "
                 "counted in the confusion matrix above), each with a few of the misclassified "
                 "test texts and the model's probability for the wrong and the right class.")
    rows = [[f"{_name(names, t)} → {_name(names, p)}", count, _share(cm, t, count)]
            for t, p, count, _ in pairs]
    body = [intro, table(rows, ["true → predicted", "test examples", "share of true class"])]
    for t, p, count, examples in pairs:
        body.append(f"<h4>{esc(_name(names, t))} → {esc(_name(names, p))} ({count})</h4>")
        ex_rows = [[text, prob_pred, prob_true] for _, text, prob_pred, prob_true in examples]
        body.append(table(ex_rows, ["text", f"p({_name(names, p)}), predicted", f"p({_name(names, t)}), true"],
                          ["wrong"] * len(ex_rows)))
    return head + '<div id="top-confusions">' + "\n".join(body) + "</div>"


def _parse_pairs(data: Any) -> list[tuple[int, int, int, list[tuple[int, str, float, float]]]]:
    """(true, pred, count, examples) from confusions.json; raises on anything malformed."""
    if not isinstance(data, dict) or not isinstance(data["pairs"], list):
        raise ValueError("expected an object with a list 'pairs'")
    out = []
    for pair in data["pairs"][:MAX_PAIRS]:
        examples = [(int(e["index"]), str(e.get("text", f"test example #{e['index']}")),
                     float(e["prob_pred"]), float(e["prob_true"]))
                    for e in pair["examples"][:MAX_EXAMPLES]]
        out.append((int(pair["true"]), int(pair["pred"]), int(pair["count"]), examples))
    return out


def _share(cm: np.ndarray | None, true: int, count: int) -> float | None:
    if cm is None or not 0 <= true < len(cm) or cm[true].sum() <= 0:
        return None
    return count / float(cm[true].sum())


def _name(names: list[str], i: int) -> str:
    return names[i] if 0 <= i < len(names) else str(i)


def attention_maps(run: RunData) -> str:
    """Per-layer attention heat maps (mean over heads) of a few test texts; Transformer runs only."""
    model = run.config.get("model")
    if not (isinstance(model, dict) and model.get("name") == "transformer" and is_text(run)):
        return ""
    head = "<h3>Attention</h3>\n"
    data, problem = _read(run, ATTENTION, _read_npz)
    maps = None
    if problem is None:
        try:
            maps = _parse_attention(data)
        except (TypeError, ValueError, KeyError, IndexError) as err:
            problem = f"artifacts/{ATTENTION} is malformed ({type(err).__name__}: {err})"
    if problem is not None:
        return head + note(f"No attention maps: {problem}.")
    names = run.class_names(int(run.spec.get("num_classes") or 0))
    intro = note("How each token (row) spreads its attention over the text's tokens (columns) "
                 "in every layer, averaged over the heads, for a few short test texts; padding "
                 "is left out." + (" [CLS] is the pooling token the classifier reads."
                                   if any(t[0] == "[CLS]" for t, *_ in maps) else ""))
    figures = []
    for tokens, weights, y, pred, prob, text in maps:
        verdict = "right" if y == pred else "wrong"
        caption = (f"“{text}”: true {_name(names, y)}, predicted {_name(names, pred)} "
                   f"(p={prob:.2f}, {verdict})")
        figures.append(figure(plots.attention_map(weights, tokens), caption))
    return head + '<div id="attention">' + intro + "\n".join(figures) + "</div>"


def _read_npz(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:  # never unpickle files from disk
        return {k: np.asarray(npz[k]) for k in npz.files}


def _parse_attention(data: dict[str, np.ndarray]) -> list[tuple]:
    """(tokens, (layers, n, n) head-averaged weights, y, pred, prob, text) per example."""
    tokens, length, weights = data["tokens"], data["length"], data["weights"]
    if weights.ndim != 5 or tokens.ndim != 2 or weights.shape[-1] != tokens.shape[1]:
        raise ValueError(f"weights {weights.shape} and tokens {tokens.shape} do not match")
    if not np.isfinite(weights).all():
        raise ValueError("the weights are not all finite")
    out = []
    for e in range(min(len(tokens), MAX_MAPS)):
        n = int(length[e])
        if not 0 < n <= tokens.shape[1]:
            raise ValueError(f"length {n} out of range")
        mean = weights[e, :MAX_LAYERS, :, :n, :n].mean(axis=1)  # (layers, n, n)
        out.append(([str(t) for t in tokens[e, :n]], mean, int(data["y"][e]), int(data["pred"][e]),
                    float(data["prob"][e]), str(data["text"][e])))
    return out


def _read(run: RunData, name: str, read) -> tuple[Any, str | None]:
    """(read(path), None), or (None, why not) when the artifact is missing or unreadable."""
    path = run.run_dir / "artifacts" / name
    if not path.is_file():
        return None, (f"artifacts/{name} is missing (a run from before this part of the report, "
                      "or one that stopped before its test pass)")
    try:
        return read(path), None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        return None, f"artifacts/{name} could not be read ({type(err).__name__}: {err})"
