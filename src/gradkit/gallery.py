"""The image artifacts of generative runs (tasks reconstruct, vae, gan), and grids of images.

Per epoch (written by the task's `on_epoch_end`, so a resumed run keeps the earlier ones):

    artifacts/epochs/samples-EEEE.png   an 8x8 grid of the images decoded from the same 64
                                        noise vectors every epoch (`fixed_noise`), VAE and GAN

At the end, from the best checkpoint (`write_final`), `artifacts/samples.npz` holds, every
image float32 (N, C, H, W) with pixels in [0, 1]:

    x, y          16 test images and their labels
    x_input       what the model saw of them (with task.noise: the noisy inputs)
    recon         their reconstructions                              (autoencoder, vae)
    latent        codes of the first LATENT_IMAGES test images (N, D); posterior means for a VAE
    latent_y      their labels (N,)
    latent_2d     the codes' first two principal components (N, 2); the codes as they are if D <= 2
    interp        INTERP_STEPS images decoded along the straight line between two codes: two
                  test images of different classes (autoencoder, vae), two noise vectors (gan)
    samples       64 images drawn with a fixed seed                  (vae, gan)

With `task.fid=N` (vae, gan), `write_quality` draws N images and scores them against the test
split in the features of a gradkit classifier (`gradkit.metrics.fid.quality_report`):
`artifacts/quality.json` holds its figures (FID, the real-vs-real floor, the classifier run,
the class histograms) and the run's metrics gain `test/fid`, `test/fid_floor` and
`test/classes_covered`.

Model methods used (and for commands to use): `encode(x01) -> (N, D)`, `decode(z) -> x01`,
`reconstruct(x01) -> x01`, `sample(n, generator) -> x01`.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from gradkit.data import make_batches, normalize

FIXED_NOISE_SEED = 1234  # the per-epoch grids and the final samples: same noise, any run
GRID_IMAGES = 64
RECON_IMAGES = 16
LATENT_IMAGES = 2000
INTERP_STEPS = 10


def fixed_noise(n: int, dim: int, device: torch.device) -> torch.Tensor:
    """The same (n, dim) N(0, I) draws on every call, whatever the global RNG state."""
    gen = torch.Generator().manual_seed(FIXED_NOISE_SEED)
    return torch.randn(n, dim, generator=gen).to(device)


def grid(images: np.ndarray | torch.Tensor, ncol: int = 8, pad: int = 1) -> np.ndarray:
    """(N, C, H, W) images in [0, 1] (or uint8) -> one uint8 image (C, rows*(H+pad)+pad, ...)."""
    x = images.detach().float().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if x.dtype != np.uint8:
        x = (np.clip(x, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    n, c, h, w = x.shape
    ncol = max(1, min(ncol, n))
    rows = -(-n // ncol)
    out = np.full((c, rows * (h + pad) + pad, ncol * (w + pad) + pad), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        out[:, pad + r * (h + pad):pad + r * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = x[i]
    return out


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 (C, H, W) image (C = 1 or 3) as PNG bytes."""
    from PIL import Image

    img = image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def epoch_grid_path(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / "artifacts" / "epochs" / f"samples-{epoch:04d}.png"


@torch.inference_mode()
def write_epoch_grid(run, epoch: int, model: torch.nn.Module, noise: torch.Tensor) -> None:
    """Decode `noise` (fixed across epochs) with `model` in eval mode and save the grid."""
    if run is None:
        return
    from gradkit.rundir import atomic_write

    was_training = model.training
    model.eval()
    images = model.decode(noise)
    model.train(was_training)
    atomic_write(epoch_grid_path(run.path, epoch), png_bytes(grid(images)))


def pca_2d(z: torch.Tensor) -> torch.Tensor:
    """(N, D) -> (N, 2): the first two principal components (D <= 2: z itself)."""
    if z.shape[1] <= 2:
        return z
    centred = z - z.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)  # rows of v: principal axes
    return centred @ v[:2].T


def _unit_batches(split, spec, n: int, batch_size: int, device):
    """The first n images of a split as [0, 1] batches (the spec of a generative run maps
    raw pixels to [0, 1]), with their labels."""
    part = split.take(np.arange(min(n, len(split))))
    return make_batches(part, spec, batch_size, device)


@torch.inference_mode()
def write_final(task, data, cfg, run, device: torch.device) -> dict[str, np.ndarray]:
    """Write artifacts/samples.npz (format in the module docstring) and return its arrays."""
    model = task.model
    model.eval()
    out: dict[str, np.ndarray] = {}
    first = data.test.take(np.arange(min(RECON_IMAGES, len(data.test))))
    x = normalize(first.x.to(device), data.spec)
    out["x"], out["y"] = x.cpu().numpy(), first.y.numpy()
    if hasattr(model, "encode"):
        seen = task.corrupt(x, torch.Generator(device).manual_seed(FIXED_NOISE_SEED)) \
            if hasattr(task, "corrupt") else x
        out["x_input"], out["recon"] = seen.cpu().numpy(), model.reconstruct(seen).float().cpu().numpy()
        codes, labels = [], []
        for xb, yb in _unit_batches(data.test, data.spec, LATENT_IMAGES, cfg.train.eval_batch_size, device):
            codes.append(model.encode(xb).float().cpu())
            labels.append(yb.cpu())
        z = torch.cat(codes)
        out["latent"], out["latent_y"] = z.numpy(), torch.cat(labels).numpy()
        out["latent_2d"] = pca_2d(z.double()).float().numpy()
        ends = _two_classes(first.y)
        z_ends = model.encode(x[ends])
    else:
        z_ends = fixed_noise(2, model.noise_dim, device)
    t = torch.linspace(0, 1, INTERP_STEPS, device=device)[:, None]
    out["interp"] = model.decode((1 - t) * z_ends[0] + t * z_ends[1]).float().cpu().numpy()
    if hasattr(model, "sample"):
        out["samples"] = draw(model, GRID_IMAGES).numpy()
    from gradkit.rundir import save_npz

    save_npz(run.path / "artifacts" / "samples.npz", **out)
    return out


def _two_classes(y: torch.Tensor) -> list[int]:
    """Indices of the first image and the first one of another class (or the second image)."""
    other = torch.nonzero(y != y[0]).flatten()
    return [0, int(other[0]) if len(other) else min(1, len(y) - 1)]


SAMPLE_CHUNK = 1000  # images generated per forward pass when drawing many


@torch.inference_mode()
def draw(model: torch.nn.Module, n: int, seed: int = FIXED_NOISE_SEED) -> torch.Tensor:
    """n images (N, C, H, W) in [0, 1] on the CPU from `model.sample`, SAMPLE_CHUNK at a time,
    the same ones for the same seed."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    chunks = [model.sample(min(SAMPLE_CHUNK, n - i), gen).float().cpu() for i in range(0, n, SAMPLE_CHUNK)]
    return torch.cat(chunks).clamp_(0.0, 1.0)


def write_quality(task, data, cfg, run, device: torch.device, verbose: bool = True) -> dict[str, float]:
    """FID of `task.fid` generated images (see the module docstring); returns the metrics."""
    from gradkit.metrics.fid import quality_report

    n = cfg.task.fid
    if not n or not hasattr(task.model, "sample"):
        return {}
    if verbose:
        print(f"gradkit: scoring {n} generated images (FID in a classifier's features)", flush=True)
    samples = draw(task.model, n)
    report = quality_report(samples, data, cfg.task.fid_classifier, n=n, seed=cfg.seed,
                            device=str(device), verbose=verbose)
    run.write_json("artifacts/quality.json", report)
    return {"test/fid": report["fid"], "test/fid_floor": report["fid_floor"],
            "test/classes_covered": float(report["class_histogram"]["classes_covered"])}


# ---------------------------------------------------------------- commands on a trained run
# (`gradkit sample`, `gradkit reconstruct`, `gradkit anomaly`; `run` is `gradkit.load(dir)`)


def _write_png(path: str | Path, image: np.ndarray) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from gradkit.rundir import atomic_write

    atomic_write(path, png_bytes(image))
    return path


def _needs(run, method: str, what: str, recipes: str) -> None:
    from gradkit.errors import GradkitError

    if not callable(getattr(run.model, method, None)):
        raise GradkitError(f"{run.dir} is a run of task '{run.spec.task}', which cannot {what}; "
                           f"train one that can, e.g. gradkit train {recipes}")


def sample_grid(run, n: int = 64, out: str | Path = "samples.png", seed: int | None = None) -> Path:
    """n images from a VAE's decoder or a GAN's generator, as one grid PNG at `out`."""
    from gradkit.errors import ConfigError

    _needs(run, "sample", "draw images", "fashion-vae or fashion-gan")
    if not 1 <= n <= 10_000:
        raise ConfigError(f"-n {n}: draw between 1 and 10000 images")
    seed = int(torch.randint(0, 2**31 - 1, ()).item()) if seed is None else seed
    images = draw(run.model, n, seed)
    return _write_png(out, grid(images, ncol=int(np.ceil(np.sqrt(n)))))


def reconstruct_files(run, paths: list[str | Path], out: str | Path = "reconstructions.png",
                      invert: str = "auto") -> tuple[Path, list[tuple[str, float, list[str]]]]:
    """Image files through an autoencoder or VAE: a PNG of inputs (top row) over their
    reconstructions (bottom row), and each file's mean squared error per pixel (pixels in [0, 1])."""
    from gradkit.errors import ConfigError
    from gradkit.predict import load_image

    _needs(run, "reconstruct", "reconstruct images", "fashion-autoencoder or fashion-vae")
    if not paths:
        raise ConfigError("name at least one image file: gradkit reconstruct RUN_DIR IMAGE...")
    loaded = [load_image(p, run.spec, invert) for p in paths]
    x = normalize(torch.as_tensor(np.stack([a for a, _ in loaded])).to(run.device), run.spec)
    with torch.inference_mode():
        run.model.eval()
        recon = run.model.reconstruct(x).float().clamp(0, 1)
    errors = (recon - x).pow(2).flatten(1).mean(1).cpu().tolist()
    path = _write_png(out, grid(torch.cat([x, recon]), ncol=len(paths)))
    return path, [(str(p), e, notes) for p, e, (_, notes) in zip(paths, errors, loaded)]


@torch.inference_mode()
def anomaly_scores(run, top: int = 16, out: str | Path = "anomalies.png",
                   data_dir: str | None = None) -> dict:
    """Score every test image by its reconstruction error (mean squared error per pixel, pixels
    in [0, 1]) and draw the `top` worst: a PNG of those images (top row) over their
    reconstructions. Returns the scores' summary, the worst images' indices, labels and scores,
    and the mean score per class."""
    from gradkit.errors import ConfigError

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
    path = _write_png(out, grid(torch.cat([x, recon]), ncol=len(worst)))
    names = run.class_names or [str(k) for k in range(int(label.max()) + 1)]
    per_class = {names[k]: float(score[label == k].mean()) for k in range(len(names)) if (label == k).any()}
    q = torch.quantile(score.double(), torch.tensor([0.5, 0.9, 0.99], dtype=torch.float64))
    return {"path": path, "count": len(score), "mean": float(score.mean()), "median": float(q[0]),
            "p90": float(q[1]), "p99": float(q[2]),
            "worst": [{"index": int(i), "label": names[int(label[i])], "score": float(score[i])}
                      for i in worst],
            "per_class": dict(sorted(per_class.items(), key=lambda kv: -kv[1]))}
