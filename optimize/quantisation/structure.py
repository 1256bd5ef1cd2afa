"""A structural pass before quantisation (prune): which format holds that structure, and a view
of a quantised model that shows the structure as it was before quantising.

The quantised format stores every tensor itself, so of an earlier structural format it only
needs the structure, which that format offers alone (`VariantFormat.offers_structure`: the
pruned format's `pruned_structure.json`). Structural formats that offer none are refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from diffusers import DiffusionPipeline

from optimize.components import torch_components
from optimize.formats.base import get_format
from optimize.formats.names import DEFAULT_FORMAT, QUANTISED_FORMAT
from optimize.quantisation.layers import quantised_layers
from optimize.quantisation.selection import replace_submodule

if TYPE_CHECKING:
    from optimize.passes.base import Pass
    from optimize.recipe import Recipe


def structural_format(passes: list[Pass] | tuple[Pass, ...]) -> str | None:
    """The format of the last pass that set one, unless it keeps the original architecture."""
    previous = next((p.output_format for p in reversed(passes) if p.output_format is not None), None)
    return None if previous in (None, DEFAULT_FORMAT, QUANTISED_FORMAT) else previous


def structure_reason(pass_name: str, earlier: list[Pass]) -> str | None:
    found = structural_format(earlier)
    if found is None or get_format(found).offers_structure:
        return None
    return (
        f"{pass_name} after a pass saved as {found!r}: that format offers no structure-only save, "
        "so a quantised variant of it could not be reloaded"
    )


def prefix_before_quantisation(recipe: Recipe) -> Recipe:
    """The recipe's passes before its first quantisation pass (the ones whose output is quantised)."""
    passes = recipe.passes
    first = next((i for i, p in enumerate(passes) if p.output_format == QUANTISED_FORMAT), len(passes))
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
