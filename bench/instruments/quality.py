"""Image drift against the baseline: PSNR and SSIM of images in [0, 1]."""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import structural_similarity

# SSIM as Wang et al. 2004 define it: an 11-tap Gaussian window of sigma 1.5 (scikit-image's
# truncate 3.5 gives 11 taps), population (not sample) covariances, K1 = 0.01, K2 = 0.03.
SSIM_SIGMA = 1.5
SSIM_WINDOW = 11
SSIM_TRUNCATE = 3.5  # what scikit-image uses with gaussian_weights: radius int(3.5 * sigma + 0.5)
SSIM_MIN_SIDE = 3  # the smallest window with a centre and a neighbour each side


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


def ssim_window(height: int, width: int) -> tuple[int, float] | None:
    """The (window, sigma) SSIM uses on an image of this size; None when a side is under 3 pixels.

    11 taps of sigma 1.5 where the image allows; on a smaller image the largest odd window that
    fits, with sigma shrunk in proportion (radius r: sigma 1.5 * r / 5), so scikit-image's filter
    has exactly that many taps and the window keeps the same shape, only smaller.
    """
    side = min(height, width)
    if side < SSIM_MIN_SIDE:
        return None
    window = min(SSIM_WINDOW, side if side % 2 else side - 1)
    radius = (window - 1) // 2
    return window, SSIM_SIGMA * radius / ((SSIM_WINDOW - 1) // 2)


def ssim(images: np.ndarray, reference: np.ndarray) -> float:
    """Mean structural similarity of NHWC images in [0, 1] against the reference of the same shape.

    Per image: scikit-image's `structural_similarity` with the settings above, data_range 1, each
    colour channel on its own and their mean (channel_axis); then the mean over the batch, every
    image weighing the same. 1.0 when identical; nan when either has non-finite pixels or an image
    is under 3 pixels on a side (no window fits).
    """
    if images.shape != reference.shape:
        raise ValueError(f"ssim: shapes differ, {images.shape} vs {reference.shape}")
    if images.ndim != 4:
        raise ValueError(f"ssim: expected NHWC images, got shape {images.shape}")
    a = images.astype(np.float64)
    b = reference.astype(np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan
    if np.array_equal(a, b):
        return 1.0  # exactly, not 1 - rounding: the filters' sums are not bit-exact
    shape = ssim_window(a.shape[1], a.shape[2])
    if shape is None:
        return math.nan
    window, sigma = shape
    values = [
        structural_similarity(
            x,
            y,
            win_size=window,
            data_range=1.0,
            channel_axis=-1,
            gaussian_weights=True,
            sigma=sigma,
            use_sample_covariance=False,
            K1=0.01,
            K2=0.03,
        )
        for x, y in zip(a, b, strict=True)
    ]
    return float(np.mean(values))


def has_non_finite(images: np.ndarray) -> bool:
    return not bool(np.isfinite(images).all())
