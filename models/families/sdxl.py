"""Stable Diffusion XL: the text-to-image family with a second text encoder (and its pooled
embedding and time ids as the UNet's added conditions, see models/tracing.py)."""

from __future__ import annotations

from typing import ClassVar

from diffusers import DiffusionPipeline

from models.families.base import StagePlan, register
from models.families.stable_diffusion import VAE_DECODE, StableDiffusion
from models.registry import STABLE_DIFFUSION


@register
class StableDiffusionXL(StableDiffusion):
    name = "sdxl"
    # SDXL rows belong to the Stable Diffusion family in reports.
    row_family = STABLE_DIFFUSION
    fallback = False
    xl = True
    text_encoders = ("text_encoder", "text_encoder_2")
    # The export has no graph for the second encoder (nor the UNet's added conditions): it says so.
    export_components = ("text_encoder", "text_encoder_2", "unet", "vae")
    prune_scopes: ClassVar[dict[str, tuple[str, ...]]] = {
        "unet": ("unet",),
        "vae": ("vae",),
        "text": text_encoders,
    }
    stage_plan = StagePlan(text_encoders=text_encoders, denoiser="unet", timed_methods=(VAE_DECODE,))

    def claims(self, pipeline: DiffusionPipeline) -> bool:
        return "text_encoder_2" in pipeline.components
