"""SSIM against the baseline (bench/instruments/quality.py) checked against SSIM written out here
from Wang et al. 2004's formula in numpy, and against its closed form on a flat image."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from helpers.suite_inprocess import FakeBenchmark, tiny_suite_config

from bench.instruments.quality import ssim, ssim_window

C1 = (0.01 * 1.0) ** 2  # (K1 L)^2 with data range L = 1
C2 = (0.03 * 1.0) ** 2


def gaussian_taps(sigma: float, radius: int) -> np.ndarray:
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (offsets / sigma) ** 2)
    return taps / taps.sum()


def local_mean(plane: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """The Gaussian-weighted mean around every pixel: separable, borders mirrored (d c b a | a b c d)."""
    radius = len(taps) // 2
    padded = np.pad(plane, radius, mode="symmetric")
    rows = sum(w * padded[:, i : i + plane.shape[1]] for i, w in enumerate(taps))
    return sum(w * rows[i : i + plane.shape[0], :] for i, w in enumerate(taps))


def hand_ssim_plane(x: np.ndarray, y: np.ndarray, sigma: float, radius: int) -> float:
    """Wang et al. 2004, eq. 13 with the Gaussian window and population moments, averaged over the
    pixels whose window lies inside the image."""
    taps = gaussian_taps(sigma, radius)
    mx, my = local_mean(x, taps), local_mean(y, taps)
    vx = local_mean(x * x, taps) - mx * mx
    vy = local_mean(y * y, taps) - my * my
    cxy = local_mean(x * y, taps) - mx * my
    index = ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx**2 + my**2 + C1) * (vx + vy + C2))
    return float(index[radius:-radius, radius:-radius].mean())


def hand_ssim(images: np.ndarray, reference: np.ndarray, sigma: float, radius: int) -> float:
    """Each channel of each image, the mean over channels, then over the images."""
    per_image = [
        np.mean([hand_ssim_plane(a[..., c], b[..., c], sigma, radius) for c in range(a.shape[-1])])
        for a, b in zip(images.astype(np.float64), reference.astype(np.float64), strict=True)
    ]
    return float(np.mean(per_image))


def textured(size: int, seed: int = 0) -> np.ndarray:
    """A smooth gradient with texture, in [0.2, 0.8]: structure for SSIM to see, room for an offset."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size] / size
    base = 0.5 + 0.15 * np.sin(6 * xs) * np.cos(4 * ys)
    image = np.stack([base, base[::-1], base.T], axis=-1) + 0.1 * rng.random((size, size, 3))
    return np.clip(image, 0.2, 0.8)[None].astype(np.float32)


def test_flat_image_and_a_brightness_offset_give_the_closed_form() -> None:
    # Flat images have no variance, so SSIM is its luminance term alone: (2ab + C1) / (a^2 + b^2 + C1).
    a, b = 0.4, 0.5
    image = np.full((1, 32, 32, 3), b, dtype=np.float64)
    reference = np.full((1, 32, 32, 3), a, dtype=np.float64)
    expected = (2 * a * b + C1) / (a * a + b * b + C1)
    assert expected == pytest.approx(0.4001 / 0.4101)  # 0.9756
    assert ssim(image, reference) == pytest.approx(expected, rel=1e-9)


def test_noise_matches_the_formula_written_out() -> None:
    reference = textured(32)
    rng = np.random.default_rng(1)
    noisy = np.clip(reference + 0.05 * rng.standard_normal(reference.shape), 0, 1).astype(np.float32)
    expected = hand_ssim(noisy, reference, sigma=1.5, radius=5)
    assert 0.3 < expected < 0.95  # noise that SSIM clearly sees, not a degenerate pair
    assert ssim(noisy, reference) == pytest.approx(expected, abs=1e-9)


def test_a_brightness_offset_on_texture_matches_the_formula_and_costs_little() -> None:
    reference = textured(48, seed=2)
    brighter = reference + np.float32(0.1)
    expected = hand_ssim(brighter, reference, sigma=1.5, radius=5)
    assert ssim(brighter, reference) == pytest.approx(expected, abs=1e-9)
    # Structure and contrast are untouched: only the luminance term drops, and not far.
    assert 0.9 < expected < 0.99


def test_identical_images_give_exactly_one() -> None:
    image = textured(32)
    assert ssim(image, image.copy()) == 1.0


def test_a_batch_is_the_mean_of_its_images() -> None:
    reference = np.concatenate([textured(32, seed=3), textured(32, seed=4)])
    rng = np.random.default_rng(5)
    images = np.clip(reference + rng.normal(0, [[[[0.02]]], [[[0.2]]]], reference.shape), 0, 1)
    each = [ssim(images[i : i + 1], reference[i : i + 1]) for i in range(2)]
    assert each[0] > each[1] + 0.2  # the two images differ by very different amounts
    assert ssim(images, reference) == pytest.approx(sum(each) / 2, abs=1e-12)


@pytest.mark.parametrize(
    ("size", "window", "sigma"),
    [
        (64, 11, 1.5),
        (32, 11, 1.5),
        (11, 11, 1.5),
        (10, 9, 1.2),
        (8, 7, 0.9),
        (7, 7, 0.9),
        (4, 3, 0.3),
        (3, 3, 0.3),
    ],
)
def test_small_images_get_a_smaller_window_that_matches_the_formula(
    size: int, window: int, sigma: float
) -> None:
    assert ssim_window(size, size) == (window, pytest.approx(sigma))
    reference = textured(size, seed=6)
    image = np.clip(reference + 0.05, 0, 1)
    assert ssim(image, reference) == pytest.approx(
        hand_ssim(image, reference, sigma, (window - 1) // 2), abs=1e-9
    )


def test_no_window_fits_under_three_pixels_nor_over_non_finite_pixels() -> None:
    tiny = np.full((1, 2, 2, 3), 0.5, dtype=np.float32)
    assert ssim_window(2, 2) is None
    assert math.isnan(ssim(tiny + 0.1, tiny))
    assert ssim(tiny, tiny) == 1.0
    broken = textured(16)
    broken[0, 3, 3, 0] = np.nan
    assert math.isnan(ssim(broken, textured(16)))


def test_shapes_that_cannot_be_compared_are_refused() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        ssim(textured(16), textured(32))
    with pytest.raises(ValueError, match="NHWC"):
        ssim(textured(16)[0], textured(16)[0])


def test_a_suite_row_carries_ssim_beside_psnr(tmp_path: Path) -> None:
    from bench.suite import Suite

    suite = Suite(tiny_suite_config(tmp_path, ("fp32", "bf16")))
    rows = {}
    for case in suite.cases():
        info = suite.row(case)
        suite.run(case, FakeBenchmark(), info)
        rows[case.variant] = info
    assert rows["fp32"]["ssim_vs_baseline"] is None  # the baseline is not compared with itself
    assert rows["fp32"]["psnr_vs_baseline"] is None
    bf16 = rows["bf16"]
    assert bf16["status"] == "ok"
    assert 0.5 < bf16["ssim_vs_baseline"] < 1.0, bf16["ssim_vs_baseline"]  # bf16 drifts, a little
    assert 20 < bf16["psnr_vs_baseline"] < math.inf
