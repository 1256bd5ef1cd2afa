"""MACs per generated image, all stages (bench/collectors/macs.py puts them in every row).

How it is counted (cheaply): each stage is called once, at batch 1, on fake tensors (shapes
only, no arithmetic; see optimize/macs.py), and multiplied by how often the pipeline calls it
(the calls, their example inputs and counts are the model family's, models/families/):

    per image = text encoder(s) x (2 with CFG else 1) / images per prompt
              + UNet x steps x (2 with CFG else 1)
              + VAE decode x 1

A VAE alone is its decode (plus its encode in encode-decode mode); a GAN is one `G(z)` call.
Neither has a UNet, so their `unet_macs_g` is None.

A row with a hardware profile has traced these stages already, at the workload's batch, for its
memory estimate; the count reads those traces' FLOPs instead of tracing the stages again
(meta_trace.py: one meta-device trace per row).

Every counted op is linear in the batch, so a batch-1 call times the number of calls is the
exact total. FLOPs are 2 x MACs (the counter's convention: one multiply-accumulate = 2 FLOPs).
Counted: convolutions, linear layers, matmuls and attention (QK^T and AV, including CPU's SDPA
kernel); not counted: element-wise work (norms, activations, softmax, the scheduler).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from diffusers import DiffusionPipeline

from bench.workload import Workload
from models.families import family_of
from models.families.base import TracedCall
from optimize.macs import count_macs

# MACs of a call already counted by another trace (bench/instruments/meta_trace.py), or None.
KnownMacs = Callable[[TracedCall], int | None]

# The stages with a field of their own; any other (a VAE's encode, a GAN's generator) is `other`.
_TEXT, _UNET, _DECODE = "text_encoder", "unet", "vae_decode"


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


def image_macs(pipeline: DiffusionPipeline, workload: Workload, known: KnownMacs | None = None) -> ImageMacs:
    """Every module call one image costs, as the pipeline's family traces it (models/families/):
    text encoders, UNet on latents and VAE decode; a UNet on pixels; a VAE alone; a GAN.

    `known` gives the MACs of a call that a trace made for another purpose already counted
    (the memory estimate's); the calls it returns None for are traced here."""
    counted: dict[str, int] = dict.fromkeys((_TEXT, _UNET, _DECODE), 0)
    # Calls of a stage per image; a stage the pipeline does not run is absent.
    calls_per_image: dict[str, Any] = {}
    other = 0
    for call in family_of(pipeline).traced_calls(pipeline, workload):
        macs = known(call) if known is not None else None
        if macs is None:
            macs = count_macs(call.module, call.make_inputs, call.call)
        calls_per_image[call.stage] = call.per_image
        if call.stage in counted:
            counted[call.stage] += macs
        else:
            other += macs * call.per_image
    return ImageMacs(
        text_encoder=counted[_TEXT],
        unet=counted[_UNET],
        vae_decode=counted[_DECODE],
        text_calls_per_image=calls_per_image.get(_TEXT, 0.0),
        unet_calls_per_image=calls_per_image.get(_UNET, 0),
        other=other,
        has_unet=_UNET in calls_per_image,
    )
