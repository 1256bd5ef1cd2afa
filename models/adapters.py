"""Fine-tuning artefacts applied on top of a loaded model, from local files only.

Three kinds, applied in this order:

- a full fine-tuned **UNet checkpoint** (a diffusers ``unet/`` folder, a training checkpoint
  folder holding one, or a single safetensors state dict): its weights replace the UNet's,
  every key and shape checked first, so a checkpoint of another architecture is one line
  naming the first key that does not fit, never a half-loaded model;
- **LoRA** files through diffusers' ``load_lora_weights`` (the peft backend), each at its own
  scale, left unfused: fusing is the ``lora-fuse`` optimisation pass, so both can be timed;
- **textual-inversion** embeddings through ``load_textual_inversion``, under their own token
  or one given.

The returned model's fingerprint covers every applied file's bytes (and each LoRA's scale and
each token), so the variant cache never serves a variant built without them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from models.errors import ModelError
from models.fingerprint import adapters_fingerprint, files_fingerprint
from models.loader import LoadedModel
from models.local_load import PICKLE_SUFFIXES

SAFETENSORS = ".safetensors"
UNET_WEIGHTS = "diffusion_pytorch_model"
LORA = "lora"
TEXTUAL_INVERSION = "textual-inversion"
UNET = "unet"


@dataclass(frozen=True)
class LoraFile:
    path: Path
    scale: float = 1.0


@dataclass(frozen=True)
class EmbeddingFile:
    path: Path
    token: str | None = None  # None: the token stored in the file


@dataclass(frozen=True)
class Adapters:
    """What to apply on top of a model; empty by default."""

    loras: tuple[LoraFile, ...] = ()
    embeddings: tuple[EmbeddingFile, ...] = ()
    unet_checkpoint: Path | None = None

    def __bool__(self) -> bool:
        return bool(self.loras or self.embeddings or self.unet_checkpoint)

    def describe(self) -> str:
        """One line for the report: ``unet=PATH; lora=PATH@SCALE; textual-inversion=PATH:TOKEN``."""
        parts = [f"{UNET}={self.unet_checkpoint}"] if self.unet_checkpoint else []
        parts += [f"{LORA}={lora.path}@{lora.scale:g}" for lora in self.loras]
        parts += [
            f"{TEXTUAL_INVERSION}={item.path}" + (f":{item.token}" if item.token else "")
            for item in self.embeddings
        ]
        return "; ".join(parts)

    def label(self) -> str:
        """A short name of what was applied: the UNet checkpoint's name, else the LoRA/embedding files'."""
        if self.unet_checkpoint is not None:
            return checkpoint_name(self.unet_checkpoint)
        return "+".join(item.path.stem for item in (*self.loras, *self.embeddings))

    def check(self, allow_pickle: bool) -> None:
        """ModelError (one line) for a missing file or a pickle file not allowed, before any loading."""
        for item in (*self.loras, *self.embeddings):
            _check_weights_file(item.path, allow_pickle)
        if self.unet_checkpoint is not None:
            unet_weight_files(self.unet_checkpoint, allow_pickle)


# -- parsing the command-line forms -----------------------------------------------------------


def parse_lora(text: str) -> LoraFile:
    """``FILE`` or ``FILE:SCALE`` (a number); a path that itself contains ``:`` still works."""
    path, scale = _split_suffix(text)
    if scale is None:
        return LoraFile(Path(text).expanduser())
    try:
        value = float(scale)
    except ValueError:
        raise ModelError(
            f"--lora {text!r}: {scale!r} is not a scale; give FILE or FILE:SCALE, e.g. lora.safetensors:0.8"
        ) from None
    if not value == value or value in (float("inf"), float("-inf")):  # NaN or infinite
        raise ModelError(f"--lora {text!r}: the scale must be a finite number, e.g. 0.8")
    return LoraFile(Path(path).expanduser(), value)


def parse_embedding(text: str) -> EmbeddingFile:
    """``FILE`` or ``FILE:TOKEN``; the token defaults to the one stored in the file."""
    path, token = _split_suffix(text)
    if token is None:
        return EmbeddingFile(Path(text).expanduser())
    if not token.strip() or any(char.isspace() for char in token):
        raise ModelError(f"--textual-inversion {text!r}: the token must be one word without spaces")
    return EmbeddingFile(Path(path).expanduser(), token)


def _split_suffix(text: str) -> tuple[str, str | None]:
    """(path, suffix after the last ':') unless the whole text names an existing file."""
    if Path(text).expanduser().exists() or ":" not in text:
        return text, None
    path, _, suffix = text.rpartition(":")
    return path, suffix


def split_list(values: Iterable[str] | str | None) -> list[str]:
    """Repeatable and comma-separated: ``--lora a.safetensors,b.safetensors:0.5 --lora c.safetensors``."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [piece.strip() for value in values for piece in value.split(",") if piece.strip()]


# -- files ------------------------------------------------------------------------------------


def _refuse_pickle(path: Path) -> None:
    raise ModelError(
        f"refusing {path}: pickle-based weights ({', '.join(PICKLE_SUFFIXES)}) can run code when loaded; "
        "convert them to .safetensors, or pass --allow-pickle if you trust the file"
    )


def _check_weights_file(path: Path, allow_pickle: bool) -> None:
    if not path.is_file():
        raise ModelError(f"{path} is not a file: give a local .safetensors file")
    if path.suffix != SAFETENSORS and not allow_pickle:
        if path.suffix.lower() in PICKLE_SUFFIXES:
            _refuse_pickle(path)
        raise ModelError(
            f"refusing {path}: weights must be a .safetensors file "
            "(other files are read with pickle, which can run code; pass --allow-pickle if you trust it)"
        )


def read_state_dict(path: Path, allow_pickle: bool) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file, or (allowed explicitly) a pickle file read with weights_only."""
    _check_weights_file(path, allow_pickle)
    try:
        if path.suffix == SAFETENSORS:
            return load_file(str(path), device="cpu")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, SafetensorError, RuntimeError, ValueError) as error:
        raise ModelError(f"cannot read {path}: {_one_line(error)}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # Lightning-style checkpoints wrap the weights
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path} does not hold a flat dict of tensors (a state dict)")
    return state


def unet_weight_files(path: Path, allow_pickle: bool) -> list[Path]:
    """The weight file(s) of a UNet checkpoint: a file, a ``unet/`` folder or a folder that holds one."""
    if path.is_file():
        _check_weights_file(path, allow_pickle)
        return [path]
    if not path.is_dir():
        raise ModelError(f"--unet-checkpoint {str(path)!r} does not exist: give a unet/ folder or a file")
    folder = path / UNET if (path / UNET).is_dir() else path
    single = folder / f"{UNET_WEIGHTS}{SAFETENSORS}"
    if single.is_file():
        return [single]
    index = folder / f"{UNET_WEIGHTS}{SAFETENSORS}.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ModelError(f"{index} is not a safetensors index: {_one_line(error)}") from None
        for name in shards:
            if not isinstance(name, str) or Path(name).name != name:
                raise ModelError(f"{index} names shard {name!r}, which is not a plain file name in {folder}")
            _check_weights_file(folder / name, allow_pickle)
        return [folder / name for name in shards]
    pickled = sorted(p for p in folder.glob(f"{UNET_WEIGHTS}*") if p.suffix in PICKLE_SUFFIXES)
    if pickled:
        _check_weights_file(pickled[0], allow_pickle)
        return pickled[:1]
    raise ModelError(f"{path} holds no UNet weights ({UNET_WEIGHTS}{SAFETENSORS}, its index, or unet/)")


def checkpoint_name(path: Path) -> str:
    """``runs/step-000100/unet`` -> ``step-000100``: the folder that names a training checkpoint."""
    if path.is_dir() and path.name == UNET:
        return path.parent.name
    return path.stem if path.is_file() else path.name


def checkpoint_step(name: str) -> int | None:
    """The training step a checkpoint's name carries (its last run of digits), or None."""
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else None


# -- applying ---------------------------------------------------------------------------------


def apply_adapters(model: LoadedModel, adapters: Adapters, allow_pickle: bool = False) -> LoadedModel:
    """The model with the adapters applied (its pipeline changed in place) and a new fingerprint."""
    if not adapters:
        return model
    adapters.check(allow_pickle)
    pipeline = model.pipeline
    records: list[dict[str, Any]] = []
    if adapters.unet_checkpoint is not None:
        files = unet_weight_files(adapters.unet_checkpoint, allow_pickle)
        replace_unet_weights(pipeline, files, allow_pickle)
        folder = files[0].parent if len(files) > 1 else files[0]
        records.append({"kind": UNET, "sha256": files_fingerprint(folder)})
    for index, lora in enumerate(adapters.loras):
        load_lora(pipeline, lora, f"lora{index}", allow_pickle)
        records.append({"kind": LORA, "sha256": files_fingerprint(lora.path), "scale": lora.scale})
    if adapters.loras:
        names = [f"lora{index}" for index in range(len(adapters.loras))]
        pipeline.set_adapters(names, adapter_weights=[lora.scale for lora in adapters.loras])
    for embedding in adapters.embeddings:
        token = load_embedding(pipeline, embedding, allow_pickle)
        records.append(
            {"kind": TEXTUAL_INVERSION, "sha256": files_fingerprint(embedding.path), "token": token}
        )
    return dataclasses.replace(model, fingerprint=adapters_fingerprint(model.fingerprint, records))


def replace_unet_weights(pipeline: Any, files: list[Path], allow_pickle: bool) -> None:
    """Load a full UNet state dict in place after checking every key and shape against the UNet."""
    unet = getattr(pipeline, UNET, None)
    if not isinstance(unet, torch.nn.Module):
        raise ModelError(f"--unet-checkpoint: {type(pipeline).__name__} has no UNet to replace")
    state: dict[str, torch.Tensor] = {}
    for path in files:
        state.update(read_state_dict(path, allow_pickle))
    where = files[0].parent if len(files) > 1 else files[0]
    expected = unet.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            raise ModelError(f"{where}: UNet key {key!r} is missing ({len(state)} keys in the checkpoint)")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise ModelError(
                f"{where}: UNet key {key!r} has shape {tuple(state[key].shape)}, "
                f"the model's is {tuple(tensor.shape)}: a checkpoint of another architecture"
            )
    extra = sorted(set(state) - set(expected))
    if extra:
        raise ModelError(f"{where}: key {extra[0]!r} is not in the model's UNet ({len(extra)} unknown keys)")
    with torch.no_grad():
        # Copied into the existing tensors: the UNet keeps its dtype and device.
        unet.load_state_dict(state, strict=True)


def load_lora(pipeline: Any, lora: LoraFile, name: str, allow_pickle: bool) -> None:
    if not hasattr(pipeline, "load_lora_weights"):
        raise ModelError(
            f"--lora {lora.path}: {type(pipeline).__name__} cannot load LoRA weights "
            "(a Stable Diffusion family model can)"
        )
    try:
        if lora.path.suffix == SAFETENSORS:
            # A folder + weight name: diffusers reads the file with safetensors, nothing is fetched.
            pipeline.load_lora_weights(
                str(lora.path.parent),
                weight_name=lora.path.name,
                adapter_name=name,
                use_safetensors=True,
                local_files_only=True,
            )
        else:  # allowed explicitly: read with weights_only, handed over as tensors
            pipeline.load_lora_weights(read_state_dict(lora.path, allow_pickle), adapter_name=name)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as error:
        raise ModelError(f"cannot load LoRA {lora.path}: {_one_line(error)}") from None


def load_embedding(pipeline: Any, embedding: EmbeddingFile, allow_pickle: bool) -> str:
    """Loads one textual-inversion embedding; returns the token it is used under."""
    if not hasattr(pipeline, "load_textual_inversion"):
        raise ModelError(
            f"--textual-inversion {embedding.path}: {type(pipeline).__name__} has no text encoder "
            "to take an embedding"
        )
    state = read_state_dict(embedding.path, allow_pickle)
    if len(state) != 1:
        raise ModelError(
            f"{embedding.path} holds {len(state)} tensors; a textual-inversion file holds one, "
            "named by its token"
        )
    stored, tensor = next(iter(state.items()))
    token = embedding.token or stored
    try:
        pipeline.load_textual_inversion({token: tensor}, token=token)
    except (ValueError, RuntimeError) as error:
        raise ModelError(f"cannot load textual inversion {embedding.path}: {_one_line(error)}") from None
    return token


def _one_line(error: BaseException, limit: int = 200) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
