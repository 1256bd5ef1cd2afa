"""Content fingerprints of a model source, the first part of every variant cache key."""

from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path
from typing import Any

from models.errors import ModelError

# Bump when the random builder changes what a seed produces.
RANDOM_BUILDER_VERSION = 1
_CHUNK = 1 << 20


def random_fingerprint(name: str, components: dict[str, Any], seed: int) -> str:
    payload = {"builder": RANDOM_BUILDER_VERSION, "model": name, "components": components, "seed": seed}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def contained_files(root: Path) -> list[Path]:
    """Every file under `root`, sorted; ModelError for an entry that resolves outside it or loops.

    Checked before anything is read, so a link in a model folder can never make us read (or
    even hash) a file elsewhere. Symlinked folders are not descended into (as `rglob`); a
    dangling link inside the folder is skipped: there is nothing to read.
    """
    if root.is_file():
        return [root]
    base = root.resolve()
    files: list[Path] = []
    for path in sorted(root.rglob("*")):
        try:
            # Not strict: a dangling link still says where it points, and that must be inside too.
            target = path.resolve()
            target.stat()
        except FileNotFoundError:
            target_exists = False
        except RuntimeError:  # Python 3.11's symlink loop; 3.13 raises OSError(ELOOP)
            raise ModelError(f"{path} is a symlink loop: refusing to follow it") from None
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise ModelError(f"{path} is a symlink loop: refusing to follow it") from None
            raise ModelError(f"{path} cannot be reached: {error.strerror or error}") from None
        else:
            target_exists = True
        if not target.is_relative_to(base):
            raise ModelError(f"{path} points outside the model folder {root}: refusing to follow it")
        if target_exists and target.is_file():
            files.append(path)
    return files


def files_fingerprint(root: Path) -> str:
    """sha256 over every file's relative path and bytes: renaming or editing any file changes it.

    Only files inside `root` are read: containment is checked for all of them first.
    """
    digest = hashlib.sha256()
    files = contained_files(root)
    for path in files:
        rel = path.name if root.is_file() else path.relative_to(root).as_posix()
        digest.update(rel.encode() + b"\0")
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def adapters_fingerprint(base: str, adapters: list[dict[str, Any]]) -> str:
    """The base model's fingerprint extended by what was applied on top (LoRA, embeddings, a UNet).

    Each record carries the file's content hash and how it was applied (a LoRA's scale, an
    embedding's token), in order: the same files at another scale are another model.
    """
    payload = {"base": base, "adapters": adapters}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
