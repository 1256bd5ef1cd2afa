"""How a built variant is written to the cache and read back.

A pass whose output can't be captured as plain weights of the original architecture
(pruned shapes, quantised tensors, ONNX graphs, engines) names its own format with
`Pass.output_format`; the recipe's format is the last one its passes name. A format's
`restore` gets the recipe.

Formats compose rather than import each other: a structural format (pruned shapes) offers
its structure alone (`offers_structure`, `save_structure`, `skeleton`), and a format that
stores other weights on top of it (quantised tensors after prune) asks the registry for the
format of the passes before it and uses that.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from diffusers import DiffusionPipeline

from optimize.errors import PassError
from optimize.plugins import DiscoveredRegistry

if TYPE_CHECKING:
    from optimize.passes.base import BuildContext
    from optimize.recipe import Recipe


class VariantFormat(ABC):
    name: ClassVar[str]
    # Can write the model's structure alone and rebuild it (save_structure / skeleton).
    offers_structure: ClassVar[bool] = False

    @abstractmethod
    def save(self, pipeline: DiffusionPipeline, folder: Path, recipe: Recipe) -> dict[str, Any]:
        """Write the artefacts into `folder`; return what the manifest should record about them."""

    @abstractmethod
    def restore(
        self,
        base: DiffusionPipeline,
        folder: Path,
        manifest: dict[str, Any],
        recipe: Recipe,
        context: BuildContext,
    ) -> DiffusionPipeline:
        """A runnable pipeline from the artefacts; `base` is the unmodified model (don't mutate it).
        `context` is this run's build context: its device (`cuda:1` stays `cuda:1`) and workloads."""

    def save_structure(self, pipeline: DiffusionPipeline, folder: Path, recipe: Recipe) -> dict[str, Any]:
        """Write the structure alone (no weights); return what the manifest should record about it."""
        raise PassError(f"variant format {self.name!r} offers no structure-only save")

    def skeleton(self, base: DiffusionPipeline, folder: Path) -> DiffusionPipeline:
        """A copy of `base` with the structure `save_structure` wrote; its weights are still to load."""
        raise PassError(f"variant format {self.name!r} offers no structure to rebuild")


# Every module of optimize/formats registers its format on import (optimize/plugins.py).
FORMATS: DiscoveredRegistry[VariantFormat] = DiscoveredRegistry("optimize.formats")


def register_format(cls: type[VariantFormat]) -> type[VariantFormat]:
    FORMATS.add(cls.name, cls())
    return cls


def get_format(name: str) -> VariantFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise PassError(f"unknown variant format {name!r}; known: {', '.join(FORMATS)}") from None
