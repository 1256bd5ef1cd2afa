"""From generated or real images to the Inception network's input, the standard way.

What is done, in order, and where:

1. Images are quantised to uint8 (`to_uint8`): a generated float image in [0, 1] becomes
   round(255 * x), exactly what saving it as a PNG would give. Real images are read as uint8.
2. Each image is resized to 299x299 with PIL's bicubic filter, per channel in float32 (PIL
   mode "F"), without quantising again (`resize_299`). PIL's resampling filters are
   antialiased (their support widens when downscaling). This is clean-fid's "clean" resize;
   pytorch-fid instead resizes inside the network with bilinear interpolation and no
   antialiasing, which is one reason FIDs from the two tools differ.
3. Pixels are scaled with the TF Inception graph's own rule, (x - 128) / 128, so 0..255 maps
   to [-1, 0.9921875] (`scale_for_inception`), as the TF graph and clean-fid do (fid-helper
   calls this INPUT_RANGE_TF). pytorch-fid uses 2x/255 - 1 instead, a 0.4% difference.

The TorchScript network (see inception.py) does none of this: it expects NCHW float input
already at 299x299 and already scaled, and returns features.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from bench.errors import BenchError

INCEPTION_SIZE = 299
# Bump when anything above changes what features an image gives; it is part of cache keys.
PREPROCESS_VERSION = 1


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float NHWC in [0, 1] -> uint8 NHWC (round half to even, like numpy); uint8 passes through."""
    if images.dtype == np.uint8:
        return images
    if not np.isfinite(images).all():
        raise BenchError("images have NaN or inf pixels: no features can be computed from them")
    return np.clip(np.rint(images.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)


def resize_299(image: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 -> float32 299x299x3, bicubic (antialiased), values clipped to [0, 255]."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise BenchError(f"expected a uint8 HxWx3 image, got {image.dtype} {image.shape}")
    size = (INCEPTION_SIZE, INCEPTION_SIZE)
    channels = [
        np.asarray(Image.fromarray(image[:, :, c].astype(np.float32)).resize(size, Image.Resampling.BICUBIC))
        for c in range(3)
    ]
    return np.clip(np.stack(channels, axis=2), 0.0, 255.0)


def scale_for_inception(resized: np.ndarray) -> np.ndarray:
    """float NHWC in [0, 255] -> float32 NCHW in [-1, 0.9921875]."""
    return ((resized.astype(np.float32) - 128.0) / 128.0).transpose(0, 3, 1, 2).copy()


def inception_batch(images: np.ndarray) -> np.ndarray:
    """uint8 (or [0, 1] float) NHWC images -> the network's NCHW float32 input."""
    quantised = to_uint8(images)
    return scale_for_inception(np.stack([resize_299(image) for image in quantised]))
