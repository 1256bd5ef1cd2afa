"""Image drift against the baseline: PSNR of images in [0, 1]."""

from __future__ import annotations

import math

import numpy as np


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB; inf when identical, nan when either has non-finite pixels."""
    if image.shape != reference.shape:
        raise ValueError(f"psnr: shapes differ, {image.shape} vs {reference.shape}")
    a = image.astype(np.float64)
    b = reference.astype(np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(1.0 / mse)


def has_non_finite(images: np.ndarray) -> bool:
    return not bool(np.isfinite(images).all())
