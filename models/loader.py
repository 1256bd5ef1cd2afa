"""Turn a model name or path plus a weights choice into a runnable pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from diffusers import DiffusionPipeline

from models.errors import ModelError
from models.fingerprint import files_fingerprint, random_fingerprint
from models.local_load import load_folder, load_single_file
from models.random_build import build_random_pipeline
from models.registry import DDPM, REGISTRY, get_spec

RANDOM = "random"


@dataclass
class LoadedModel:
    name: str
    weights: str
    fingerprint: str
    pipeline: DiffusionPipeline


def _existing_path(text: str, what: str) -> Path:
    path = Path(text).expanduser()
    if not path.exists():
        raise ModelError(
            f"{what} {text!r} does not exist: give a model name ({', '.join(REGISTRY)}) or an existing path"
        )
    return path.resolve()


def load_model(
    model: str, weights: str | None = RANDOM, seed: int = 0, allow_pickle: bool = False
) -> LoadedModel:
    """`model` is a registry name or a local diffusers folder; `weights` is `random` or a local path.

    `weights=None` means the model's default: its shipped weights if it has some, else random.
    """
    if model not in REGISTRY:
        if "/" in model or model.startswith(".") or Path(model).exists():
            folder = _existing_path(model, "model path")
            return LoadedModel(
                str(folder), str(folder), files_fingerprint(folder), load_folder(folder, allow_pickle)
            )
        get_spec(model)  # raises the one-line "unknown model" error
    spec = get_spec(model)
    weights = spec.default_weights if weights is None else weights
    if weights == RANDOM:
        fingerprint = random_fingerprint(spec.name, spec.components, seed)
        return LoadedModel(spec.name, RANDOM, fingerprint, build_random_pipeline(spec, seed))
    if spec.random_only:
        raise ModelError(f"model {spec.name!r} has no real weights: use --weights random")
    path = _existing_path(weights, "weights path")
    fingerprint = files_fingerprint(path)
    if spec.family == DDPM and not path.is_dir():
        raise ModelError(
            f"weights {weights!r}: a {spec.name} model loads from a diffusers folder, not a file"
        )
    pipeline = (
        load_folder(path, allow_pickle) if path.is_dir() else load_single_file(spec, path, allow_pickle)
    )
    return LoadedModel(spec.name, str(path), fingerprint, pipeline)
