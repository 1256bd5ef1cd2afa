"""A pruned module's real structure: re-sync the widths modules cache, describe them, rebuild them.

Pruning changes weight shapes, but many modules keep the widths they were built with as plain
attributes (nn.Linear.in_features, diffusers' Attention.heads, Downsample2D.channels, which it
asserts in forward) and the model's config still describes the unpruned architecture. So:

- `sync_cached_widths` re-derives every cached width from the weights after a pruning;
- `describe` records, per module, those attributes and the shape of every parameter and
  buffer: a JSON-able structure that is the truth about the pruned model (never the config);
- `rebuild` applies a description to a fresh copy of the original architecture, giving
  modules of exactly the recorded shapes, ready for `load_state_dict(..., assign=True)`.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers.models.attention_processor import Attention
from diffusers.models.downsampling import Downsample2D
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from diffusers.models.upsampling import Upsample2D
from torch import nn

from optimize.errors import PassError

Description = dict[str, dict[str, Any]]


def _is_clip_attention(module: nn.Module) -> bool:
    return all(hasattr(module, name) for name in ("q_proj", "k_proj", "v_proj", "out_proj", "num_heads"))


def _derived_widths(module: nn.Module) -> dict[str, Any] | None:
    """The width attributes a module caches, as its current weights imply them."""
    if isinstance(module, nn.ConvTranspose2d):  # weight: (in, out / groups, kh, kw)
        return {"in_channels": module.weight.shape[0], "out_channels": module.weight.shape[1] * module.groups}
    if isinstance(module, nn.Conv2d | nn.Conv1d):  # weight: (out, in / groups, kh, kw)
        return {"in_channels": module.weight.shape[1] * module.groups, "out_channels": module.weight.shape[0]}
    if isinstance(module, nn.Linear):
        return {"in_features": module.weight.shape[1], "out_features": module.weight.shape[0]}
    if isinstance(module, nn.GroupNorm):
        channels = module.weight.shape[0] if module.affine else module.num_channels
        return {"num_groups": module.num_groups, "num_channels": channels}
    if isinstance(module, nn.LayerNorm):
        shape = tuple(module.weight.shape) if module.weight is not None else tuple(module.normalized_shape)
        return {"normalized_shape": list(shape)}
    if isinstance(module, nn.Embedding):
        return {"num_embeddings": module.weight.shape[0], "embedding_dim": module.weight.shape[1]}
    if isinstance(module, Attention):
        head_width = module.inner_dim // module.heads
        return {
            "heads": module.to_q.out_features // head_width,
            "inner_dim": module.to_q.out_features,
            "inner_kv_dim": module.to_k.out_features,
            "query_dim": module.to_q.in_features,
            "cross_attention_dim": module.to_k.in_features,
            "out_dim": module.to_out[0].out_features,
        }
    if _is_clip_attention(module):
        return {"num_heads": module.q_proj.out_features // module.head_dim}
    if isinstance(module, Upsample2D | Downsample2D) and isinstance(getattr(module, "conv", None), nn.Module):
        conv = module.conv
        return {"channels": conv.in_channels, "out_channels": conv.out_channels}
    if isinstance(module, ResnetBlock2D):
        return {"in_channels": module.conv1.in_channels, "out_channels": module.conv2.out_channels}
    if isinstance(module, Transformer2DModel) and hasattr(module, "proj_in"):
        return {
            "in_channels": module.norm.num_channels,
            "inner_dim": module.proj_in.out_features
            if isinstance(module.proj_in, nn.Linear)
            else module.proj_in.out_channels,
            "out_channels": module.proj_out.out_features
            if isinstance(module.proj_out, nn.Linear)
            else module.proj_out.out_channels,
        }
    return None


def _set_widths(module: nn.Module, widths: dict[str, Any]) -> None:
    for name, value in widths.items():
        setattr(module, name, tuple(value) if name == "normalized_shape" else value)


def sync_cached_widths(root: nn.Module) -> None:
    """Make every cached width agree with the weights (children first: parents read theirs)."""
    for module in reversed(list(root.modules())):
        widths = _derived_widths(module)
        if widths is not None:
            _set_widths(module, widths)


def describe(root: nn.Module) -> Description:
    """Per module (qualified name): cached widths and the shapes of its own tensors."""
    description: Description = {}
    for name, module in root.named_modules():
        entry: dict[str, Any] = {}
        widths = _derived_widths(module)
        if widths is not None:
            entry["widths"] = widths
        tensors = {
            key: list(value.shape)
            for key, value in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
            if value is not None
        }
        if tensors:
            entry["shapes"] = tensors
        if entry:
            description[name] = {"type": type(module).__name__, **entry}
    return description


def rebuild(root: nn.Module, description: Description) -> None:
    """Reshape a fresh copy of the original architecture in place to match `description`."""
    modules = dict(root.named_modules())
    missing = sorted(set(description) - set(modules))
    if missing:
        raise PassError(f"pruned structure names modules the architecture lacks: {', '.join(missing[:3])}")
    for name, entry in description.items():
        module = modules[name]
        if type(module).__name__ != entry["type"]:
            raise PassError(
                f"pruned structure: {name} is a {type(module).__name__}, recorded {entry['type']}"
            )
        for key, shape in entry.get("shapes", {}).items():
            current = getattr(module, key)
            if list(current.shape) == shape:
                continue
            # Storage is replaced by load_state_dict(assign=True); empty avoids filling memory twice.
            fresh = torch.empty(shape, dtype=current.dtype, device=current.device)
            if isinstance(current, nn.Parameter):
                module._parameters[key] = nn.Parameter(fresh, requires_grad=current.requires_grad)
            else:
                module._buffers[key] = fresh
        if "widths" in entry:
            _set_widths(module, entry["widths"])


def check_matches(root: nn.Module, description: Description) -> None:
    """The rebuilt (and loaded) module has exactly the recorded structure."""
    actual = describe(root)
    for name, entry in description.items():
        if actual.get(name) != entry:
            raise PassError(
                f"pruned structure mismatch at {name or 'the root'}: {actual.get(name)} != {entry}"
            )
