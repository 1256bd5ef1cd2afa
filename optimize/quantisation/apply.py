"""Quantise the chosen Linear layers of one component, and count exactly what changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from optimize.quantisation.layers import quantised_layers, serialised_bytes
from optimize.quantisation.selection import is_plain_float_linear, select_linears

# (qualified name, float layer) -> None after quantising it in place, or a replacement module.
Quantiser = Callable[[str, torch.nn.Linear], torch.nn.Module | None]


@dataclass
class ComponentReport:
    quantised_layers: int = 0
    # Chosen layers the library refused, name -> why; they stay float and are reported.
    skipped_layers: dict[str, str] = field(default_factory=dict)
    # Linear layers outside the chosen groups (e.g. time embeddings for layers=attention).
    float_linear_layers: int = 0
    fp32_bytes: int = 0
    quantised_bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "quantised_layers": self.quantised_layers,
            "skipped_layers": dict(self.skipped_layers),
            "float_linear_layers": self.float_linear_layers,
            "fp32_bytes": self.fp32_bytes,
            "quantised_bytes": self.quantised_bytes,
        }


class QuantisationMismatch(RuntimeError):
    """A library reported success but the layer is not quantised: never report such a model."""


def _fp32_bytes(layer: torch.nn.Linear) -> int:
    return sum(p.numel() for p in layer.parameters()) * 4


def _replace(root: torch.nn.Module, name: str, new: torch.nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, new)


def quantise_component(module: torch.nn.Module, layers: str, quantiser: Quantiser) -> ComponentReport:
    report = ComponentReport()
    already = set(quantised_layers(module))
    done = 0
    for name, layer in select_linears(module, layers):
        fp32 = _fp32_bytes(layer)
        try:
            replacement = quantiser(name, layer)
        except (RuntimeError, ValueError, AssertionError, NotImplementedError) as error:
            report.skipped_layers[name] = f"{type(error).__name__}: {error}".splitlines()[0]
            continue
        if replacement is not None:
            _replace(module, name, replacement)
        report.fp32_bytes += fp32
        done += 1
    found = quantised_layers(module)
    new = {name: kind for name, kind in found.items() if name not in already}
    # Count from what the model now holds, not from what was attempted; they must agree.
    if len(new) != done:
        raise QuantisationMismatch(f"quantised {done} layer(s) but the model now holds {len(new)} new ones")
    report.quantised_layers = len(new)
    report.quantised_bytes = sum(serialised_bytes(module.get_submodule(name)) for name in new)
    report.float_linear_layers = sum(1 for layer in module.modules() if is_plain_float_linear(layer))
    return report
