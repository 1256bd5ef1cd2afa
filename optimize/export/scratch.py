"""Run ONNX Runtime's graph tools with a throw-away working directory.

Some of them write into the current directory: the symbolic shape inference saves
`sym_shape_infer_temp.onnx` (and a `<uuid>.data` external-data file beside it) whenever its
inference is incomplete, which the transformer optimiser and `quant_pre_process` can hit.
Run from a checkout, that litters the repository; run in a read-only folder, it fails.
Inside `scratch_directory()` the working directory is a fresh temporary folder, removed on
exit, so whatever they drop there disappears. Paths handed to the tools must be absolute
(resolve them before entering).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def scratch_directory() -> Iterator[Path]:
    """chdir into a temporary folder for the duration; builds are single-threaded, so this is safe there."""
    previous = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="diffbench-ort-scratch-") as folder:
        os.chdir(folder)
        try:
            yield Path(folder)
        finally:
            os.chdir(previous)


def unlinked(source: Path, folder: Path, data_file: str) -> Path:
    """`source` itself, or a private copy of it (graph + external data) when its files are hard links.

    The variant cache hard-links graphs into its entries (no 3.4 GB copy), and onnx's loader
    refuses external data with several hard links ("potential hardlink attack"), so a graph
    reloaded from the cache can't be read by the quantiser or the fp16 converters as it is.
    """
    data = source.parent / data_file
    if all(path.stat().st_nlink == 1 for path in (source, data) if path.exists()):
        return source
    folder.mkdir(parents=True, exist_ok=True)
    for path in (source, data):
        if path.exists():
            shutil.copyfile(path, folder / path.name)
    return folder / source.name
