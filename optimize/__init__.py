"""Passes, recipes, variants and the variant cache."""

from optimize.cache import VariantCache, default_cache_root
from optimize.errors import PassError, PassUnsupported, RecipeError
from optimize.passes import PASSES
from optimize.recipe import BASELINE, Recipe, canonical_recipe, parse_recipe
from optimize.variant import Variant, build_variant, library_versions

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
