"""`lora-fuse`: merge the loaded LoRA adapters into the base weights, then drop the adapter layers.

An unfused LoRA runs two extra small matmuls beside every adapted projection on every call;
fused, the model is the plain architecture again (the same speed as without a LoRA) at the
cost of re-fusing to change the scale. The suite times both: the baseline of a model loaded
with `--lora` is the unfused one, and `lora-fuse` is the fused one, with PSNR between them.

The fused variant is cached in its own format (optimize/formats/lora_fused.py).
"""

from __future__ import annotations

import torch
from diffusers import DiffusionPipeline

from optimize.errors import PassUnsupported
from optimize.formats.names import LORA_FUSED_FORMAT
from optimize.passes.base import BuildContext, Pass
from optimize.passes.registry import register


def loaded_adapters(pipeline: DiffusionPipeline) -> dict[str, list[str]]:
    """component -> LoRA adapter names loaded on it (empty when none, or no LoRA support)."""
    get_list = getattr(pipeline, "get_list_adapters", None)
    if get_list is None:
        return {}
    try:
        return {name: list(names) for name, names in get_list().items() if names}
    except ValueError:  # diffusers raises when the peft backend is missing
        return {}


def _lora_layer_count(pipeline: DiffusionPipeline) -> int:
    from peft.tuners.tuners_utils import BaseTunerLayer

    modules = (part for part in pipeline.components.values() if isinstance(part, torch.nn.Module))
    return sum(isinstance(layer, BaseTunerLayer) for module in modules for layer in module.modules())


@register
class LoraFuse(Pass):
    name = "lora-fuse"
    summary = "fuse the loaded LoRA adapters into the weights (fuse_lora), then unload the adapter layers"
    output_format = LORA_FUSED_FORMAT
    # Meaningful only for a model loaded with --lora; asked for by name.
    in_default_suite = False

    def unsupported_reason(self, device: torch.device, earlier: list[Pass]) -> str | None:
        structural = [p.name for p in earlier if p.sets_dtype is None]
        if structural:
            return f"lora-fuse after {structural[0]}: fuse the LoRA first (only a dtype pass may come before)"
        return None

    def refuses_later(self, later: Pass) -> str | None:
        if later.output_format is not None and later.output_format != LORA_FUSED_FORMAT:
            return (
                f"{later.name} after lora-fuse: its cached format restores from the unfused model; "
                "only dtype passes may follow lora-fuse"
            )
        return None

    def apply(self, pipeline: DiffusionPipeline, context: BuildContext) -> DiffusionPipeline:
        adapters = loaded_adapters(pipeline)
        if not adapters:
            raise PassUnsupported(
                f"lora-fuse: {type(pipeline).__name__} has no LoRA loaded (run the suite with --lora FILE)"
            )
        layers = _lora_layer_count(pipeline)
        # The scales set when loading (set_adapters) are already in the layers; lora_scale multiplies them.
        pipeline.fuse_lora(components=list(adapters), lora_scale=1.0)
        pipeline.unload_lora_weights()  # the merged weights stay; the adapter layers go
        left = _lora_layer_count(pipeline)
        if left:
            raise PassUnsupported(f"lora-fuse: {left} LoRA layers were still present after unloading")
        context.checks["lora_fuse"] = {"components": adapters, "fused_layers": layers}
        return pipeline
