"""Load real weights from a local diffusers folder or a single checkpoint file, offline."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from diffusers import DiffusionPipeline, StableDiffusionPipeline, StableDiffusionXLPipeline

from models.errors import ModelError
from models.fingerprint import contained_files
from models.registry import ModelSpec
from models.tokenizer import build_clip_tokenizer

PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth", ".pkl")


def _refuse_pickle(path: Path) -> None:
    raise ModelError(
        f"refusing {path}: pickle-based weights ({', '.join(PICKLE_SUFFIXES)}) can run code when loaded; "
        "convert them to .safetensors, or pass --allow-pickle if you trust the file"
    )


def _check_contained(folder: Path) -> None:
    """A model folder may only name files inside itself: no `../` components, no symlinks out."""
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"{folder}/model_index.json is unreadable: {error}") from None
    if not isinstance(index, dict):
        raise ModelError(f"{folder}/model_index.json is not a JSON object")
    for name in index:
        if not name.startswith("_") and (Path(name).name != name or name in ("..", ".")):
            raise ModelError(
                f"{folder}/model_index.json names component {name!r}, which is not a plain folder name"
            )
    contained_files(folder)


def load_folder(path: Path, allow_pickle: bool) -> DiffusionPipeline:
    if not (path / "model_index.json").is_file():
        raise ModelError(f"{path} is not a diffusers folder: it has no model_index.json")
    _check_contained(path)
    try:
        # use_safetensors=True makes diffusers refuse a component that only has pickle weights.
        pipe = DiffusionPipeline.from_pretrained(
            path, local_files_only=True, use_safetensors=None if allow_pickle else True
        )
    except (OSError, ValueError) as error:
        pickles = sorted(p for p in path.rglob("*") if p.suffix in PICKLE_SUFFIXES)
        if pickles and not allow_pickle:
            _refuse_pickle(pickles[0])
        raise ModelError(f"cannot load the diffusers folder {path}: {str(error).splitlines()[0]}") from error
    if getattr(pipe, "safety_checker", None) is not None:
        # The checker blacks out images it dislikes, which would corrupt PSNR/FID.
        pipe.safety_checker = None
    return pipe


def _write_config_folder(spec: ModelSpec, root: Path) -> None:
    """A diffusers layout holding only configs, for from_single_file to build onto."""
    xl = spec.xl
    pipeline_class = "StableDiffusionXLPipeline" if xl else "StableDiffusionPipeline"
    index = {
        "_class_name": pipeline_class,
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
    }
    if xl:
        index["text_encoder_2"] = ["transformers", "CLIPTextModelWithProjection"]
        index["tokenizer_2"] = ["transformers", "CLIPTokenizer"]
    else:
        index["safety_checker"] = [None, None]
        index["feature_extractor"] = [None, None]
        index["requires_safety_checker"] = False
    (root / "model_index.json").write_text(json.dumps(index))
    for name, class_name in (("unet", "UNet2DConditionModel"), ("vae", "AutoencoderKL")):
        (root / name).mkdir()
        config = {"_class_name": class_name, **spec.components[name]}
        (root / name / "config.json").write_text(json.dumps(config))
    for name in ("text_encoder", "text_encoder_2"):
        if name in spec.components:
            (root / name).mkdir()
            arch = "CLIPTextModelWithProjection" if name == "text_encoder_2" else "CLIPTextModel"
            config = {"architectures": [arch], "model_type": "clip_text_model", **spec.components[name]}
            (root / name / "config.json").write_text(json.dumps(config))
    (root / "scheduler").mkdir()
    scheduler = {"_class_name": "EulerDiscreteScheduler", **spec.components["scheduler"]}
    (root / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler))
    for name in ("tokenizer", "tokenizer_2") if xl else ("tokenizer",):
        build_clip_tokenizer().save_pretrained(root / name)


def _one_line(error: BaseException, limit: int = 160) -> str:
    """The first line of an error's message, cut to `limit` characters (diffusers' messages run long)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_single_file(spec: ModelSpec, path: Path, allow_pickle: bool) -> DiffusionPipeline:
    """An original-layout (LDM / A1111) single-file checkpoint, converted by diffusers, offline.

    diffusers' own from_single_file converts the weights; it builds each component from a
    config-only diffusers folder written for the spec, so nothing is fetched from the hub.
    The tokenizer is the in-memory byte-level one (CLIP's real vocabulary is not available
    offline): shapes, timings and memory are the real model's, prompts do not mean what they
    would with the real tokenizer.
    """
    if path.suffix != ".safetensors" and not allow_pickle:
        if path.suffix.lower() in PICKLE_SUFFIXES:
            _refuse_pickle(path)
        # diffusers reads any file not named *.safetensors with torch.load, i.e. pickle.
        raise ModelError(
            f"refusing {path}: a single-file checkpoint must be a .safetensors file "
            "(other files are read with pickle, which can run code; pass --allow-pickle if you trust it)"
        )
    pipeline_class = StableDiffusionXLPipeline if spec.xl else StableDiffusionPipeline
    with tempfile.TemporaryDirectory(prefix="diffbench-config-") as config_dir:
        _write_config_folder(spec, Path(config_dir))
        try:
            pipe = pipeline_class.from_single_file(str(path), config=config_dir, local_files_only=True)
        except Exception as error:  # diffusers, safetensors and torch each raise their own types
            reason = _one_line(error)
            if "meta tensor" in reason:
                # diffusers leaves weights the file lacks on the meta device and fails when moving them.
                reason = f"it lacks some of the weights the {spec.name} architecture needs"
            raise ModelError(f"cannot load {path} as a {spec.name} checkpoint: {reason}") from error
    return pipe
