"""The named model specs a user can ask for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models import configs
from models.dcgan import TINY_DCGAN
from models.ddpm import TINY_DDPM_IHC
from models.errors import ModelError

# The row's `family` names; the family objects that build, run and trace them are in models/families/.
STABLE_DIFFUSION = "stable-diffusion"
DDPM = "ddpm"
VAE = "vae"  # an AutoencoderKL alone (models/vae_only.py): decode random latents, or encode-decode
GAN = "gan"  # a generator G(z) (models/gan.py): the shipped DCGAN, or a user's folder (models/gan_load.py)
FAMILIES = (STABLE_DIFFUSION, DDPM, VAE, GAN)
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


def _vae(mode: str, vae: configs.Config) -> dict[str, configs.Config]:
    # The mode sits with the components so that it is part of the model's fingerprint.
    return {"vae": dict(vae), "pipeline": {"mode": mode}}


REGISTRY.update(
    {
        spec.name: spec
        for spec in (
            ModelSpec(
                "tiny-vae",
                "tiny-sd's VAE alone, decoding random latents (random weights, 1.0 M parameters)",
                _vae("decode", configs.TINY_SD["vae"]),
                native_resolution=64,
                random_only=True,
                family=VAE,
            ),
            ModelSpec(
                "tiny-vae-ihc",
                "tiny-sd's VAE alone, encoding and decoding crops of the IHC image (random weights)",
                _vae("encode-decode", configs.TINY_SD["vae"]),
                native_resolution=64,
                random_only=True,
                family=VAE,
            ),
            ModelSpec(
                "sd-vae",
                "Stable Diffusion 1.5's VAE architecture alone, decoding random latents (83.7 M parameters)",
                _vae("decode", configs.SD15["vae"]),
                native_resolution=512,
                family=VAE,
            ),
            ModelSpec(
                "sd-vae-ihc",
                "Stable Diffusion 1.5's VAE architecture alone, encoding and decoding crops of the IHC image",
                _vae("encode-decode", configs.SD15["vae"]),
                native_resolution=512,
                family=VAE,
            ),
            ModelSpec(
                "tiny-dcgan",
                "DCGAN-style generator, z 100 -> 64x64 RGB (random weights, 1.1 M parameters)",
                TINY_DCGAN,
                native_resolution=64,
                random_only=True,
                family=GAN,
            ),
        )
    }
)


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
