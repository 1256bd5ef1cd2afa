"""How a built variant is written to the cache and read back.

A pass whose output can't be captured as plain weights of the original architecture
(pruned shapes, quantised tensors, ONNX graphs, engines) names its own format with
`Pass.output_format`; the recipe's format is the last one its passes name. A format's
`restore` gets the recipe, so a format used after a structural pass (e.g. int8 after
prune) can rebuild that structure before loading its own artefacts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from diffusers import DiffusionPipeline

from optimize.errors import PassError

if TYPE_CHECKING:
    from optimize.passes.base import BuildContext
    from optimize.recipe import Recipe


class VariantFormat(ABC):
    name: ClassVar[str]

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


FORMATS: dict[str, VariantFormat] = {}


def register_format(cls: type[VariantFormat]) -> type[VariantFormat]:
    FORMATS[cls.name] = cls()
    return cls


def get_format(name: str) -> VariantFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise PassError(f"unknown variant format {name!r}; known: {', '.join(FORMATS)}") from None
