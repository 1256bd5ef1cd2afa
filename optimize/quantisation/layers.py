"""Quantised layer kinds: recognise one in a model, turn it into plain tensors, rebuild it.

A quantised Linear is saved as plain tensors (safetensors holds no tensor subclasses) plus a
JSON description; rebuilding it from those never re-quantises:

- `torchao-int8` / `torchao-int8wo`: an nn.Linear whose weight is torchao's `Int8Tensor`
  (int8 `qdata` + per-row `scale`; the dynamic variant also carries how to quantise
  activations). Flattened with torchao's own safetensors helpers, whose JSON metadata is
  decoded through an allow-list of torchao classes (no pickle).
- `bnb8`: bitsandbytes `Linear8bitLt` (LLM.int8): int8 weight rows + their scales (`SCB`).
- `nf4`: bitsandbytes `Linear4bit` with NF4: packed 4-bit weight + its quant state
  (`absmax`, codebook and a small JSON blob, all tensors in bitsandbytes' own state dict).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

Tensors = dict[str, torch.Tensor]


class LayerKind(ABC):
    name: ClassVar[str]
    # Bits per weight element, for refusing to re-quantise and for reports.
    bits: ClassVar[int]

    @abstractmethod
    def owns(self, layer: torch.nn.Module) -> bool:
        """This layer is one of this kind's quantised layers."""

    @abstractmethod
    def to_tensors(self, layer: torch.nn.Module) -> tuple[Tensors, dict[str, Any]]:
        """Plain tensors (names relative to the layer) and a JSON-able description."""

    @abstractmethod
    def rebuild(self, tensors: Tensors, description: dict[str, Any]) -> torch.nn.Module:
        """The quantised layer again, from `to_tensors`' output, without re-quantising."""


def _plain(tensor: torch.Tensor) -> torch.Tensor:
    # safetensors refuses views and shared storage; a Parameter subclass must become a Tensor.
    return tensor.detach().as_subclass(torch.Tensor).contiguous().clone()


def _bias_tensors(layer: torch.nn.Linear) -> Tensors:
    return {} if layer.bias is None else {"bias": _plain(layer.bias)}


def _set_bias(layer: torch.nn.Linear, tensors: Tensors) -> None:
    if "bias" in tensors:
        layer.bias = torch.nn.Parameter(tensors["bias"], requires_grad=False)


def _shape(layer: torch.nn.Linear) -> dict[str, Any]:
    return {
        "in_features": layer.in_features,
        "out_features": layer.out_features,
        "bias": layer.bias is not None,
    }


class _TorchaoInt8(LayerKind):
    bits = 8
    # Weight-only Int8Tensors carry no activation-quantisation settings.
    dynamic: ClassVar[bool]

    def owns(self, layer: torch.nn.Module) -> bool:
        from torchao.quantization import Int8Tensor

        weight = getattr(layer, "weight", None)
        return (
            type(layer) is torch.nn.Linear
            and isinstance(weight, Int8Tensor)
            and (weight.act_quant_kwargs is not None) == self.dynamic
        )

    def to_tensors(self, layer: torch.nn.Module) -> tuple[Tensors, dict[str, Any]]:
        from torchao.prototype.safetensors.safetensors_support import flatten_tensor_state_dict

        # torchao's helper wants dotted names; "layer." is stripped again right away.
        flat, metadata = flatten_tensor_state_dict({"layer.weight": layer.weight.detach()})
        tensors = {key.removeprefix("layer."): _plain(value) for key, value in flat.items()}
        tensors.update(_bias_tensors(layer))
        return tensors, {**_shape(layer), "torchao": metadata}

    def rebuild(self, tensors: Tensors, description: dict[str, Any]) -> torch.nn.Module:
        from torchao.prototype.safetensors.safetensors_support import unflatten_tensor_state_dict

        weight_parts = {f"layer.{key}": value for key, value in tensors.items() if key.startswith("_weight_")}
        restored, leftover = unflatten_tensor_state_dict(weight_parts, description["torchao"])
        if leftover or "layer.weight" not in restored:
            raise ValueError(f"incomplete torchao weight: leftover {sorted(leftover)}")
        weight = restored["layer.weight"]
        layer = torch.nn.Linear(
            description["in_features"], description["out_features"], bias=description["bias"], device="meta"
        )
        layer.weight = torch.nn.Parameter(weight, requires_grad=False)
        _set_bias(layer, tensors)
        return layer


class TorchaoInt8Dynamic(_TorchaoInt8):
    name = "torchao-int8"
    dynamic = True


class TorchaoInt8WeightOnly(_TorchaoInt8):
    name = "torchao-int8wo"
    dynamic = False


class BnbInt8(LayerKind):
    name = "bnb8"
    bits = 8

    def owns(self, layer: torch.nn.Module) -> bool:
        from bitsandbytes.nn import Linear8bitLt

        return isinstance(layer, Linear8bitLt) and layer.weight.dtype == torch.int8

    def to_tensors(self, layer: torch.nn.Module) -> tuple[Tensors, dict[str, Any]]:
        # After the first forward bitsandbytes moves the row scales from the weight to `state`.
        scales = layer.weight.SCB if getattr(layer.weight, "SCB", None) is not None else layer.state.SCB
        tensors = {"weight": _plain(layer.weight), "SCB": _plain(scales), **_bias_tensors(layer)}
        return tensors, {**_shape(layer), "threshold": float(layer.state.threshold)}

    def rebuild(self, tensors: Tensors, description: dict[str, Any]) -> torch.nn.Module:
        from bitsandbytes.nn import Int8Params, Linear8bitLt

        layer = Linear8bitLt(
            description["in_features"],
            description["out_features"],
            bias=description["bias"],
            has_fp16_weights=False,
            threshold=description["threshold"],
            device="meta",
        )
        rows = tensors["weight"]
        layer.weight = Int8Params(
            rows, requires_grad=False, has_fp16_weights=False, CB=rows, SCB=tensors["SCB"]
        )
        _set_bias(layer, tensors)
        return layer


class BnbNf4(LayerKind):
    name = "nf4"
    bits = 4

    def owns(self, layer: torch.nn.Module) -> bool:
        from bitsandbytes.nn import Linear4bit

        return isinstance(layer, Linear4bit) and getattr(layer.weight, "bnb_quantized", False)

    def to_tensors(self, layer: torch.nn.Module) -> tuple[Tensors, dict[str, Any]]:
        # bitsandbytes' own state dict: the packed weight and every piece of its quant state
        # as tensors (it also undoes the CPU kernel's repacking done on the first forward).
        tensors = {key: _plain(value) for key, value in layer.state_dict().items()}
        compute = None if layer.compute_dtype is None else str(layer.compute_dtype).removeprefix("torch.")
        return tensors, {**_shape(layer), "compute_dtype": compute}

    def rebuild(self, tensors: Tensors, description: dict[str, Any]) -> torch.nn.Module:
        from bitsandbytes.nn import Linear4bit, Params4bit

        compute = description["compute_dtype"]
        layer = Linear4bit(
            description["in_features"],
            description["out_features"],
            bias=description["bias"],
            compute_dtype=None if compute is None else getattr(torch, compute),
            quant_type="nf4",
            device="meta",
        )
        stats = {
            key.removeprefix("weight."): value for key, value in tensors.items() if key.startswith("weight.")
        }
        layer.weight = Params4bit.from_prequantized(
            data=tensors["weight"], quantized_stats=stats, requires_grad=False, device="cpu", module=layer
        )
        _set_bias(layer, tensors)
        return layer


LAYER_KINDS: dict[str, LayerKind] = {
    kind.name: kind for kind in (TorchaoInt8Dynamic(), TorchaoInt8WeightOnly(), BnbInt8(), BnbNf4())
}


def kind_of(layer: torch.nn.Module) -> LayerKind | None:
    """The quantised kind of this layer, or None for a float layer (or one needing a missing library)."""
    for kind in LAYER_KINDS.values():
        try:
            if kind.owns(layer):
                return kind
        except ImportError:
            continue
    return None


def quantised_layers(module: torch.nn.Module) -> dict[str, LayerKind]:
    """Qualified name -> kind of every quantised layer inside `module`."""
    found: dict[str, LayerKind] = {}
    for name, layer in module.named_modules():
        kind = kind_of(layer)
        if kind is not None:
            found[name] = kind
    return found


def serialised_bytes(layer: torch.nn.Module) -> int:
    """Bytes of the tensors a quantised layer is saved as: its real parameter footprint."""
    kind = kind_of(layer)
    if kind is None:
        return sum(t.numel() * t.element_size() for t in layer.state_dict().values())
    tensors, _ = kind.to_tensors(layer)
    return sum(t.numel() * t.element_size() for t in tensors.values())


def encode(description: dict[str, Any]) -> str:
    return json.dumps(description, sort_keys=True)
