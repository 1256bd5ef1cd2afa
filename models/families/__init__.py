"""The model families, registered once: every module in this folder is imported, and each
class decorated with `@register` becomes the one instance of its family.

A new family is one file here (a `ModelFamily` subclass with `@register`) plus its test;
nothing outside models/ changes.
"""

from __future__ import annotations

import importlib
import pkgutil

from diffusers import DiffusionPipeline

from models.errors import ModelError
from models.families.base import REGISTERED as _FAMILIES
from models.families.base import ModelFamily, register
from models.registry import ModelSpec


def families() -> list[ModelFamily]:
    return list(_FAMILIES.values())


def family_named(name: str) -> ModelFamily:
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ModelError(
            f"unknown model family {name!r}: known families are {', '.join(_FAMILIES)}"
        ) from None


def family_of(pipeline: DiffusionPipeline) -> ModelFamily:
    """The family of a built pipeline, whatever it was loaded from (registry, folder) or turned
    into by a pass: the one that claims it, else the fallback (text-to-image)."""
    for family in _FAMILIES.values():
        if not family.fallback and family.claims(pipeline):
            return family
    return _fallback()


def family_for_spec(spec: ModelSpec) -> ModelFamily:
    for family in _FAMILIES.values():
        if family.describes(spec):
            return family
    raise ModelError(f"model {spec.name!r} has family {spec.family!r}, which no registered family describes")


def prune_scope_names() -> tuple[str, ...]:
    """Every pruning scope some family declares, first declared first: what a recipe's
    `prune(scope=...)` may name before any pipeline is at hand."""
    names: dict[str, None] = {}
    for family in _FAMILIES.values():
        names.update(dict.fromkeys(family.prune_scopes))
    return tuple(names)


def _fallback() -> ModelFamily:
    (fallback,) = (family for family in _FAMILIES.values() if family.fallback)
    return fallback


def _discover() -> None:
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda found: found.name):
        importlib.import_module(f"{__name__}.{module.name}")


_discover()

__all__ = [
    "ModelFamily",
    "families",
    "family_for_spec",
    "family_named",
    "family_of",
    "prune_scope_names",
    "register",
]
