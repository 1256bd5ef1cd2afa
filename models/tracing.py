"""Example inputs of a diffusion UNet, built once here for every caller that traces one.

MACs counting reads shapes and dtypes only (it runs on meta or fake tensors), so it gets
zeros; pruning's gradients and distillation need values, so it passes a generator and gets
random draws, always in the same order (the same generator state gives the same batch).
"""

from __future__ import annotations

from typing import Any

import torch

# Sequence length of a CLIP text encoder's output, the UNet's cross-attention context.
TEXT_TOKENS = 77
# DDPM's training schedule length: random timesteps are drawn below it.
TRAIN_TIMESTEPS = 1000


def first_parameter_dtype(module: torch.nn.Module) -> torch.dtype:
    """The dtype a module's inputs are cast to: its first parameter's, if floating, else float32."""
    first = next(module.parameters(), None)
    return first.dtype if first is not None and first.is_floating_point() else torch.float32


def unet_example_inputs(
    unet: torch.nn.Module,
    batch: int,
    height: int,
    width: int,
    *,
    tokens: int = TEXT_TOKENS,
    dtype: torch.dtype = torch.float32,
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """Keyword inputs of one call of `unet` (UNet2DModel or UNet2DConditionModel, SDXL's
    added conditions included) on latents of `height` x `width`: zeros, or random draws from
    `generator`."""
    config = unet.config

    def normal(*shape: int) -> torch.Tensor:
        if generator is None:
            return torch.zeros(*shape, dtype=dtype)
        return torch.randn(*shape, generator=generator).to(dtype)

    def integers(high: int) -> torch.Tensor:
        if generator is None:
            return torch.ones(batch, dtype=torch.long)
        return torch.randint(0, high, (batch,), generator=generator)

    inputs: dict[str, Any] = {
        "sample": normal(batch, config.in_channels, height, width),
        "timestep": integers(TRAIN_TIMESTEPS),
    }
    if getattr(config, "cross_attention_dim", None):
        inputs["encoder_hidden_states"] = normal(batch, tokens, config.cross_attention_dim)
        if getattr(config, "addition_embed_type", None) == "text_time":
            pooled = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
            text_embeds = normal(batch, pooled)  # drawn before the time ids: the draws keep their order
            # Random time ids stay positive and image-sized, as real (size, crop, size) ids are.
            time_ids = normal(batch, 6) if generator is None else normal(batch, 6).abs() * 256
            inputs["added_cond_kwargs"] = {"text_embeds": text_embeds, "time_ids": time_ids}
    if getattr(config, "num_class_embeds", None):
        inputs["class_labels"] = integers(config.num_class_embeds)
    return inputs
