"""The named model specs a user can ask for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models import configs
from models.ddpm import TINY_DDPM_IHC
from models.errors import ModelError

# Family names: how a spec's components become a pipeline.
STABLE_DIFFUSION = "stable-diffusion"
DDPM = "ddpm"
RANDOM_WEIGHTS = "random"
_SHIPPED = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    components: dict[str, configs.Config]
    native_resolution: int
    xl: bool = False
    # Toy models have no published weights: only `weights=random` makes sense.
    random_only: bool = False
    family: str = STABLE_DIFFUSION
    # What `--weights` means when not given: `random`, or weights shipped with the project.
    default_weights: str = RANDOM_WEIGHTS


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
        ModelSpec(
            "tiny-ddpm-ihc",
            "unconditional 32x32 DDPM trained on histology crops (weights shipped, 1.8 M parameters)",
            TINY_DDPM_IHC,
            native_resolution=32,
            family=DDPM,
            default_weights=str(_SHIPPED / "tiny-ddpm-ihc"),
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
