"""The training data of `tiny-ddpm-ihc`: 32x32 crops of scikit-image's immunohistochemistry image.

The 512x512 image (IHC-stained tissue, shipped inside scikit-image, so offline) is split by
rows: the top `TRAIN_ROWS` rows are for training, the bottom rows are held out and only ever
used as the FID reference. Crops never straddle the split, so no held-out pixel is trained on.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

CROP = 32
TRAIN_ROWS = 384  # rows 0..383 train, rows 384..511 held out (a quarter of the image)
HELDOUT_STRIDE = 16  # overlapping grid: 31 x 7 = 217 held-out crops


def ihc_image() -> np.ndarray:
    """The 512x512x3 uint8 image."""
    from skimage import data  # imported late: scikit-image is slow to import

    image = np.asarray(data.immunohistochemistry(), dtype=np.uint8)
    if image.shape != (512, 512, 3):
        raise RuntimeError(f"unexpected immunohistochemistry image shape {image.shape}")
    return image


def train_region(image: np.ndarray | None = None) -> np.ndarray:
    return (ihc_image() if image is None else image)[:TRAIN_ROWS]


def heldout_region(image: np.ndarray | None = None) -> np.ndarray:
    return (ihc_image() if image is None else image)[TRAIN_ROWS:]


def grid_crops(region: np.ndarray, stride: int = HELDOUT_STRIDE, size: int = CROP) -> np.ndarray:
    """Every size x size crop on a stride grid, row-major: N x size x size x 3 uint8."""
    rows = range(0, region.shape[0] - size + 1, stride)
    cols = range(0, region.shape[1] - size + 1, stride)
    return np.stack([region[r : r + size, c : c + size] for r in rows for c in cols])


def heldout_crops() -> np.ndarray:
    """The FID reference: 217 overlapping 32x32 crops of the held-out rows."""
    return grid_crops(heldout_region())


def random_crops(region: np.ndarray, count: int, rng: np.random.Generator, size: int = CROP) -> np.ndarray:
    """`count` crops at random positions (uniform), uint8 N x size x size x 3."""
    rows = rng.integers(0, region.shape[0] - size + 1, count)
    cols = rng.integers(0, region.shape[1] - size + 1, count)
    return np.stack([region[r : r + size, c : c + size] for r, c in zip(rows, cols, strict=True)])


def crops_digest(crops: np.ndarray) -> str:
    """sha256 of the crops' shape and bytes: a cache key that changes if the data does."""
    digest = hashlib.sha256(repr(crops.shape).encode())
    digest.update(np.ascontiguousarray(crops).tobytes())
    return digest.hexdigest()


def export_png(crops: np.ndarray, folder: Path) -> int:
    """Write crops as 00000.png, ... into `folder` (created); each file written atomically."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index, crop in enumerate(crops):
        target = folder / f"{index:05d}.png"
        handle, temporary = tempfile.mkstemp(dir=folder, suffix=".png.tmp")
        os.close(handle)
        Image.fromarray(crop).save(temporary, format="PNG")
        os.replace(temporary, target)
    return len(crops)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m models.ihc", description="Export the IHC crops (the FID reference) as PNG files."
    )
    parser.add_argument("folder", type=Path, help="where to write the PNG files")
    parser.add_argument(
        "--split",
        choices=("heldout", "train"),
        default="heldout",
        help="heldout: the 217 reference crops; train: as many random training crops (seed 0)",
    )
    args = parser.parse_args(argv)
    held = heldout_crops()
    if args.split == "heldout":
        crops = held
    else:
        crops = random_crops(train_region(), len(held), np.random.default_rng(0))
    count = export_png(crops, args.folder)
    print(f"wrote {count} {args.split} crops ({CROP}x{CROP}) to {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
