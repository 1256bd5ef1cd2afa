"""The device memory and the work of one generation, estimated without running it.

Each stage of a Stable Diffusion (or SDXL, or DDPM) generation is traced once on the meta
device (cost.py) with the inputs the diffusers pipeline gives it; which components play the
text encoders, the denoiser and the decode is the family's stage plan (models/families):

- text encoder(s): token ids [batch, 77]; SD encodes the prompt and the empty negative
  prompt (2 calls with classifier-free guidance); SDXL zeroes the negative embeddings
  (`force_zeros_for_empty_prompt`), so each of its encoders runs once;
- UNet, once per step: latents [2*batch (guidance) , 4, H/8, W/8], the timestep, the text
  embeddings (and SDXL's pooled embeddings and time ids);
- VAE decode: latents [batch, 4, H/8, W/8]; SDXL's pipeline upcasts an fp16 VAE to fp32 for
  the decode (`force_upcast`), so that stage runs in fp32 with fp32 VAE weights.

Peak device memory = every component's weights (the pipeline is moved to the device whole)
+ the largest stage's activation peak (+ the VAE upcast's extra weights in that stage)
+ a workspace allowance for what is not a tensor (cuBLAS/cuDNN workspaces).

Each stage keeps its module and its inputs' shapes, so that the row's MAC count reads the same
traces instead of making its own (bench/instruments/meta_trace.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.func import functional_call

from bench.profiles.cost import Trace, meta_state, tensor_bytes, tensor_shapes, trace_call
from models.families import ModelFamily, family_of
from models.families.base import StagePlan
from optimize.macs import dense_stand_ins, maybe_quantised_linear
from optimize.quantisation.footprint import module_parameter_bytes

MIB = 1 << 20
WORKSPACE_BYTES = 128 * MIB  # cuBLAS workspace (a few MiB per handle) + cuDNN conv workspaces
TOKENS = 77


@dataclass
class StageEstimate:
    name: str  # text_encoder, text_encoder_2, unet, vae_decode
    calls: int  # per generation (the UNet's: per step, see PipelineEstimate.steps)
    trace: Trace
    extra_weight_bytes: int = 0  # weights that exist only during this stage (SDXL's VAE upcast)
    # What was traced, so that the row's MAC count can reuse the trace instead of tracing the
    # module again (bench/instruments/meta_trace.py): the module (the VAE for its decode) and
    # the shapes of the call's tensor inputs (batch first).
    module: torch.nn.Module | None = None
    input_shapes: tuple[tuple[int, ...], ...] = ()

    @property
    def peak_bytes(self) -> int:
        return self.trace.peak_bytes + self.extra_weight_bytes


@dataclass
class PipelineEstimate:
    weights_bytes: int
    stages: list[StageEstimate]
    steps: int
    workspace_bytes: int = WORKSPACE_BYTES

    @property
    def activation_peak_bytes(self) -> int:
        return max((stage.peak_bytes for stage in self.stages), default=0)

    @property
    def peak_bytes(self) -> int:
        return self.weights_bytes + self.activation_peak_bytes + self.workspace_bytes

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / MIB

    def stage(self, name: str) -> StageEstimate:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def calls_per_generation(self, stage: StageEstimate) -> int:
        return stage.calls * (self.steps if stage.name == "unet" else 1)


class _Decode(torch.nn.Module):
    """`vae.decode` as a forward, so functional_call can run it with swapped weights."""

    def __init__(self, vae: torch.nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents, return_dict=False)[0]


def weights_bytes(module: torch.nn.Module, dtype: torch.dtype | None = None) -> int:
    """Bytes of parameters and buffers, each storage once; `dtype` recasts floating ones.

    Quantised layers count at the bytes they hold (torchao's Int8Tensor reports a float dtype,
    so numel x element_size would charge it as float)."""
    if dtype is None and any(maybe_quantised_linear(layer) for layer in module.modules()):
        return module_parameter_bytes(module)
    total = 0
    seen: set[int] = set()
    for tensor in [*module.parameters(), *module.buffers()]:
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        if dtype is not None and tensor.is_floating_point():
            total += tensor.numel() * torch.empty((), dtype=dtype).element_size()
        else:
            total += tensor_bytes(tensor)
    return total


def _empty(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device="meta")


def _traced_stage(
    name: str,
    calls: int,
    module: torch.nn.Module,
    dtype: torch.dtype | None,
    inputs: Callable[[], tuple[tuple, dict[str, Any]]],
    *,
    runs: torch.nn.Module | None = None,
    extra_weight_bytes: int = 0,
) -> StageEstimate:
    """`runs` (default `module`) traced on `inputs()`; `module` is the component it belongs to."""
    runs = module if runs is None else runs
    shapes: list[tuple[int, ...]] = []
    # Quantised Linears (bitsandbytes' Int8Params, torchao's Int8Tensor) cannot be replaced by meta
    # tensors of their own class; a float stand-in of the same shape makes the same activations.
    # Their weights are counted apart, by `weights_bytes`, at the bytes they really hold.
    with dense_stand_ins(runs):
        state = meta_state(runs, dtype)

        def run() -> Any:
            args, kwargs = inputs()  # built inside the trace: inputs are allocations too
            shapes.extend(tensor_shapes((args, kwargs)))
            return functional_call(runs, state, args, kwargs)

        trace = trace_call(run)
    return StageEstimate(name, calls, trace, extra_weight_bytes, module=module, input_shapes=tuple(shapes))


def _module_dtype(module: torch.nn.Module, dtype: torch.dtype | None) -> torch.dtype:
    if dtype is not None:
        return dtype
    for parameter in module.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


@dataclass(frozen=True)
class _ComponentsOnly:
    """What `family_of` reads of a pipeline, for the `.components` this module is given."""

    components: dict[str, Any]


def _family(components: dict[str, Any]) -> ModelFamily:
    return family_of(_ComponentsOnly(components))  # type: ignore[arg-type]


def _decoder(components: dict[str, Any], plan: StagePlan) -> torch.nn.Module | None:
    """The component whose `decode` the family's plan times as the vae_decode stage."""
    for method in plan.timed_methods:
        if method.stage == "vae_decode" and method.component is not None:
            return components.get(method.component)
    return None


def estimate_pipeline(
    components: dict[str, Any],
    width: int,
    height: int,
    steps: int,
    batch: int = 1,
    guidance: float = 7.5,
    dtype: torch.dtype | None = None,
) -> PipelineEstimate:
    """`components` is a diffusers pipeline's `.components` (real or meta weights); `dtype`
    recasts every floating weight as a dtype pass would (None: as the modules are)."""
    family = _family(components)
    plan = family.stage_plan
    unet = components[plan.denoiser or "unet"]  # a family without steps has nothing to estimate
    vae = _decoder(components, plan)  # None: a pixel-space pipeline (DDPM), no decode stage
    encoders = [name for name in plan.text_encoders if components.get(name) is not None]
    xl = family.xl
    guided = guidance > 1.0 and bool(encoders)  # an unconditional pipeline has no CFG batch
    modules = [
        module for module in (unet, vae, *(components[name] for name in encoders)) if module is not None
    ]
    total_weights = sum(weights_bytes(module, dtype) for module in modules)
    stages: list[StageEstimate] = []

    for name in encoders:
        encoder = components[name]

        def token_inputs() -> tuple[tuple, dict[str, Any]]:
            return (_empty(batch, TOKENS, dtype=torch.long),), {"output_hidden_states": xl}

        calls = 2 if guided and not xl else 1
        stages.append(_traced_stage(name, calls, encoder, dtype, token_inputs))

    unet_dtype = _module_dtype(unet, dtype)
    config = unet.config
    scale = 2 ** (len(vae.config.block_out_channels) - 1) if vae is not None else 1
    conditional = getattr(config, "cross_attention_dim", None) is not None
    rows = batch * (2 if guided else 1)
    latent_h, latent_w = height // scale, width // scale

    def unet_inputs() -> tuple[tuple, dict[str, Any]]:
        sample = _empty(rows, config.in_channels, latent_h, latent_w, dtype=unet_dtype)
        timestep = _empty(dtype=torch.float32)
        if not conditional:
            return (sample, timestep), {"return_dict": False}
        context = _empty(rows, TOKENS, config.cross_attention_dim, dtype=unet_dtype)
        kwargs: dict[str, Any] = {"return_dict": False}
        if getattr(config, "addition_embed_type", None) == "text_time":
            pooled = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
            kwargs["added_cond_kwargs"] = {
                "text_embeds": _empty(rows, pooled, dtype=unet_dtype),
                "time_ids": _empty(rows, 6, dtype=unet_dtype),
            }
        return (sample, timestep, context), kwargs

    stages.append(_traced_stage("unet", 1, unet, dtype, unet_inputs))
    if vae is None:
        return PipelineEstimate(weights_bytes=total_weights, stages=stages, steps=steps)

    vae_dtype = _module_dtype(vae, dtype)
    extra = 0
    if xl and vae_dtype == torch.float16 and getattr(vae.config, "force_upcast", False):
        extra = weights_bytes(vae, torch.float32) - weights_bytes(vae, torch.float16)
        vae_dtype = torch.float32
    latent_channels = vae.config.latent_channels

    def vae_inputs() -> tuple[tuple, dict[str, Any]]:
        return (_empty(batch, latent_channels, latent_h, latent_w, dtype=vae_dtype),), {}

    decode = _traced_stage(
        "vae_decode", 1, vae, vae_dtype, vae_inputs, runs=_Decode(vae), extra_weight_bytes=extra
    )
    stages.append(decode)
    return PipelineEstimate(weights_bytes=total_weights, stages=stages, steps=steps)
