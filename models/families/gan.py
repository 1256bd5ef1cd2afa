"""A GAN generator `G(z)` (models/gan.py): the shipped DCGAN, or a user's folder with a
gan.json (models/gan_load.py)."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DiffusionPipeline

from models.dcgan import build_dcgan_pipeline
from models.families.base import ImageRequest, OneCallFamily, StagePlan, TimedMethod, TracedCall, register
from models.gan import GanPipeline, module_device_dtype
from models.gan_load import is_gan_folder, load_gan_folder
from models.registry import GAN, ModelSpec


@register
class GanGenerator(OneCallFamily):
    name = GAN
    row_family = GAN
    weights_folder = "a GAN (gan.json)"
    # `run_generator` is timed by wrapping: a TorchScript generator takes no forward hooks.
    stage_plan = StagePlan(timed_methods=(TimedMethod(None, "run_generator", "generator"),))

    def claims(self, pipeline: DiffusionPipeline) -> bool:
        return isinstance(pipeline, GanPipeline)

    def claims_folder(self, folder: Path) -> bool:
        return is_gan_folder(folder)

    def build_random(self, spec: ModelSpec, seed: int) -> DiffusionPipeline:
        return build_dcgan_pipeline(spec.components, seed)

    def load_weights(self, spec: ModelSpec, path: Path, allow_pickle: bool) -> DiffusionPipeline:
        return load_gan_folder(path, allow_pickle)

    def load_folder(self, folder: Path, allow_pickle: bool) -> DiffusionPipeline:
        return load_gan_folder(folder, allow_pickle)

    def traced_calls(self, pipeline: DiffusionPipeline, request: ImageRequest) -> list[TracedCall]:
        """One `G(z)` per image."""
        _, dtype = module_device_dtype(pipeline.generator)
        shape = (1, *pipeline.config.z_shape)
        return [
            TracedCall(
                "generator",
                pipeline.generator,
                lambda: {"z": torch.zeros(shape, dtype=dtype)},
                lambda module, **inputs: module(inputs["z"]),
                1,
            )
        ]
