"""Move a damaged file (or folder) aside so it never blocks later work.

A journal, manifest, lock or saved run that cannot be read is not deleted (it may be the
only copy of something) and not left in place (every later run would trip on it again):
it is renamed into `<root>/.quarantine/`, keeping its path relative to `root`, with a
suffix that makes the name unique and hides it from every `*.json`/`*.jsonl` glob of the
storage and the cache.

Standard library only: the variant cache and recovery (which runs without torch) use it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

QUARANTINE_DIR = ".quarantine"
SUFFIX = ".quarantined"


def quarantine(path: Path, root: Path) -> Path:
    """Move `path` into `<root>/.quarantine/` and return where it went.

    The move is one `os.rename` (same filesystem), so a reader sees the file either in place
    or quarantined, never half-moved. Raises FileNotFoundError when `path` is already gone,
    which a caller racing another process over the same damaged file can treat as done.
    """
    path = Path(path)
    root = Path(root)
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:
        relative = Path(path.name)  # outside root: keep the name only
    folder = root / QUARANTINE_DIR / relative.parent
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    # pid and a counter keep two processes (or two calls in one second) from colliding.
    for attempt in range(1000):
        target = folder / f"{relative.name}.{stamp}-{os.getpid()}-{attempt}{SUFFIX}"
        if target.exists():
            continue
        os.rename(path, target)
        return target
    raise FileExistsError(f"no free quarantine name for {path} in {folder}")


def notice(path: Path, moved: Path, reason: str) -> str:
    """The one-line warning every caller prints, so all quarantines read alike."""
    return f"diffbench: {path} could not be read ({reason}); moved it to {moved}"


def move_aside(path: Path, root: Path, reason: str, warn: Callable[[str], None]) -> Path | None:
    """Quarantine `path` and warn one line; None when another process moved it first."""
    with contextlib.suppress(FileNotFoundError):
        moved = quarantine(path, root)
        warn(notice(path, moved, reason))
        return moved
    return None
