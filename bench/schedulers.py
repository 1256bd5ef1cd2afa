"""Swap a pipeline's scheduler by short name, keeping the model's noise schedule."""

from __future__ import annotations

from diffusers import (
    DDIMScheduler,
    DiffusionPipeline,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    PNDMScheduler,
)

_CLASSES = {
    "euler": EulerDiscreteScheduler,
    "ddim": DDIMScheduler,
    "dpm++2m": DPMSolverMultistepScheduler,
    "pndm": PNDMScheduler,
}


def set_scheduler(pipeline: DiffusionPipeline, name: str) -> None:
    """`default` keeps whatever the model shipped with; a pipeline without one (VAE, GAN) is left as is."""
    if name == "default" or getattr(pipeline, "scheduler", None) is None:
        return
    scheduler_class = _CLASSES[name]
    if not isinstance(pipeline.scheduler, scheduler_class):
        pipeline.scheduler = scheduler_class.from_config(pipeline.scheduler.config)
