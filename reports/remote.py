"""Run files behind fsspec URLs (``s3://bucket/benchmarks``, ``gs://...``, ``memory://...``).

fsspec is optional (the ``remote`` extra): it is imported only when a URL is given, and its
absence, or the absence of the filesystem package a URL needs (s3fs for ``s3://``), is one
``ReportError`` line naming the package to install.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reports.errors import ReportError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(text: object) -> bool:
    return isinstance(text, str) and bool(_URL.match(text))


@dataclass(frozen=True)
class RemoteFile:
    """One run file behind a URL; quacks like the parts of ``Path`` the loader uses."""

    url: str
    fs: Any  # fsspec.AbstractFileSystem
    path: str  # the filesystem's own path (no protocol)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        name = self.name
        return name[: -len(".json")] if name.endswith(".json") else name.rsplit(".", 1)[0]

    def read_bytes(self) -> bytes:
        try:
            return self.fs.cat_file(self.path)
        except OSError:
            raise
        except Exception as error:  # a remote filesystem raises its own types (botocore, ...)
            raise OSError(str(error)) from error

    def __str__(self) -> str:
        return self.url


def find_remote(url: str) -> list[RemoteFile]:
    """The run file at ``url``, or every ``*.json`` under it (recursive), in a stable order."""
    fs, root = _filesystem(url)
    try:
        if fs.isdir(root):
            paths = sorted(path for path in fs.find(root) if path.endswith(".json"))
        elif fs.isfile(root):
            paths = [root]
        else:
            raise ReportError(f"no such file or folder: {url}")
    except ReportError:
        raise
    except Exception as error:  # credentials, network, permissions: the filesystem's own errors
        raise ReportError(f"cannot list {url}: {_one_line(error)}") from None
    return [RemoteFile(fs.unstrip_protocol(path), fs, path) for path in paths]


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise ReportError(
            f"reading {url} needs fsspec, which is not installed (pip install fsspec, or diffbench[remote])"
        ) from None
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as error:
        # fsspec knows the protocol but its package is missing, e.g. "Install s3fs to access S3".
        raise ReportError(
            f"reading {url} needs a package that is not installed: {_one_line(error)}"
        ) from None
    except ValueError as error:  # an unknown protocol
        raise ReportError(f"cannot read {url}: {_one_line(error)}") from None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
