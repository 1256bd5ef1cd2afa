"""Turn a model name or path plus a weights choice into a runnable pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from diffusers import DiffusionPipeline

from models.errors import ModelError
from models.families import ModelFamily, families, family_for_spec, family_of
from models.fingerprint import contained_files, files_fingerprint, random_fingerprint
from models.local_load import load_folder
from models.registry import REGISTRY, STABLE_DIFFUSION, get_spec

RANDOM = "random"


@dataclass
class LoadedModel:
    name: str
    weights: str
    fingerprint: str
    pipeline: DiffusionPipeline
    # stable-diffusion, ddpm, vae or gan (models/registry.py FAMILIES): the row's `family`.
    family: str = STABLE_DIFFUSION

    @property
    def model_family(self) -> ModelFamily:
        """The family object that builds, runs and traces this pipeline (models/families/)."""
        return family_of(self.pipeline)


def _existing_path(text: str, what: str) -> Path:
    path = Path(text).expanduser()
    if not path.exists():
        raise ModelError(
            f"{what} {text!r} does not exist: give a model name ({', '.join(REGISTRY)}) or an existing path"
        )
    return path.resolve()


def _local_model(folder: Path, allow_pickle: bool) -> LoadedModel:
    """A folder in a family's own layout (a GAN's gan.json, see models/gan_load.py), or else a
    diffusers folder (model_index.json), whose pipeline says which family it is."""
    contained_files(folder)  # before any loader reads a file: nothing outside the folder is read
    owner = next((family for family in families() if family.claims_folder(folder)), None)
    pipeline = owner.load_folder(folder, allow_pickle) if owner else load_folder(folder, allow_pickle)
    return LoadedModel(
        str(folder), str(folder), files_fingerprint(folder), pipeline, family_of(pipeline).row_family
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
    family = family_for_spec(spec)
    weights = spec.default_weights if weights is None else weights
    if weights == RANDOM:
        fingerprint = random_fingerprint(spec.name, spec.components, seed)
        return LoadedModel(spec.name, RANDOM, fingerprint, family.build_random(spec, seed), spec.family)
    if spec.random_only:
        raise ModelError(f"model {spec.name!r} has no real weights: use --weights random")
    path = _existing_path(weights, "weights path")
    fingerprint = files_fingerprint(path)
    if family.weights_folder and not path.is_dir():
        raise ModelError(
            f"weights {weights!r}: a {spec.name} model loads from {family.weights_folder} folder, not a file"
        )
    pipeline = family.load_weights(spec, path, allow_pickle)
    return LoadedModel(spec.name, str(path), fingerprint, pipeline, spec.family)
