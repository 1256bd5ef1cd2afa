"""Bytes a variant's parameters really take: quantised layers at their stored size.

`numel() * element_size()` lies for quantised weights (torchao's Int8Tensor reports its
float dtype; bitsandbytes' 4-bit weight is a packed uint8 tensor), so quantised layers are
measured as the tensors they are saved as, everything else as its parameters and buffers.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import DiffusionPipeline

from optimize.components import torch_components
from optimize.quantisation.layers import quantised_layers, serialised_bytes


def module_parameter_bytes(module: torch.nn.Module) -> int:
    layers = quantised_layers(module)
    total = sum(serialised_bytes(module.get_submodule(name)) for name in layers)
    for name, sub in module.named_modules():
        if name in layers or any(name.startswith(f"{layer}.") for layer in layers):
            continue
        for tensor in [*sub.parameters(recurse=False), *sub.buffers(recurse=False)]:
            total += tensor.numel() * tensor.element_size()
    return total


def pipeline_parameter_bytes(pipeline: DiffusionPipeline) -> int:
    return sum(module_parameter_bytes(module) for module in torch_components(pipeline).values())


def quantisation_summary(checks: dict[str, Any]) -> dict[str, Any]:
    """Totals over the recipe's quantisation passes, from the manifest's build checks."""
    passes = [
        entry for entry in checks.values() if isinstance(entry, dict) and "quantised_bytes_ratio" in entry
    ]
    if not passes:
        return {"quantised_layers": None, "skipped_layers": None, "quantised_bytes_ratio": None}
    fp32 = sum(entry["fp32_bytes"] for entry in passes)
    return {
        "quantised_layers": sum(entry["quantised_layers"] for entry in passes),
        "skipped_layers": sum(entry["skipped_layers"] for entry in passes),
        "quantised_bytes_ratio": sum(entry["quantised_bytes"] for entry in passes) / fp32 if fp32 else None,
    }
