"""Feature statistics (mean, covariance, count) and their on-disk cache as .npz.

A cached file records the extractor it came from (the Inception file's sha256, the feature
size, the preprocessing version) and a sha256 of its own arrays; a file that does not match
what is asked for, or whose arrays do not match their checksum, is ignored and rebuilt.
The features themselves are kept too, for KID. Files are written atomically.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import BenchError

STATS_SCHEMA = 1


@dataclass(frozen=True)
class FeatureStats:
    mean: np.ndarray
    cov: np.ndarray
    count: int
    extractor_id: str
    features: np.ndarray

    @property
    def dims(self) -> int:
        return int(self.mean.shape[0])


def stats_from_features(features: np.ndarray, extractor_id: str) -> FeatureStats:
    if features.ndim != 2 or len(features) < 2:
        raise BenchError(f"statistics need at least 2 images, got {len(features)}")
    features = features.astype(np.float64)
    return FeatureStats(
        mean=features.mean(axis=0),
        cov=np.cov(features, rowvar=False),
        count=len(features),
        extractor_id=extractor_id,
        features=features,
    )


def _digest(mean: np.ndarray, cov: np.ndarray, features: np.ndarray, count: int, extractor_id: str) -> str:
    digest = hashlib.sha256(f"{STATS_SCHEMA}/{count}/{extractor_id}".encode())
    for array in (mean, cov, features):
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()


def save_stats(stats: FeatureStats, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(
                out,
                schema=np.int64(STATS_SCHEMA),
                mean=stats.mean,
                cov=stats.cov,
                count=np.int64(stats.count),
                features=stats.features,
                extractor_id=np.str_(stats.extractor_id),
                digest=np.str_(
                    _digest(stats.mean, stats.cov, stats.features, stats.count, stats.extractor_id)
                ),
            )
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_stats(path: Path, extractor_id: str) -> FeatureStats | None:
    """The cached statistics, or None when absent, for another extractor, or corrupt."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["schema"]) != STATS_SCHEMA or str(data["extractor_id"]) != extractor_id:
                return None
            stats = FeatureStats(
                mean=data["mean"],
                cov=data["cov"],
                count=int(data["count"]),
                extractor_id=str(data["extractor_id"]),
                features=data["features"],
            )
            recorded = str(data["digest"])
    except (OSError, ValueError, KeyError):
        return None
    actual = _digest(stats.mean, stats.cov, stats.features, stats.count, stats.extractor_id)
    if (
        actual != recorded
        or stats.cov.shape != (stats.dims, stats.dims)
        or len(stats.features) != stats.count
    ):
        return None
    return stats
