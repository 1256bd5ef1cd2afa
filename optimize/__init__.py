"""Passes, recipes, variants and the variant cache."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from optimize.errors import PassError, PassUnsupported, RecipeError

if TYPE_CHECKING:
    from optimize.cache import VariantCache, default_cache_root
    from optimize.passes import PASSES
    from optimize.recipe import BASELINE, Recipe, canonical_recipe, parse_recipe
    from optimize.variant import Variant, build_variant, library_versions

# Loaded on first use (PEP 562): the recipe and the variant import torch and diffusers (seconds),
# which the commands that only read the cache's files (`diffbench cache ls`) or only catch
# PassError (bench's option checks) must not pay by importing optimize.
_LAZY = {
    "VariantCache": "optimize.cache",
    "default_cache_root": "optimize.cache",
    "PASSES": "optimize.passes",
    "BASELINE": "optimize.recipe",
    "Recipe": "optimize.recipe",
    "canonical_recipe": "optimize.recipe",
    "parse_recipe": "optimize.recipe",
    "Variant": "optimize.variant",
    "build_variant": "optimize.variant",
    "library_versions": "optimize.variant",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'optimize' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "BASELINE",
    "PASSES",
    "PassError",
    "PassUnsupported",
    "Recipe",
    "RecipeError",
    "Variant",
    "VariantCache",
    "build_variant",
    "canonical_recipe",
    "default_cache_root",
    "library_versions",
    "parse_recipe",
]
