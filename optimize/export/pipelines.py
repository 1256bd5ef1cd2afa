"""A pipeline that shares the base's modules but swaps some: no multi-GB deepcopy, base untouched."""

from __future__ import annotations

import copy
import inspect

import torch
from diffusers import DiffusionPipeline


def pipeline_with(pipeline: DiffusionPipeline, **replacements: torch.nn.Module) -> DiffusionPipeline:
    """Same class and components, `replacements` swapped in; the scheduler is copied because
    `set_timesteps` mutates it."""
    components = {**pipeline.components, **replacements}
    components["scheduler"] = copy.deepcopy(components["scheduler"])
    parameters = inspect.signature(type(pipeline).__init__).parameters
    extra = {}
    if "requires_safety_checker" in parameters:
        extra["requires_safety_checker"] = bool(pipeline.config.get("requires_safety_checker", False))
    return type(pipeline)(**components, **extra)
