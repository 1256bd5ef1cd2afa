"""A VAE alone (models/vae_only.py): decode random latents, or encode-decode images."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from diffusers import DiffusionPipeline

from models.families.base import (
    ImageRequest,
    OneCallFamily,
    StagePlan,
    TimedMethod,
    TracedCall,
    register,
    vae_decode_call,
)
from models.gan import module_device_dtype
from models.registry import VAE, ModelSpec
from models.vae_only import DECODE, ENCODE_DECODE, VaePipeline, build_vae_pipeline, load_vae_folder


@register
class VaeAlone(OneCallFamily):
    name = VAE
    row_family = VAE
    export_components = ("vae",)
    prune_scopes: ClassVar[dict[str, tuple[str, ...]]] = {"vae": ("vae",)}
    weights_folder = "an AutoencoderKL"
    stage_plan = StagePlan(timed_methods=(TimedMethod("vae", "decode", "vae_decode"),))

    def claims(self, pipeline: DiffusionPipeline) -> bool:
        return isinstance(pipeline, VaePipeline)

    def build_random(self, spec: ModelSpec, seed: int) -> DiffusionPipeline:
        return build_vae_pipeline(spec.components, seed)

    def load_weights(self, spec: ModelSpec, path: Path, allow_pickle: bool) -> DiffusionPipeline:
        mode = spec.components.get("pipeline", {}).get("mode", DECODE)
        return load_vae_folder(path, mode, allow_pickle)

    def traced_calls(self, pipeline: DiffusionPipeline, request: ImageRequest) -> list[TracedCall]:
        """One decode per image, and one encode in encode-decode mode."""
        vae = pipeline.vae
        _, dtype = module_device_dtype(vae)
        latent_shape = pipeline.latent_shape(1, request.height, request.width)
        calls = [vae_decode_call(vae, latent_shape, dtype)]
        if pipeline.config.mode == ENCODE_DECODE:
            pixels = (1, vae.config.in_channels, request.height, request.width)
            calls.append(
                TracedCall(
                    "vae_encode",
                    vae,
                    lambda: {"x": torch.zeros(pixels, dtype=dtype)},
                    lambda module, **inputs: module.encode(**inputs, return_dict=False),
                    1,
                )
            )
        return calls
