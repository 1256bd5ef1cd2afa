"""Name -> pass class. Every module of optimize/passes registers its passes (`@register`) and is
found on the first lookup (optimize/plugins.py): a new pass is one file there, plus its test."""

from __future__ import annotations

import torch

from optimize.cpu_features import emulated_dtype_note
from optimize.errors import RecipeError
from optimize.passes.base import Pass
from optimize.plugins import DiscoveredRegistry

PASSES: DiscoveredRegistry[type[Pass]] = DiscoveredRegistry("optimize.passes")


def register(cls: type[Pass]) -> type[Pass]:
    PASSES.add(cls.name, cls)
    return cls


def pass_class(name: str) -> type[Pass]:
    try:
        return PASSES[name]
    except KeyError:
        known = ", ".join(sorted(PASSES))
        raise RecipeError(f"unknown pass {name!r}: known passes are {known}") from None


def emulation_note(cls: type[Pass], device: torch.device, flags: frozenset[str] | None = None) -> str | None:
    """Why `device` runs the pass only by emulating its compute dtype (bf16/fp16 on a CPU without
    native arithmetic for it), or None. Such a pass still runs when named; it is not "available
    here" for the default variant set, where it would take several times fp32's time."""
    if cls.sets_dtype is None:
        return None
    return emulated_dtype_note(cls.sets_dtype, device, flags)
