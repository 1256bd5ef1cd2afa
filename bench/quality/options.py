"""`--quality`, `--fid-samples`, `--fid-reference`, `--fid-dims`, `--fid-inception`: validated at start-up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.quality.inception import DIMS, check_dims, resolve_inception
from bench.quality.reference import BASELINE, BUILTIN
from bench.workload import positive_int

QUALITY_CHOICES = ("fid",)
# The reference a model's FID is measured against when --fid-reference is not given.
MODEL_REFERENCES = {"tiny-ddpm-ihc": "ihc-heldout"}


def quality_options(option: Callable[[str], Any], model: str) -> dict[str, Any]:
    """SuiteConfig's quality fields; BenchError (one line) for a bad value."""
    quality = option("--quality")
    if quality is not None and quality not in QUALITY_CHOICES:
        raise BenchError(f"--quality {quality!r} is unknown; accepted: {', '.join(QUALITY_CHOICES)}")
    samples = positive_int("--fid-samples", option("--fid-samples"))
    if samples < 2:
        raise BenchError(f"--fid-samples {samples}: FID needs at least 2 samples (a covariance)")
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
        if reference not in BUILTIN and reference != BASELINE and not Path(reference).expanduser().is_dir():
            raise BenchError(
                f"--fid-reference {reference!r} is not a folder; give a folder of images, "
                f"'{BASELINE}', or one of {', '.join(BUILTIN)}"
            )
        resolve_inception(inception)
    return {
        "quality": quality,
        "fid_samples": samples,
        "fid_reference": reference,
        "fid_dims": dims,
        "fid_inception": inception,
    }
