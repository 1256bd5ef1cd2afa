"""The driver writes the runs that came back into the fleet's storage, as pytest-benchmark would.

The storage is a local folder, or any fsspec URL (``s3://bucket/runs``, ``gs://...``, ``memory://...``;
``file://`` is a local folder). A run keeps its machine folder and name; its number is the next
free one in that folder, and a run already there is never rewritten. What "never" rests on:

- a local folder (or ``file://``): an exclusive hard link of a finished temporary file, so two
  drivers writing into one folder at once still get different numbers (atomic on POSIX);
- a URL: the folder is listed (cache dropped) and the next number written with fsspec's exclusive
  create, ``open(path, "xb")``. s3fs (>= 2024.12, and >= 2025.7 for a one-shot upload as small as
  a run) and gcsfs (>= 2024.12, marked experimental there) send it as a conditional put
  (``If-None-Match: *`` / ``ifGenerationMatch=0``), so the store refuses a name taken meanwhile and
  the next one is tried: atomic, like the link. ``memory://`` checks at open, in-process. A
  backend that refuses "xb" is written with "wb" after an existence check (check-then-write: two
  drivers racing for one name in that instant could both write it), and one that accepts "xb"
  without sending the condition behaves the same way; one driver per storage is safe everywhere.

``str(storage)`` is what ``diffbench report compare --by profile`` reads (reports take URLs too).
``memory://`` lives in the driver's process only: it is for tests.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from bench.fleet.errors import FleetError

_NUMBERED = re.compile(r"(\d{4})_(.+\.json)")
# A URL whose name keeps being taken (a backend that reports every create as a conflict) must not
# loop forever; a real race moves on by one number per rival driver.
_MAX_TRIES = 100
_WHAT = "give a folder (created if missing) or an fsspec URL (s3://bucket/path, gs://..., file://...)"


@dataclass(frozen=True)
class UrlStorage:
    """A storage behind an fsspec URL; ``str()`` is its canonical URL."""

    url: str
    fs: Any  # fsspec.AbstractFileSystem
    root: str  # the filesystem's own path (no protocol)

    def __str__(self) -> str:
        return self.url


Storage = Path | UrlStorage


def check_storage(text: str) -> Storage:
    """The storage `--storage TEXT` names, refused in one line before anything starts."""
    if "://" not in text:
        return _check_folder(text, Path(text).expanduser().absolute())
    fs, root = _url_filesystem(text)
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(fs, LocalFileSystem):  # file://, local://: a folder, with the folder's guarantee
        return _check_folder(text, Path(root))
    try:
        if fs.isfile(root):
            raise FleetError(f"--storage {text!r} is a file; {_WHAT}")
    except FleetError:
        raise
    except Exception as error:  # credentials, network, permissions: the filesystem's own errors
        raise FleetError(f"--storage {text!r} cannot be reached: {_one_line(error)}") from None
    return UrlStorage(fs.unstrip_protocol(root).rstrip("/"), fs, root.rstrip("/"))


def write_run(storage: Storage, relative_path: str, text: str) -> Path | str:
    """`text` saved as STORAGE/MACHINE/NNNN_NAME.json with NNNN the next free number: its path, or
    its URL for a URL storage."""
    relative = PurePosixPath(relative_path)
    match = _NUMBERED.fullmatch(relative.name)
    if match is None or len(relative.parts) != 2 or ".." in relative.parts:
        raise FleetError(f"a node returned a run named {relative_path!r}, not MACHINE/NNNN_NAME.json")
    machine, name = relative.parts[0], match.group(2)
    if isinstance(storage, Path):
        return _write_to_folder(storage / machine, name, text)
    return _write_to_url(storage, f"{storage.root}/{machine}", name, text.encode())


def _check_folder(text: str, path: Path) -> Path:
    # The nearest existing part decides: it must be a folder this user may create entries in.
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise FleetError(f"--storage {text!r}: {existing} is a file; {_WHAT}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FleetError(f"--storage {text!r}: {existing} is not writable by this user; {_WHAT}")
    return path


def _url_filesystem(text: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise FleetError(
            f"--storage {text!r} needs fsspec, which is not installed "
            "(pip install fsspec, or diffbench[remote]); or give a folder"
        ) from None
    try:
        return fsspec.core.url_to_fs(text)
    except ImportError as error:  # a known protocol whose package is missing: "Install s3fs to access S3"
        raise FleetError(
            f"--storage {text!r} needs a package that is not installed: {_one_line(error)}"
        ) from None
    except Exception as error:  # ValueError "Protocol not known: foo", or a backend refusing the URL
        raise FleetError(f"--storage {text!r}: {_one_line(error)}; {_WHAT}") from None


def _write_to_folder(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".fleet-{os.getpid()}-{name}.tmp"
    temporary.write_text(text)
    try:
        while True:
            used = [int(m.group(1)) for p in folder.iterdir() if (m := _NUMBERED.fullmatch(p.name))]
            target = folder / f"{max(used, default=0) + 1:04d}_{name}"
            try:
                os.link(temporary, target)  # fails if the name was taken meanwhile: take the next one
            except FileExistsError:
                continue
            return target
    finally:
        temporary.unlink(missing_ok=True)


def _write_to_url(storage: UrlStorage, folder: str, name: str, data: bytes) -> str:
    fs = storage.fs
    try:
        for _ in range(_MAX_TRIES):
            target = f"{folder}/{_next_number(fs, folder):04d}_{name}"
            try:
                _create(fs, target, data)
            except FileExistsError:
                if not fs.exists(target):  # not a name taken meanwhile (memory://: a parent is a file)
                    raise OSError(f"{fs.unstrip_protocol(target)} cannot be created") from None
                continue  # taken since the listing: list again
            return fs.unstrip_protocol(target)
    except Exception as error:  # the filesystem's own errors (network, credentials, quota)
        raise FleetError(f"cannot write a run into {storage}: {_one_line(error)}") from None
    raise FleetError(f"cannot write a run into {storage}: {_MAX_TRIES} names in a row were taken")


def _next_number(fs: Any, folder: str) -> int:
    fs.invalidate_cache(folder)  # s3fs and gcsfs cache listings; another driver may have written
    try:
        names = fs.ls(folder, detail=False)
    except FileNotFoundError:
        return 1
    used = [m.group(1) for n in names if (m := _NUMBERED.fullmatch(n.rstrip("/").rsplit("/", 1)[-1]))]
    return max(map(int, used), default=0) + 1


def _create(fs: Any, target: str, data: bytes) -> None:
    """Write `target` only if it does not exist (FileExistsError otherwise, as far as the backend can)."""
    if fs.exists(target):
        raise FileExistsError(target)
    try:
        file = fs.open(target, "xb")
    except (NotImplementedError, ValueError):  # no exclusive create here: check-then-write
        file = fs.open(target, "wb")
    with file:  # an object store commits the object on close: a conflict surfaces here
        file.write(data)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
