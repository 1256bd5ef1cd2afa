"""The named model specs a user can ask for."""

from __future__ import annotations

from dataclasses import dataclass

from models import configs
from models.errors import ModelError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    components: dict[str, configs.Config]
    native_resolution: int
    xl: bool = False
    # Toy models have no published weights: only `weights=random` makes sense.
    random_only: bool = False


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "tiny-sd",
            "Stable Diffusion layout at toy width (random weights, builds offline in a second)",
            configs.TINY_SD,
            native_resolution=64,
            random_only=True,
        ),
        ModelSpec("sd15", "Stable Diffusion 1.5 architecture", configs.SD15, native_resolution=512),
        ModelSpec("sd21", "Stable Diffusion 2.1 (768-v) architecture", configs.SD21, native_resolution=768),
        ModelSpec(
            "sdxl", "Stable Diffusion XL base architecture", configs.SDXL, native_resolution=1024, xl=True
        ),
    )
}

DEFAULT_MODEL = "tiny-sd"


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise ModelError(
            f"unknown model {name!r}: known models are {known}, or give a path to a local diffusers folder"
        ) from None


def model_names() -> list[str]:
    return list(REGISTRY)
