"""The unconditional pixel-space DDPM family (UNet2DModel + a DDPM noise schedule).

Unlike the Stable Diffusion family there is no text encoder, tokenizer or VAE: the pipeline
is diffusers' DDPMPipeline, whose `.unet` and `.components` are what the passes work on.
"""

from __future__ import annotations

import torch
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

from models.configs import Config

TINY_DDPM_IHC: dict[str, Config] = {
    "unet": {
        "sample_size": 32,
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownBlock2D", "DownBlock2D", "AttnDownBlock2D"],
        "up_block_types": ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D"],
        "block_out_channels": [32, 64, 96],
        "layers_per_block": 1,
        "norm_num_groups": 8,
        "attention_head_dim": 32,
    },
    "scheduler": {
        "num_train_timesteps": 1000,
        # The cosine schedule keeps more signal at low resolution than the linear one.
        "beta_schedule": "squaredcos_cap_v2",
        "prediction_type": "epsilon",
        "clip_sample": True,
    },
}


def build_ddpm_pipeline(components: dict[str, Config], seed: int) -> DDPMPipeline:
    """Random weights at the spec's architecture: same seed, same weights."""
    torch.manual_seed(seed)
    unet = UNet2DModel(**components["unet"])
    unet.eval()
    unet.requires_grad_(False)
    return DDPMPipeline(unet=unet, scheduler=DDPMScheduler(**components["scheduler"]))
