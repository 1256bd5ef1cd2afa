"""MACs per generated image, all stages, and the collector that puts them in every row.

How it is counted (cheaply): each stage is called once, at batch 1, on fake tensors (shapes
only, no arithmetic; see optimize/macs.py), and multiplied by how often the pipeline calls it:

    per image = text encoder(s) x (2 with CFG else 1) / images per prompt
              + UNet x steps x (2 with CFG else 1)
              + VAE decode x 1

A VAE alone is its decode (plus its encode in encode-decode mode); a GAN is one `G(z)` call.
Neither has a UNet, so their `unet_macs_g` is None.

Every counted op is linear in the batch, so a batch-1 call times the number of calls is the
exact total. FLOPs are 2 x MACs (the counter's convention: one multiply-accumulate = 2 FLOPs).
Counted: convolutions, linear layers, matmuls and attention (QK^T and AV, including CPU's SDPA
kernel); not counted: element-wise work (norms, activations, softmax, the scheduler).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import DiffusionPipeline

from bench.collectors import FinishedRun, collector
from bench.workload import Workload
from models.gan import GanPipeline, module_device_dtype
from models.vae_only import ENCODE_DECODE, VaePipeline
from optimize.macs import count_macs

_TEXT_ENCODERS = ("text_encoder", "text_encoder_2")


@dataclass
class ImageMacs:
    text_encoder: int  # one call, one prompt
    unet: int  # one call, one image
    vae_decode: int  # one image
    text_calls_per_image: float
    unet_calls_per_image: int
    # What has no place above, one call per image: a VAE's encode, a GAN's generator.
    other: int = 0
    has_unet: bool = True

    @property
    def per_image(self) -> float:
        return (
            self.text_encoder * self.text_calls_per_image
            + self.unet * self.unet_calls_per_image
            + self.vae_decode
            + self.other
        )


def _dtype(module: torch.nn.Module) -> torch.dtype:
    first = next(module.parameters(), None)
    return first.dtype if first is not None and first.is_floating_point() else torch.float32


def _text_macs(pipeline: DiffusionPipeline) -> tuple[int, list[int]]:
    """MACs of one prompt's encoding, and each encoder's output width (the UNet's context)."""
    tokens = getattr(getattr(pipeline, "tokenizer", None), "model_max_length", 77)
    total, widths = 0, []
    for name in _TEXT_ENCODERS:
        encoder = getattr(pipeline, name, None)
        if not isinstance(encoder, torch.nn.Module):
            continue
        total += count_macs(
            encoder, lambda: {"input_ids": torch.zeros(1, tokens, dtype=torch.long)}, lambda m, **i: m(**i)
        )
        widths.append(encoder.config.hidden_size)
    return total, widths


def _unet_inputs(pipeline: DiffusionPipeline, height: int, width: int, context: int) -> dict[str, Any]:
    unet = pipeline.unet
    config = unet.config
    dtype = _dtype(unet)
    inputs: dict[str, Any] = {
        "sample": torch.zeros(1, config.in_channels, height, width, dtype=dtype),
        "timestep": torch.tensor([1]),
    }
    if getattr(config, "cross_attention_dim", None):
        inputs["encoder_hidden_states"] = torch.zeros(1, context, config.cross_attention_dim, dtype=dtype)
    if getattr(config, "addition_embed_type", None) == "text_time":
        pooled = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
        inputs["added_cond_kwargs"] = {
            "text_embeds": torch.zeros(1, pooled, dtype=dtype),
            "time_ids": torch.zeros(1, 6, dtype=dtype),
        }
    return inputs


def _vae_macs(pipeline: VaePipeline, workload: Workload) -> ImageMacs:
    vae = pipeline.vae
    _, dtype = module_device_dtype(vae)
    latent_shape = pipeline.latent_shape(1, workload.height, workload.width)
    decode = count_macs(
        vae,
        lambda: {"z": torch.zeros(latent_shape, dtype=dtype)},
        lambda m, **i: m.decode(**i, return_dict=False),
    )
    encode = 0
    if pipeline.config.mode == ENCODE_DECODE:
        channels = vae.config.in_channels
        encode = count_macs(
            vae,
            lambda: {"x": torch.zeros(1, channels, workload.height, workload.width, dtype=dtype)},
            lambda m, **i: m.encode(**i, return_dict=False),
        )
    return ImageMacs(0, 0, decode, 0.0, 0, other=encode, has_unet=False)


def _gan_macs(pipeline: GanPipeline) -> ImageMacs:
    _, dtype = module_device_dtype(pipeline.generator)
    shape = (1, *pipeline.config.z_shape)
    generated = count_macs(
        pipeline.generator, lambda: {"z": torch.zeros(shape, dtype=dtype)}, lambda m, **i: m(i["z"])
    )
    return ImageMacs(0, 0, 0, 0.0, 0, other=generated, has_unet=False)


def image_macs(pipeline: DiffusionPipeline, workload: Workload) -> ImageMacs:
    """Stable Diffusion-style pipelines (text encoders, UNet on latents, VAE decode),
    unconditional pixel-space ones (a UNet2DModel only: no text, no VAE, no guidance),
    a VAE alone and a GAN generator."""
    if isinstance(pipeline, VaePipeline):
        return _vae_macs(pipeline, workload)
    if isinstance(pipeline, GanPipeline):
        return _gan_macs(pipeline)
    vae = getattr(pipeline, "vae", None)
    scale = 2 ** (len(vae.config.block_out_channels) - 1) if vae is not None else 1
    latent_h, latent_w = workload.height // scale, workload.width // scale
    tokens = getattr(getattr(pipeline, "tokenizer", None), "model_max_length", 77)
    text, widths = _text_macs(pipeline)
    unet = count_macs(
        pipeline.unet,
        lambda: _unet_inputs(pipeline, latent_h, latent_w, tokens),
        lambda m, **i: m(**i, return_dict=False),
    )
    decode = 0
    if vae is not None:
        latents = vae.config.latent_channels
        decode = count_macs(
            vae,
            lambda: {"z": torch.zeros(1, latents, latent_h, latent_w, dtype=_dtype(vae))},
            lambda m, **i: m.decode(**i, return_dict=False),
        )
    # Classifier-free guidance doubles the UNet batch and encodes the negative prompt too.
    guided = 2 if widths and workload.guidance > 1 else 1
    return ImageMacs(
        text_encoder=text,
        unet=unet,
        vae_decode=decode,
        text_calls_per_image=guided / workload.batch,
        unet_calls_per_image=workload.steps * guided,
    )


@collector
def macs_fields(run: FinishedRun) -> dict[str, Any]:
    """`macs_g` per image (all stages) and `unet_macs_g` per UNet call per image; None if uncountable."""
    try:
        counted = image_macs(run.variant.pipeline, run.workload)
    except Exception as error:  # a component that is not plain torch (ONNX session, engine): no figure
        warnings.warn(f"macs not counted for {run.variant.name}: {error}".splitlines()[0], stacklevel=2)
        return {"macs_g": None, "unet_macs_g": None}
    unet = counted.unet / 1e9 if counted.has_unet else None
    return {"macs_g": counted.per_image / 1e9, "unet_macs_g": unet}
