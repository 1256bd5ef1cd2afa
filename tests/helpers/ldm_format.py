"""Write a diffusers Stable Diffusion pipeline as one original-layout (LDM / CompVis) state dict.

This is the inverse of diffusers' ``convert_ldm_unet_checkpoint``, ``convert_ldm_vae_checkpoint``
and ``convert_ldm_clip_checkpoint`` (``diffusers.loaders.single_file_utils``), for tests only: it
lets a test build a single-file checkpoint from a random pipeline and check that loading it back
through diffusers' own conversion gives the same weights.
"""

from __future__ import annotations

import torch

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer.text_model."

# diffusers name -> LDM name, for the UNet's top-level layers.
_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
# Inside a UNet ResnetBlock2D.
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
# Inside the VAE's mid-block attention (LDM stores q/k/v/proj_out as 1x1 convs).
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def _split(key: str, depth: int) -> tuple[list[str], str]:
    """The first `depth` dotted parts of `key`, and the rest."""
    parts = key.split(".")
    return parts[:depth], ".".join(parts[depth:])


def _rename_leaf(rest: str, table: dict[str, str]) -> str:
    """Rename the module path at the start of `rest` (`module.weight`) through `table`."""
    for old, new in table.items():
        if rest.startswith(old + "."):
            return new + rest[len(old) :]
    return rest


def unet_to_ldm(state: dict[str, torch.Tensor], layers_per_block: int) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    per_down = layers_per_block + 1  # LDM input blocks per diffusers down block (resnets + downsampler)
    per_up = layers_per_block + 1  # diffusers up blocks hold one more resnet than down blocks
    has_attention = {
        key.split(".")[1] for key in state if key.startswith("up_blocks.") and ".attentions." in key
    }
    for key, tensor in state.items():
        module, _, param = key.rpartition(".")
        if module in _UNET_TOP:
            new = f"{_UNET_TOP[module]}.{param}"
        elif key.startswith("down_blocks."):
            (_, block, kind, index), rest = _split(key, 4)
            block, index = int(block), int(index)
            if kind == "downsamplers":  # down_blocks.B.downsamplers.0.conv.X -> input_blocks.N.0.op.X
                new = f"input_blocks.{(block + 1) * per_down}.0.op.{rest.removeprefix('conv.')}"
            else:
                layer = 1 + block * per_down + index
                if kind == "resnets":
                    new = f"input_blocks.{layer}.0.{_rename_leaf(rest, _UNET_RESNET)}"
                else:
                    new = f"input_blocks.{layer}.1.{rest}"
        elif key.startswith("mid_block."):
            (_, kind, index), rest = _split(key, 3)
            if kind == "resnets":  # resnets 0 and 1 sit either side of the attention
                new = f"middle_block.{2 * int(index)}.{_rename_leaf(rest, _UNET_RESNET)}"
            else:
                new = f"middle_block.1.{rest}"
        elif key.startswith("up_blocks."):
            (_, block, kind, index), rest = _split(key, 4)
            block, index = int(block), int(index)
            if kind == "upsamplers":  # after the block's last resnet (and its attention, if any)
                slot = 2 if str(block) in has_attention else 1
                new = f"output_blocks.{block * per_up + layers_per_block}.{slot}.{rest}"
            else:
                layer = block * per_up + index
                if kind == "resnets":
                    new = f"output_blocks.{layer}.0.{_rename_leaf(rest, _UNET_RESNET)}"
                else:
                    new = f"output_blocks.{layer}.1.{rest}"
        else:
            raise KeyError(f"no LDM name for UNet key {key!r}")
        out[UNET_PREFIX + new] = tensor
    return out


def _vae_resnet(rest: str) -> str:
    return rest.replace("conv_shortcut.", "nin_shortcut.", 1) if rest.startswith("conv_shortcut.") else rest


def vae_to_ldm(state: dict[str, torch.Tensor], num_blocks: int) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        side, _, inner = key.partition(".")  # encoder / decoder / quant_conv / post_quant_conv
        if side in ("quant_conv", "post_quant_conv"):
            new = key
        elif inner.startswith("conv_norm_out."):
            new = f"{side}.norm_out.{inner.removeprefix('conv_norm_out.')}"
        elif inner.startswith(("conv_in.", "conv_out.")):
            new = key
        elif inner.startswith("mid_block.resnets."):
            (_, _, index), rest = _split(inner, 3)
            new = f"{side}.mid.block_{int(index) + 1}.{_vae_resnet(rest)}"
        elif inner.startswith("mid_block.attentions.0."):
            _, rest = _split(inner, 3)
            new = f"{side}.mid.attn_1.{_rename_leaf(rest, _VAE_ATTENTION)}"
            if rest.endswith(".weight") and not rest.startswith("group_norm.") and tensor.ndim == 2:
                tensor = tensor[:, :, None, None]  # Linear -> 1x1 conv
        elif inner.startswith(("down_blocks.", "up_blocks.")):
            (kind, block, part, _), rest = _split(inner, 4)
            # diffusers counts decoder blocks from the bottom of the U, LDM from the top.
            ldm_block = int(block) if kind == "down_blocks" else num_blocks - 1 - int(block)
            ldm_kind = "down" if kind == "down_blocks" else "up"
            if part == "resnets":
                new = f"{side}.{ldm_kind}.{ldm_block}.block.{inner.split('.')[3]}.{_vae_resnet(rest)}"
            else:  # downsamplers.0.conv.X / upsamplers.0.conv.X
                new = f"{side}.{ldm_kind}.{ldm_block}.{ldm_kind}sample.{rest}"
        else:
            raise KeyError(f"no LDM name for VAE key {key!r}")
        out[VAE_PREFIX + new] = tensor
    return out


def clip_to_ldm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # transformers >= 5.6 flattens CLIPTextModel (no `text_model.` level); LDM files always have it.
    return {CLIP_PREFIX + key.removeprefix("text_model."): tensor for key, tensor in state.items()}


def pipeline_to_ldm(pipe) -> dict[str, torch.Tensor]:
    """One LDM-layout state dict (contiguous tensors, ready for safetensors) for an SD 1.x/2.x pipeline."""
    state = {
        **unet_to_ldm(pipe.unet.state_dict(), pipe.unet.config.layers_per_block),
        **vae_to_ldm(pipe.vae.state_dict(), len(pipe.vae.config.block_out_channels)),
        **clip_to_ldm(pipe.text_encoder.state_dict()),
    }
    return {key: tensor.detach().contiguous().clone() for key, tensor in state.items()}
