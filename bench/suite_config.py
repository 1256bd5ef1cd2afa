"""The suite's options, validated once at start-up so that bad input fails before any build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.checkpoint_options import checkpoint_options
from bench.devices import resolve_device
from bench.errors import BenchError
from bench.model_defaults import default_resolution, default_weights
from bench.profiles.offload import parse_offload
from bench.profiles.select import ProfileSelection, select_profile
from bench.quality.options import quality_options
from bench.sweep import expand, sweep_axes
from bench.workload import Workload, positive_int
from models import RANDOM, REGISTRY, ModelError, get_spec
from optimize import BASELINE, PASSES, parse_recipe


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
    hardware: ProfileSelection | None = None  # the --profile, its host and emulation
    offload: str = "none"
    quality: str | None = None  # `fid`: FID/KID of each variant's samples (bench/quality)
    fid_samples: int = 100
    fid_reference: str = "baseline"
    fid_dims: int = 2048
    fid_inception: str | None = None
    # --lora / --textual-inversion / --unet-checkpoint (bench/checkpoint_options.py)
    lora: tuple[tuple[str, float], ...] = ()
    textual_inversion: tuple[tuple[str, str | None], ...] = ()
    unet_checkpoint: str | None = None


def default_variants(device: torch.device) -> list[str]:
    """The baseline, then every pass that needs no argument, can run on this device and is quick to build."""
    names = [BASELINE]
    for name, cls in sorted(PASSES.items()):
        if name == BASELINE or not cls.in_default_suite or any(param.required for param in cls.params):
            continue
        recipe = parse_recipe(name)
        if recipe.unsupported_reason(device) is None:
            names.append(recipe.canonical)
    return names


def parse_variants(text: str | None, device: torch.device) -> tuple[str, ...]:
    """Comma-separated recipes -> canonical names, baseline first, duplicates dropped."""
    if text is None or not text.strip():
        return tuple(default_variants(device))
    canonical: list[str] = []
    for piece in _split_top_level(text):
        name = parse_recipe(piece).canonical
        if name not in canonical:
            canonical.append(name)
    if BASELINE in canonical:
        canonical.remove(BASELINE)
        canonical.insert(0, BASELINE)
    return tuple(canonical)


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses: `prune(0.3,importance=taylor),bf16` is two recipes."""
    pieces: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def _check_model(model: str, weights: str) -> None:
    if model in REGISTRY:
        spec = get_spec(model)
        if weights != RANDOM and spec.random_only:
            raise ModelError(
                f"--weights {weights!r}: model {model!r} has only random weights; use --weights random"
            )
        if weights != RANDOM and not Path(weights).expanduser().exists():
            raise ModelError(
                f"--weights {weights!r} does not exist: give 'random' or a local folder/.safetensors file"
            )
        return
    if not Path(model).expanduser().exists():
        get_spec(model)  # raises: unknown name, nor an existing path


def config_from_options(option: Callable[[str], Any]) -> SuiteConfig:
    """Raises BenchError, ModelError or RecipeError with a one-line message."""
    device = resolve_device(option("--device"))
    model = option("--model")
    weights = default_weights(model, option("--weights"))
    _check_model(model, weights)
    base = {
        "resolution": default_resolution(model, option("--resolution")),
        "steps": option("--steps"),
        "batch": option("--batch"),
        "guidance": option("--guidance"),
        "scheduler": option("--scheduler"),
        "prompt": option("--prompt"),
        "seed": option("--seed"),
    }
    axes = sweep_axes(option("--sweep"), option("--prompts-file"), option("--seeds"))
    workloads = expand(base, axes, option("--sweep-mode"))
    warmup = int(option("--warmup"))
    if warmup < 0:
        raise BenchError(f"--warmup {warmup} must be 0 or more")
    cache_dir = option("--cache-dir")
    return SuiteConfig(
        model=model,
        weights=weights,
        variants=parse_variants(option("--variants"), device),
        workloads=workloads,
        rounds=positive_int("--rounds", option("--rounds")),
        warmup=warmup,
        device=device,
        cache_root=Path(cache_dir).expanduser() if cache_dir else None,
        allow_pickle=bool(option("--allow-pickle")),
        timeout_s=_timeout(option("--timeout")),
        hardware=select_profile(
            option("--profile"), device, option("--profile-file"), option("--calibration")
        ),
        offload=parse_offload(option("--offload")),
        **quality_options(option, model),
        **checkpoint_options(option),
    )


def _timeout(text: str | float | None) -> float | None:
    if text in (None, "", 0, "0"):
        return None
    try:
        seconds = float(text)
    except (TypeError, ValueError):
        raise BenchError(f"--timeout {text!r} is not a number of seconds, e.g. 600") from None
    if seconds <= 0:
        raise BenchError(f"--timeout {seconds:g} must be a positive number of seconds")
    return seconds
