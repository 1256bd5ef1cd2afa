"""Read a folder of reference images: one size, one mode, uint8 RGB out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.errors import BenchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# Modes read as RGB: grey is repeated on three channels; an alpha channel is dropped.
ACCEPTED_MODES = ("RGB", "L", "RGBA")
# A covariance (FID) and the unbiased MMD (KID) need two samples per set.
MIN_IMAGES = 2


def _image_paths(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise BenchError(
            f"{str(folder)!r} is not a folder of images, nor a built-in set (ihc-heldout, ihc-train)"
        )
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _too_few_images(folder: Path, readable: int, unreadable: int) -> str:
    if readable == 0:
        found = f"{unreadable} file(s) could not be read" if unreadable else "none found"
        return (
            f"{str(folder)!r} has no readable images ({found}); accepted files: {', '.join(IMAGE_SUFFIXES)}"
        )
    unread = f" and {unreadable} file(s) that could not be read" if unreadable else ""
    return f"{str(folder)!r} has {readable} readable image{unread}; FID and KID need at least {MIN_IMAGES}"


def _header_readable(path: Path) -> bool:
    try:
        with Image.open(path):  # reads the header only: no pixels are decoded
            return True
    except (OSError, UnidentifiedImageError):
        return False


def check_image_count(folder: Path) -> None:
    """A start-up check, cheap on a large folder: BenchError naming the folder unless it holds
    MIN_IMAGES files whose headers PIL reads. Stops at the MIN_IMAGES-th; `read_image_folder`
    checks every file in full when the features are measured."""
    paths = _image_paths(folder)
    readable = 0
    for path in paths:
        if _header_readable(path):
            readable += 1
            if readable >= MIN_IMAGES:
                return
    raise BenchError(_too_few_images(folder, readable, len(paths) - readable))


def read_image_folder(folder: Path) -> np.ndarray:
    """All images in `folder` (recursively, sorted by path) as uint8 N x H x W x 3.

    Raises BenchError naming the folder or the offending files when there are fewer than
    MIN_IMAGES readable images, when a file is unreadable, when sizes or modes differ, or when
    a mode is not accepted.
    """
    paths = _image_paths(folder)
    images: list[np.ndarray] = []
    first: tuple[Path, tuple[int, int], str] | None = None
    unreadable: list[Path] = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
                size, mode = image.size, image.mode
                pixels = image.convert("RGB")
        except (OSError, UnidentifiedImageError):
            unreadable.append(path)
            continue
        if mode not in ACCEPTED_MODES:
            raise BenchError(
                f"{path}: image mode {mode!r} is not accepted; use one of {', '.join(ACCEPTED_MODES)}"
            )
        if first is None:
            first = (path, size, mode)
        elif size != first[1] or mode != first[2]:
            raise BenchError(
                f"reference images differ: {first[0].name} is {first[1][0]}x{first[1][1]} {first[2]}, "
                f"{path.name} is {size[0]}x{size[1]} {mode}; give images of one size and one mode"
            )
        images.append(np.asarray(pixels, dtype=np.uint8))
    if len(images) < MIN_IMAGES:
        raise BenchError(_too_few_images(folder, len(images), len(unreadable)))
    if unreadable:
        # One bad file would silently change the statistics: refuse rather than skip it.
        raise BenchError(f"{unreadable[0]} is not a readable image; remove or replace it")
    return np.stack(images)
