"""What a model family is: the one place that knows how its pipelines are built, run and traced.

A family is a class with one instance, registered once (models/families/__init__.py finds every
module in this folder). Everything outside models/ that needs to tell a GAN from a Stable
Diffusion pipeline asks `family_of(pipeline)` and then the family, never `isinstance`.

models/ imports nothing of ours, so the workload arrives as a small protocol (`ImageRequest`):
bench's `Workload` satisfies it as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from diffusers import DiffusionPipeline

from models.registry import ModelSpec
from models.tracing import first_parameter_dtype, unet_example_inputs

# diffusers' `callback_on_step_end` signature: (pipeline, step index, timestep, tensors) -> tensors.
OnStep = Callable[[DiffusionPipeline, int, Any, dict[str, Any]], dict[str, Any]]
Generators = torch.Generator | list[torch.Generator]
Inputs = dict[str, Any]


class ImageRequest(Protocol):
    """The part of a workload a generation reads (bench's `Workload` is one)."""

    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def steps(self) -> int: ...
    @property
    def guidance(self) -> float: ...
    @property
    def batch(self) -> int: ...
    @property
    def prompt(self) -> str: ...


@dataclass(frozen=True)
class TimedMethod:
    """A method timed by wrapping it (TorchScript modules take no hooks): `stage` is its name."""

    component: str | None  # None: a method of the pipeline itself
    method: str
    stage: str


@dataclass(frozen=True)
class StagePlan:
    """The stages a generation of this family runs, which the stage timer times.

    A stage the plan does not name (or whose component the pipeline lacks) is reported as
    None, not as zero seconds.
    """

    text_encoders: tuple[str, ...] = ()  # timed by forward hooks: the `text_encoder` stage
    # The component run once per denoising step (None: a family without steps); its first call
    # starts step 0's clock, and each step ends at a callback.
    denoiser: str | None = None
    timed_methods: tuple[TimedMethod, ...] = ()


@dataclass(frozen=True)
class TracedCall:
    """One module call of a generation at batch 1, with inputs that carry shapes and dtypes only
    (MACs are counted on meta or fake tensors), and how many such calls one image costs."""

    stage: str  # text_encoder, unet, vae_decode, vae_encode, generator
    module: torch.nn.Module
    make_inputs: Callable[[], Inputs]
    call: Callable[..., Any]  # call(module, **inputs)
    per_image: float


@dataclass(frozen=True)
class Generation:
    """One seeded generation: `count` images, one per generator when given a list."""

    request: ImageRequest
    device: torch.device
    generator: Generators
    count: int
    on_step: OnStep | None = None  # called after each denoising step
    negative_prompt: str = ""  # conditions text-to-image families only


class ModelFamily:
    """Base class: one subclass per family, registered with `@register`."""

    # Unique key of the family (the registry's); `row_family` is the row's `family` column.
    name: ClassVar[str]
    row_family: ClassVar[str]
    # The family that takes any pipeline no other family claims (exactly one has it).
    fallback: ClassVar[bool] = False
    # What optimize/ may do to the family, which it reads here instead of asking what the
    # pipeline is: the components an ONNX export replaces with graphs (in the order a
    # generation runs them), pruning scope -> the components it prunes, and the modules
    # torch.compile wraps (dotted paths from the pipeline: "vae.decoder").
    export_components: ClassVar[tuple[str, ...]] = ()
    prune_scopes: ClassVar[dict[str, tuple[str, ...]]] = {}
    compile_modules: ClassVar[tuple[str, ...]] = ()
    # SDXL-style conditioning: the penultimate text hidden states, a pooled embedding and time
    # ids for the UNet, and a VAE that decodes in float32 when its config says force_upcast.
    xl: ClassVar[bool] = False
    # Real weights load from a folder only: what kind of folder (None: a file is fine too).
    weights_folder: ClassVar[str | None] = None
    stage_plan: ClassVar[StagePlan] = StagePlan()

    # -- which family ---------------------------------------------------------------
    def describes(self, spec: ModelSpec) -> bool:
        """Whether a registry spec is of this family."""
        return spec.family == self.row_family

    def claims(self, pipeline: DiffusionPipeline) -> bool:
        """Whether a built pipeline (from the registry, a folder, or a pass) is of this family."""
        raise NotImplementedError

    def claims_folder(self, folder: Path) -> bool:
        """Whether a local folder holds a model of this family in a layout of its own
        (diffusers folders are every family's: their pipeline says which)."""
        return False

    # -- build and load -------------------------------------------------------------
    def build_random(self, spec: ModelSpec, seed: int) -> DiffusionPipeline:
        """The spec's architecture with random weights: same seed, same weights."""
        raise NotImplementedError

    def load_weights(self, spec: ModelSpec, path: Path, allow_pickle: bool) -> DiffusionPipeline:
        """The spec's architecture with real weights from a local folder or file."""
        raise NotImplementedError

    def load_folder(self, folder: Path, allow_pickle: bool) -> DiffusionPipeline:
        """A model folder this family `claims_folder`."""
        raise NotImplementedError

    # -- run ------------------------------------------------------------------------
    def generate(self, pipeline: DiffusionPipeline, job: Generation) -> np.ndarray:
        """The job's images as float32 NHWC in [0, 1] (NaN kept), run under
        `torch.inference_mode()` by the caller."""
        raise NotImplementedError

    def traced_calls(self, pipeline: DiffusionPipeline, request: ImageRequest) -> list[TracedCall]:
        """Every module call one image costs, with example inputs for tracing (MACs)."""
        raise NotImplementedError


# Family name -> its one instance, filled by `@register` as models/families/__init__.py imports
# every module of the folder.
REGISTERED: dict[str, ModelFamily] = {}


def register(family_class: type[ModelFamily]) -> type[ModelFamily]:
    """Class decorator: one instance per family, its `name` unique."""
    if family_class.name in REGISTERED:
        raise ValueError(f"model family {family_class.name!r} is registered twice")
    REGISTERED[family_class.name] = family_class()
    return family_class


class OneCallFamily(ModelFamily):
    """A family without denoising steps (a VAE alone, a GAN generator): the pipeline draws its
    latents or z from the seeded CPU generator(s) and is called once; prompt, steps, guidance
    and scheduler do not apply."""

    def generate(self, pipeline: DiffusionPipeline, job: Generation) -> np.ndarray:
        request = job.request
        result = pipeline(
            batch_size=job.count,
            generator=job.generator,
            height=request.height,
            width=request.width,
            output_type="np",
        )
        return np.asarray(result.images, dtype=np.float32)


def unet_call(unet: torch.nn.Module, height: int, width: int, tokens: int, per_image: float) -> TracedCall:
    """One UNet call at batch 1 on latents of `height` x `width`, in the UNet's own dtype."""
    dtype = first_parameter_dtype(unet)
    return TracedCall(
        "unet",
        unet,
        lambda: unet_example_inputs(unet, 1, height, width, tokens=tokens, dtype=dtype),
        lambda module, **inputs: module(**inputs, return_dict=False),
        per_image,
    )


def vae_decode_call(vae: torch.nn.Module, latent_shape: tuple[int, ...], dtype: torch.dtype) -> TracedCall:
    """One VAE decode of a batch-1 latent of `latent_shape`, once per image."""
    return TracedCall(
        "vae_decode",
        vae,
        lambda: {"z": torch.zeros(latent_shape, dtype=dtype)},
        lambda module, **inputs: module.decode(**inputs, return_dict=False),
        1,
    )
