"""`compile`: torch.compile (inductor) of the UNet and VAE decoder; compile time is build time."""

from __future__ import annotations

import torch
from diffusers import DiffusionPipeline

from optimize.components import to_device
from optimize.errors import PassUnsupported
from optimize.export.compiled import MODES, compile_pipeline, compiled_modules, warm_up
from optimize.formats.names import COMPILED_FORMAT
from optimize.passes.base import BuildContext, Param, Pass
from optimize.passes.registry import register


@register
class Compile(Pass):
    name = "compile"
    in_default_suite = False
    summary = "torch.compile (inductor) of UNet and VAE decoder, warmed up in the build"
    params = (
        Param("mode", str, "default", choices=MODES),
        Param("dynamic", bool, False),
    )
    output_format = COMPILED_FORMAT
    # The default mode only: max-autotune-no-cudagraphs benchmarks kernel choices on top of a
    # build that is already about a minute per graph on a CPU, and reduce-overhead (CUDA graphs)
    # is refused everywhere but CUDA; both stay a recipe away for a user who asks.
    tune_stage = "runtime"

    def unsupported_reason(self, device: torch.device, earlier: list[Pass]) -> str | None:
        for step in earlier:
            if step.name in ("onnx", "ort", "ort-int8", "trt", "compile"):
                return f"compile after {step.name}: compile works on the torch modules, so it goes last"
        if self.arguments["mode"] == "reduce-overhead" and device.type != "cuda":
            return "compile(mode=reduce-overhead) uses CUDA graphs; this run is on the CPU"
        return None

    def apply(self, pipeline: DiffusionPipeline, context: BuildContext) -> DiffusionPipeline:
        modules = compiled_modules(pipeline)
        if not modules or None in modules.values():
            raise PassUnsupported(
                f"compile covers a diffusion pipeline's UNet and VAE decoder; {type(pipeline).__name__} "
                f"has {', '.join(pipeline.components) or 'no components'}"
            )
        # The build moves the pipeline to its device after the passes; compile must see it there.
        to_device(pipeline, context.device)
        compile_pipeline(pipeline, self.arguments["mode"], self.arguments["dynamic"])
        context.checks["compile"] = {
            "mode": self.arguments["mode"],
            "dynamic": self.arguments["dynamic"],
            **warm_up(pipeline, context.device, context.warmups),
        }
        return pipeline
