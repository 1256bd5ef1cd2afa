"""Option defaults that depend on the model: its weights and its native resolution."""

from __future__ import annotations

from models import RANDOM, REGISTRY

DEFAULT_RESOLUTION = 64


def default_weights(model: str, weights: str | None) -> str:
    """`--weights` when not given: a registry model's shipped weights if it has some, else random."""
    if weights is not None:
        return weights
    spec = REGISTRY.get(model)
    return spec.default_weights if spec is not None else RANDOM


def default_resolution(model: str, resolution: str | None) -> str:
    """`--resolution` when not given: 64, or the model's native size if smaller (32 for tiny-ddpm-ihc)."""
    if resolution is not None:
        return resolution
    spec = REGISTRY.get(model)
    native = spec.native_resolution if spec is not None else DEFAULT_RESOLUTION
    return str(min(DEFAULT_RESOLUTION, native))
