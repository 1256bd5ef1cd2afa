"""Save and restore a variant's weights as safetensors, one file per torch component."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from diffusers import DiffusionPipeline
from safetensors.torch import load_file, save_file

from optimize.passes.dtype_cast import torch_components

STATE_DICT_FORMAT = "state_dict/1"


def save_state(pipeline: DiffusionPipeline, folder: Path) -> None:
    for name, module in torch_components(pipeline).items():
        # clone: safetensors refuses tensors that share storage (views, tied weights).
        tensors = {key: value.detach().contiguous().clone() for key, value in module.state_dict().items()}
        save_file(tensors, str(folder / f"{name}.safetensors"))


def restore_state(base: DiffusionPipeline, folder: Path) -> DiffusionPipeline:
    """A copy of the base pipeline carrying the saved weights, dtypes included."""
    pipeline = copy.deepcopy(base)
    for name, module in torch_components(pipeline).items():
        state = load_file(str(folder / f"{name}.safetensors"))
        # assign=True keeps the saved dtype (a bf16 variant stays bf16).
        module.load_state_dict(state, strict=True, assign=True)
    return pipeline


def component_dtypes(pipeline: DiffusionPipeline) -> dict[str, str]:
    dtypes: dict[str, str] = {}
    for name, module in torch_components(pipeline).items():
        first = next(module.parameters(), None)
        dtypes[name] = str(first.dtype).removeprefix("torch.") if first is not None else "none"
    return dtypes


def count_parameters(pipeline: DiffusionPipeline) -> int:
    return sum(p.numel() for module in torch_components(pipeline).values() for p in module.parameters())


def to_device(pipeline: DiffusionPipeline, device: torch.device) -> DiffusionPipeline:
    for module in torch_components(pipeline).values():
        torch.nn.Module.to(module, device=device)
    return pipeline
