"""Real component inputs, recorded by hooks on the torch modules during a few generations.

The same recordings serve two purposes: parity checks at build time (ONNX vs torch on the
inputs a real denoising run produces) and calibration of static int8 quantisation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import DiffusionPipeline
from tqdm.auto import tqdm

from optimize.export.pipelines import pipeline_with

Inputs = dict[str, torch.Tensor]
Recording = dict[str, list[Inputs]]

CALIBRATION_PROMPTS = (
    "a photograph of an astronaut riding a horse",
    "an oil painting of a lighthouse on a cliff at sunset",
    "a close-up of a red fox in the snow, detailed fur",
    "a bowl of fruit on a wooden table, soft window light",
)


@dataclass(frozen=True)
class RecordingPlan:
    size: int  # pixels (square)
    steps: int
    prompts: tuple[str, ...]
    guidance: float = 7.5
    seed: int = 0


def default_size(pipeline: DiffusionPipeline, cap: int = 256) -> int:
    """The model's native size, capped: recordings at 512 px would cost minutes on a CPU."""
    native = int(pipeline.unet.config.sample_size) * int(pipeline.vae_scale_factor)
    return min(native, cap)


def _unet_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Inputs:
    sample = args[0] if args else kwargs["sample"]
    timestep = args[1] if len(args) > 1 else kwargs["timestep"]
    hidden = args[2] if len(args) > 2 else kwargs["encoder_hidden_states"]
    timestep = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1).expand(sample.shape[0])
    return {
        "sample": sample.detach().float().clone(),
        "timestep": timestep.clone(),
        "encoder_hidden_states": hidden.detach().float().clone(),
    }


@contextmanager
def _recording_hooks(pipeline: DiffusionPipeline, into: Recording) -> Iterator[None]:
    def text_hook(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = args[0] if args else kwargs["input_ids"]
        into["text_encoder"].append({"input_ids": ids.detach().to(torch.int64).clone()})

    def unet_hook(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        into["unet"].append(_unet_inputs(args, kwargs))

    vae = pipeline.vae
    decode: Callable[..., Any] = vae.decode

    def recorded_decode(latent: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        into["vae"].append({"latent": latent.detach().float().clone()})
        return decode(latent, *args, **kwargs)

    handles = [
        pipeline.text_encoder.register_forward_pre_hook(text_hook, with_kwargs=True),
        pipeline.unet.register_forward_pre_hook(unet_hook, with_kwargs=True),
    ]
    vae.decode = recorded_decode
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        del vae.decode


def record_inputs(base: DiffusionPipeline, plan: RecordingPlan, what: str = "recording inputs") -> Recording:
    """Run the torch pipeline (a shallow copy of it; `base` keeps no hooks) and keep every input."""
    pipeline = pipeline_with(base)
    pipeline.set_progress_bar_config(disable=True)
    recording: Recording = {"text_encoder": [], "unet": [], "vae": []}
    with _recording_hooks(pipeline, recording), torch.inference_mode():
        for index, prompt in enumerate(tqdm(plan.prompts, desc=what, unit="generation", leave=False)):
            generator = torch.Generator(device="cpu").manual_seed(plan.seed + index)
            pipeline(
                prompt=prompt,
                height=plan.size,
                width=plan.size,
                num_inference_steps=plan.steps,
                guidance_scale=plan.guidance,
                generator=generator,
                output_type="np",
            )
    return recording
