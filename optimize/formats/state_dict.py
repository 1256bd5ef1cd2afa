"""The default format: each torch component's weights as safetensors, same architecture."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diffusers import DiffusionPipeline
from safetensors.torch import load_file

from optimize.components import component_dtypes, torch_components
from optimize.formats.base import VariantFormat, register_format
from optimize.formats.names import DEFAULT_FORMAT
from optimize.formats.tensor_file import save_tensors

if TYPE_CHECKING:
    from optimize.passes.base import BuildContext
    from optimize.recipe import Recipe


@register_format
class StateDictFormat(VariantFormat):
    name = DEFAULT_FORMAT

    def save(self, pipeline: DiffusionPipeline, folder: Path, recipe: Recipe) -> dict[str, Any]:
        for name, module in torch_components(pipeline).items():
            # Streamed tensor by tensor: no clone, no bytes copy of the whole component.
            save_tensors(module.state_dict(), folder / f"{name}.safetensors")
        return {"dtypes": component_dtypes(pipeline)}

    def restore(
        self,
        base: DiffusionPipeline,
        folder: Path,
        manifest: dict[str, Any],
        recipe: Recipe,
        context: BuildContext,
    ) -> DiffusionPipeline:
        return load_weights(copy.deepcopy(base), folder)


def load_weights(pipeline: DiffusionPipeline, folder: Path) -> DiffusionPipeline:
    """Every torch component's weights from `<component>.safetensors`, in place, exactly."""
    for name, module in torch_components(pipeline).items():
        state = load_file(str(folder / f"{name}.safetensors"))
        # assign=True keeps the saved dtype (a bf16 variant stays bf16).
        module.load_state_dict(state, strict=True, assign=True)
    return pipeline
