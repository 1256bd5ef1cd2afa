"""torch.nn.Modules backed by an ONNX Runtime session (or a TensorRT engine), with the call
signature, outputs and attributes the diffusers pipeline expects from the modules they
replace, so schedulers, guidance, step callbacks and the bench's stage hooks keep working."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from diffusers.models.autoencoders.vae import DecoderOutput
from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput
from transformers.modeling_outputs import BaseModelOutputWithPooling

from optimize.errors import PassError


class Runner(Protocol):
    """Runs one exported graph: OrtRunner, or the TensorRT engine runner."""

    @property
    def provider(self) -> str: ...

    def run(
        self, inputs: dict[str, torch.Tensor], output_shapes: Sequence[tuple[int, ...]]
    ) -> list[torch.Tensor]: ...


class ExportedComponent(torch.nn.Module):
    """Common part: the runner, the original config, the ONNX file it came from, dtype and device."""

    component: str
    # Weights are in the graph or engine, not torch parameters: count_parameters reports None.
    weights_outside_torch = True

    def __init__(self, runner: Runner, config: Any, onnx_path: Path, device: torch.device) -> None:
        super().__init__()
        self.runner = runner
        self.config = config
        self.onnx_path = onnx_path
        self._device = torch.device(device)
        # How the graph is run (SessionSettings) and the build's temporary folder, if any; set by the builder.
        self.settings: Any = None
        self.workdir: Any = None
        # Recorded inputs and torch's outputs for them (parity.ParityCase), kept for later passes' checks.
        self.parity_cases: list[Any] = []

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        # Inputs and outputs are float32 whatever the graph computes in (fp16 graphs keep float32 IO).
        return torch.float32

    @property
    def provider(self) -> str:
        return self.runner.provider

    def extra_repr(self) -> str:
        return f"{self.onnx_path.name} on {self.provider}"

    def _refuse(self, feature: str, value: Any) -> None:
        if value:
            raise PassError(f"the exported {self.component} does not support {feature} (got {value!r})")


class OnnxUNet(ExportedComponent):
    component = "unet"

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        timestep_cond: torch.Tensor | None = None,
        cross_attention_kwargs: dict[str, Any] | None = None,
        added_cond_kwargs: dict[str, torch.Tensor] | None = None,
        return_dict: bool = True,
        **unsupported: Any,
    ) -> UNet2DConditionOutput | tuple[torch.Tensor]:
        self._refuse("timestep_cond", timestep_cond is not None)
        self._refuse("cross_attention_kwargs", cross_attention_kwargs)
        self._refuse("added_cond_kwargs", added_cond_kwargs)
        self._refuse("these arguments", sorted(k for k, v in unsupported.items() if v is not None))
        batch = sample.shape[0]
        # diffusers passes a 0-d timestep (or an int); the graph takes one float per sample.
        steps = torch.as_tensor(timestep, dtype=torch.float32, device=sample.device).reshape(-1).expand(batch)
        out_shape = (batch, int(self.config.out_channels), *sample.shape[2:])
        inputs = {
            "sample": sample.float(),
            "timestep": steps.contiguous(),
            "encoder_hidden_states": encoder_hidden_states.float(),
        }
        (noise,) = self.runner.run(inputs, [out_shape])
        noise = noise.to(sample.dtype)
        return UNet2DConditionOutput(sample=noise) if return_dict else (noise,)


class OnnxVaeDecoder(ExportedComponent):
    """Replaces the AutoencoderKL for text-to-image: `decode` only (no encoder was exported)."""

    component = "vae"

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise PassError("the exported vae has a decoder only: call .decode(latents)")

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        raise PassError("the exported vae has a decoder only (image-to-image needs the torch encoder)")

    def decode(
        self, z: torch.Tensor, return_dict: bool = True, generator: torch.Generator | None = None
    ) -> DecoderOutput | tuple[torch.Tensor]:
        scale = 2 ** (len(self.config.block_out_channels) - 1)
        out_shape = (z.shape[0], int(self.config.out_channels), z.shape[2] * scale, z.shape[3] * scale)
        (image,) = self.runner.run({"latent": z.float()}, [out_shape])
        image = image.to(z.dtype)
        return DecoderOutput(sample=image) if return_dict else (image,)


class OnnxTextEncoder(ExportedComponent):
    component = "text_encoder"

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **unused: Any,
    ) -> BaseModelOutputWithPooling | tuple[torch.Tensor, torch.Tensor]:
        # The graph was exported without a mask (SD's CLIP encoders are run without one).
        self._refuse("attention_mask", attention_mask is not None and not bool(attention_mask.all()))
        self._refuse("position_ids", position_ids is not None)
        self._refuse("output_hidden_states (clip_skip)", output_hidden_states)
        self._refuse("output_attentions", output_attentions)
        batch, tokens = input_ids.shape
        hidden = int(self.config.hidden_size)
        last, pooled = self.runner.run(
            {"input_ids": input_ids.to(torch.int64)}, [(batch, tokens, hidden), (batch, hidden)]
        )
        if return_dict is False:
            return (last, pooled)
        return BaseModelOutputWithPooling(last_hidden_state=last, pooler_output=pooled)


WRAPPERS: dict[str, type[ExportedComponent]] = {
    "unet": OnnxUNet,
    "vae": OnnxVaeDecoder,
    "text_encoder": OnnxTextEncoder,
}


def exported_components(pipeline: Any) -> dict[str, ExportedComponent]:
    return {name: part for name, part in pipeline.components.items() if isinstance(part, ExportedComponent)}
