"""Build a pipeline at a spec's real architecture with random weights (no download)."""

from __future__ import annotations

from diffusers import DiffusionPipeline

from models.families import family_for_spec
from models.registry import ModelSpec


def build_random_pipeline(spec: ModelSpec, seed: int) -> DiffusionPipeline:
    """Same seed, same weights: the spec's family builds it."""
    return family_for_spec(spec).build_random(spec, seed)
