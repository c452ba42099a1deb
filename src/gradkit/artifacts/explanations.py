"""Explain a few test examples of a classifier and write what was found into its run directory.

    artifacts/explanations/METHOD.json  how (method, Captum class, baseline, steps, seconds) and,
        per example: test index, true and predicted class, probability, right or wrong, the
        completeness gap of integrated gradients; rows: each feature's mean |attribution| over
        the test split; texts: each token and its score
    artifacts/explanations/METHOD.npz   x (E, ...) raw inputs, attributions (E, *input_shape) or
        (E, L) per token, index, y, pred, prob
    artifacts/explanations/METHOD-*.png images: overlays of misclassified and of correct
        examples; rows: the importance chart and single rows' signed attributions
    artifacts/explanations/METHOD.html  texts: the highlighted tokens on a page of their own

Half the examples are misclassified ones (when there are that many), as in the report's grid:
an explanation of a mistake is where one learns the most. Every classification run explains
`REPORT_EXAMPLES` test examples as it ends (`write_explanations`, for its report);
`gradkit explain` (gradkit/explain) explains more, with any method.
"""
from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gradkit.artifacts.attribution import KINDS, Attribution, attribute, require_captum
from gradkit.data import normalize
from gradkit.report import attributions as render
from gradkit.rundir import atomic_write

DEFAULT_METHOD = "integrated-gradients"
REPORT_EXAMPLES = 8  # at the end of a run: few, so that training and its report stay fast
STEPS = 32  # integration steps (integrated-gradients), samples (shap)

FOLDER = "artifacts/explanations"
BACKGROUND = 32  # training examples drawn as shap's baselines
IMPORTANCE_ROWS = 1000  # test rows averaged for a tabular run's feature importance
CHUNK_ELEMENTS = 1 << 22  # input floats per Captum call (steps x examples x example size)
ROW_CHARTS = 2  # tabular: signed charts of the first misclassified and the first correct row


def choose(y: torch.Tensor, pred: torch.Tensor, n: int) -> torch.Tensor:
    """Up to n test indices: the first misclassified ones (at most half), then correct ones."""
    wrong = torch.nonzero(pred != y).flatten()
    right = torch.nonzero(pred == y).flatten()
    half = min(len(wrong), n // 2)
    return torch.cat([wrong[:half], right[: n - half], wrong[half:]])[:n].sort().values


def model_input(x: torch.Tensor, spec, device) -> torch.Tensor:
    """Raw inputs -> what the model reads; texts are cut after their longest real token
    (trailing padding changes no gradkit model's output, and costs every step)."""
    x = x.to(device)
    if spec.kind != "text":
        return normalize(x, spec)
    return x[:, : max(1, int((x != 0).sum(1).max()))]


def compute(model, data, pred: torch.Tensor, method: str, n: int, steps: int, device,
            seed: int = 0) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(summary, arrays) for `n` test examples of `data` (a gradkit Dataset); `pred` holds the
    model's predicted class of every test example, in split order."""
    spec = data.spec
    start = time.perf_counter()
    pred = pred.cpu()
    idx = choose(data.test.y.cpu(), pred, n)
    shown = data.test.take(idx)
    x = model_input(shown.x, spec, device)
    target = pred[idx].to(device)
    background = _background(data.train, spec, x.shape[1:], device, seed) if method == "shap" else None
    with seeded(seed):  # shap draws baselines and points at random: the same call, the same maps
        attr = _chunked(model, x, target, method, spec, steps, background)
        extra = _importance(model, data, method, steps, device, background) if spec.kind == "tabular" else {}
    with torch.no_grad():
        prob = model(x).float().softmax(-1).gather(1, target[:, None])[:, 0].cpu()
    values = attr.values.float().cpu()
    examples = [{"index": int(i), "y": int(t), "pred": int(p), "prob": round(float(q), 4),
                 "correct": bool(t == p)} for i, t, p, q in zip(idx, shown.y, pred[idx], prob)]
    summary: dict[str, Any] = {"method": method, "captum": f"captum.attr.{attr.captum}",
                               "kind": spec.kind, "target": "the predicted class's logit",
                               "signed": attr.signed, "baseline": attr.baseline,
                               "examples": examples}
    if method in ("integrated-gradients", "shap"):
        summary["steps" if method != "shap" else "samples"] = steps
    if attr.delta is not None:
        delta = attr.delta.float().cpu()  # sum(attributions) - (f(x) - f(baseline))
        change = values.flatten(1).sum(1) - delta  # f(x) - f(baseline), the logit's change
        for example, d, c in zip(examples, delta.tolist(), change.tolist()):
            example.update(completeness_gap=round(abs(d), 6), logit_change=round(c, 6))
    summary.update(extra)
    if spec.kind == "text":
        values = values * (shown.x[:, : values.shape[1]] != 0)  # nothing on padding
        _tokens(summary, shown.x, values, spec)
    summary["seconds"] = round(time.perf_counter() - start, 3)
    arrays = {"x": shown.x.numpy(), "attributions": values.numpy(), "index": idx.numpy(),
              "y": shown.y.numpy(), "pred": pred[idx].numpy(), "prob": prob.numpy()}
    return summary, arrays


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed numpy's global RNG (Captum draws GradientShap's baselines and points with it) and
    torch's, restoring both afterwards: nobody else's random stream moves."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        np.random.set_state(state)


def _chunked(model, x, target, method, spec, steps, background) -> Attribution:
    """`attribute` over slices of the batch: integrated gradients runs `steps` copies of each
    example at once, which for a BERT is memory one cannot assume."""
    width = x[0].numel() * (256 if spec.kind == "text" else 1)  # texts: ~embedding width per id
    size = max(1, CHUNK_ELEMENTS // (width * max(steps, 1)))
    parts = [attribute(model, x[i:i + size], target[i:i + size], method, spec, steps=steps,
                       background=background) for i in range(0, len(x), size)]
    delta = None if parts[0].delta is None else torch.cat([p.delta for p in parts])
    return Attribution(torch.cat([p.values for p in parts]), parts[0].signed, parts[0].captum,
                       parts[0].baseline, delta)


def _background(train, spec, shape, device, seed: int) -> torch.Tensor:
    """BACKGROUND random training examples in model space (texts cut or padded to `shape`)."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(train), generator=g)[:BACKGROUND]
    x = train.take(idx).x
    if spec.kind == "text":
        out = torch.zeros(len(x), shape[0], dtype=x.dtype)
        width = min(shape[0], x.shape[1])
        out[:, :width] = x[:, :width]
        return out.to(device)
    return normalize(x.to(device), spec)


def _importance(model, data, method, steps, device, background) -> dict[str, Any]:
    """Each feature's mean |attribution| over the first IMPORTANCE_ROWS test rows, each
    explained for its own predicted class."""
    spec = data.spec
    rows = data.test.x[:IMPORTANCE_ROWS]
    x = model_input(rows, spec, device)
    with torch.no_grad():
        target = model(x).argmax(1)
    values = _chunked(model, x, target, method, spec, steps, background).values.float().cpu()
    names = spec.feature_names or [f"x{j}" for j in range(x.shape[1])]
    return {"features": list(names), "importance": values.abs().mean(0).tolist(),
            "importance_rows": len(rows)}


def _tokens(summary: dict[str, Any], ids: torch.Tensor, values: torch.Tensor, spec) -> None:
    from gradkit.data.text import load_tokenizer

    tokenizer = load_tokenizer(spec.tokenizer)
    for example, row, scores in zip(summary["examples"], ids, values):
        keep = row[: scores.shape[0]] != 0
        example["tokens"] = [tokenizer.id_to_token(int(i)) or "?" for i in row[: len(keep)][keep]]
        example["scores"] = [round(float(s), 6) for s in scores[keep]]


def write(run_path: str | Path, summary: dict[str, Any], arrays: dict[str, np.ndarray], spec,
          ) -> list[Path]:
    """Render the figures and write every file of one method; returns their paths."""
    folder = Path(run_path) / FOLDER
    method = summary["method"]
    files: dict[str, bytes | str] = {}
    for name, png, caption in _figures(summary, arrays, spec):
        files[name] = png
        summary.setdefault("figures", []).append({"file": name, "caption": caption})
    if spec.kind == "text":
        rows = [(_caption(e, spec, "\n"), render.highlight_html(e["tokens"], e["scores"],
                                                                summary["signed"]))
                for e in summary["examples"]]
        files[f"{method}.html"] = render.text_page(f"{method}: token attributions", rows)
        summary["html"] = f"{method}.html"
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    files[f"{method}.npz"] = buf.getvalue()
    files[f"{method}.json"] = json.dumps(summary, indent=1)
    for name, content in files.items():
        atomic_write(folder / name, content)
    for stale in folder.glob(f"{method}-*.png"):  # an earlier call's rows of other examples
        if stale.name not in files:
            stale.unlink()
    return [folder / name for name in files]


def _figures(summary, arrays, spec) -> list[tuple[str, bytes, str]]:
    method, signed = summary["method"], summary["signed"]
    examples = summary["examples"]
    out = []
    if spec.kind == "image":
        images = arrays["x"].astype(np.float64) / float(spec.pixel_max)  # raw units -> 0..1
        for group, title in ((False, "misclassified"), (True, "correctly classified")):
            rows = [i for i, e in enumerate(examples) if e["correct"] == group]
            if not rows:
                continue
            captions = [_caption(examples[i], spec, "\n") for i in rows]
            png = render.overlays(images[rows], arrays["attributions"][rows], captions, signed,
                                  f"{method}: {title} test examples")
            out.append((f"{method}-{'right' if group else 'wrong'}.png", png,
                        f"{title} test examples (top) and their {method} attributions (bottom)"))
    elif spec.kind == "tabular":
        names = summary["features"]
        title = f"{method}: mean |attribution| over {summary['importance_rows']} test rows"
        out.append((f"{method}-importance.png", render.importance_bars(
            names, np.asarray(summary["importance"]), title), title))
        for i in _row_charts(examples):
            e = examples[i]
            caption = f"test row {e['index']}: {_caption(e, spec, ', ')}"
            out.append((f"{method}-row-{e['index']}.png", render.signed_bars(
                names, arrays["attributions"][i], arrays["x"][i], caption), caption))
    return out


def _row_charts(examples: list[dict]) -> list[int]:
    wrong = [i for i, e in enumerate(examples) if not e["correct"]][:1]
    right = [i for i, e in enumerate(examples) if e["correct"]][:1]
    return (wrong + right)[:ROW_CHARTS]


def _caption(example: dict, spec, sep: str) -> str:
    names = spec.class_names or []

    def name(i: int) -> str:
        return names[i] if 0 <= i < len(names) else str(i)

    return (f"true {name(example['y'])}{sep}pred {name(example['pred'])} "
            f"(p={example['prob']:.2f})")


def write_explanations(model, data, run, device, pred, verbose: bool = False) -> None:
    """At the end of a classification run: `REPORT_EXAMPLES` test examples explained by
    integrated gradients, for the report. An extra, so a failure is printed and the run goes
    on; without Captum it is skipped with the command that installs it."""
    if data.spec.kind not in KINDS or pred is None or len(pred) != len(data.test):
        return
    try:
        require_captum()
    except Exception as exc:
        print(f"gradkit: explanations skipped: {exc}", flush=True)
        return
    try:
        summary, arrays = compute(model, data, pred, DEFAULT_METHOD, REPORT_EXAMPLES, STEPS, device)
        write(run.path, summary, arrays, data.spec)
    except Exception as exc:  # an extra for the report must not lose a finished run
        print(f"gradkit: the report's explanations were not written ({type(exc).__name__}: {exc})",
              flush=True)
        return
    if verbose:
        print(f"gradkit: explained {len(arrays['index'])} test examples ({DEFAULT_METHOD}) in "
              f"{summary['seconds']:.1f} s", flush=True)
