"""int8: torchao int8 dynamic activations + int8 weights on the chosen Linear layers.

Weights are quantised once, per output row (symmetric); activations are quantised per token
at run time and the matmul runs int8 x int8 -> int32 (`torch._int_mm`), then is rescaled.
That is only fast where the CPU has int8 dot-product instructions (VNNI/AMX) or the GPU has
int8 tensor cores, and when inductor fuses the quantise/rescale steps (torch.compile); in
eager mode on a CPU without them it is slower than fp32 (see docs/results/).
"""

from __future__ import annotations

import torch

from optimize.passes.registry import register
from optimize.quantisation.apply import Quantiser
from optimize.quantisation.pass_base import QuantisationPass


@register
class Int8(QuantisationPass):
    name = "int8"
    summary = "torchao int8 dynamic activations + int8 weights (Linear layers)"
    library = "torchao"
    bits = 8

    def quantiser(self, device: torch.device) -> Quantiser:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

        # set_inductor_config=False: torchao would otherwise change global inductor settings on build.
        config = Int8DynamicActivationInt8WeightConfig(set_inductor_config=False)

        def quantise(name: str, layer: torch.nn.Linear) -> None:
            quantize_(layer, config)

        return quantise
