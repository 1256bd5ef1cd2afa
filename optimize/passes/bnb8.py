"""bnb8: bitsandbytes LLM.int8 (`Linear8bitLt`) in place of the chosen Linear layers.

Weights are int8 per row; activation columns with an outlier above `threshold` are computed
in float, the rest in int8 (threshold=0 disables the decomposition). The layers are swapped
directly (on CPU and CUDA alike): diffusers' BitsAndBytesConfig loading needs a GPU and a
from_pretrained checkpoint, which random-weight and already-built models are not.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from optimize.errors import RecipeError
from optimize.passes.base import Param
from optimize.passes.registry import register
from optimize.quantisation.apply import Quantiser
from optimize.quantisation.pass_base import QuantisationPass


@register
class Bnb8(QuantisationPass):
    name = "bnb8"
    summary = "bitsandbytes LLM.int8 Linear8bitLt (Linear layers)"
    library = "bitsandbytes"
    bits = 8
    params: ClassVar[tuple[Param, ...]] = (*QuantisationPass.params, Param("threshold", float, default=6.0))

    def __init__(self, **arguments: object) -> None:
        if float(arguments["threshold"]) < 0:  # type: ignore[arg-type]
            raise RecipeError(f"bnb8: threshold={arguments['threshold']!r} must be 0 (off) or more")
        super().__init__(**arguments)

    def quantiser(self, device: torch.device) -> Quantiser:
        from bitsandbytes.nn import Int8Params, Linear8bitLt

        threshold = self.arguments["threshold"]

        def quantise(name: str, layer: torch.nn.Linear) -> torch.nn.Module:
            swapped = Linear8bitLt(
                layer.in_features,
                layer.out_features,
                bias=layer.bias is not None,
                has_fp16_weights=False,
                threshold=threshold,
                device="meta",
            )
            # bitsandbytes' own parameter type, which quantises when moved onto a device.
            swapped.weight = Int8Params(layer.weight.data, requires_grad=False, has_fp16_weights=False)
            if layer.bias is not None:
                swapped.bias = torch.nn.Parameter(layer.bias.data, requires_grad=False)
            return swapped.to(layer.weight.device)

        return quantise
