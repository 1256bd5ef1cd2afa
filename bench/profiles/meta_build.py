"""A registry model's components built on the meta device: the real architecture, no weights.

Building SDXL this way takes a second and no memory, which is what makes a fit table over
models x resolutions x dtypes cheap (`python -m bench.profiles.fit_table`).
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from models import ModelSpec


def meta_components(spec: ModelSpec) -> dict[str, Any]:
    parts = spec.components
    with torch.device("meta"):
        components: dict[str, Any] = {
            "unet": UNet2DConditionModel(**parts["unet"]),
            "vae": AutoencoderKL(**parts["vae"]),
            "text_encoder": CLIPTextModel(CLIPTextConfig(**parts["text_encoder"])),
        }
        if spec.xl:
            components["text_encoder_2"] = CLIPTextModelWithProjection(
                CLIPTextConfig(**parts["text_encoder_2"])
            )
    for module in components.values():
        module.eval().requires_grad_(False)
    return components
