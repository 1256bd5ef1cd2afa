"""The on-disk layout of a pruned variant, and how to bring one back.

    <folder>/pruned_structure.json   {"schema": 1, "modules": {path: describe(module)}}
    <folder>/<component>.safetensors  every torch component's state dict, dtypes as they are

`path` is where a pruned module lives: "unet", "vae.decoder", "text_encoder". The structure
file, not the model's config (which still describes the unpruned architecture), is what
reshapes a fresh copy of the original model on reload. Formats that store other weights for a
pruned model (int8 after prune) call `save_pruned_structure` and `rebuild_pruned_structure`
and keep this file name and schema.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diffusers import DiffusionPipeline
from safetensors.torch import load_file
from torch import nn

from optimize.components import torch_components
from optimize.errors import PassError
from optimize.pruning.structure import check_matches, describe, rebuild
from optimize.pruning.targets import targets_for

if TYPE_CHECKING:
    from optimize.recipe import Recipe

STRUCTURE_FILE = "pruned_structure.json"
STRUCTURE_SCHEMA = 1


def module_at(pipeline: DiffusionPipeline, path: str) -> nn.Module:
    component, *attributes = path.split(".")
    module = pipeline.components.get(component)
    for attribute in attributes:
        module = getattr(module, attribute, None)
    if not isinstance(module, nn.Module):
        raise PassError(f"pruned structure: the pipeline has no module at {path!r}")
    return module


def pruned_paths(pipeline: DiffusionPipeline, recipe: Recipe) -> list[str]:
    """The module paths the recipe's prune passes cut, in recipe order."""
    paths: list[str] = []
    for step in recipe.passes:
        if step.name == "prune":
            for target in targets_for(pipeline, step.arguments["scope"]):
                if target.path not in paths:
                    paths.append(target.path)
    return paths


def save_pruned_structure(pipeline: DiffusionPipeline, folder: Path, recipe: Recipe) -> dict[str, Any]:
    """Write pruned_structure.json for the recipe's pruned modules; returns the manifest's summary."""
    modules = {path: describe(module_at(pipeline, path)) for path in pruned_paths(pipeline, recipe)}
    staging = folder / f".{STRUCTURE_FILE}.tmp"
    staging.write_text(json.dumps({"schema": STRUCTURE_SCHEMA, "modules": modules}, indent=1))
    os.replace(staging, folder / STRUCTURE_FILE)
    return {"pruned_modules": sorted(modules)}


def read_pruned_structure(folder: Path) -> dict[str, Any]:
    try:
        document = json.loads((folder / STRUCTURE_FILE).read_text())
    except (OSError, ValueError) as error:
        raise PassError(f"pruned variant in {folder}: unreadable {STRUCTURE_FILE} ({error})") from error
    if document.get("schema") != STRUCTURE_SCHEMA:
        raise PassError(
            f"pruned variant in {folder}: {STRUCTURE_FILE} schema {document.get('schema')!r} != 1"
        )
    return document["modules"]


def rebuild_pruned_structure(base: DiffusionPipeline, folder: Path) -> DiffusionPipeline:
    """A copy of `base` reshaped to the saved structure; reshaped tensors are uninitialised."""
    pipeline = copy.deepcopy(base)
    for path, description in read_pruned_structure(folder).items():
        rebuild(module_at(pipeline, path), description)
    return pipeline


def restore_pruned_structure(
    base: DiffusionPipeline, folder: Path, manifest: dict[str, Any]
) -> DiffusionPipeline:
    """The pruned pipeline: structure from pruned_structure.json, weights from the safetensors files."""
    structure = read_pruned_structure(folder)
    pipeline = rebuild_pruned_structure(base, folder)
    for name, module in torch_components(pipeline).items():
        # assign=True keeps the saved dtype (prune(0.3)+bf16 stays bf16) and the saved storage.
        module.load_state_dict(load_file(str(folder / f"{name}.safetensors")), strict=True, assign=True)
    for path, description in structure.items():
        check_matches(module_at(pipeline, path), description)
    return pipeline
