"""The variant cache: content-addressed folders, written atomically, verified on load.

An entry is `<root>/<key>/` holding `manifest.json` and the artefacts it lists with
their sha256. The key hashes everything that changes what a build produces: the
model's fingerprint, the canonical recipe, library versions and the device. An
entry is built in a temporary folder and renamed into place, so a crashed build
leaves no entry; an entry whose files don't match their checksums is discarded.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
CACHE_SCHEMA = 1
_CHUNK = 1 << 20


def default_cache_root() -> Path:
    explicit = os.environ.get("DIFFBENCH_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "diffbench" / "variants"


def cache_key(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class CacheEntry:
    key: str
    folder: Path
    manifest: dict[str, Any]

    @property
    def size_bytes(self) -> int:
        return sum(item["bytes"] for item in self.manifest["artefacts"].values())


class CorruptEntry(Exception):
    pass


class VariantCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_cache_root()).expanduser()

    def folder(self, key: str) -> Path:
        return self.root / key

    def load(self, key: str) -> CacheEntry | None:
        """The verified entry, or None when absent; a corrupt entry is removed and reported."""
        folder = self.folder(key)
        if not folder.is_dir():
            return None
        try:
            return self._verified(key, folder)
        except CorruptEntry as why:
            warnings.warn(f"variant cache entry {folder} is corrupt ({why}); rebuilding it", stacklevel=2)
            shutil.rmtree(folder, ignore_errors=True)
            return None

    def _verified(self, key: str, folder: Path) -> CacheEntry:
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError) as error:
            raise CorruptEntry(f"unreadable manifest: {error}") from error
        if manifest.get("key") != key or manifest.get("cache_schema") != CACHE_SCHEMA:
            raise CorruptEntry("manifest does not belong to this key or schema")
        for name, item in manifest.get("artefacts", {}).items():
            path = folder / name
            if not path.is_file():
                raise CorruptEntry(f"missing {name}")
            if path.stat().st_size != item["bytes"] or file_sha256(path) != item["sha256"]:
                raise CorruptEntry(f"checksum mismatch in {name}")
        return CacheEntry(key, folder, manifest)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """One builder per key across processes; the others wait, then find the entry."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{key}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def store(self, key: str, manifest: dict[str, Any], write: Callable[[Path], None]) -> CacheEntry:
        """`write(folder)` puts the artefacts in a fresh folder; the manifest is completed here."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=self.root))
        try:
            write(staging)
            artefacts = {
                path.relative_to(staging).as_posix(): {
                    "bytes": path.stat().st_size,
                    "sha256": file_sha256(path),
                }
                for path in sorted(staging.rglob("*"))
                if path.is_file()
            }
            full = {
                **manifest,
                "key": key,
                "cache_schema": CACHE_SCHEMA,
                "artefacts": artefacts,
                "stored_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            (staging / MANIFEST).write_text(json.dumps(full, indent=2, default=str))
            target = self.folder(key)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return CacheEntry(key, target, full)
