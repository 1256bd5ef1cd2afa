"""Content fingerprints of a model source, the first part of every variant cache key."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

# Bump when the random builder changes what a seed produces.
RANDOM_BUILDER_VERSION = 1
_CHUNK = 1 << 20


def random_fingerprint(name: str, components: dict[str, Any], seed: int) -> str:
    payload = {"builder": RANDOM_BUILDER_VERSION, "model": name, "components": components, "seed": seed}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def files_fingerprint(root: Path) -> str:
    """sha256 over every file's relative path and bytes: renaming or editing any file changes it."""
    digest = hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
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
