"""One seeded generation, the same latents on every device and dtype.

Two families of pipeline are driven: text-to-image ones (Stable Diffusion, SDXL), through
the pipeline's own `__call__`; and unconditional pixel-space ones (DDPMPipeline: a `unet`
and a `scheduler`, no text encoder, no VAE), through the denoising loop below, which
honours any scheduler's `init_noise_sigma` and `scale_model_input` (DDPMPipeline's own
loop does not, so it would break with Euler) and reports each step like diffusers'
`callback_on_step_end`. Unconditional models ignore the prompt and guidance.

Two more families have no denoising loop at all: a VAE alone (models/vae_only.py: decode
random latents, or encode-decode images) and a GAN generator (models/gan.py: `G(z)`). Their
pipelines draw the latents / z from the same seeded CPU generator(s) and return float32 NHWC
images in [0, 1]; prompt, steps, guidance and scheduler do not apply to them (the row's step
fields stay null).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils.torch_utils import randn_tensor

from bench.instruments.clock import synchronize
from bench.instruments.stages import StageRecorder
from bench.workload import Workload
from models.gan import GanPipeline
from models.vae_only import VaePipeline


def generate(
    pipeline: DiffusionPipeline, workload: Workload, device: torch.device, stages: StageRecorder | None = None
) -> np.ndarray:
    """Images as float32 NHWC in [0, 1] (NaN kept, so a broken variant shows as one)."""
    # A CPU generator gives identical initial latents whatever the device or dtype.
    generator = torch.Generator(device="cpu").manual_seed(workload.seed)
    return _generate(pipeline, workload, device, generator, workload.batch, stages)


def generate_seeds(
    pipeline: DiffusionPipeline, workload: Workload, device: torch.device, seeds: Sequence[int]
) -> np.ndarray:
    """One image per seed, in one batch: image i depends only on seeds[i] (one generator each)."""
    generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]
    return _generate(pipeline, workload, device, generators, len(generators), None)


def is_unconditional(pipeline: DiffusionPipeline) -> bool:
    """A pixel-space pipeline with a UNet and a scheduler only (DDPMPipeline and the like)."""
    parts = pipeline.components
    return "unet" in parts and "scheduler" in parts and not {"text_encoder", "vae", "vqvae"} & set(parts)


def is_direct(pipeline: DiffusionPipeline) -> bool:
    """A pipeline without denoising steps, called once per image: a VAE alone or a GAN generator."""
    return isinstance(pipeline, GanPipeline | VaePipeline)


def _generate(
    pipeline: DiffusionPipeline,
    workload: Workload,
    device: torch.device,
    generator: torch.Generator | list[torch.Generator],
    count: int,
    stages: StageRecorder | None,
) -> np.ndarray:
    kwargs = {}
    if stages is not None:
        stages.start_generation()
        kwargs["callback_on_step_end"] = stages.step_callback
    if is_direct(pipeline):
        with torch.inference_mode():
            result = pipeline(
                batch_size=count,
                generator=generator,
                height=workload.height,
                width=workload.width,
                output_type="np",
            )
        synchronize(device)
        return np.asarray(result.images, dtype=np.float32)
    if is_unconditional(pipeline):
        with torch.inference_mode():
            images = _denoise_unconditional(pipeline, workload, device, generator, count, stages)
        synchronize(device)
        return images
    one_per_generator = isinstance(generator, list)
    with torch.inference_mode():
        result = pipeline(
            prompt=[workload.prompt] * count if one_per_generator else workload.prompt,
            num_images_per_prompt=1 if one_per_generator else count,
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


def _unet_dtype(unet: torch.nn.Module) -> torch.dtype:
    """The dtype the UNet computes in: its first floating parameter's (quantised weights aren't)."""
    for parameter in unet.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


def _denoise_unconditional(
    pipeline: DiffusionPipeline,
    workload: Workload,
    device: torch.device,
    generator: torch.Generator | list[torch.Generator],
    count: int,
    stages: StageRecorder | None,
) -> np.ndarray:
    unet, scheduler = pipeline.unet, pipeline.scheduler
    channels = getattr(getattr(unet, "config", None), "in_channels", 3)
    shape = (count, channels, workload.height, workload.width)
    # The sample stays in float32; only the UNet's input is cast, so a pass changes the UNet only.
    # Timesteps first: a scheduler's init_noise_sigma (Euler's) depends on them.
    scheduler.set_timesteps(workload.steps, device=device)
    sample = randn_tensor(shape, generator=generator, device=torch.device("cpu"), dtype=torch.float32)
    sample = sample.to(device) * scheduler.init_noise_sigma
    step_kwargs = (
        {"generator": generator} if "generator" in inspect.signature(scheduler.step).parameters else {}
    )
    dtype = _unet_dtype(unet)
    for index, timestep in enumerate(scheduler.timesteps):
        model_input = scheduler.scale_model_input(sample, timestep)
        noise_prediction = unet(model_input.to(dtype), timestep).sample.to(torch.float32)
        sample = scheduler.step(noise_prediction, timestep, sample, **step_kwargs).prev_sample
        if stages is not None:
            stages.step_callback(pipeline, index, timestep, {})
    # clamp keeps NaN as NaN, so a broken variant still shows as one.
    images = (sample / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)
    return images.cpu().numpy().astype(np.float32)
