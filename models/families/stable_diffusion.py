"""Stable Diffusion-style text-to-image: text encoder(s), a UNet on latents, a VAE decode.

Also the fallback family: a diffusers folder that no other family claims is run as one,
through the pipeline's own `__call__`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from diffusers import DiffusionPipeline

from models.families.base import (
    Generation,
    ImageRequest,
    ModelFamily,
    StagePlan,
    TimedMethod,
    TracedCall,
    register,
    unet_call,
    vae_decode_call,
)
from models.local_load import load_folder, load_single_file
from models.registry import STABLE_DIFFUSION, ModelSpec
from models.text_to_image import build_text_to_image
from models.tracing import TEXT_TOKENS, first_parameter_dtype

VAE_DECODE = TimedMethod("vae", "decode", "vae_decode")


@register
class StableDiffusion(ModelFamily):
    name = STABLE_DIFFUSION
    row_family = STABLE_DIFFUSION
    fallback = True
    xl = False
    text_encoders: tuple[str, ...] = ("text_encoder",)
    export_components = ("text_encoder", "unet", "vae")
    prune_scopes: ClassVar[dict[str, tuple[str, ...]]] = {
        "unet": ("unet",),
        "vae": ("vae",),
        "text": ("text_encoder",),
    }
    compile_modules = ("unet", "vae.decoder")
    stage_plan = StagePlan(text_encoders=text_encoders, denoiser="unet", timed_methods=(VAE_DECODE,))

    def describes(self, spec: ModelSpec) -> bool:
        return spec.family == STABLE_DIFFUSION and spec.xl == self.xl

    def claims(self, pipeline: DiffusionPipeline) -> bool:
        return "unet" in pipeline.components

    def build_random(self, spec: ModelSpec, seed: int) -> DiffusionPipeline:
        return build_text_to_image(spec.components, seed, xl=self.xl)

    def load_weights(self, spec: ModelSpec, path: Path, allow_pickle: bool) -> DiffusionPipeline:
        """A diffusers folder, or a single checkpoint file converted onto the spec's architecture."""
        if path.is_dir():
            return load_folder(path, allow_pickle)
        return load_single_file(spec, path, allow_pickle)

    def generate(self, pipeline: DiffusionPipeline, job: Generation) -> np.ndarray:
        """Through the pipeline's own `__call__`; with a list of generators, one prompt each."""
        request, count = job.request, job.count
        kwargs: dict[str, Any] = {}
        if job.on_step is not None:
            kwargs["callback_on_step_end"] = job.on_step
        if job.negative_prompt:
            kwargs["negative_prompt"] = job.negative_prompt
        one_per_generator = isinstance(job.generator, list)
        result = pipeline(
            prompt=[request.prompt] * count if one_per_generator else request.prompt,
            num_images_per_prompt=1 if one_per_generator else count,
            height=request.height,
            width=request.width,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance,
            generator=job.generator,
            output_type="np",
            **kwargs,
        )
        return np.asarray(result.images, dtype=np.float32)

    def traced_calls(self, pipeline: DiffusionPipeline, request: ImageRequest) -> list[TracedCall]:
        """Text encoder(s) x (2 with CFG else 1) per prompt, the UNet x steps x (2 with CFG else 1),
        one VAE decode per image."""
        vae = getattr(pipeline, "vae", None)
        scale = 2 ** (len(vae.config.block_out_channels) - 1) if vae is not None else 1
        latent_h, latent_w = request.height // scale, request.width // scale
        tokens = getattr(getattr(pipeline, "tokenizer", None), "model_max_length", TEXT_TOKENS)
        encoders = [getattr(pipeline, name, None) for name in self.text_encoders]
        encoders = [encoder for encoder in encoders if isinstance(encoder, torch.nn.Module)]
        # Classifier-free guidance doubles the UNet batch and encodes the negative prompt too.
        guided = 2 if encoders and request.guidance > 1 else 1
        calls = [
            TracedCall(
                "text_encoder",
                encoder,
                lambda: {"input_ids": torch.zeros(1, tokens, dtype=torch.long)},
                lambda module, **inputs: module(**inputs),
                guided / request.batch,
            )
            for encoder in encoders
        ]
        calls.append(unet_call(pipeline.unet, latent_h, latent_w, tokens, request.steps * guided))
        if vae is not None:
            latent_shape = (1, vae.config.latent_channels, latent_h, latent_w)
            calls.append(vae_decode_call(vae, latent_shape, first_parameter_dtype(vae)))
        return calls
