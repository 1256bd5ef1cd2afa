"""One seeded generation, the same latents on every device and dtype."""

from __future__ import annotations

import numpy as np
import torch
from diffusers import DiffusionPipeline

from bench.instruments.clock import synchronize
from bench.instruments.stages import StageRecorder
from bench.workload import Workload


def generate(
    pipeline: DiffusionPipeline, workload: Workload, device: torch.device, stages: StageRecorder | None = None
) -> np.ndarray:
    """Images as float32 NHWC in [0, 1] (NaN kept, so a broken variant shows as one)."""
    # A CPU generator gives identical initial latents whatever the device or dtype.
    generator = torch.Generator(device="cpu").manual_seed(workload.seed)
    kwargs = {}
    if stages is not None:
        stages.start_generation()
        kwargs["callback_on_step_end"] = stages.step_callback
    with torch.inference_mode():
        result = pipeline(
            prompt=workload.prompt,
            num_images_per_prompt=workload.batch,
            height=workload.height,
            width=workload.width,
            num_inference_steps=workload.steps,
            guidance_scale=workload.guidance,
            generator=generator,
            output_type="np",
            **kwargs,
        )
    synchronize(device)
    return np.asarray(result.images, dtype=np.float32)
