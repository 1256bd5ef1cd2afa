"""Cheap checks, before any work, of every file and folder a run will read or write.

A run that dies twenty minutes in, on a file it could have looked at first, is a run the
user stops trusting. Each check here reads at most a file's header (safetensors: 8 bytes of
length, then the JSON header), never the weights, and raises BenchError with one line that
names the file and what is accepted. It runs in `pytest_configure`, before collection and
before any model is built.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from models import ModelError
from models.adapters import unet_weight_files
from models.fingerprint import contained_files
from models.local_load import PICKLE_SUFFIXES

SAFETENSORS = ".safetensors"
# safetensors' own bound (MAX_HEADER_SIZE in its tensor.rs); a real SDXL header is ~200 KB.
MAX_HEADER_BYTES = 100_000_000
# Prompts, profile and calibration files are a few KiB; a bigger one is the wrong file.
MAX_TEXT_BYTES = 16 << 20
# Bits per element of every dtype safetensors writes (its Dtype enum).
DTYPE_BITS = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}
ACCEPTED_WEIGHTS = "a .safetensors file (pickle files only with --allow-pickle)"


def real_path(path: Path, what: str) -> Path:
    """The path with every symlink resolved; a loop, a dangling link or a missing path is one line."""
    try:
        return path.expanduser().resolve(strict=True)
    except FileNotFoundError:
        raise BenchError(f"{what} {str(path)!r} does not exist") from None
    except RuntimeError:  # Python 3.11 reports a symlink loop this way, 3.13 as OSError(ELOOP)
        raise BenchError(f"{what} {str(path)!r} is a symlink loop") from None
    except OSError as error:
        raise BenchError(f"{what} {str(path)!r} cannot be reached: {error.strerror or error}") from None


def regular_file(path: Path, what: str, accepted: str, max_bytes: int | None = None) -> Path:
    """A readable regular file (not a folder, pipe or device: reading those blocks or means nothing)."""
    real = real_path(path, what)
    try:
        info = real.stat()
    except OSError as error:
        raise BenchError(f"{what} {str(path)!r} cannot be read: {error.strerror or error}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise BenchError(f"{what} {str(path)!r} is {kind}; give {accepted}")
    if max_bytes is not None and info.st_size > max_bytes:
        raise BenchError(
            f"{what} {str(path)!r} is {info.st_size} bytes, more than {max_bytes} ({max_bytes >> 20} MiB); "
            f"give {accepted}"
        )
    if not os.access(real, os.R_OK):
        raise BenchError(f"{what} {str(path)!r} cannot be read (permission denied); give {accepted}")
    return real


def text_file(text: str | None, option: str, accepted: str) -> None:
    """`--prompts-file`, `--profile-file`, `--calibration`: their own parsers read the content."""
    if text:
        regular_file(Path(text), option, accepted, MAX_TEXT_BYTES)


def safetensors_header(path: Path, what: str) -> dict[str, dict[str, Any]]:
    """The tensors a safetensors file declares, checked as safetensors checks them, without the data.

    The same rules as the library's `read_metadata` + `validate`: a header length that fits
    the file and the bound, UTF-8 JSON object, known dtypes, integer shapes, offsets that tile
    the data exactly and agree with shape x dtype. A file that passes loads; one that fails
    would fail at load time, minutes later, with the library's multi-line error.
    """
    real = regular_file(path, what, ACCEPTED_WEIGHTS)
    size = real.stat().st_size
    where = f"{what} {str(path)!r}"
    foreign = f"{where} is not a safetensors file"
    if size < 8:
        raise BenchError(f"{foreign}: {size} bytes, shorter than the 8-byte header length")
    with real.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > MAX_HEADER_BYTES:
            raise BenchError(f"{foreign}: its header claims {length} bytes (at most {MAX_HEADER_BYTES})")
        if length > size - 8:
            raise BenchError(
                f"{where} is truncated or not a safetensors file: its header claims {length} bytes, "
                f"the file has {size - 8} after the length"
            )
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BenchError(f"{foreign}: its header is not UTF-8 JSON") from None
    if not isinstance(header, dict):
        raise BenchError(f"{foreign}: its header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    metadata = {} if metadata is None else metadata  # optional, and null is valid (safetensors' Option)
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise BenchError(f"{foreign}: its __metadata__ is not a map of strings")
    end = _check_tensors(header, where, foreign)
    if end != size - 8 - length:
        raise BenchError(
            f"{where} is truncated or padded: its tensors need {end} bytes of data, "
            f"the file holds {size - 8 - length}"
        )
    return header


def _check_tensors(header: dict[str, Any], where: str, foreign: str) -> int:
    """The end of the data the tensors cover; one line for the first entry that does not fit."""
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            raise BenchError(f"{foreign}: entry {name!r} lacks dtype, shape or data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPE_BITS:
            raise BenchError(f"{where}: tensor {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_natural(d) for d in shape):
            raise BenchError(f"{where}: tensor {name!r} has shape {shape!r}, not a list of sizes")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_natural(o) for o in offsets):
            raise BenchError(f"{where}: tensor {name!r} has data_offsets {offsets!r}, not [begin, end]")
        begin, end = offsets
        bits = math.prod(shape) * DTYPE_BITS[dtype]
        if end < begin or bits % 8 or (end - begin) != bits // 8:
            raise BenchError(
                f"{where}: tensor {name!r} ({dtype} {shape}) needs {bits / 8:g} bytes, "
                f"its offsets give {end - begin}"
            )
        spans.append((begin, end, name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:  # a gap or an overlap: the library refuses both
            raise BenchError(f"{where}: tensor {name!r} starts at byte {begin}, expected {position}")
        position = end
    return position


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def weights_file(path: Path, what: str, allow_pickle: bool) -> dict[str, dict[str, Any]] | None:
    """A weights file: a valid safetensors file, or (allowed explicitly) a readable pickle file.

    Returns the safetensors header, None for an allowed pickle file.
    """
    if path.suffix == SAFETENSORS:
        return safetensors_header(path, what)
    if not allow_pickle:
        kind = "pickle-based weights" if path.suffix.lower() in PICKLE_SUFFIXES else "not a .safetensors file"
        raise BenchError(
            f"refusing {what} {str(path)!r}: {kind}, read with pickle, which can run code; "
            "give a .safetensors file, or pass --allow-pickle if you trust it"
        )
    regular_file(path, what, ACCEPTED_WEIGHTS)
    return None


def lora_file(path: Path, allow_pickle: bool) -> None:
    header = weights_file(path, "--lora", allow_pickle)
    if header is not None and not any("lora" in name.lower() for name in header):
        raise BenchError(
            f"--lora {str(path)!r} holds no LoRA weights (no tensor name contains 'lora'); "
            "give a LoRA .safetensors file, e.g. diffusers' pytorch_lora_weights.safetensors"
        )


def embedding_file(path: Path, allow_pickle: bool) -> None:
    header = weights_file(path, "--textual-inversion", allow_pickle)
    if header is not None and len(header) != 1:
        raise BenchError(
            f"--textual-inversion {str(path)!r} holds {len(header)} tensors; "
            "a textual-inversion file holds one, named by its token"
        )


def unet_checkpoint(path: Path, allow_pickle: bool) -> None:
    """The weight files `--unet-checkpoint` names, each sound and (for a folder) inside the folder."""
    root = real_path(path, "--unet-checkpoint")
    try:
        if root.is_dir():
            contained_files(root)  # the model folders' own containment check, before any file is read
        files = unet_weight_files(path, allow_pickle)
    except ModelError as error:
        raise BenchError(f"--unet-checkpoint: {error}") from None
    for file in files:
        weights_file(file, "--unet-checkpoint", allow_pickle)


def model_folder(folder: Path, what: str, allow_pickle: bool, marker: tuple[str, ...]) -> None:
    """Every file in reach is inside the folder, readable; weights are valid safetensors (or allowed)."""
    real = real_path(folder, what)
    if not any((real / name).is_file() for name in marker):
        raise BenchError(f"{what} {str(folder)!r} is not a model folder: it has no {' or '.join(marker)}")
    try:
        files = contained_files(real)
    except ModelError as error:
        raise BenchError(f"{what} {str(folder)!r}: {error}") from None
    for path in files:
        if not os.access(path, os.R_OK):
            raise BenchError(f"{what}: {path} cannot be read (permission denied)")
        if path.suffix == SAFETENSORS:
            safetensors_header(path, f"{what} {str(folder)!r}: file")
        elif path.suffix.lower() in PICKLE_SUFFIXES and not allow_pickle:
            _pickle_only_component(path, what)


def _pickle_only_component(path: Path, what: str) -> None:
    """A component folder (it has a config) whose weights exist only as pickle: diffusers would refuse it."""
    folder = path.parent
    if (folder / "config.json").is_file() and not any(folder.glob(f"*{SAFETENSORS}")):
        raise BenchError(
            f"refusing {what}: {path} is pickle-based weights, which can run code when loaded; "
            "convert them to .safetensors, or pass --allow-pickle if you trust the folder"
        )


def writable_folder(path: Path, what: str) -> None:
    """A folder that exists, or can be created, and can be written; nothing is created here."""
    path = path.expanduser()
    probe = path
    while True:
        try:
            info = probe.stat()
            break
        except (FileNotFoundError, NotADirectoryError):  # go up to what exists; a file there is named
            if probe.parent == probe:
                raise BenchError(f"{what} {str(path)!r} cannot be created: no existing parent") from None
            probe = probe.parent
        except OSError as error:  # ELOOP, ENOTDIR, EACCES on the way
            raise BenchError(f"{what} {str(path)!r} cannot be used: {error.strerror or error}") from None
    if not stat.S_ISDIR(info.st_mode):
        where = "is a file" if probe == path else f"cannot be created: {str(probe)!r} is a file"
        raise BenchError(f"{what} {str(path)!r} {where}, not a folder; give a folder it can write to")
    if not os.access(probe, os.W_OK | os.X_OK):
        verb = "is not writable" if probe == path else f"cannot be created: {str(probe)!r} is not writable"
        raise BenchError(f"{what} {str(path)!r} {verb}; give a folder it can write to")


def storage_folder(storage: str | None) -> Path | None:
    """pytest-benchmark's `--benchmark-storage` as a folder (`file://PATH` or PATH); None for others."""
    if not storage:
        return None
    if "://" not in storage:
        return Path(storage)
    return Path(storage.removeprefix("file://")) if storage.startswith("file://") else None
