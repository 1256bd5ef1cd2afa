"""nf4: bitsandbytes 4-bit NormalFloat (`Linear4bit`, quant_type="nf4") for the chosen Linear layers.

Weights are stored as 4-bit codes in blocks of 64 with one float32 scale per block; at run
time they are dequantised to the layer's compute dtype (the weight's dtype before
quantising: float32, or bfloat16 after `bf16+`). It cuts weight memory ~7x, not arithmetic.
"""

from __future__ import annotations

import torch

from optimize.passes.registry import register
from optimize.quantisation.apply import Quantiser
from optimize.quantisation.pass_base import QuantisationPass


@register
class Nf4(QuantisationPass):
    name = "nf4"
    summary = "bitsandbytes 4-bit NF4 Linear4bit (Linear layers)"
    library = "bitsandbytes"
    bits = 4

    def quantiser(self, device: torch.device) -> Quantiser:
        from bitsandbytes.nn import Linear4bit, Params4bit

        def quantise(name: str, layer: torch.nn.Linear) -> torch.nn.Module:
            swapped = Linear4bit(
                layer.in_features,
                layer.out_features,
                bias=layer.bias is not None,
                compute_dtype=layer.weight.dtype,
                quant_type="nf4",
                # Single-level block scales: double quantisation saves ~0.4 bits per weight on
                # big layers but adds a fixed ~1 KB codebook per layer, a loss on small ones.
                compress_statistics=False,
                device="meta",
            )
            # bitsandbytes' own parameter type, which quantises when moved onto a device.
            swapped.weight = Params4bit(
                layer.weight.data,
                requires_grad=False,
                compress_statistics=False,
                quant_type="nf4",
                quant_storage=torch.uint8,
                module=swapped,
            )
            if layer.bias is not None:
                swapped.bias = torch.nn.Parameter(layer.bias.data, requires_grad=False)
            return swapped.to(layer.weight.device)

        return quantise
