"""A user's GAN generator from a folder: `gan.json` naming the class (or a TorchScript file) + weights.

    my-gan/
      gan.json                  {"class": "mypackage.nets:Generator", "kwargs": {"nz": 128},
                                 "weights": "generator.safetensors",
                                 "z_shape": [128, 1, 1], "image_size": 64, "output_range": "tanh"}
      generator.safetensors     the class's state dict

or, for a TorchScript archive, `{"torchscript": "generator.pt", "z_shape": [...], "image_size": N}`.

`class` is `module.path:ClassName`, imported like any Python import (it must be importable,
e.g. installed or on PYTHONPATH) and built with `kwargs`; the safetensors file must match its
state dict exactly. TorchScript archives and `.pt/.pth/.bin` state dicts hold pickled data,
which can run code when loaded: they are refused unless the user passes `--allow-pickle`
(state dicts are then read with `torch.load(weights_only=True)`). Files named in `gan.json`
must be plain names inside the folder. `z_shape` defaults to [100, 1, 1] (DCGAN's), `image_size`
to 64, `output_range` to `tanh` (images in [-1, 1]; `unit` for [0, 1]).
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from models.errors import ModelError
from models.gan import OUTPUT_RANGES, GanPipeline

GAN_CONFIG = "gan.json"
_KEYS = ("class", "kwargs", "weights", "torchscript", "z_shape", "image_size", "output_range")


def is_gan_folder(path: Path) -> bool:
    return path.is_dir() and (path / GAN_CONFIG).is_file()


def _read_config(folder: Path) -> dict[str, Any]:
    where = folder / GAN_CONFIG
    try:
        config = json.loads(where.read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"{where} is unreadable: {error}") from None
    if not isinstance(config, dict):
        raise ModelError(f"{where} is not a JSON object")
    unknown = sorted(set(config) - set(_KEYS))
    if unknown:
        raise ModelError(f"{where}: unknown key {unknown[0]!r}; accepted keys are {', '.join(_KEYS)}")
    if ("class" in config) == ("torchscript" in config):
        raise ModelError(f"{where} must name either 'class' (with safetensors 'weights') or 'torchscript'")
    if config.get("output_range", "tanh") not in OUTPUT_RANGES:
        raise ModelError(
            f"{where}: output_range={config['output_range']!r} is not one of {', '.join(OUTPUT_RANGES)}"
        )
    z_shape = config.get("z_shape", [100, 1, 1])
    if not (isinstance(z_shape, list) and z_shape and all(isinstance(d, int) and d > 0 for d in z_shape)):
        raise ModelError(
            f"{where}: z_shape={z_shape!r} must be a list of positive integers, e.g. [100, 1, 1]"
        )
    size = config.get("image_size", 64)
    if not (isinstance(size, int) and size > 0):
        raise ModelError(f"{where}: image_size={size!r} must be a positive integer")
    return config


def _inside(folder: Path, name: Any, key: str) -> Path:
    """A file named in gan.json: a plain file name inside the folder, no `../`, no link out."""
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise ModelError(f"{folder / GAN_CONFIG}: {key}={name!r} must be a plain file name inside {folder}")
    path = folder / name
    if not path.is_file():
        raise ModelError(f"{folder / GAN_CONFIG}: {key} file {name!r} does not exist in {folder}")
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ModelError(f"{path} points outside the model folder {folder}: refusing to follow it")
    return path


def _refuse_pickle(path: Path, what: str) -> None:
    raise ModelError(
        f"refusing {path}: {what} hold pickled data, which can run code when loaded; "
        "give the weights as .safetensors with the class, or pass --allow-pickle if you trust the file"
    )


def import_class(text: str) -> type[torch.nn.Module]:
    """`package.module:ClassName` -> the class, which must be a torch module."""
    module_name, _, class_name = str(text).partition(":")
    if not module_name or not class_name:
        raise ModelError(f"class {text!r} is not 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ModelError(f"class {text!r}: cannot import {module_name!r} ({error})") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ModelError(f"class {text!r}: {module_name} has no torch.nn.Module subclass {class_name!r}")
    return cls


def _state_dict(path: Path, allow_pickle: bool) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        return load_file(str(path))
    if not allow_pickle:
        _refuse_pickle(path, f"{path.suffix} state dicts")
    return torch.load(path, map_location="cpu", weights_only=True)


def _from_class(folder: Path, config: dict[str, Any], allow_pickle: bool) -> torch.nn.Module:
    cls = import_class(config["class"])
    kwargs = config.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise ModelError(f"{folder / GAN_CONFIG}: kwargs must be a JSON object of the class's arguments")
    try:
        generator = cls(**kwargs)
    except Exception as error:  # the user's constructor may raise anything
        raise ModelError(f"cannot build {config['class']}(**{kwargs}): {error}".splitlines()[0]) from error
    weights = _inside(folder, config.get("weights", "generator.safetensors"), "weights")
    try:
        generator.load_state_dict(_state_dict(weights, allow_pickle), strict=True)
    except (RuntimeError, ValueError, OSError) as error:
        reason = str(error).strip().splitlines()[0]
        raise ModelError(f"{weights} does not fit {config['class']}: {reason}") from error
    return generator


def _from_torchscript(folder: Path, config: dict[str, Any], allow_pickle: bool) -> torch.nn.Module:
    path = _inside(folder, config["torchscript"], "torchscript")
    if not allow_pickle:
        _refuse_pickle(path, "TorchScript archives")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load's own deprecation notice
            return torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as error:
        raise ModelError(f"cannot load the TorchScript file {path}: {error}".splitlines()[0]) from error


def load_gan_folder(folder: Path, allow_pickle: bool = False) -> GanPipeline:
    config = _read_config(folder)
    if "class" in config:
        generator = _from_class(folder, config, allow_pickle)
    else:
        generator = _from_torchscript(folder, config, allow_pickle)
    generator.eval()
    for parameter in generator.parameters():  # ScriptModules lack requires_grad_()
        parameter.requires_grad_(False)
    return GanPipeline(
        generator=generator,
        z_shape=config.get("z_shape", [100, 1, 1]),
        image_size=config.get("image_size", 64),
        output_range=config.get("output_range", "tanh"),
    )


def _write_atomic(path: Path, write: Any) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def save_gan_folder(
    pipeline: GanPipeline, folder: Path, class_path: str, kwargs: dict[str, Any] | None = None
) -> Path:
    """Write a GanPipeline as a folder `load_gan_folder` reads: gan.json + generator.safetensors."""
    folder.mkdir(parents=True, exist_ok=True)
    # clone: safetensors refuses tensors that share storage.
    tensors = {k: v.detach().contiguous().clone() for k, v in pipeline.generator.state_dict().items()}
    _write_atomic(folder / "generator.safetensors", lambda name: save_file(tensors, name))
    config = {
        "class": class_path,
        "kwargs": kwargs or {},
        "weights": "generator.safetensors",
        "z_shape": list(pipeline.config.z_shape),
        "image_size": pipeline.config.image_size,
        "output_range": pipeline.config.output_range,
    }
    _write_atomic(folder / GAN_CONFIG, lambda name: Path(name).write_text(json.dumps(config, indent=2)))
    return folder
