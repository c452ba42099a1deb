"""What the generative tasks (reconstruct, vae, gan) share: they model the images of a labelled
image set. It is built as for classification (labels are kept: the latent scatter's colours),
then `prepare` makes its normalisation pixel / pixel_max (mean 0, std pixel_max per channel), so
every batch, and `normalize` on new images, gives pixels in [0, 1]. What a finished run leaves
is `gradkit.artifacts.images`'s (samples, reconstructions, latent codes, FID).
"""
from __future__ import annotations

from typing import Any

from gradkit.errors import ConfigError


class ImageTask:
    """Abstract base of the generative image tasks; each is a final subclass with `outputs`."""

    name = ""  # set by @register on the subclass
    targets = "classes"  # an image classification set; the labels only colour the report
    needs_labels = False  # gk.fit(model, images, task="vae"): no labels needed

    @classmethod
    def prepare(cls, data: Any) -> None:
        if data.spec.kind != "image":
            raise ConfigError(f"task.name={cls.name} models images; data set '{data.name}' holds "
                              f"{data.spec.kind} data: use fashion-mnist, mnist, digits or cifar10")
        channels = data.spec.input_shape[0]
        data.spec.mean, data.spec.std = [0.0] * channels, [float(data.spec.pixel_max)] * channels

    def write_artifacts(self, end: Any) -> dict[str, float]:
        """Samples, reconstructions, latent codes, interpolations; with task.fid, the FID."""
        from gradkit.artifacts.images import write_generative

        return write_generative(self, end)
