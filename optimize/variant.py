"""Build a recipe on a model, or load it from the variant cache."""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import torch
from diffusers import DiffusionPipeline

from models import LoadedModel
from optimize.cache import VariantCache, cache_key
from optimize.code_fingerprint import CodeFingerprint, recipe_code_fingerprint
from optimize.components import count_parameters, to_device
from optimize.cpu_features import reduce_range_for
from optimize.formats import get_format
from optimize.passes import BuildContext
from optimize.recipe import Recipe
from optimize.working_copy import working_copy

# onnxruntime / tensorrt: saved optimised graphs and engines only load with the version that wrote them.
_VERSIONED = (
    "torch",
    "diffusers",
    "transformers",
    "safetensors",
    "onnxruntime",
    "onnxruntime-gpu",
    "tensorrt",
)


def library_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for package in _VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return versions


def device_label(device: torch.device) -> str:
    """Builds for one GPU model may not suit another (engines, kernels), so the name is in the key.

    On a CPU, the kernel level and int8 arithmetic are in it too: an int8 graph built without VNNI
    has 7-bit weights (optimize/cpu_features.py), and compiled kernels are ISA-specific, so a
    cache shared between an AVX2 and an AVX-512/VNNI machine must not hand one's build to the other."""
    if device.type == "cuda":
        return f"cuda/{torch.cuda.get_device_name(device)}"
    try:
        capability = str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        capability = "unknown"
    int8 = "int8-7bit" if reduce_range_for(device) else "int8-full"
    return f"cpu/{platform.machine()}/{capability}/{int8}"


@dataclass
class Variant:
    recipe: Recipe
    pipeline: DiffusionPipeline
    manifest: dict[str, Any]
    build_s: float
    cache_hit: bool
    size_bytes: int
    # Peak RSS of the process while this build (or cache load) ran, when a meter was given.
    peak_ram_mib: float | None = None

    @property
    def name(self) -> str:
        return self.recipe.canonical

    @property
    def params(self) -> int | None:
        # None for exported variants (onnx/ort/ort-int8/trt): their weights live outside torch.
        return count_parameters(self.pipeline)


def variant_key(
    model: LoadedModel, recipe: Recipe, device: torch.device, code: CodeFingerprint | None = None
) -> str:
    """`code`: the recipe's code fingerprint when the caller has it (it reads and parses sources)."""
    code = code or recipe_code_fingerprint(recipe)
    return cache_key(
        {
            "model": model.fingerprint,
            "recipe": recipe.canonical,
            "versions": library_versions(),
            "device": device_label(device),
            "format": recipe.format,
            # The harness code that builds and stores this recipe: an edited pass rebuilds.
            "code": code.sha256,
        }
    )


def build_variant(
    model: LoadedModel,
    recipe: Recipe,
    device: torch.device,
    cache: VariantCache,
    seed: int = 0,
    place_on_device: bool = True,
    peak_meter: Callable[[], PeakMeter] | None = None,
    warmups: Mapping[str, Callable[[DiffusionPipeline], object]] | None = None,
) -> Variant:
    """Raises PassUnsupported (with the reason) before doing any work if the recipe can't run here.

    `place_on_device=False` leaves the pipeline on the CPU (for CPU offload to move it in parts).
    `peak_meter` (bench's RSS instrument) measures the build's peak RAM, recorded in the manifest
    (`build_peak_ram_mib`) and on the variant; it is passed in because optimize has no instruments.
    `warmups` are the run's generations by workload label (see BuildContext.warmups)."""
    recipe.require_supported(device)
    code = recipe_code_fingerprint(recipe)
    key = variant_key(model, recipe, device, code)
    started = time.perf_counter()
    variant_format = get_format(recipe.format)
    meter = peak_meter() if peak_meter is not None else None
    with cache.lock(key), meter or contextlib.nullcontext():
        entry = cache.load(key)
        cache_hit = entry is not None
        context = BuildContext(device=device, seed=seed, base=model.pipeline, warmups=warmups or {})
        if entry is None:
            pipeline = working_copy(model.pipeline, recipe)
            for step in recipe.passes:
                pipeline = step.apply(pipeline, context)
            built = pipeline
            manifest: dict[str, Any] = {
                "model": model.name,
                "weights": model.weights,
                "model_fingerprint": model.fingerprint,
                "recipe": recipe.canonical,
                "passes": [p.canonical() for p in recipe.passes],
                "versions": library_versions(),
                "device": device_label(device),
                "format": recipe.format,
                "code": vars(code),
                "build_s": time.perf_counter() - started,
                "checks": context.checks,
            }

            def write(folder: Path) -> None:
                manifest.update(variant_format.save(built, folder, recipe))
                manifest["build_peak_ram_mib"] = meter.current_peak_mib() if meter else None

            entry = cache.store(key, manifest, write)
        else:
            pipeline = variant_format.restore(model.pipeline, entry.folder, entry.manifest, recipe, context)
    if place_on_device:
        to_device(pipeline, device)
    return Variant(
        recipe=recipe,
        pipeline=pipeline,
        manifest=entry.manifest,
        build_s=time.perf_counter() - started,
        cache_hit=cache_hit,
        size_bytes=entry.size_bytes,
        peak_ram_mib=meter.peak_mib if meter else None,
    )


class PeakMeter(Protocol):
    """A context manager measuring the process's peak RSS since it was entered."""

    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: object) -> Any: ...
    def current_peak_mib(self) -> float: ...  # read inside the block
    @property
    def peak_mib(self) -> float: ...  # read after it
