"""int8wo: torchao int8 weight-only quantisation of the chosen Linear layers.

Weights are stored int8 with one scale per output row; at run time they are converted back
to the activations' dtype inside the matmul. It saves memory (weights ~1/4 of fp32), not
arithmetic, so its speed depends on whether the conversion is fused (torch.compile).
"""

from __future__ import annotations

import torch

from optimize.passes.registry import register
from optimize.quantisation.apply import Quantiser
from optimize.quantisation.pass_base import QuantisationPass


@register
class Int8WeightOnly(QuantisationPass):
    name = "int8wo"
    summary = "torchao int8 weight-only (Linear layers)"
    library = "torchao"
    bits = 8

    def quantiser(self, device: torch.device) -> Quantiser:
        from torchao.quantization import Int8WeightOnlyConfig, quantize_

        config = Int8WeightOnlyConfig(set_inductor_config=False)

        def quantise(name: str, layer: torch.nn.Linear) -> None:
            quantize_(layer, config)

        return quantise
