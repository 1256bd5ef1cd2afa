"""Build a pipeline at a spec's real architecture with random weights (no download)."""

from __future__ import annotations

import torch
from diffusers import (
    AutoencoderKL,
    DiffusionPipeline,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from models.dcgan import build_dcgan_pipeline
from models.ddpm import build_ddpm_pipeline
from models.registry import DDPM, GAN, VAE, ModelSpec
from models.tokenizer import build_clip_tokenizer
from models.vae_only import build_vae_pipeline


def _frozen(module: torch.nn.Module) -> torch.nn.Module:
    module.eval()
    module.requires_grad_(False)
    return module


def build_random_pipeline(spec: ModelSpec, seed: int) -> DiffusionPipeline:
    """Same seed, same weights: every component is initialised from one generator state."""
    parts = spec.components
    if spec.family == DDPM:
        return build_ddpm_pipeline(parts, seed)
    if spec.family == VAE:
        return build_vae_pipeline(parts, seed)
    if spec.family == GAN:
        return build_dcgan_pipeline(parts, seed)
    torch.manual_seed(seed)
    unet = _frozen(UNet2DConditionModel(**parts["unet"]))
    vae = _frozen(AutoencoderKL(**parts["vae"]))
    text_encoder = _frozen(CLIPTextModel(CLIPTextConfig(**parts["text_encoder"])))
    scheduler = EulerDiscreteScheduler(**parts["scheduler"])
    tokenizer = build_clip_tokenizer()
    if spec.xl:
        text_encoder_2 = _frozen(CLIPTextModelWithProjection(CLIPTextConfig(**parts["text_encoder_2"])))
        return StableDiffusionXLPipeline(
            vae=vae,
            text_encoder=text_encoder,
            text_encoder_2=text_encoder_2,
            tokenizer=tokenizer,
            tokenizer_2=build_clip_tokenizer(),
            unet=unet,
            scheduler=scheduler,
        )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
