"""The variant cache: content-addressed folders, written atomically, verified on load.

An entry is `<root>/<key>/` holding `manifest.json` and the artefacts it lists with
their sha256. The key hashes everything that changes what a build produces: the
model's fingerprint, the canonical recipe, library versions, the device and the
harness code that builds the recipe (optimize/code_fingerprint.py). An entry is built
in a staging folder `<root>/.<key[:12]>-*` and renamed into place, so a crashed build
leaves no entry; a build killed outright leaves its staging folder, which the next run
that takes a lock removes once no live builder can own it. An entry whose files don't
match their checksums, or a lock file that cannot be opened, is moved aside to
`<root>/.quarantine/` with a warning, and the run goes on.
"""

from __future__ import annotations

import contextlib
import errno
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
QUARANTINE = ".quarantine"
_CHUNK = 1 << 20
# A staging folder's name: "." + the key's first characters + "-" + mkdtemp's suffix.
_STAGING_PREFIX = 12


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
        """The verified entry, or None when absent; a corrupt entry is quarantined and reported."""
        folder = self.folder(key)
        if not folder.is_dir():
            return None
        try:
            return self._verified(key, folder)
        except CorruptEntry as why:
            # Moved aside, not deleted: the damaged files stay there for whoever looks into it.
            moved = self.quarantine(folder)
            warnings.warn(
                f"variant cache entry {folder} is corrupt ({why}); moved to {moved}, rebuilding it",
                stacklevel=2,
            )
            return None

    def _verified(self, key: str, folder: Path) -> CacheEntry:
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError) as error:
            raise CorruptEntry(f"unreadable manifest: {error}") from error
        if not isinstance(manifest, dict) or not isinstance(manifest.get("artefacts"), dict):
            raise CorruptEntry("unreadable manifest: not an object with an artefacts table")
        if manifest.get("key") != key or manifest.get("cache_schema") != CACHE_SCHEMA:
            raise CorruptEntry("manifest does not belong to this key or schema")
        for name, item in manifest["artefacts"].items():
            path = folder / name
            if not isinstance(item, dict) or not path.is_file():
                raise CorruptEntry(f"missing {name}")
            if path.stat().st_size != item.get("bytes") or file_sha256(path) != item.get("sha256"):
                raise CorruptEntry(f"checksum mismatch in {name}")
        return CacheEntry(key, folder, manifest)

    def quarantine(self, path: Path) -> Path:
        """Move a damaged file or folder to `<root>/.quarantine/<name>-<time>`; returns where it went."""
        aside = self.root / QUARANTINE
        aside.mkdir(parents=True, exist_ok=True)
        stem = f"{path.name}-{time.strftime('%Y%m%dT%H%M%S')}"
        for attempt in range(1000):
            target = aside / (stem if attempt == 0 else f"{stem}-{attempt}")
            # Never overwrite an earlier quarantined copy (rename would replace an empty folder).
            if target.exists() or target.is_symlink():
                continue
            try:
                os.rename(path, target)
            except FileExistsError:
                continue  # taken between the check and the rename by another process
            except OSError as error:
                if error.errno != errno.ENOTEMPTY:
                    raise
                continue
            return target
        raise OSError(f"no free name in {aside} for {path.name}")

    def lock_path(self, key: str) -> Path:
        return self.root / f".{key}.lock"

    def _open_lock(self, key: str) -> int:
        """The lock file's descriptor; one that cannot be opened (a folder, a link, unreadable)
        is quarantined and made afresh, so a damaged lock never blocks the cache."""
        path = self.lock_path(key)
        # No O_TRUNC: the file's content is never used; O_NOFOLLOW: a planted link is set aside.
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(path, flags, 0o644)
        except OSError as error:
            if not (path.exists() or path.is_symlink()):
                raise  # nothing there to set aside: the folder itself is not writable
            moved = self.quarantine(path)
            warnings.warn(
                f"variant cache lock {path} cannot be opened ({error.strerror}); moved to {moved}",
                stacklevel=3,
            )
            return os.open(path, flags, 0o644)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """One builder per key across processes; the others wait, then find the entry."""
        self.root.mkdir(parents=True, exist_ok=True)
        descriptor = self._open_lock(key)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            self._remove_dead_staging(key)
            yield
        finally:
            os.close(descriptor)  # closing the descriptor releases the flock

    def _remove_dead_staging(self, held_key: str) -> None:
        """Remove staging folders left by builds that died (SIGKILL, power loss).

        A staging folder exists only while its builder holds the lock of its key, so it is
        dead when that lock can be taken: ours (held now), or another key's lock taken
        without waiting. A folder whose lock is busy belongs to a live build and is left."""
        for staging in self.root.glob(".*-*"):
            prefix = staging.name[1:].split("-", 1)[0]
            if not staging.is_dir() or len(prefix) != _STAGING_PREFIX:
                continue
            if prefix == held_key[:_STAGING_PREFIX]:
                shutil.rmtree(staging, ignore_errors=True)
                continue
            with self._locks_if_free(prefix) as free:
                if free:
                    shutil.rmtree(staging, ignore_errors=True)

    @contextlib.contextmanager
    def _locks_if_free(self, prefix: str) -> Iterator[bool]:
        """Take, without waiting, every lock of a key starting with `prefix`; yields whether all were free."""
        locks = list(self.root.glob(f".{prefix}*.lock"))
        descriptors: list[int] = []
        try:
            for path in locks:
                descriptor = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
                descriptors.append(descriptor)
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # No lock file: a store() outside lock(), which cannot be proved dead.
            free = bool(locks)
        except OSError:
            free = False  # busy (a live build) or unopenable: leave the folder alone
        try:
            yield free
        finally:
            for descriptor in descriptors:
                os.close(descriptor)

    def store(self, key: str, manifest: dict[str, Any], write: Callable[[Path], None]) -> CacheEntry:
        """`write(folder)` puts the artefacts in a fresh folder; the manifest is completed here."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:_STAGING_PREFIX]}-", dir=self.root))
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
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()  # a stray file or link where the entry belongs
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return CacheEntry(key, target, full)
