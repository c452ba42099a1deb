"""Generative quality in the features of a gradkit classifier: FID, its real-vs-real floor, and a
class histogram of the samples.

Inception-v3 FID (Heusel et al. 2017, https://arxiv.org/abs/1706.08500) scores 28x28 grey
clothes through a network that has never seen one, upsampled to 299x299 RGB. Here the features
are the penultimate layer of a classifier gradkit trained on the same data set, and the
Fréchet distance is torchmetrics' `FrechetInceptionDistance` with that network as its custom
feature extractor. Such a number is comparable only between runs scored by the same classifier
with the same number of images (FID is biased upwards at small n), so `quality_report` names
the classifier run and its test accuracy, and puts the FID of real train vs real test images
(the floor a perfect generator would score) beside the model's. Which classifier (one trained
once per data set and cached, or the user's run) is the engine's (`gradkit.engine.reference`).

    >>> ref, run = gradkit.engine.reference.for_fid("fashion-mnist")   # trains once, then cached
    >>> quality_report(gan.sample(10_000), data, ref, ClassifierFeatures(run))["fid"]
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gradkit.errors import ConfigError, DataError

DEFAULT_N = 10_000  # the whole MNIST/Fashion-MNIST test split: FID's small-n bias is lowest there
COVERED_SHARE = 0.1  # a class is "covered" when it gets at least 10% of a uniform share (1/K)


class ClassifierFeatures(nn.Module):
    """A gradkit image classifier as a feature extractor: [0, 1] images -> penultimate features.

    The features are the input of the classifier's last `nn.Linear` (captured by a forward
    pre-hook, so the model's code is untouched); the run's own normalisation is applied, so
    callers pass float images in [0, 1] of the run's shape (N, C, H, W). It always stays in
    eval mode (no dropout, batch-norm running statistics), as Inception does inside torchmetrics.

    >>> feats = ClassifierFeatures(gk.load("runs/fashion-cnn-..."))   # a loaded classifier run
    >>> feats(torch.rand(8, 1, 28, 28)).shape, feats.probs(torch.rand(8, 1, 28, 28)).shape
    (torch.Size([8, 128]), torch.Size([8, 10]))
    """

    def __init__(self, run: Any) -> None:
        super().__init__()
        check_image_classifier(run, run.dir)
        self.run_dir = Path(run.dir)
        self.spec = run.spec
        self.model = run.model.float().eval().requires_grad_(False)
        head = _last_linear(self.model, run.dir)
        self.num_features = head.in_features  # torchmetrics reads this instead of a dry run
        self.num_classes = head.out_features
        head.register_forward_pre_hook(self._capture)
        self._captured: torch.Tensor | None = None
        # raw pixel = x01 * pixel_max; normalised = (raw - mean) / std, folded into one affine map
        std = torch.tensor(run.spec.std, dtype=torch.float32).view(1, -1, 1, 1)
        mean = torch.tensor(run.spec.mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.register_buffer("scale", run.spec.pixel_max / std)
        self.register_buffer("shift", mean / std)
        self.to(next(self.model.parameters()).device)

    def _capture(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        self._captured = args[0]

    def train(self, mode: bool = True) -> ClassifierFeatures:
        return super().train(False)  # a feature extractor never trains

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[0, 1] images (N, C, H, W) -> (features (N, num_features), logits (N, K)), float32."""
        shape = tuple(self.spec.input_shape)
        if x.dim() != 4 or tuple(x.shape[1:]) != shape:
            raise DataError(f"images of shape {tuple(x.shape)} do not fit the classifier "
                            f"{self.run_dir}, which takes (N, {', '.join(map(str, shape))}) "
                            "in [0, 1]")
        x = x.to(self.scale.device, torch.float32) * self.scale - self.shift
        logits = self.model(x)
        features, self._captured = self._captured, None
        return features.flatten(1).float(), logits.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) in [0, 1] -> (N, D)
        return self.features_and_logits(x)[0]

    @torch.no_grad()
    def probs(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) in [0, 1] -> (N, K)
        return self.features_and_logits(x)[1].softmax(-1)


def check_image_classifier(run: Any, where: Any) -> None:
    """Raise unless the loaded run classifies images (the only kind whose features FID can use)."""
    spec = run.spec
    if run.task.outputs != "classes" or spec.kind != "image" or len(spec.input_shape) != 3:
        raise ConfigError(f"{where} is a {spec.task} run on {spec.kind} data; FID needs a "
                          "classifier of images (e.g. a fashion-cnn or digits-cnn run)")


def _last_linear(model: nn.Module, where: Any) -> nn.Linear:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(f"{where}: the model has no nn.Linear head whose input could serve as "
                          "features")
    return linears[-1]  # registration order: the head's last layer comes last in every gradkit model


def as_unit_images(x: torch.Tensor, pixel_max: int) -> torch.Tensor:
    """A split's raw images (uint8, 0..pixel_max) -> float32 in [0, 1]."""
    return x.float() / pixel_max


# --- FID and the class histogram -------------------------------------------------------------


def _update(metric: Any, images: torch.Tensor, real: bool, batch_size: int) -> None:
    with torch.no_grad():
        for chunk in images.split(batch_size):
            metric.update(chunk, real=real)


def _fid_metric(features: ClassifierFeatures) -> Any:
    from torchmetrics.image.fid import FrechetInceptionDistance

    # normalize=True: the images are floats in [0, 1] and go to the extractor unchanged
    # (torchmetrics only converts to uint8 for its own Inception). Features accumulate in float64.
    return FrechetInceptionDistance(feature=features, normalize=True, reset_real_features=False)


def fid(real: torch.Tensor, fake: torch.Tensor, features: ClassifierFeatures,
        batch_size: int = 1000) -> float:
    """Fréchet distance between the feature Gaussians of two image sets, each (N, C, H, W) in [0, 1].

    ‖μ_r − μ_f‖² + Tr(Σ_r + Σ_f − 2(Σ_r Σ_f)^½), computed by torchmetrics. Compare only values
    from the same classifier and the same n on both sides.

    >>> fid(real01, gan.sample(len(real01)), ClassifierFeatures(ref.dir))
    """
    if len(real) < 2 or len(fake) < 2:
        raise DataError(f"FID needs at least 2 images on each side, got {len(real)} real and "
                        f"{len(fake)} generated")
    metric = _fid_metric(features)
    _update(metric, real, True, batch_size)
    _update(metric, fake, False, batch_size)
    return float(metric.compute())


@torch.no_grad()
def class_histogram(images: torch.Tensor, features: ClassifierFeatures,
                    batch_size: int = 1000) -> dict[str, Any]:
    """What the classifier sees in `images` (N, C, H, W) in [0, 1]: a collapsed generator shows up.

    Returns counts per predicted class, their entropy in bits (log2 K for a uniform spread),
    `classes_covered` (classes given at least 10% of a uniform share) and the mean top-class
    probability (low: images the classifier cannot place).
    """
    probs = torch.cat([features.probs(chunk) for chunk in images.split(batch_size)])
    k = features.num_classes
    counts = torch.bincount(probs.argmax(1), minlength=k).cpu()
    share = counts.double() / max(len(images), 1)
    nonzero = share[share > 0]
    names = features.spec.class_names or [str(i) for i in range(k)]
    return {"class_names": list(names), "counts": counts.tolist(),
            "entropy_bits": float(-(nonzero * nonzero.log2()).sum()),
            "max_entropy_bits": math.log2(k),
            "classes_covered": int((share >= COVERED_SHARE / k).sum()),
            "mean_confidence": float(probs.max(1).values.mean()) if len(probs) else float("nan")}


# --- the floor and the report's figures --------------------------------------------------------


def real_sets(data: Any, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(n test images, n train images) in [0, 1], drawn at random with `seed`."""
    gen = torch.Generator().manual_seed(seed)
    pick = [split.take(torch.randperm(len(split), generator=gen)[:n].sort().values)
            for split in (data.test, data.train)]
    return tuple(as_unit_images(p.x, data.spec.pixel_max) for p in pick)


def real_floor(data: Any, features: ClassifierFeatures, n: int = DEFAULT_N, seed: int = 0,
               batch_size: int = 1000) -> float:
    """FID of n real train images against n real test images: what a perfect generator scores.

    Use the same n as the generated set (the bias of FID grows as n shrinks). The classifier
    was trained on the train images, so their features are slightly more typical than unseen
    ones: the floor is, if anything, a little high.
    """
    n = min(n, len(data.test), len(data.train))
    test, train = real_sets(data, n, seed)
    return fid(test, train, features, batch_size)


def quality_report(samples: torch.Tensor, data: Any, reference: Any, features: ClassifierFeatures,
                   *, n: int | None = None, seed: int = 0, batch_size: int = 1000) -> dict[str, Any]:
    """FID of generated `samples` (N, C, H, W) in [0, 1] against the test split, with its floor.

    `data` is the gradkit `Dataset` the generator learnt; `reference` describes the classifier
    (`dir`, `test_accuracy`, `to_dict()`: gradkit.engine.reference) whose `features` score it.
    n (default: all samples, at most the test split's size) images are used on each side, for
    the FID and the floor alike; use thousands: with n near the feature size (128 for the
    CNNs) the covariances are poor.

    >>> q = quality_report(model.sample(10_000), data, ref, ClassifierFeatures(run))
    >>> q["fid"], q["fid_floor"], q["classifier_run"], q["class_histogram"]["classes_covered"]
    """
    if not samples.is_floating_point() or samples.min() < -1e-3 or samples.max() > 1 + 1e-3:
        raise DataError("generated samples must be float images in [0, 1] (a tanh generator's "
                        "output x maps there by (x + 1) / 2)")
    n = min(n or len(samples), len(samples), len(data.test), len(data.train))
    test, train = real_sets(data, n, seed)
    fake = samples[:n]
    metric = _fid_metric(features)  # keeps the test split's features across reset()
    _update(metric, test, True, batch_size)
    _update(metric, train, False, batch_size)
    floor = float(metric.compute())
    metric.reset()
    _update(metric, fake, False, batch_size)
    return {"fid": float(metric.compute()), "fid_floor": floor, "n": n,
            "classifier_run": str(reference.dir), "classifier_accuracy": reference.test_accuracy,
            "classifier": reference.to_dict(), "feature_dim": features.num_features,
            "class_histogram": class_histogram(fake, features, batch_size),
            "real_class_histogram": class_histogram(test, features, batch_size)}
