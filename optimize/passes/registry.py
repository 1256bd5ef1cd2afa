"""Name -> pass class. Pass modules register themselves on import."""

from __future__ import annotations

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
