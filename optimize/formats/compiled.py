"""`compiled/1`: a compiled variant's weights (safetensors, same architecture) and its compile
settings; restore loads the weights, compiles again and warms up (inside build_s)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diffusers import DiffusionPipeline

from optimize.components import component_dtypes, to_device, torch_components
from optimize.export.compiled import compile_pipeline, uncompiled_state, warm_up
from optimize.formats.base import VariantFormat, register_format
from optimize.formats.names import COMPILED_FORMAT
from optimize.formats.state_dict import StateDictFormat
from optimize.formats.tensor_file import save_tensors
from optimize.passes.base import BuildContext

if TYPE_CHECKING:
    from optimize.recipe import Recipe


@register_format
class CompiledFormat(VariantFormat):
    name = COMPILED_FORMAT

    def save(self, pipeline: DiffusionPipeline, folder: Path, recipe: Recipe) -> dict[str, Any]:
        for name, module in torch_components(pipeline).items():
            save_tensors(uncompiled_state(module), folder / f"{name}.safetensors")
        return {"dtypes": component_dtypes(pipeline)}

    def restore(
        self,
        base: DiffusionPipeline,
        folder: Path,
        manifest: dict[str, Any],
        recipe: Recipe,
        context: BuildContext,
    ) -> DiffusionPipeline:
        # The device and workloads of this run (cuda:1 stays cuda:1), not the first build's.
        pipeline = StateDictFormat().restore(base, folder, manifest, recipe, context)
        settings = manifest["checks"]["compile"]
        to_device(pipeline, context.device)
        started = time.perf_counter()
        compile_pipeline(pipeline, settings["mode"], settings["dynamic"])
        warm = warm_up(pipeline, context.device, context.warmups)
        # What this load's compile cost (the manifest keeps the first build's figure).
        pipeline.compile_reload = {**warm, "compile_s": time.perf_counter() - started}
        return pipeline
