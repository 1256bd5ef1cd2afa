"""Random-weight Stable Diffusion and SDXL pipelines at a spec's real architecture (no download)."""

from __future__ import annotations

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from models.configs import Config
from models.tokenizer import build_clip_tokenizer


def _frozen(module: torch.nn.Module) -> torch.nn.Module:
    module.eval()
    module.requires_grad_(False)
    return module


def build_text_to_image(
    parts: dict[str, Config], seed: int, xl: bool
) -> StableDiffusionPipeline | StableDiffusionXLPipeline:
    """Same seed, same weights: every component is initialised from one generator state."""
    torch.manual_seed(seed)
    unet = _frozen(UNet2DConditionModel(**parts["unet"]))
    vae = _frozen(AutoencoderKL(**parts["vae"]))
    text_encoder = _frozen(CLIPTextModel(CLIPTextConfig(**parts["text_encoder"])))
    scheduler = EulerDiscreteScheduler(**parts["scheduler"])
    tokenizer = build_clip_tokenizer()
    if xl:
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
