"""Which family a built pipeline belongs to, whatever it was loaded from (registry, folder)."""

from __future__ import annotations

from diffusers import DiffusionPipeline

from models.gan import GanPipeline
from models.registry import DDPM, GAN, STABLE_DIFFUSION, VAE
from models.vae_only import VaePipeline


def pipeline_family(pipeline: DiffusionPipeline) -> str:
    """`gan`, `vae`, `ddpm` (a UNet and a scheduler only) or `stable-diffusion` (everything else)."""
    if isinstance(pipeline, GanPipeline):
        return GAN
    if isinstance(pipeline, VaePipeline):
        return VAE
    parts = set(pipeline.components)
    if {"unet", "scheduler"} <= parts and not {"text_encoder", "vae", "vqvae"} & parts:
        return DDPM
    return STABLE_DIFFUSION
