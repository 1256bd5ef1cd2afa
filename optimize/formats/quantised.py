"""Quantised variants: every component's tensors as safetensors, quantised layers included.

Per torch component, `<component>.safetensors` holds the plain state dict of its float parts
and, for each quantised Linear, the plain tensors its kind flattens it into (see
optimize/quantisation/layers.py); the file's metadata maps each quantised layer to its kind
and description. Reloading rebuilds those layers from their saved tensors: nothing is
re-quantised, no pickle is involved. After a structural pass (prune) the format of that
pass saves its structure alone, which reshapes the model before the tensors are loaded.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from diffusers import DiffusionPipeline
from safetensors import safe_open

from optimize.components import component_dtypes, torch_components
from optimize.errors import PassError
from optimize.formats.base import VariantFormat, get_format, register_format
from optimize.formats.names import QUANTISED_FORMAT
from optimize.formats.tensor_file import save_tensors
from optimize.quantisation.layers import LAYER_KINDS, encode, quantised_layers
from optimize.quantisation.selection import replace_submodule
from optimize.quantisation.structure import float_view, prefix_before_quantisation, structural_format

if TYPE_CHECKING:
    from optimize.passes.base import BuildContext
    from optimize.recipe import Recipe

LAYERS_KEY = "diffbench_quantised_layers"
# The manifest's record of the format whose structure the quantised tensors were saved on.
STRUCTURE_KEY = "structure_format"


def _inside(key: str, layer_names: set[str]) -> str | None:
    """The quantised layer a state-dict key belongs to, if any."""
    parts = key.split(".")
    for end in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in layer_names:
            return prefix
    return None


def _component_tensors(module: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    layers = quantised_layers(module)
    tensors: dict[str, torch.Tensor] = {}
    descriptions: dict[str, Any] = {}
    for name, kind in layers.items():
        parts, description = kind.to_tensors(module.get_submodule(name))
        tensors.update({f"{name}.{key}": value for key, value in parts.items()})
        descriptions[name] = {"kind": kind.name, **description}
    for key, value in module.state_dict().items():
        if _inside(key, set(layers)) is None:
            # clone: safetensors refuses tensors that share storage (views, tied weights).
            tensors[key] = value.detach().contiguous().clone()
    return tensors, descriptions


@register_format
class QuantisedFormat(VariantFormat):
    name = QUANTISED_FORMAT

    def save(self, pipeline: DiffusionPipeline, folder: Path, recipe: Recipe) -> dict[str, Any]:
        summary = _save_structure(pipeline, folder, recipe)
        counts: dict[str, dict[str, int]] = {}
        for name, module in torch_components(pipeline).items():
            tensors, descriptions = _component_tensors(module)
            save_tensors(tensors, folder / f"{name}.safetensors", metadata={LAYERS_KEY: encode(descriptions)})
            kinds = [entry["kind"] for entry in descriptions.values()]
            if kinds:
                counts[name] = {kind: kinds.count(kind) for kind in sorted(set(kinds))}
        summary.update(dtypes=component_dtypes(pipeline), quantised_layer_kinds=counts)
        return summary

    def restore(
        self,
        base: DiffusionPipeline,
        folder: Path,
        manifest: dict[str, Any],
        recipe: Recipe,
        context: BuildContext,
    ) -> DiffusionPipeline:
        structure = manifest.get(STRUCTURE_KEY)
        pipeline = get_format(structure).skeleton(base, folder) if structure else copy.deepcopy(base)
        for name, module in torch_components(pipeline).items():
            _restore_component(module, folder / f"{name}.safetensors")
        return pipeline


def _save_structure(pipeline: DiffusionPipeline, folder: Path, recipe: Recipe) -> dict[str, Any]:
    """The structure of the passes before quantisation, saved by their own format (prune's)."""
    prefix = prefix_before_quantisation(recipe)
    found = structural_format(prefix.passes)
    if found is None:
        return {}
    with float_view(pipeline) as view:
        return {STRUCTURE_KEY: found, **get_format(found).save_structure(view, folder, prefix)}


def _restore_component(module: torch.nn.Module, path: Path) -> None:
    with safe_open(str(path), framework="pt") as handle:
        descriptions = json.loads((handle.metadata() or {}).get(LAYERS_KEY, "{}"))
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
    names = set(descriptions)
    plain = {key: value for key, value in tensors.items() if _inside(key, names) is None}
    # Float parts first, into the float model: what stays missing must be exactly the
    # quantised layers' own float parameters, which the rebuilt layers replace.
    result = module.load_state_dict(plain, strict=False, assign=True)
    expected = {f"{name}.{key}" for name in names for key, _ in module.get_submodule(name).named_parameters()}
    if result.unexpected_keys or set(result.missing_keys) != expected:
        extra = sorted(result.unexpected_keys) or sorted(set(result.missing_keys) ^ expected)
        raise PassError(f"quantised variant {path}: tensors do not match the model (e.g. {extra[:3]})")
    for name, description in descriptions.items():
        kind = LAYER_KINDS.get(description["kind"])
        if kind is None:
            raise PassError(f"quantised variant {path}: unknown layer kind {description['kind']!r}")
        own = {key[len(name) + 1 :]: value for key, value in tensors.items() if _inside(key, names) == name}
        replace_submodule(module, name, kind.rebuild(own, description))
