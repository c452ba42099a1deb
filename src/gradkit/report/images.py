"""Grids of images as PNG bytes, from numpy arrays: the report's pictures of generated,
reconstructed and interpolated images, and the PNG files the artifacts and commands write.
numpy and Pillow only (the report never imports torch)."""
from __future__ import annotations

import io

import numpy as np


def grid(images: np.ndarray, ncol: int = 8, pad: int = 1) -> np.ndarray:
    """(N, C, H, W) images in [0, 1] (or uint8) -> one uint8 image (C, rows*(H+pad)+pad, ...)."""
    x = np.asarray(images)
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
