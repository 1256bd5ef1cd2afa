"""Unconditional pixel-space DDPM: a UNet and a scheduler, no text encoder, no VAE.

Generation runs the denoising loop below rather than DDPMPipeline's own, which honours
neither a scheduler's `init_noise_sigma` nor `scale_model_input` (so it would break with
Euler); each step is reported like diffusers' `callback_on_step_end`. Prompt and guidance
are ignored.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils.torch_utils import randn_tensor

from models.ddpm import build_ddpm_pipeline
from models.families.base import (
    Generation,
    ImageRequest,
    ModelFamily,
    StagePlan,
    TracedCall,
    register,
    unet_call,
)
from models.gan import module_device_dtype
from models.local_load import load_folder
from models.registry import DDPM, ModelSpec
from models.tracing import TEXT_TOKENS

# Components whose presence makes a pipeline conditional or latent-space: not this family.
_NOT_PIXEL_SPACE = {"text_encoder", "vae", "vqvae"}


@register
class UnconditionalDDPM(ModelFamily):
    name = DDPM
    row_family = DDPM
    export_components = ("unet",)
    prune_scopes: ClassVar[dict[str, tuple[str, ...]]] = {"unet": ("unet",)}
    weights_folder = "a diffusers"
    stage_plan = StagePlan(denoiser="unet")

    def claims(self, pipeline: DiffusionPipeline) -> bool:
        parts = set(pipeline.components)
        return {"unet", "scheduler"} <= parts and not _NOT_PIXEL_SPACE & parts

    def build_random(self, spec: ModelSpec, seed: int) -> DiffusionPipeline:
        return build_ddpm_pipeline(spec.components, seed)

    def load_weights(self, spec: ModelSpec, path: Path, allow_pickle: bool) -> DiffusionPipeline:
        return load_folder(path, allow_pickle)

    def generate(self, pipeline: DiffusionPipeline, job: Generation) -> np.ndarray:
        unet, scheduler, request, generator = pipeline.unet, pipeline.scheduler, job.request, job.generator
        channels = getattr(getattr(unet, "config", None), "in_channels", 3)
        shape = (job.count, channels, request.height, request.width)
        # The sample stays in float32; only the UNet's input is cast, so a pass changes the UNet only.
        # Timesteps first: a scheduler's init_noise_sigma (Euler's) depends on them.
        scheduler.set_timesteps(request.steps, device=job.device)
        sample = randn_tensor(shape, generator=generator, device=torch.device("cpu"), dtype=torch.float32)
        sample = sample.to(job.device) * scheduler.init_noise_sigma
        step_kwargs = (
            {"generator": generator} if "generator" in inspect.signature(scheduler.step).parameters else {}
        )
        _, dtype = module_device_dtype(unet)
        for index, timestep in enumerate(scheduler.timesteps):
            model_input = scheduler.scale_model_input(sample, timestep)
            noise_prediction = unet(model_input.to(dtype), timestep).sample.to(torch.float32)
            sample = scheduler.step(noise_prediction, timestep, sample, **step_kwargs).prev_sample
            if job.on_step is not None:
                job.on_step(pipeline, index, timestep, {})
        # clamp keeps NaN as NaN, so a broken variant still shows as one.
        images = (sample / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)
        return images.cpu().numpy().astype(np.float32)

    def traced_calls(self, pipeline: DiffusionPipeline, request: ImageRequest) -> list[TracedCall]:
        """The UNet once per step on pixels: no text encoder, no guidance, no decode."""
        return [unet_call(pipeline.unet, request.height, request.width, TEXT_TOKENS, request.steps)]
