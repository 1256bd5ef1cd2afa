"""Name -> pass class. Pass modules register themselves on import."""

from __future__ import annotations

import torch

from optimize.cpu_features import emulated_dtype_note
from optimize.errors import RecipeError
from optimize.passes.base import Pass

PASSES: dict[str, type[Pass]] = {}


def register(cls: type[Pass]) -> type[Pass]:
    PASSES[cls.name] = cls
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
