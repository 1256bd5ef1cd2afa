"""The source model of a session: loaded on demand, and parked while a variant is measured.

Every variant is built from the source model (a copy of it, cast, pruned, exported, ...). If
the source stayed resident while a variant was timed, the variant's peak RAM would count the
source's weights too: sd15's bf16 variant would read fp32 weights plus bf16 ones. So the suite
parks (drops) the source before measuring and loads it again when the next build needs it.
Loading is deterministic (random weights come from a fixed seed; local weights from the same
files), and the fingerprint of each load is checked against the first one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable
from typing import Any

from bench.errors import BenchError
from models import LoadedModel


@functools.cache
def _libc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None on another C library (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def return_freed_memory() -> None:
    """Collect garbage, then hand freed heap pages back to the kernel.

    glibc keeps freed memory in its arenas: after the first large free it raises its mmap
    threshold (up to 32 MiB), so most of a model's tensors then live on the heap, and freeing
    them lowers no RSS. A variant measured after its source was freed would be charged for the
    source's pages. malloc_trim(0) releases every whole free page of every arena (madvise), so
    RSS is again what is in use.
    """
    gc.collect()
    trim = _libc_malloc_trim()
    if trim is not None:
        trim(0)


class SourceModel:
    def __init__(self, load: Callable[[], LoadedModel]) -> None:
        self._load = load
        self._model: LoadedModel | None = None
        self._fingerprint: str | None = None
        self._identity: tuple[str, str, str] | None = None  # name, weights, family of the first load
        self.loads = 0

    def get(self) -> LoadedModel:
        if self._model is None:
            model = self._load()
            self.loads += 1
            if self._fingerprint is None:
                self._fingerprint = model.fingerprint
                self._identity = (model.name, model.weights, model.family)
            elif model.fingerprint != self._fingerprint:
                # Files changed under a running session: the variants would no longer be comparable.
                raise BenchError(
                    f"model {model.name!r} changed while the suite ran (fingerprint {model.fingerprint[:12]} "
                    f"!= {self._fingerprint[:12]}): rerun on files that stay put"
                )
            self._model = model
        return self._model

    def park(self) -> None:
        """Drop the source's weights from memory; the next `get` loads them again."""
        if self._model is not None:
            self._model = None
            return_freed_memory()

    @property
    def resident(self) -> bool:
        return self._model is not None

    def view(self) -> SourceView:
        """The source's identity without its weights; its `pipeline` loads them only if read."""
        if self._identity is None:
            self.get()
        return SourceView(self)


class SourceView:
    """What rows and collectors read of the model (name, weights, fingerprint, family), without
    loading it again after it was parked; `pipeline` (the FID collector's baseline build) does."""

    def __init__(self, source: SourceModel) -> None:
        assert source._identity is not None and source._fingerprint is not None
        self._source = source
        self.name, self.weights, self.family = source._identity
        self.fingerprint = source._fingerprint

    @property
    def pipeline(self) -> Any:
        return self._source.get().pipeline
