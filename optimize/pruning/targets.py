"""What a pruning scope means on a pipeline: the modules to prune, how to call them, what to keep.

A *target* is one module that is traced and pruned as a whole (the UNet, the VAE decoder, a
text encoder), with example inputs small enough to trace cheaply, a sampler of random batches
(Taylor gradients, distillation), and the layers whose output width is an interface to the
rest of the pipeline and so must not change (the UNet's noise prediction, the decoder's RGB
output, the text encoder's hidden width that the UNet's cross-attention reads).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel, UNet2DModel
from diffusers.models.activations import GEGLU, SwiGLU
from diffusers.models.attention_processor import Attention
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from models.families import family_of, prune_scope_names
from models.tracing import TEXT_TOKENS, unet_example_inputs
from optimize.errors import PassError, PassUnsupported

# Every scope some family declares (models/families): what a recipe may name. Which of them a
# pipeline accepts, and the components each prunes, is its family's `prune_scopes`.
SCOPES = prune_scope_names()
# What the built-in scopes prune, for the message that names them.
_SCOPE_KINDS = {"unet": "UNet2DConditionModel/UNet2DModel", "vae": "AutoencoderKL decoder"}
Inputs = dict[str, Any]

# Token ids for random text batches stay below this: every CLIP vocabulary is larger.
_TOKEN_LIMIT = 256


@dataclass
class PruneTarget:
    # "unet", "vae.decoder", "text_encoder": where the module lives in the pipeline.
    path: str
    module: nn.Module
    example_inputs: Inputs
    # Random inputs for gradients and distillation: (batch size, generator) -> inputs.
    sample_inputs: Callable[[int, torch.Generator], Inputs]
    # Layers whose output width is an interface to the rest of the pipeline.
    keep_width: list[nn.Module]
    # Attention projections whose heads are pruned whole: linear -> number of heads.
    heads: dict[nn.Module, int]
    # Attention projections that keep their width (single-head attention: no head to drop).
    frozen_heads: list[nn.Module]
    # Gated MLP projections (GEGLU, SwiGLU) whose output is chunked into (value, gate) halves:
    # channel i of one half pairs with channel i of the other, so both are cut together.
    paired_halves: list[nn.Module]
    # module, inputs -> its main output tensor (also torch-pruning's `forward_fn`).
    call: Callable[[nn.Module, Inputs], torch.Tensor]
    # Whether the output is a noise prediction (Taylor uses the denoising loss then).
    predicts_noise: bool = False


def _first_output(module: nn.Module, inputs: Inputs) -> torch.Tensor:
    """diffusers' UNets and transformers' models: the first element of the tuple output."""
    return module(**inputs, return_dict=False)[0]


def _plain_call(module: nn.Module, inputs: Inputs) -> torch.Tensor:
    return module(**inputs)


def _attention_heads(module: nn.Module) -> tuple[dict[nn.Module, int], list[nn.Module]]:
    """diffusers' Attention and CLIP's attention: q/k/v projections and their head counts."""
    heads: dict[nn.Module, int] = {}
    frozen: list[nn.Module] = []
    for layer in module.modules():
        if isinstance(layer, Attention):
            projections, count = [layer.to_q, layer.to_k, layer.to_v], layer.heads
        elif all(hasattr(layer, name) for name in ("q_proj", "k_proj", "v_proj", "num_heads")):
            projections, count = [layer.q_proj, layer.k_proj, layer.v_proj], layer.num_heads
        else:
            continue
        if count > 1:
            heads.update(dict.fromkeys(projections, count))
        else:
            # One head: dropping it empties the layer, and narrowing it would change the
            # softmax temperature (SDPA scales by the actual head width), so it stays whole.
            frozen.extend(projections)
    return heads, frozen


def _gated_projections(module: nn.Module) -> list[nn.Module]:
    return [layer.proj for layer in module.modules() if isinstance(layer, GEGLU | SwiGLU)]


def _latent_side(levels: int) -> int:
    """Smallest square latent that survives every downsampling twice over: cheap to trace."""
    return 2 ** max(levels - 1, 0) * 2


def _unet_target(unet: nn.Module) -> PruneTarget:
    side = _latent_side(len(unet.config.block_out_channels))

    def sample_inputs(batch: int, generator: torch.Generator) -> Inputs:
        return unet_example_inputs(unet, batch, side, side, generator=generator)

    heads, frozen = _attention_heads(unet)
    return PruneTarget(
        path="unet",
        module=unet,
        example_inputs=sample_inputs(1, torch.Generator().manual_seed(0)),
        sample_inputs=sample_inputs,
        keep_width=[unet.conv_out],
        heads=heads,
        frozen_heads=frozen,
        paired_halves=_gated_projections(unet),
        call=_first_output,
        predicts_noise=True,
    )


def _decoder_target(vae: AutoencoderKL) -> PruneTarget:
    decoder = vae.decoder
    channels = vae.config.latent_channels
    side = 8

    def sample_inputs(batch: int, generator: torch.Generator) -> Inputs:
        return {"sample": torch.randn(batch, channels, side, side, generator=generator)}

    heads, frozen = _attention_heads(decoder)
    return PruneTarget(
        path="vae.decoder",
        module=decoder,
        example_inputs=sample_inputs(1, torch.Generator().manual_seed(0)),
        sample_inputs=sample_inputs,
        keep_width=[decoder.conv_out],
        heads=heads,
        frozen_heads=frozen,
        paired_halves=_gated_projections(decoder),
        call=_plain_call,
    )


def _text_target(name: str, encoder: nn.Module) -> PruneTarget:
    model = encoder.text_model if hasattr(encoder, "text_model") else encoder
    vocab = min(encoder.config.vocab_size, _TOKEN_LIMIT)

    def sample_inputs(batch: int, generator: torch.Generator) -> Inputs:
        return {"input_ids": torch.randint(0, vocab, (batch, TEXT_TOKENS), generator=generator)}

    # The hidden width is what the UNet's cross-attention (to_k/to_v) reads: the residual
    # stream (embeddings, final norm, projection) keeps it; MLPs and heads may shrink.
    keep = [model.embeddings, model.final_layer_norm]
    if hasattr(encoder, "text_projection"):
        keep.append(encoder.text_projection)
    heads, frozen = _attention_heads(encoder)
    return PruneTarget(
        path=name,
        module=encoder,
        example_inputs=sample_inputs(1, torch.Generator().manual_seed(0)),
        sample_inputs=sample_inputs,
        keep_width=keep,
        heads=heads,
        frozen_heads=frozen,
        paired_halves=_gated_projections(encoder),
        call=_first_output,
    )


def _target(name: str, module: object) -> PruneTarget | None:
    """How this kind of module is pruned (None: a kind pruning does not know, or not torch)."""
    if isinstance(module, UNet2DConditionModel | UNet2DModel):
        return _unet_target(module)
    if isinstance(module, AutoencoderKL):
        return _decoder_target(module)
    # A text encoder (transformers' CLIP models): any other configured torch module.
    if isinstance(module, nn.Module) and hasattr(module, "config") and not isinstance(module, ModelMixin):
        return _text_target(name, module)
    return None


def _scopes_hint() -> str:
    """Every family's scopes, with what each prunes where it is a single kind of module."""
    hints = (f"{scope} ({_SCOPE_KINDS[scope]})" if scope in _SCOPE_KINDS else scope for scope in SCOPES)
    return ", ".join(hints)


def targets_for(pipeline: DiffusionPipeline, scope: str) -> list[PruneTarget]:
    """The targets of `scope` on this pipeline: the components its family's `prune_scopes`
    names for it; PassUnsupported (a row that says why) when it has none."""
    family = family_of(pipeline)
    if scope not in SCOPES and scope not in family.prune_scopes:
        accepted = ", ".join(family.prune_scopes) or "none"
        raise PassError(
            f"prune: scope={scope!r} is unknown; accepted by the {family.name} family: {accepted}"
        )
    components = pipeline.components
    targets = [
        target
        for name in family.prune_scopes.get(scope, ())
        if (target := _target(name, components.get(name))) is not None
    ]
    if not targets:
        present = ", ".join(n for n, c in components.items() if isinstance(c, nn.Module)) or "none"
        raise PassUnsupported(
            f"prune: nothing prunable for scope={scope!r} in this pipeline (torch components: {present}); "
            f"accepted scopes: {_scopes_hint()}"
        )
    return targets
