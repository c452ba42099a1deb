"""Drawing from trained generative runs: text from a language model (`generate`), images from a
VAE's decoder or a GAN's generator (`sample_grid`), and an autoencoder's reconstructions of
image files (`reconstruct_files`) or of the whole test split ranked by error (`anomaly_scores`).
`gradkit sample`, `gradkit reconstruct` and `gradkit anomaly` are these; `run` is a loaded run
(`gk.load(dir)`) or, for `generate`, a run directory.

The sampler and the report's artifacts are `gradkit.artifacts.text` and `.images`.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gradkit.artifacts.images import draw
from gradkit.artifacts.text import continue_ids, decode, encode_prompt
from gradkit.data import make_batches, normalize
from gradkit.data.inputs import load_image
from gradkit.engine.reload import load
from gradkit.errors import ConfigError, DataError, GradkitError
from gradkit.report.images import grid, png_bytes
from gradkit.rundir import atomic_write

SAMPLES = "language models (text), VAEs and GANs (images)"


def can_sample(run: Any) -> bool:
    """Whether `gradkit sample` can draw from the run: text from a language model, images from a
    model that samples (a VAE's decoder, a GAN's generator)."""
    return run.task.outputs == "next-token" or callable(getattr(run.model, "sample", None))


def _check_options(tokens: int, temperature: float, top_k: int | None) -> None:
    if tokens < 1:
        raise ConfigError(f"tokens must be at least 1, got {tokens}")
    if temperature < 0:
        raise ConfigError(f"temperature must be 0 (greedy) or more, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k must be at least 1 (or unset for no cut), got {top_k}")


def generate(run: Any, prompt: str = "", tokens: int = 200, temperature: float = 1.0,
             top_k: int | None = None, seed: int | None = None) -> str:
    """The prompt's continuation (`tokens` characters) by a language-model run.

    `run` is a `Run` (from `gk.train` or `gk.load`) or a run directory. An empty prompt starts
    a new line; prompt characters the model never saw are read as [UNK], with a warning. The
    same seed gives the same text; no seed gives a different one each call.

    >>> run = gk.load("runs/charlm-lstm/<run>")
    >>> gk.generate(run, "a small ", tokens=40, temperature=0.8, top_k=20, seed=0)
    'bird of the genus ...'
    """
    if isinstance(run, (str, Path)):
        run = load(run)
    if run.task.outputs != "next-token":
        raise GradkitError(f"{run.dir} is a {run.spec.task} run; generate() continues text with a "
                           "language model (task.name=language-model, e.g. `gradkit train charlm-lstm`)")
    _check_options(tokens, temperature, top_k)
    chars = run.spec.class_names
    if not prompt:
        if "\n" not in chars:
            raise DataError("give a prompt: this model's vocabulary has no newline to start from")
        prompt = "\n"
    ids, unknown = encode_prompt(prompt, chars)
    if unknown:
        warnings.warn(f"prompt character(s) {', '.join(map(repr, unknown))} are not in this "
                      f"model's vocabulary; read as [UNK]", stacklevel=2)
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    new = continue_ids(run.model, ids, tokens, run.spec.input_shape[0], temperature, top_k, generator)
    return decode(new, chars)


# ---------------------------------------------------------------- images


def _write_png(path: str | Path, images: torch.Tensor, ncol: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, png_bytes(grid(images.detach().float().cpu().numpy(), ncol)))
    return path


def _needs(run, method: str, what: str, recipes: str) -> None:
    if not callable(getattr(run.model, method, None)):
        raise GradkitError(f"{run.dir} is a run of task '{run.spec.task}', which cannot {what}; "
                           f"train one that can, e.g. gradkit train {recipes}")


def sample_grid(run, n: int = 64, out: str | Path = "samples.png", seed: int | None = None) -> Path:
    """n images from a VAE's decoder or a GAN's generator, as one grid PNG at `out`."""
    _needs(run, "sample", "draw images", "fashion-vae or fashion-gan")
    if not 1 <= n <= 10_000:
        raise ConfigError(f"-n {n}: draw between 1 and 10000 images")
    seed = int(torch.randint(0, 2**31 - 1, ()).item()) if seed is None else seed
    images = draw(run.model, n, seed)
    return _write_png(out, images, ncol=int(np.ceil(np.sqrt(n))))


def reconstruct_files(run, paths: list[str | Path], out: str | Path = "reconstructions.png",
                      invert: str = "auto") -> tuple[Path, list[tuple[str, float, list[str]]]]:
    """Image files through an autoencoder or VAE: a PNG of inputs (top row) over their
    reconstructions (bottom row), and each file's mean squared error per pixel (pixels in [0, 1])."""
    _needs(run, "reconstruct", "reconstruct images", "fashion-autoencoder or fashion-vae")
    if not paths:
        raise ConfigError("name at least one image file: gradkit reconstruct RUN_DIR IMAGE...")
    loaded = [load_image(p, run.spec, invert) for p in paths]
    x = normalize(torch.as_tensor(np.stack([a for a, _ in loaded])).to(run.device), run.spec)
    with torch.inference_mode():
        run.model.eval()
        recon = run.model.reconstruct(x).float().clamp(0, 1)
    errors = (recon - x).pow(2).flatten(1).mean(1).cpu().tolist()
    path = _write_png(out, torch.cat([x, recon]), ncol=len(paths))
    return path, [(str(p), e, notes) for p, e, (_, notes) in zip(paths, errors, loaded)]


@torch.inference_mode()
def anomaly_scores(run, top: int = 16, out: str | Path = "anomalies.png",
                   data_dir: str | None = None) -> dict:
    """Score every test image by its reconstruction error (mean squared error per pixel, pixels
    in [0, 1]) and draw the `top` worst: a PNG of those images (top row) over their
    reconstructions. Returns the scores' summary, the worst images' indices, labels and scores,
    and the mean score per class."""
    _needs(run, "reconstruct", "score images by reconstruction", "fashion-autoencoder")
    if not 1 <= top <= 256:
        raise ConfigError(f"--top {top}: show between 1 and 256 images")
    cfg = run.config
    data = run.data(data_dir)
    run.model.eval()
    scores, labels = [], []
    for x, y in make_batches(data.test, data.spec, cfg.train.eval_batch_size, run.device):
        scores.append((run.model.reconstruct(x).float() - x).pow(2).flatten(1).mean(1).cpu())
        labels.append(y.cpu())
    score, label = torch.cat(scores), torch.cat(labels)
    worst = score.argsort(descending=True)[:top]  # worst first
    x = normalize(data.test.take(worst).x.to(run.device), data.spec)
    recon = run.model.reconstruct(x).float().clamp(0, 1)
    path = _write_png(out, torch.cat([x, recon]), ncol=len(worst))
    names = run.class_names or [str(k) for k in range(int(label.max()) + 1)]
    per_class = {names[k]: float(score[label == k].mean()) for k in range(len(names)) if (label == k).any()}
    q = torch.quantile(score.double(), torch.tensor([0.5, 0.9, 0.99], dtype=torch.float64))
    return {"path": path, "count": len(score), "mean": float(score.mean()), "median": float(q[0]),
            "p90": float(q[1]), "p99": float(q[2]),
            "worst": [{"index": int(i), "label": names[int(label[i])], "score": float(score[i])}
                      for i in worst],
            "per_class": dict(sorted(per_class.items(), key=lambda kv: -kv[1]))}
