"""The suite's options, validated once at start-up so that bad input fails before any build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench import preflight
from bench.checkpoint_options import checkpoint_options
from bench.cli_parser import parse_float, parse_int
from bench.devices import resolve_device
from bench.errors import BenchError
from bench.model_defaults import default_resolution, default_weights
from bench.profiles.offload import parse_offload
from bench.profiles.select import ProfileSelection, select_profile
from bench.quality.options import quality_options
from bench.sweep import expand, sweep_axes
from bench.workload import Workload
from models import RANDOM, REGISTRY, ModelError, get_spec
from models.gan_load import GAN_CONFIG
from models.registry import VAE
from optimize import BASELINE, PASSES, default_cache_root, parse_recipe
from optimize.passes.registry import emulation_note

MODEL_INDEX = "model_index.json"  # a diffusers pipeline folder
VAE_CONFIG = "config.json"  # a diffusers AutoencoderKL folder (a VAE-only model's weights)
# torch.Generator.manual_seed takes 64 bits; a bigger seed would fail at the first generation.
MAX_SEED = 2**64 - 1


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
    """The baseline, then every pass that needs no argument, runs natively on this device and is
    quick to build. A dtype the CPU only emulates (bf16/fp16 without AVX512-BF16/FP16 or AMX)
    runs several times slower than fp32: it runs when named, its row saying so (`dtype_note`)."""
    names = [BASELINE]
    for name, cls in sorted(PASSES.items()):
        if name == BASELINE or not cls.in_default_suite or any(param.required for param in cls.params):
            continue
        if emulation_note(cls, device) is not None:
            continue
        recipe = parse_recipe(name)
        if recipe.unsupported_reason(device) is None:
            names.append(recipe.canonical)
    return names


def parse_variants(text: str | None, device: torch.device) -> tuple[str, ...]:
    """Comma-separated recipes -> canonical names, baseline first, duplicates dropped.

    Not given: the default set. Given but empty (`--variants=`, a shell variable that was
    never set) is refused: silently running the default set would time what nobody asked for.
    """
    if text is None:
        return tuple(default_variants(device))
    if not text.strip():
        raise BenchError(
            f"--variants {text!r} is empty; give comma-separated recipes, e.g. fp32,bf16 "
            "(leave the option out for the default set)"
        )
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


def _check_model(model: str, weights: str, allow_pickle: bool) -> None:
    """The model and its weights exist and every file they hold is sound, before anything is built."""
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
        if weights != RANDOM:
            marker = (VAE_CONFIG,) if spec.family == VAE else (MODEL_INDEX,)
            _check_local(Path(weights), "--weights", allow_pickle, marker)
        return
    if not Path(model).expanduser().exists():
        get_spec(model)  # raises: unknown name, nor an existing path
    _check_local(Path(model), "--model", allow_pickle, (MODEL_INDEX, GAN_CONFIG))


def _check_local(path: Path, what: str, allow_pickle: bool, marker: tuple[str, ...]) -> None:
    if preflight.real_path(path, what).is_dir():
        preflight.model_folder(path, what, allow_pickle, marker)
    elif what == "--model":
        raise ModelError(f"--model {str(path)!r} is a file; give a model name or a local model folder")
    else:
        preflight.weights_file(path, what, allow_pickle)


def _check_workload_numbers(base: dict[str, Any], axes: dict[str, list[str]]) -> None:
    """Every number of every workload through the shared parsers: 'abc', NaN and inf are one line."""
    for name, values in (*((key, [value]) for key, value in base.items()), *axes.items()):
        for value in values:
            if name in ("steps", "batch"):
                parse_int(f"--{name}", value, minimum=1)
            elif name == "seed":
                parse_int("--seed", value, minimum=0, maximum=MAX_SEED)
            elif name == "guidance":
                parse_float("--guidance", value, minimum=0.0, example="7.5")


def _check_places(option: Callable[[str], Any], cache_root: Path | None) -> None:
    """Files the run reads later and the cache it writes: checked now, nothing created."""
    preflight.text_file(option("--prompts-file"), "--prompts-file", "a text file, one prompt per line")
    preflight.text_file(option("--profile-file"), "--profile-file", "a TOML file of hardware profiles")
    preflight.text_file(option("--calibration"), "--calibration", "a TOML or JSON file of efficiencies")
    preflight.writable_folder(cache_root or default_cache_root(), "--cache-dir")


def config_from_options(option: Callable[[str], Any]) -> SuiteConfig:
    """Raises BenchError, ModelError or RecipeError with a one-line message."""
    device = resolve_device(option("--device"))
    model = option("--model")
    allow_pickle = bool(option("--allow-pickle"))
    weights = default_weights(model, option("--weights"))
    _check_model(model, weights, allow_pickle)
    base = {
        "resolution": default_resolution(model, option("--resolution")),
        "steps": option("--steps"),
        "batch": option("--batch"),
        "guidance": option("--guidance"),
        "scheduler": option("--scheduler"),
        "prompt": option("--prompt"),
        "seed": option("--seed"),
    }
    cache_dir = option("--cache-dir")
    cache_root = Path(cache_dir).expanduser() if cache_dir else None
    _check_places(option, cache_root)
    axes = sweep_axes(option("--sweep"), option("--prompts-file"), option("--seeds"))
    _check_workload_numbers(base, axes)
    workloads = expand(base, axes, option("--sweep-mode"))
    return SuiteConfig(
        model=model,
        weights=weights,
        variants=parse_variants(option("--variants"), device),
        workloads=workloads,
        rounds=parse_int("--rounds", option("--rounds"), minimum=1),
        warmup=parse_int("--warmup", option("--warmup"), minimum=0),
        device=device,
        cache_root=cache_root,
        allow_pickle=allow_pickle,
        timeout_s=_timeout(option("--timeout")),
        hardware=select_profile(
            option("--profile"), device, option("--profile-file"), option("--calibration")
        ),
        offload=parse_offload(option("--offload")),
        **quality_options(option, model),
        **checkpoint_options(option),
    )


def _timeout(text: str | float | None) -> float | None:
    """Seconds one benchmark may take; not given or 0: no limit. NaN and inf are refused, not 'no limit'."""
    if text is None or str(text).strip() == "":
        return None
    seconds = parse_float("--timeout", text, example="600 (seconds; 0 for no limit)")
    if seconds < 0:
        raise BenchError(f"--timeout {seconds:g} must be a positive number of seconds (0 for no limit)")
    return seconds or None
