"""The pipeline a build's passes work on: a deep copy of the source only when a pass needs one.

Passes that change torch modules in place (dtype casts, quantisation, pruning, compile) get a
deep copy, so the source model stays as it was. Passes that only read the torch modules and
swap in new ones (the exports: onnx, ort, ort-int8, trt) get a shallow pipeline sharing the
source's modules: a deep copy there doubled the weights resident during the build (4.3 GB more
for sd15) for nothing the export needs.
"""

from __future__ import annotations

import copy

from diffusers import DiffusionPipeline

from optimize.export.pipelines import pipeline_with
from optimize.recipe import Recipe


def keeps_source_modules(recipe: Recipe) -> bool:
    """True when no pass of the recipe changes a torch module it is given (`reads_torch_modules_only`)."""
    return all(getattr(step, "reads_torch_modules_only", False) for step in recipe.passes)


def working_copy(pipeline: DiffusionPipeline, recipe: Recipe) -> DiffusionPipeline:
    if keeps_source_modules(recipe) and "scheduler" in pipeline.components:
        return pipeline_with(pipeline)
    return copy.deepcopy(pipeline)
