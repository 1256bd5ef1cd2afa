"""FID (the Fréchet distance between two Gaussians) and KID (an unbiased polynomial-kernel MMD).

`frechet_distance` follows pytorch-fid's `calculate_frechet_distance` step for step: scipy's
sqrtm of the covariance product (without the `disp` argument, deprecated in scipy 1.17), an
eps*I offset when the product is singular, the imaginary part dropped when negligible; so
its numbers are comparable with that tool's given the same features. KID follows Binkowski
et al. 2018 as clean-fid and torch-fidelity compute it: kernel k(x, y) = (x.y / d + 1)^3,
unbiased MMD^2 averaged over random subsets.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from bench.errors import BenchError


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2))."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise BenchError(f"statistics differ in size: {mu1.shape[0]} vs {mu2.shape[0]} features")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        # Singular product (fewer samples than features): offset both diagonals, as pytorch-fid does.
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            largest = np.max(np.abs(covmean.imag))
            raise BenchError(f"FID: the covariance square root has an imaginary part of {largest:.3g}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    dims = x.shape[1]
    k_xx = (x @ x.T / dims + 1) ** 3
    k_yy = (y @ y.T / dims + 1) ** 3
    k_xy = (x @ y.T / dims + 1) ** 3
    m, n = len(x), len(y)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2 * k_xy.mean())


KID_SUBSET_SIZE = 1000


def kernel_inception_distance(
    features1: np.ndarray,
    features2: np.ndarray,
    subsets: int = 100,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float | None]:
    """(mean, standard deviation) of the unbiased MMD^2 over `subsets` random subsets of
    min(subset_size, len(features1), len(features2)) samples drawn from each set.

    The standard deviation is None only when every subset is the whole of both sets (see
    `kid_subsets_are_whole_sets`): the spread would then be 0 by construction, not a measurement."""
    size = min(subset_size, len(features1), len(features2))
    if size < 2:
        raise BenchError(
            f"KID needs at least 2 samples on each side, got {len(features1)} and {len(features2)}"
        )
    rng = np.random.default_rng(seed)
    values = [
        _mmd2_unbiased(
            features1[rng.choice(len(features1), size, replace=False)],
            features2[rng.choice(len(features2), size, replace=False)],
        )
        for _ in range(subsets)
    ]
    whole_sets = kid_subsets_are_whole_sets(len(features1), len(features2), subset_size)
    return float(np.mean(values)), None if whole_sets else float(np.std(values))


def kid_subsets_are_whole_sets(count1: int, count2: int, subset_size: int = KID_SUBSET_SIZE) -> bool:
    """Whether every KID subset is the whole of both sets: a subset has min(subset_size, count1,
    count2) samples, so that is so only for two equal sets no larger than a subset. When only the
    smaller set is taken whole, the larger one is still resampled and the spread is measured."""
    return count1 == count2 <= subset_size


def kid_std_note(count1: int, count2: int, subset_size: int = KID_SUBSET_SIZE) -> str | None:
    """Why kid_std is null, or None when it was measured (the same rule as the KID itself)."""
    if not kid_subsets_are_whole_sets(count1, count2, subset_size):
        return None
    return (
        f"kid_std is null: both sets have {count1} samples (at most the KID subset size {subset_size}), "
        "so every subset is the whole of both sets and the spread over subsets would be 0 by construction"
    )


def rank_warning(
    count: int, dims: int, dims_option: str = "--fid-dims", samples_option: str = "--fid-samples"
) -> str | None:
    """None when `count` samples give a full-rank dims x dims covariance; otherwise what to do.

    The options are the calling command's: the suite's by default; `python -m bench.quality`
    has `--dims` and no sample count (its sets are whole folders), so it passes "" for
    `samples_option` and the hint asks for more images."""
    if count > dims:
        return None
    full_rank = dims + 1
    more = f"{samples_option} {full_rank} or more" if samples_option else f"at least {full_rank} images"
    smaller = [d for d in (64, 192, 768, 2048) if d < count]
    # A smaller feature size is the cheap fix; more samples is the only one when none is smaller.
    hint = f"use {dims_option} {smaller[-1]} or {more}" if smaller else f"use {more}"
    return (
        f"{count} samples give a rank-deficient covariance for {dims}-d features (full rank needs at "
        f"least {full_rank}): the FID is biased and not comparable with published figures; {hint}"
    )
