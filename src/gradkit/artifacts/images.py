"""The image artifacts of generative runs (tasks reconstruct, vae, gan).

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

Model methods used: `encode(x01) -> (N, D)`, `decode(z) -> x01`, `reconstruct(x01) -> x01`,
`sample(n, generator) -> x01`. The grids themselves are numpy (`gradkit.report.images`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gradkit.data import make_batches, normalize
from gradkit.report.images import grid, png_bytes
from gradkit.rundir import atomic_write, save_npz

FIXED_NOISE_SEED = 1234  # the per-epoch grids and the final samples: same noise, any run
GRID_IMAGES = 64
RECON_IMAGES = 16
LATENT_IMAGES = 2000
INTERP_STEPS = 10


def fixed_noise(n: int, dim: int, device: torch.device) -> torch.Tensor:
    """The same (n, dim) N(0, I) draws on every call, whatever the global RNG state."""
    gen = torch.Generator().manual_seed(FIXED_NOISE_SEED)
    return torch.randn(n, dim, generator=gen).to(device)


def epoch_grid_path(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / "artifacts" / "epochs" / f"samples-{epoch:04d}.png"


@torch.inference_mode()
def write_epoch_grid(run, epoch: int, model: torch.nn.Module, noise: torch.Tensor) -> None:
    """Decode `noise` (fixed across epochs) with `model` in eval mode and save the grid."""
    if run is None:
        return
    was_training = model.training
    model.eval()
    images = model.decode(noise)
    model.train(was_training)
    atomic_write(epoch_grid_path(run.path, epoch), png_bytes(grid(images.float().cpu().numpy())))


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
    z_ends = None
    if hasattr(model, "reconstruct"):
        seen = task.corrupt(x, torch.Generator(device).manual_seed(FIXED_NOISE_SEED)) \
            if hasattr(task, "corrupt") else x
        out["x_input"], out["recon"] = seen.cpu().numpy(), model.reconstruct(seen).float().cpu().numpy()
    if hasattr(model, "encode"):  # a user's autoencoder may have no encoder of its own to ask
        codes, labels = [], []
        for xb, yb in _unit_batches(data.test, data.spec, LATENT_IMAGES, cfg.train.eval_batch_size, device):
            codes.append(model.encode(xb).float().cpu())
            labels.append(yb.cpu())
        z = torch.cat(codes)
        out["latent"], out["latent_y"] = z.numpy(), torch.cat(labels).numpy()
        out["latent_2d"] = pca_2d(z.double()).float().numpy()
        ends = _two_classes(first.y)
        z_ends = model.encode(x[ends])
    elif hasattr(model, "noise_dim"):
        z_ends = fixed_noise(2, model.noise_dim, device)
    if z_ends is not None and hasattr(model, "decode"):
        t = torch.linspace(0, 1, INTERP_STEPS, device=device)[:, None]
        out["interp"] = model.decode((1 - t) * z_ends[0] + t * z_ends[1]).float().cpu().numpy()
    if hasattr(model, "sample"):
        out["samples"] = draw(model, GRID_IMAGES).numpy()
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


def write_generative(task: Any, end: Any) -> dict[str, float]:
    """What a finished generative run leaves: artifacts/samples.npz, and with `task.fid` its
    FID (artifacts/quality.json); returns the FID metrics. `end`: a `gradkit.artifacts.Ending`."""
    write_final(task, end.data, end.cfg, end.run, end.device)
    return write_quality(task, end)


def write_quality(task: Any, end: Any) -> dict[str, float]:
    """FID of `task.fid` generated images (see the module docstring); returns the metrics."""
    from gradkit.metrics.fid import ClassifierFeatures, quality_report

    n = end.cfg.task.fid
    if not n or not hasattr(task.model, "sample"):
        return {}
    if end.verbose:
        print(f"gradkit: scoring {n} generated images (FID in a classifier's features)", flush=True)
    samples = draw(task.model, n)
    record, classifier = end.fid_classifier(end.data.name, end.cfg.task.fid_classifier, end.device)
    report = quality_report(samples, end.data, record, ClassifierFeatures(classifier), n=n,
                            seed=end.cfg.seed)
    end.run.write_json("artifacts/quality.json", report)
    return {"test/fid": report["fid"], "test/fid_floor": report["fid_floor"],
            "test/classes_covered": float(report["class_histogram"]["classes_covered"])}
