"""Pruned variants: the real (pruned) structure as JSON plus every component's weights.

See optimize/pruning/persist.py for the layout. A stale config never reshapes anything: the
original architecture is rebuilt from the model, then reshaped to the recorded structure.
The structure alone is offered to formats that store other weights on a pruned model
(quantised.py: int8 after prune).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from diffusers import DiffusionPipeline

from optimize.formats.base import VariantFormat, register_format
from optimize.formats.names import PRUNED_FORMAT
from optimize.formats.state_dict import StateDictFormat
from optimize.pruning.persist import rebuild_pruned_structure, restore_pruned_structure, save_pruned_structure

if TYPE_CHECKING:
    from optimize.passes.base import BuildContext
    from optimize.recipe import Recipe


@register_format
class PrunedFormat(VariantFormat):
    name = PRUNED_FORMAT
    offers_structure = True

    def save(self, pipeline: DiffusionPipeline, folder: Path, recipe: Recipe) -> dict[str, Any]:
        # Weights exactly as the plain format writes them (safetensors, dtypes kept).
        summary = StateDictFormat().save(pipeline, folder, recipe)
        summary.update(self.save_structure(pipeline, folder, recipe))
        return summary

    def save_structure(self, pipeline: DiffusionPipeline, folder: Path, recipe: Recipe) -> dict[str, Any]:
        return save_pruned_structure(pipeline, folder, recipe)

    def skeleton(self, base: DiffusionPipeline, folder: Path) -> DiffusionPipeline:
        return rebuild_pruned_structure(base, folder)

    def restore(
        self,
        base: DiffusionPipeline,
        folder: Path,
        manifest: dict[str, Any],
        recipe: Recipe,
        context: BuildContext,
    ) -> DiffusionPipeline:
        return restore_pruned_structure(base, folder, manifest)
