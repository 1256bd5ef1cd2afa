"""`--quality`, `--fid-samples`, `--fid-reference`, `--fid-dims`, `--fid-inception`: validated at start-up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.quality.folder import MIN_IMAGES, check_image_count
from bench.quality.inception import DIMS, check_dims, resolve_inception
from bench.quality.reference import BASELINE, BUILTIN

QUALITY_CHOICES = ("fid",)
# The reference a model's FID is measured against when --fid-reference is not given.
MODEL_REFERENCES = {"tiny-ddpm-ihc": "ihc-heldout"}


def _fid_samples(text: str | int) -> int:
    try:
        samples = int(text)
    except (TypeError, ValueError):
        raise BenchError(
            f"--fid-samples {text!r} is not an integer; give a whole number, at least {MIN_IMAGES}"
        ) from None
    if samples < MIN_IMAGES:
        # The real minimum, not positive_int's 1: a covariance (FID) needs two samples.
        raise BenchError(f"--fid-samples {samples} must be at least {MIN_IMAGES}: FID needs a covariance")
    return samples


def _check_reference_folder(reference: str) -> None:
    """Before any build, cheaply: a folder that isn't one, or with too few images, would fail every test."""
    folder = Path(reference).expanduser()
    if not folder.is_dir():
        raise BenchError(
            f"--fid-reference {reference!r} is not a folder; give a folder of images, "
            f"'{BASELINE}', or one of {', '.join(BUILTIN)}"
        )
    try:
        check_image_count(folder)
    except BenchError as error:
        raise BenchError(f"--fid-reference {error}") from None


def quality_options(option: Callable[[str], Any], model: str) -> dict[str, Any]:
    """SuiteConfig's quality fields; BenchError (one line) for a bad value."""
    quality = option("--quality")
    if quality is not None and quality not in QUALITY_CHOICES:
        raise BenchError(f"--quality {quality!r} is unknown; accepted: {', '.join(QUALITY_CHOICES)}")
    samples = _fid_samples(option("--fid-samples"))
    try:
        requested = int(option("--fid-dims"))
    except ValueError:
        raise BenchError(
            f"--fid-dims {option('--fid-dims')!r} is not a number; accepted: {', '.join(map(str, DIMS))}"
        ) from None
    dims = check_dims(requested)
    reference = option("--fid-reference") or MODEL_REFERENCES.get(model, BASELINE)
    inception = option("--fid-inception")
    if quality is not None:
        # Fail before any build: a reference folder that isn't one, an Inception file that is missing.
        if reference not in BUILTIN and reference != BASELINE:
            _check_reference_folder(reference)
        resolve_inception(inception)
    return {
        "quality": quality,
        "fid_samples": samples,
        "fid_reference": reference,
        "fid_dims": dims,
        "fid_inception": inception,
    }
