"""FID and KID of a variant's samples, in the same run as its latency.

A `FidSession` lives for one suite session: it loads the Inception extractor once, the
reference statistics once (from the .npz cache when possible), and keeps the baseline's
sample features when the reference is the baseline. For each variant it generates N
samples with seeds seed..seed+N-1 (the same for every variant, outside the timed rounds),
extracts their features and compares them with the reference.

IS is not available (the Inception file has no classifier logits) and CLIP score needs CLIP
weights, which are not available offline: both are reported as null with the reason in
`quality_note`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline
from tqdm import tqdm

from bench.generate import generate_seeds
from bench.quality.distance import (
    frechet_distance,
    kernel_inception_distance,
    kid_std_note,
    rank_warning,
)
from bench.quality.inception import InceptionFeatures
from bench.quality.preprocess import to_uint8
from bench.quality.reference import BASELINE, reference_stats
from bench.quality.stats import FeatureStats, stats_from_features
from bench.workload import Workload

IS_UNAVAILABLE = "IS unavailable: the FID Inception file has pool features only, no classifier logits"
CLIP_UNAVAILABLE = "CLIP score skipped: no local CLIP weights"
SAMPLE_CHUNK = 16


def sample_images(
    pipeline: DiffusionPipeline, workload: Workload, device: torch.device, count: int, label: str = ""
) -> np.ndarray:
    """`count` uint8 images, seed s for image s - workload.seed; NaN pixels raise BenchError."""
    seeds = list(range(workload.seed, workload.seed + count))
    pipeline.set_progress_bar_config(disable=True)
    chunks: list[np.ndarray] = []
    with tqdm(total=count, desc=f"FID samples {label}".strip(), unit="img") as bar:
        for start in range(0, count, SAMPLE_CHUNK):
            chunk = seeds[start : start + SAMPLE_CHUNK]
            chunks.append(to_uint8(generate_seeds(pipeline, workload, device, chunk)))
            bar.update(len(chunk))
    return np.concatenate(chunks)


@dataclass
class FidScore:
    fid: float
    kid: float
    kid_std: float | None
    count: int
    reference: str
    dims: int
    seconds: float
    note: str

    def fields(self) -> dict[str, Any]:
        return {
            "fid": self.fid,
            "fid_n": self.count,
            "fid_ref": self.reference,
            "fid_dims": self.dims,
            "fid_s": self.seconds,
            "kid": self.kid,
            "kid_std": self.kid_std,
            "is": None,
            "quality_note": self.note,
        }


def compare(features: np.ndarray, reference: FeatureStats, label: str, extract_s: float = 0.0) -> FidScore:
    """`extract_s`: seconds the features took, added to the distance's own time in `seconds`."""
    started = time.perf_counter()
    stats = stats_from_features(features, reference.extractor_id)
    fid = frechet_distance(stats.mean, stats.cov, reference.mean, reference.cov)
    kid, kid_std = kernel_inception_distance(features, reference.features)
    # The reference's remedy is more reference images (or smaller features), not --fid-samples.
    reference_rank = rank_warning(reference.count, reference.dims, samples_option="")
    notes = [
        note
        for note in (
            rank_warning(stats.count, stats.dims),
            f"the reference set: {reference_rank}" if reference_rank else None,
            kid_std_note(stats.count, reference.count),
        )
        if note
    ]
    notes += [IS_UNAVAILABLE, CLIP_UNAVAILABLE]
    return FidScore(
        fid=fid,
        kid=kid,
        kid_std=kid_std,
        count=stats.count,
        reference=label,
        dims=stats.dims,
        seconds=extract_s + time.perf_counter() - started,
        note="; ".join(dict.fromkeys(notes)),
    )


class FidSession:
    def __init__(
        self,
        reference: str,
        samples: int,
        dims: int,
        device: torch.device,
        cache_dir: Path | None,
        inception: str | None = None,
        allow_pickle: bool = False,
    ) -> None:
        self.reference = reference
        self.samples = samples
        self.device = device
        self.cache_dir = cache_dir
        self.extractor = InceptionFeatures(dims, inception, device, allow_pickle=allow_pickle)
        self._reference: FeatureStats | None = None
        self._warned = False

    @property
    def uses_baseline(self) -> bool:
        return self.reference == BASELINE

    def reference_stats(self) -> FeatureStats:
        if self._reference is None:
            if self.uses_baseline:
                raise RuntimeError("the baseline reference is set by set_baseline() first")
            self._reference = reference_stats(self.reference, self.extractor, self.cache_dir)
        return self._reference

    def has_reference(self) -> bool:
        return self._reference is not None or not self.uses_baseline

    def features(
        self, pipeline: DiffusionPipeline, workload: Workload, label: str
    ) -> tuple[np.ndarray, float]:
        """The samples' features, and the seconds their extraction took (generation excluded)."""
        images = sample_images(pipeline, workload, self.device, self.samples, label)
        started = time.perf_counter()
        features = self.extractor(images, f"FID features {label}")
        return features, time.perf_counter() - started

    def set_baseline(self, features: np.ndarray) -> None:
        self._reference = stats_from_features(features, self.extractor.extractor_id)

    def score(self, features: np.ndarray, extract_s: float) -> FidScore:
        result = compare(features, self.reference_stats(), self.reference, extract_s)
        warning = rank_warning(len(features), self.extractor.dims)
        if warning and not self._warned:
            self._warned = True
            warnings.warn(warning, stacklevel=2)
        return result
