"""Looking after the variant cache by hand (`diffbench cache ls|verify|clear`).

The layout, the checks and the quarantine are optimize/cache.py's; this module lists what is
there from the manifests, re-verifies entries exactly as a load does (under the entry's lock),
and removes entries and quarantined items. Lock files are left in place even when their entry
goes: a builder may be waiting on one, and unlinking it would let a second builder take a fresh
lock on the same key.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from optimize.cache import MANIFEST, QUARANTINE, CorruptEntry, VariantCache

UNKNOWN = "?"
DAY_S = 86400.0
# cache.quarantine() names an item `<name>-<YYYYmmddTHHMMSS>[-<n>]`, in local time.
_QUARANTINED_AT = re.compile(r"-(\d{8}T\d{6})(?:-\d+)?$")


@dataclass(frozen=True)
class CachedItem:
    """An entry (`name` is its key) or a quarantined file or folder, as `ls` and `clear` show it."""

    name: str
    path: Path
    model: str  # from the manifest; "?" where it cannot be read
    recipe: str
    size_bytes: int  # on disk, manifest included
    age_s: float  # since it was stored (entries) or set aside (quarantined items)

    def matches(self, older_than_days: float | None, model: str | None) -> bool:
        old_enough = older_than_days is None or self.age_s >= older_than_days * DAY_S
        return old_enough and (model is None or self.model == model)


@dataclass
class VerifyResult:
    checked: int = 0
    damaged: list[CachedItem] = field(default_factory=list)


@dataclass
class ClearResult:
    removed: list[CachedItem] = field(default_factory=list)
    busy: list[CachedItem] = field(default_factory=list)  # a build or load held the entry's lock

    @property
    def freed_bytes(self) -> int:
        return sum(item.size_bytes for item in self.removed)


def _size_on_disk(path: Path) -> int:
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size
    return sum(child.lstat().st_size for child in path.rglob("*") if not child.is_dir())


def _manifest(folder: Path) -> dict[str, object]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _stored_at(manifest: dict[str, object], path: Path) -> float:
    """When the entry was stored (the manifest's `stored_at`), else the folder's modification time."""
    with contextlib.suppress(KeyError, TypeError, ValueError):
        return datetime.strptime(str(manifest["stored_at"]), "%Y-%m-%dT%H:%M:%S%z").timestamp()
    return path.lstat().st_mtime


def _quarantined_at(path: Path) -> float:
    match = _QUARANTINED_AT.search(path.name)
    if match:
        with contextlib.suppress(ValueError, OverflowError):
            return time.mktime(time.strptime(match.group(1), "%Y%m%dT%H%M%S"))
    return path.lstat().st_mtime


def _describe(path: Path, since: Callable[[dict[str, object], Path], float]) -> CachedItem:
    manifest = _manifest(path) if path.is_dir() else {}
    return CachedItem(
        name=path.name,
        path=path,
        model=str(manifest.get("model", UNKNOWN)),
        recipe=str(manifest.get("recipe", UNKNOWN)),
        size_bytes=_size_on_disk(path),
        age_s=max(0.0, time.time() - since(manifest, path)),
    )


def entries(cache: VariantCache) -> list[CachedItem]:
    """Every entry folder (staging folders, lock files and the quarantine start with a dot), oldest first."""
    if not cache.root.is_dir():
        return []
    folders = [p for p in cache.root.iterdir() if not p.name.startswith(".") and p.is_dir()]
    return sorted((_describe(p, _stored_at) for p in folders), key=lambda item: -item.age_s)


def quarantined(cache: VariantCache) -> list[CachedItem]:
    aside = cache.root / QUARANTINE
    if not aside.is_dir():
        return []
    items = (_describe(p, lambda _, path: _quarantined_at(path)) for p in aside.iterdir())
    return sorted(items, key=lambda item: -item.age_s)


def verify(cache: VariantCache, warn: Callable[[str], None]) -> VerifyResult:
    """Re-check every entry's manifest and content hashes as a load does; a damaged entry is moved
    to the quarantine and reported through `warn`, one line each."""
    result = VerifyResult()
    for item in entries(cache):
        with cache.lock(item.name):  # waits for a build or load of this key, as a load would
            if not item.path.is_dir():
                continue  # removed since it was listed
            result.checked += 1
            try:
                cache._verified(item.name, item.path)  # the load's own check, not a copy of it
            except CorruptEntry as why:
                moved = cache.quarantine(item.path)
                result.damaged.append(item)
                what = f"{item.name} ({item.model} {item.recipe})"
                warn(f"warning: variant cache entry {what} is damaged ({why}); moved to {moved}")
    return result


@contextlib.contextmanager
def _lock_if_free(cache: VariantCache, key: str) -> Iterator[bool]:
    """The entry's lock taken without waiting; yields False while a build or load holds it."""
    descriptor = cache._open_lock(key)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def clear(cache: VariantCache, older_than_days: float | None = None, model: str | None = None) -> ClearResult:
    """Remove the entries and quarantined items matching both filters (None: any); an entry whose
    lock is held (being built or loaded) is left and reported as busy."""
    result = ClearResult()
    for item in entries(cache):
        if not item.matches(older_than_days, model):
            continue
        with _lock_if_free(cache, item.name) as free:
            if not free:
                result.busy.append(item)
                continue
            if item.path.is_dir():
                _remove(item.path)
                result.removed.append(item)
    for item in quarantined(cache):
        if item.matches(older_than_days, model):
            _remove(item.path)
            result.removed.append(item)
    with contextlib.suppress(OSError):  # left when not empty (or already gone)
        (cache.root / QUARANTINE).rmdir()
    return result
