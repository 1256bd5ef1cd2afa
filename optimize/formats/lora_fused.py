"""`lora-fused/1`: plain weights (as the default format) restored onto the source model without
its LoRA layers: the source still carries the adapter layers (it was loaded with `--lora`), so
restoring means copying it, removing those layers, then loading the fused weights."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diffusers import DiffusionPipeline

from optimize.formats.base import VariantFormat, register_format
from optimize.formats.names import LORA_FUSED_FORMAT
from optimize.formats.state_dict import StateDictFormat, load_weights
from optimize.passes.lora_fuse import loaded_adapters

if TYPE_CHECKING:
    from optimize.passes.base import BuildContext
    from optimize.recipe import Recipe


@register_format
class LoraFusedFormat(VariantFormat):
    name = LORA_FUSED_FORMAT

    def save(self, pipeline: DiffusionPipeline, folder: Path, recipe: Recipe) -> dict[str, Any]:
        return StateDictFormat().save(pipeline, folder, recipe)

    def restore(
        self,
        base: DiffusionPipeline,
        folder: Path,
        manifest: dict[str, Any],
        recipe: Recipe,
        context: BuildContext,
    ) -> DiffusionPipeline:
        pipeline = copy.deepcopy(base)
        if loaded_adapters(pipeline):
            pipeline.unload_lora_weights()
        return load_weights(pipeline, folder)
