"""What each pipeline component looks like as an ONNX graph: a plain-tensor torch wrapper to
export, its input/output names, and which axes are dynamic (batch, latent height/width)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

# A text-to-image generation's components, in the order they run: the parity recording (and
# int8 calibration) runs such a generation, so a family exports all three or none.
COMPONENTS = ("text_encoder", "unet", "vae")


class UNetGraph(torch.nn.Module):
    """sample, timestep [batch] float32, encoder_hidden_states -> noise prediction."""

    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor
    ) -> torch.Tensor:
        return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states, return_dict=False)[0]


class VaeDecoderGraph(torch.nn.Module):
    """Scaled latents -> image in [-1, 1] (post_quant_conv and the decoder)."""

    def __init__(self, vae: torch.nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latent, return_dict=False)[0]


class TextEncoderGraph(torch.nn.Module):
    """Token ids -> (last_hidden_state, pooler_output)."""

    def __init__(self, text_encoder: torch.nn.Module) -> None:
        super().__init__()
        self.text_encoder = text_encoder

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.text_encoder(input_ids, return_dict=False)
        return output[0], output[1]


@dataclass(frozen=True)
class GraphSpec:
    component: str
    wrapper: type[torch.nn.Module]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    # input name -> {axis: symbolic name}
    dynamic: dict[str, dict[int, str]]

    def legacy_dynamic_axes(self) -> dict[str, dict[int, str]]:
        return dict(self.dynamic)

    def dynamo_dynamic_shapes(self) -> dict[str, dict[int, Any]]:
        """torch.export Dims, one object per symbolic name so shared axes stay shared."""
        dims: dict[str, Any] = {}
        shapes: dict[str, dict[int, Any]] = {}
        for name in self.inputs:
            axes = self.dynamic.get(name, {})
            shapes[name] = {
                axis: dims.setdefault(symbol, torch.export.Dim.AUTO) for axis, symbol in axes.items()
            }
        return shapes


SPECS: dict[str, GraphSpec] = {
    "unet": GraphSpec(
        "unet",
        UNetGraph,
        ("sample", "timestep", "encoder_hidden_states"),
        ("noise_pred",),
        {
            "sample": {0: "batch", 2: "height", 3: "width"},
            "timestep": {0: "batch"},
            "encoder_hidden_states": {0: "batch", 1: "tokens"},
        },
    ),
    "vae": GraphSpec(
        "vae", VaeDecoderGraph, ("latent",), ("image",), {"latent": {0: "batch", 2: "height", 3: "width"}}
    ),
    "text_encoder": GraphSpec(
        "text_encoder",
        TextEncoderGraph,
        ("input_ids",),
        ("last_hidden_state", "pooler_output"),
        {"input_ids": {0: "batch"}},
    ),
}
