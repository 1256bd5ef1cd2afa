"""What FID is measured against: a folder of real images, a built-in set, or the baseline's samples.

Built-in sets (offline, from scikit-image's immunohistochemistry image, see models/ihc.py):
`ihc-heldout`, the 217 held-out crops that `tiny-ddpm-ihc` never saw in training, and
`ihc-train`, as many random crops of the training rows (seed 0), for the floor.
Reference statistics are cached as .npz, keyed by the images' bytes and the extractor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.quality.folder import read_image_folder
from bench.quality.inception import InceptionFeatures
from bench.quality.stats import FeatureStats, load_stats, save_stats, stats_from_features

BASELINE = "baseline"


def _ihc_heldout() -> np.ndarray:
    from models.ihc import heldout_crops

    return heldout_crops()


def _ihc_train() -> np.ndarray:
    from models.ihc import heldout_crops, random_crops, train_region

    return random_crops(train_region(), len(heldout_crops()), np.random.default_rng(0))


BUILTIN: dict[str, Callable[[], np.ndarray]] = {"ihc-heldout": _ihc_heldout, "ihc-train": _ihc_train}


def images_digest(images: np.ndarray) -> str:
    digest = hashlib.sha256(repr((images.shape, str(images.dtype))).encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()


def reference_images(reference: str) -> np.ndarray:
    """uint8 NHWC images of a built-in set or a folder (BenchError for a bad folder)."""
    if reference in BUILTIN:
        return BUILTIN[reference]()
    return read_image_folder(Path(reference).expanduser())


def stats_for_images(
    images: np.ndarray, extractor: InceptionFeatures, cache_dir: Path | None, label: str
) -> FeatureStats:
    """Statistics of `images`, from the cache when the same images were seen by the same extractor."""
    key = hashlib.sha256(f"{images_digest(images)}/{extractor.extractor_id}".encode()).hexdigest()
    path = cache_dir / f"{key[:40]}.npz" if cache_dir is not None else None
    if path is not None and (cached := load_stats(path, extractor.extractor_id)) is not None:
        return cached
    stats = stats_from_features(extractor(images, f"FID reference {label}"), extractor.extractor_id)
    if path is not None:
        save_stats(stats, path)
    return stats


def reference_stats(reference: str, extractor: InceptionFeatures, cache_dir: Path | None) -> FeatureStats:
    return stats_for_images(reference_images(reference), extractor, cache_dir, reference)
