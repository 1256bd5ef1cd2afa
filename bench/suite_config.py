"""The suite's options, validated once at start-up so that bad input fails before any build.

Each option group (bench/options) parses and checks its own options; SuiteConfig is their
values, flat, as the suite, the collectors and the rows read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.options import (
    AdapterOptions,
    HardwareOptions,
    ModelOptions,
    OptionLookup,
    QualityOptions,
    RunOptions,
    WorkloadOptions,
)
from bench.options.model import default_variants, parse_variants
from bench.profiles.select import ProfileSelection
from bench.workload import Workload


@dataclass(frozen=True)
class SuiteConfig:
    model: str
    weights: str
    variants: tuple[str, ...]
    workloads: tuple[Workload, ...]
    rounds: int
    warmup: int
    device: torch.device
    cache_root: Path | None
    allow_pickle: bool
    timeout_s: float | None = None
    # --interleave / --interleave-reload (bench/interleave.py): None, "resident" or "reload"
    interleave: str | None = None
    hardware: ProfileSelection | None = None  # the --profile, its host and emulation
    offload: str = "none"
    quality: str | None = None  # `fid`: FID/KID of each variant's samples (bench/quality)
    fid_samples: int = 100
    fid_reference: str = "baseline"
    fid_dims: int = 2048
    fid_inception: str | None = None
    # --lora / --textual-inversion / --unet-checkpoint (bench/options/adapters.py)
    lora: tuple[tuple[str, float], ...] = ()
    textual_inversion: tuple[tuple[str, str | None], ...] = ()
    unet_checkpoint: str | None = None


def config_from_options(option: OptionLookup) -> SuiteConfig:
    """Raises BenchError, ModelError or RecipeError with a one-line message."""
    device = HardwareOptions.parse_device(option)
    model = ModelOptions.parse(option, device)
    workload = WorkloadOptions.parse(option, model.model)
    run = RunOptions.parse(option)
    hardware = HardwareOptions.parse(option, device)
    quality = QualityOptions.parse(option, model.model)
    adapters = AdapterOptions.parse(option)
    return SuiteConfig(
        model=model.model,
        weights=model.weights,
        variants=model.variants,
        workloads=workload.workloads,
        rounds=run.rounds,
        warmup=run.warmup,
        device=device,
        cache_root=model.cache_root,
        allow_pickle=model.allow_pickle,
        timeout_s=run.timeout_s,
        interleave=run.interleave,
        hardware=hardware.hardware,
        offload=hardware.offload,
        quality=quality.quality,
        fid_samples=quality.fid_samples,
        fid_reference=quality.fid_reference,
        fid_dims=quality.fid_dims,
        fid_inception=quality.fid_inception,
        lora=adapters.lora,
        textual_inversion=adapters.textual_inversion,
        unet_checkpoint=adapters.unet_checkpoint,
    )


__all__ = ["SuiteConfig", "config_from_options", "default_variants", "parse_variants"]
