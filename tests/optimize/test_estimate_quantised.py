"""The memory estimate traces quantised variants too (bnb8 failed: 'Tensor' has no attribute 'CB')."""

from __future__ import annotations

import pytest
import torch

from bench.profiles.estimate import estimate_pipeline, weights_bytes
from optimize import PassUnsupported, build_variant, parse_recipe


@pytest.mark.parametrize("recipe", ["bnb8", "nf4", "int8"])
def test_quantised_variants_are_estimated_with_their_own_weight_bytes(tiny_model, cache, recipe):
    try:
        variant = build_variant(tiny_model, parse_recipe(recipe), torch.device("cpu"), cache)
    except PassUnsupported as why:
        pytest.skip(str(why))
    estimate = estimate_pipeline(variant.pipeline.components, 64, 64, 2)
    baseline = estimate_pipeline(tiny_model.pipeline.components, 64, 64, 2)
    assert estimate.peak_mib > 0
    # the same activations (the stand-ins have the float layers' shapes) ...
    assert estimate.stage("unet").peak_bytes == baseline.stage("unet").peak_bytes
    # ... and the quantised weights are still what the layers hold, not float stand-ins
    assert estimate.weights_bytes < baseline.weights_bytes
    assert weights_bytes(variant.pipeline.unet) < weights_bytes(tiny_model.pipeline.unet)
