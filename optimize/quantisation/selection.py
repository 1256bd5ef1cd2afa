"""Which components and which Linear layers a quantisation pass takes.

Recipe arguments are NAME tokens (letters, digits, `_`, `-`, `.`), so several components
or layer groups are joined with `-`: `int8(components=unet-text_encoder, layers=attention-ff)`.
"""

from __future__ import annotations

import torch
from diffusers import DiffusionPipeline

from optimize.components import torch_components
from optimize.errors import PassUnsupported, RecipeError

SEPARATOR = "-"
ALL = "all"
# In the order a canonical recipe lists them (diffusers' own component names).
COMPONENTS = ("unet", "transformer", "text_encoder", "text_encoder_2", "vae")
# `linear`: every nn.Linear; `attention`: q/k/v/out projections; `ff`: feed-forward (MLP) layers.
LAYER_GROUPS = ("linear", "attention", "ff")
_ATTENTION_PARENTS = ("Attention",)
_FEED_FORWARD_PARENTS = ("FeedForward", "MLP")


def _split(pass_name: str, argument: str, text: str, accepted: tuple[str, ...]) -> list[str]:
    parts = [part for part in text.lower().split(SEPARATOR) if part]
    unknown = [part for part in parts if part not in accepted]
    if not parts or unknown:
        bad = unknown[0] if unknown else text
        raise RecipeError(
            f"{pass_name}: {argument}={bad!r} is not one of {', '.join(accepted)} "
            f"(join several with '{SEPARATOR}', e.g. {argument}={accepted[0]}{SEPARATOR}{accepted[-1]})"
        )
    return parts


def canonical_components(pass_name: str, text: str) -> str:
    """`vae-unet` -> `unet-vae`; `all` stands alone."""
    parts = _split(pass_name, "components", text, (*COMPONENTS, ALL))
    if ALL in parts:
        if len(set(parts)) > 1:
            raise RecipeError(f"{pass_name}: components={text!r} mixes 'all' with named components")
        return ALL
    return SEPARATOR.join(name for name in COMPONENTS if name in parts)


def canonical_layers(pass_name: str, text: str) -> str:
    parts = _split(pass_name, "layers", text, LAYER_GROUPS)
    if "linear" in parts:
        return "linear"  # every Linear already includes the attention and feed-forward ones
    return SEPARATOR.join(group for group in LAYER_GROUPS if group in parts)


def named_components(spec: str) -> set[str]:
    return set(COMPONENTS) if spec == ALL else set(spec.split(SEPARATOR))


def resolve_components(pass_name: str, spec: str, pipeline: DiffusionPipeline) -> dict[str, torch.nn.Module]:
    """The pipeline's modules named by `spec`; a named component the model lacks is refused."""
    present = torch_components(pipeline)
    if spec == ALL:
        return {name: present[name] for name in COMPONENTS if name in present}
    wanted = spec.split(SEPARATOR)
    missing = [name for name in wanted if name not in present]
    if missing:
        raise PassUnsupported(
            f"{pass_name}: this model has no component {missing[0]!r}; it has {', '.join(sorted(present))}"
        )
    return {name: present[name] for name in wanted}


def layer_group(module: torch.nn.Module, qualified_name: str) -> str:
    """`attention`, `ff` or `other`, from the classes of the Linear's ancestors."""
    parts = qualified_name.split(".")
    group = "other"
    current = module
    for part in parts[:-1]:
        current = getattr(current, part)
        kind = type(current).__name__
        if kind.endswith(_ATTENTION_PARENTS):
            group = "attention"
        elif kind.endswith(_FEED_FORWARD_PARENTS):
            group = "ff"
    return group


def is_plain_float_linear(layer: torch.nn.Module) -> bool:
    """An unquantised nn.Linear (bitsandbytes' layers subclass nn.Linear; torchao swaps the weight)."""
    return (
        type(layer) is torch.nn.Linear
        and type(layer.weight) is torch.nn.Parameter
        and layer.weight.dtype.is_floating_point
    )


def select_linears(module: torch.nn.Module, layers: str) -> list[tuple[str, torch.nn.Linear]]:
    groups = set(layers.split(SEPARATOR))
    chosen: list[tuple[str, torch.nn.Linear]] = []
    for name, layer in module.named_modules():
        if not is_plain_float_linear(layer):
            continue
        if "linear" in groups or layer_group(module, name) in groups:
            chosen.append((name, layer))
    return chosen


def replace_submodule(root: torch.nn.Module, qualified_name: str, new: torch.nn.Module) -> None:
    parent_name, _, child = qualified_name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)
