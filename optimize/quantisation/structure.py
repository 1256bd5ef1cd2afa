"""A structural pass before quantisation (prune): save and rebuild its structure, not its weights.

The quantised format stores every tensor itself, so of an earlier structural format it only
needs the structure: the pruned format's `pruned_structure.json` (optimize/pruning/persist.py
documents that later formats reuse it). Other structural formats are refused until they
offer the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from diffusers import DiffusionPipeline

from optimize.components import torch_components
from optimize.quantisation import QUANTISED_FORMAT
from optimize.quantisation.layers import quantised_layers
from optimize.quantisation.selection import replace_submodule

if TYPE_CHECKING:
    from optimize.passes.base import Pass
    from optimize.recipe import Recipe

PRUNED_FORMAT = "pruned/1"  # optimize.pruning.persist.PRUNED_FORMAT, without importing torch-pruning here


def structural_format(passes: list[Pass] | tuple[Pass, ...]) -> str | None:
    """The format of the last pass that set one, unless it keeps the original architecture."""
    # Imported here: optimize.formats imports this module (through the quantised format).
    from optimize.formats.names import DEFAULT_FORMAT

    previous = next((p.output_format for p in reversed(passes) if p.output_format is not None), None)
    return None if previous in (None, DEFAULT_FORMAT, QUANTISED_FORMAT) else previous


def structure_reason(pass_name: str, earlier: list[Pass]) -> str | None:
    found = structural_format(earlier)
    if found is None or found == PRUNED_FORMAT:
        return None
    return (
        f"{pass_name} after a pass saved as {found!r}: that format offers no structure-only save, "
        "so a quantised variant of it could not be reloaded"
    )


def prefix_before_quantisation(recipe: Recipe) -> Recipe:
    from optimize.quantisation.pass_base import QuantisationPass

    passes = recipe.passes
    first = next((i for i, p in enumerate(passes) if isinstance(p, QuantisationPass)), len(passes))
    return type(recipe)(passes[:first])


@contextlib.contextmanager
def float_view(pipeline: DiffusionPipeline) -> Iterator[DiffusionPipeline]:
    """Quantised layers temporarily replaced by meta-device nn.Linear of the same shape.

    A structure describer then sees the architecture as it was before quantisation
    (types and widths), without copying any weights.
    """
    swapped: list[tuple[torch.nn.Module, str, torch.nn.Module]] = []
    try:
        for module in torch_components(pipeline).values():
            for name in quantised_layers(module):
                layer = module.get_submodule(name)
                stand_in = torch.nn.Linear(
                    layer.in_features, layer.out_features, bias=layer.bias is not None, device="meta"
                )
                replace_submodule(module, name, stand_in)
                swapped.append((module, name, layer))
        yield pipeline
    finally:
        for module, name, layer in reversed(swapped):
            replace_submodule(module, name, layer)


def save_structure(pipeline: DiffusionPipeline, folder: Path, recipe: Recipe) -> dict[str, object]:
    prefix = prefix_before_quantisation(recipe)
    found = structural_format(prefix.passes)
    if found is None:
        return {}
    from optimize.pruning.persist import save_pruned_structure

    with float_view(pipeline) as view:
        summary = save_pruned_structure(view, folder, prefix)
    return {"structure_format": found, **summary}


def skeleton(base: DiffusionPipeline, folder: Path, manifest: dict[str, object]) -> DiffusionPipeline:
    """A copy of the model with the saved structure (weights still to be loaded)."""
    import copy

    if manifest.get("structure_format") != PRUNED_FORMAT:
        return copy.deepcopy(base)
    from optimize.pruning.persist import rebuild_pruned_structure

    return rebuild_pruned_structure(base, folder)
