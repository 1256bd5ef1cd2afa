"""One seeded generation, the same latents on every device and dtype.

How a pipeline generates is its model family's business (models/families/): text-to-image
pipelines (Stable Diffusion, SDXL) through their own `__call__`, an unconditional DDPM
through a denoising loop that honours any scheduler, a VAE alone or a GAN generator called
once. Here: the seeded CPU generator(s), inference mode, the stage timer's hooks and the
device synchronisation before the clock is read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from diffusers import DiffusionPipeline

from bench.instruments.clock import synchronize
from bench.instruments.stages import StageRecorder
from bench.workload import Workload
from models.families import family_of
from models.families.base import Generation


def generate(
    pipeline: DiffusionPipeline,
    workload: Workload,
    device: torch.device,
    stages: StageRecorder | None = None,
    negative_prompt: str = "",
) -> np.ndarray:
    """Images as float32 NHWC in [0, 1] (NaN kept, so a broken variant shows as one).

    `negative_prompt` conditions text-to-image families only (the web UI stand-in takes one)."""
    # A CPU generator gives identical initial latents whatever the device or dtype.
    generator = torch.Generator(device="cpu").manual_seed(workload.seed)
    return _generate(pipeline, workload, device, generator, workload.batch, stages, negative_prompt)


def generate_seeds(
    pipeline: DiffusionPipeline, workload: Workload, device: torch.device, seeds: Sequence[int]
) -> np.ndarray:
    """One image per seed, in one batch: image i depends only on seeds[i] (one generator each)."""
    generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]
    return _generate(pipeline, workload, device, generators, len(generators), None)


def _generate(
    pipeline: DiffusionPipeline,
    workload: Workload,
    device: torch.device,
    generator: torch.Generator | list[torch.Generator],
    count: int,
    stages: StageRecorder | None,
    negative_prompt: str = "",
) -> np.ndarray:
    on_step = None
    if stages is not None:
        stages.start_generation()
        on_step = stages.step_callback
    job = Generation(workload, device, generator, count, on_step, negative_prompt)
    with torch.inference_mode():
        images = family_of(pipeline).generate(pipeline, job)
    synchronize(device)
    return images
