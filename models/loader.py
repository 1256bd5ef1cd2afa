"""Turn a model name or path plus a weights choice into a runnable pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from diffusers import DiffusionPipeline

from models.errors import ModelError
from models.families import pipeline_family
from models.fingerprint import contained_files, files_fingerprint, random_fingerprint
from models.gan_load import is_gan_folder, load_gan_folder
from models.local_load import load_folder, load_single_file
from models.random_build import build_random_pipeline
from models.registry import DDPM, REGISTRY, STABLE_DIFFUSION, VAE, get_spec
from models.vae_only import DECODE, load_vae_folder

RANDOM = "random"


@dataclass
class LoadedModel:
    name: str
    weights: str
    fingerprint: str
    pipeline: DiffusionPipeline
    # stable-diffusion, ddpm, vae or gan (models/registry.py FAMILIES): the row's `family`.
    family: str = STABLE_DIFFUSION


def _existing_path(text: str, what: str) -> Path:
    path = Path(text).expanduser()
    if not path.exists():
        raise ModelError(
            f"{what} {text!r} does not exist: give a model name ({', '.join(REGISTRY)}) or an existing path"
        )
    return path.resolve()


def _local_model(folder: Path, allow_pickle: bool) -> LoadedModel:
    """A diffusers folder (model_index.json) or a GAN folder (gan.json, see models/gan_load.py)."""
    contained_files(folder)  # before any loader reads a file: nothing outside the folder is read
    pipeline = (
        load_gan_folder(folder, allow_pickle) if is_gan_folder(folder) else load_folder(folder, allow_pickle)
    )
    return LoadedModel(
        str(folder), str(folder), files_fingerprint(folder), pipeline, pipeline_family(pipeline)
    )


def load_model(
    model: str, weights: str | None = RANDOM, seed: int = 0, allow_pickle: bool = False
) -> LoadedModel:
    """`model` is a registry name, a local diffusers folder or a GAN folder; `weights` is `random`
    or a local path.

    `weights=None` means the model's default: its shipped weights if it has some, else random.
    """
    if model not in REGISTRY:
        if "/" in model or model.startswith(".") or Path(model).exists():
            return _local_model(_existing_path(model, "model path"), allow_pickle)
        get_spec(model)  # raises the one-line "unknown model" error
    spec = get_spec(model)
    weights = spec.default_weights if weights is None else weights
    if weights == RANDOM:
        fingerprint = random_fingerprint(spec.name, spec.components, seed)
        return LoadedModel(spec.name, RANDOM, fingerprint, build_random_pipeline(spec, seed), spec.family)
    if spec.random_only:
        raise ModelError(f"model {spec.name!r} has no real weights: use --weights random")
    path = _existing_path(weights, "weights path")
    fingerprint = files_fingerprint(path)
    if spec.family in (DDPM, VAE) and not path.is_dir():
        kind = "an AutoencoderKL" if spec.family == VAE else "a diffusers"
        raise ModelError(f"weights {weights!r}: a {spec.name} model loads from {kind} folder, not a file")
    if spec.family == VAE:
        mode = spec.components.get("pipeline", {}).get("mode", DECODE)
        pipeline = load_vae_folder(path, mode, allow_pickle)
    elif path.is_dir():
        pipeline = load_folder(path, allow_pickle)
    else:
        pipeline = load_single_file(spec, path, allow_pickle)
    return LoadedModel(spec.name, str(path), fingerprint, pipeline, spec.family)
