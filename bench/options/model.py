"""The model options: which model, its weights, the recipes built from it, and where variants are cached."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from bench.errors import BenchError
from bench.options.spec import Option, OptionGroup, OptionLookup

# Declaring the options (pytest --help, a study's parser) imports no torch: what parses and
# checks them (models, optimize, bench.preflight) is imported when they are parsed.
if TYPE_CHECKING:
    import torch

MODEL_INDEX = "model_index.json"  # a diffusers pipeline folder
VAE_CONFIG = "config.json"  # a diffusers AutoencoderKL folder (a VAE-only model's weights)


@dataclass(frozen=True)
class ModelOptions(OptionGroup):
    TITLE: ClassVar[str] = "diffbench model"
    DESCRIPTION: ClassVar[str] = "diffbench: the model, its weights and the variants built from it"
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        Option(
            "--model",
            default="tiny-sd",
            help="registry name (tiny-sd, sd15, sd21, sdxl) or local diffusers folder",
        ),
        Option(
            "--weights",
            help="'random' or a local diffusers folder / .safetensors file "
            "(default: the model's shipped weights if it has some, else random)",
        ),
        Option(
            "--variants",
            help="comma-separated recipes, e.g. 'fp32,bf16,prune(0.3)+bf16' "
            "(default: baseline + every pass available here)",
        ),
        Option(
            "--cache-dir",
            help="variant cache (default $DIFFBENCH_CACHE or ~/.cache/diffbench/variants)",
        ),
        Option(
            "--allow-pickle",
            action="store_true",
            help="allow pickle-based weights (.ckpt/.bin/.pt); they can run code",
        ),
    )

    model: str
    weights: str
    variants: tuple[str, ...]
    cache_root: Path | None
    allow_pickle: bool

    @classmethod
    def parse(cls, option: OptionLookup, device: torch.device) -> ModelOptions:
        """The model and its files checked, the cache folder writable, the recipes canonical.
        Raises BenchError, ModelError or PassError with a one-line message."""
        from bench import preflight
        from bench.model_defaults import default_weights
        from optimize import default_cache_root

        model = option("--model")
        allow_pickle = bool(option("--allow-pickle"))
        weights = default_weights(model, option("--weights"))
        check_model(model, weights, allow_pickle)
        cache_dir = option("--cache-dir")
        cache_root = Path(cache_dir).expanduser() if cache_dir else None
        preflight.writable_folder(cache_root or default_cache_root(), "--cache-dir")
        return cls(model, weights, parse_variants(option("--variants"), device), cache_root, allow_pickle)


def check_model(model: str, weights: str, allow_pickle: bool) -> None:
    """The model and its weights exist and every file they hold is sound, before anything is built."""
    from models import RANDOM, REGISTRY, ModelError, get_spec
    from models.gan_load import GAN_CONFIG
    from models.registry import VAE

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
    from bench import preflight
    from models import ModelError

    if preflight.real_path(path, what).is_dir():
        preflight.model_folder(path, what, allow_pickle, marker)
    elif what == "--model":
        raise ModelError(f"--model {str(path)!r} is a file; give a model name or a local model folder")
    else:
        preflight.weights_file(path, what, allow_pickle)


def default_variants(device: torch.device) -> list[str]:
    """The baseline, then every pass that needs no argument, runs natively on this device and is
    quick to build. A dtype the CPU only emulates (bf16/fp16 without AVX512-BF16/FP16 or AMX)
    runs several times slower than fp32: it runs when named, its row saying so (`dtype_note`)."""
    from optimize import BASELINE, PASSES, parse_recipe
    from optimize.passes.registry import emulation_note

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
    from optimize import BASELINE, parse_recipe

    if text is None:
        return tuple(default_variants(device))
    if not text.strip():
        raise BenchError(
            f"--variants {text!r} is empty; give comma-separated recipes, e.g. fp32,bf16 "
            "(leave the option out for the default set)"
        )
    canonical: list[str] = []
    for piece in split_top_level(text):
        name = parse_recipe(piece).canonical
        if name not in canonical:
            canonical.append(name)
    if BASELINE in canonical:
        canonical.remove(BASELINE)
        canonical.insert(0, BASELINE)
    return tuple(canonical)


def split_top_level(text: str) -> list[str]:
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
