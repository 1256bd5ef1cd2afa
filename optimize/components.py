"""Facts about a pipeline's torch components: which they are, their dtypes, parameters, device."""

from __future__ import annotations

import torch
from diffusers import DiffusionPipeline


def torch_components(pipeline: DiffusionPipeline) -> dict[str, torch.nn.Module]:
    return {name: part for name, part in pipeline.components.items() if isinstance(part, torch.nn.Module)}


def component_dtypes(pipeline: DiffusionPipeline) -> dict[str, str]:
    dtypes: dict[str, str] = {}
    for name, module in torch_components(pipeline).items():
        first = next(module.parameters(), None)
        dtypes[name] = str(first.dtype).removeprefix("torch.") if first is not None else "none"
    return dtypes


def _logical_numel(parameter: torch.Tensor) -> int:
    # bitsandbytes' 4-bit weights are packed (two per byte); their quant state keeps the real shape.
    shape = getattr(getattr(parameter, "quant_state", None), "shape", None)
    return int(torch.Size(shape).numel()) if shape is not None else parameter.numel()


def count_parameters(pipeline: DiffusionPipeline) -> int | None:
    """Parameters of every torch component; None (not measured) when some run outside torch.

    An exported component (ONNX Runtime session, TensorRT engine) holds its weights as graph
    initialisers or engine data, which torch cannot see: counting only the torch side would
    report 0 or a fraction, so the count is left null rather than wrong.
    """
    modules = torch_components(pipeline).values()
    if any(getattr(module, "weights_outside_torch", False) for module in modules):
        return None
    return sum(_logical_numel(p) for module in modules for p in module.parameters())


def to_device(pipeline: DiffusionPipeline, device: torch.device) -> DiffusionPipeline:
    for module in torch_components(pipeline).values():
        # nn.Module.to, not ModelMixin.to: the latter warns on every cast of a built model.
        torch.nn.Module.to(module, device=device)
        _move_int8_states(module, device)
    return pipeline


def _move_int8_states(module: torch.nn.Module, device: torch.device) -> None:
    """bitsandbytes' Linear8bitLt keeps its int8 rows in `state.CB`/`state.SCB` after its first
    forward and moves them only in its own `.to`; a parent's `.to` reaches it through `_apply`,
    which leaves them behind. A variant built (or checked) on the CPU and then moved to CUDA
    would feed a CUDA matmul CPU rows: "Expected a cuda device, but got: cpu"."""
    for layer in module.modules():
        state = getattr(layer, "state", None)
        for name in ("CB", "SCB"):
            tensor = getattr(state, name, None)
            if isinstance(tensor, torch.Tensor) and tensor.device.type != device.type:
                setattr(state, name, tensor.to(device))
