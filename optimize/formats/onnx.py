"""`onnx/1`: each exported component as its graph file(s) (ONNX + external data, or a TensorRT
engine) with the settings to run it; torch components left over as safetensors.

Every file is listed with its sha256 in the manifest by the cache, so a truncated or
corrupted graph is detected on load and the entry rebuilt.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from diffusers import DiffusionPipeline
from safetensors.torch import load_file

from optimize.components import torch_components
from optimize.export.build import SessionSettings, open_component
from optimize.export.modules import exported_components
from optimize.export.pipelines import pipeline_with
from optimize.formats.base import VariantFormat, register_format
from optimize.formats.names import ONNX_FORMAT
from optimize.formats.tensor_file import save_tensors

if TYPE_CHECKING:
    from optimize.passes.base import BuildContext
    from optimize.recipe import Recipe


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the cache shares the build's file system (no 3.4 GB copy), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@register_format
class OnnxFormat(VariantFormat):
    name = ONNX_FORMAT

    def save(self, pipeline: DiffusionPipeline, folder: Path, recipe: Recipe) -> dict[str, Any]:
        graphs: dict[str, Any] = {}
        for name, part in exported_components(pipeline).items():
            target = folder / name
            target.mkdir()
            for source in sorted(p for p in part.onnx_path.parent.iterdir() if p.is_file()):
                _link_or_copy(source, target / source.name)
            graphs[name] = {"file": f"{name}/{part.onnx_path.name}", "settings": part.settings.to_json()}
        leftovers = {}
        for name, module in torch_components(pipeline).items():
            if name in graphs:
                continue
            save_tensors(module.state_dict(), folder / f"{name}.safetensors")
            leftovers[name] = f"{name}.safetensors"
        return {"graphs": graphs, "torch_components": leftovers}

    def restore(
        self,
        base: DiffusionPipeline,
        folder: Path,
        manifest: dict[str, Any],
        recipe: Recipe,
        context: BuildContext,
    ) -> DiffusionPipeline:
        # Sessions and engines on the device this run was given (cuda:1), not the current one.
        return self._open(base, folder, manifest, context.device)

    def _open(
        self, base: DiffusionPipeline, folder: Path, manifest: dict[str, Any], device: torch.device
    ) -> DiffusionPipeline:
        replacements: dict[str, torch.nn.Module] = {}
        for name, item in manifest["graphs"].items():
            settings = SessionSettings(**item["settings"])
            config = getattr(base, name).config
            replacements[name] = open_component(name, folder / item["file"], config, device, settings)
        for name, file in manifest.get("torch_components", {}).items():
            module = copy.deepcopy(getattr(base, name))
            module.load_state_dict(load_file(str(folder / file)), strict=True, assign=True)
            replacements[name] = module
        return pipeline_with(base, **replacements)
