"""fp32 (the baseline), fp16 and bf16: cast every torch component of the pipeline."""

from __future__ import annotations

from typing import ClassVar

import torch
from diffusers import DiffusionPipeline

from optimize.components import torch_components
from optimize.passes.base import BuildContext, Pass
from optimize.passes.registry import register

# bf16 arithmetic in hardware starts with Ampere (sm_80). Older cards (Turing, sm_75) run bf16
# tensors through emulation, which torch.cuda.is_bf16_supported() counts as support.
BF16_MIN_CAPABILITY = (8, 0)


def bf16_unsupported_reason(capability: tuple[int, int], name: str) -> str | None:
    """Why a CUDA device of this compute capability cannot run bf16 natively, or None if it can."""
    if tuple(capability) >= BF16_MIN_CAPABILITY:
        return None
    major, minor = capability
    return (
        f"bf16 needs compute capability 8.0+ (Ampere or newer); {name} is {major}.{minor}, "
        "where bf16 is only emulated"
    )


class _DtypeCast(Pass):
    dtype: ClassVar[torch.dtype]

    def unsupported_reason(self, device: torch.device, earlier: list[Pass]) -> str | None:
        clash = [p.name for p in earlier if p.sets_dtype is not None]
        if clash:
            return f"{self.name} after {clash[0]}: a recipe sets the compute dtype once"
        return None

    def apply(self, pipeline: DiffusionPipeline, context: BuildContext) -> DiffusionPipeline:
        for module in torch_components(pipeline).values():
            # nn.Module.to, not ModelMixin.to: the latter warns on every cast of a built model.
            torch.nn.Module.to(module, dtype=self.dtype)
        return pipeline


@register
class Fp32(_DtypeCast):
    name = "fp32"
    summary = "the baseline: every component in float32"
    dtype = torch.float32
    sets_dtype = torch.float32


@register
class Fp16(_DtypeCast):
    name = "fp16"
    summary = "every component cast to float16"
    dtype = torch.float16
    sets_dtype = torch.float16
    tune_stage = "dtype"  # no arguments: the default grid ({},) is the pass itself


@register
class Bf16(_DtypeCast):
    name = "bf16"
    summary = "every component cast to bfloat16"
    dtype = torch.bfloat16
    sets_dtype = torch.bfloat16
    tune_stage = "dtype"

    def unsupported_reason(self, device: torch.device, earlier: list[Pass]) -> str | None:
        if device.type == "cuda":
            # The device the variant is built for, not the current one (is_bf16_supported's).
            capability = torch.cuda.get_device_capability(device)
            reason = bf16_unsupported_reason(capability, torch.cuda.get_device_name(device))
            if reason:
                return reason
        return super().unsupported_reason(device, earlier)
