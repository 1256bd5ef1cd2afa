"""Write a safetensors file tensor by tensor, straight from each tensor's storage.

`safetensors.torch.save_file` refuses tensors that share storage (views, tied weights), and
the formats answered that with a `.clone()` of the whole state dict: saving sd15's UNet held
a second 3.4 GB copy of it for the length of the write. The format is simple enough to write
here (an 8-byte little-endian header length, a JSON header of dtype, shape and byte offsets
padded with spaces to 8 bytes, then the raw little-endian data in offset order), and a shared
storage is then just written twice. A tensor that is not contiguous, or not on the CPU, is
copied one at a time. The files are read back by safetensors itself (`load_file`, `safe_open`),
which validates every offset.
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import _TYPES

_NAMES = {dtype: name for name, dtype in _TYPES.items() if dtype is not None}


def save_tensors(
    tensors: Mapping[str, torch.Tensor], path: Path | str, metadata: dict[str, str] | None = None
) -> None:
    """Write `tensors` as a safetensors file at `path`, streaming each tensor's bytes."""
    if sys.byteorder != "little":
        raise RuntimeError("safetensors stores little-endian data; this machine is big-endian")
    items = sorted(tensors.items())
    header: dict[str, object] = {}
    offset = 0
    for name, tensor in items:
        if tensor.dtype not in _NAMES:
            raise TypeError(f"safetensors has no dtype for {name!r} ({tensor.dtype})")
        size = tensor.numel() * tensor.element_size()
        header[name] = {
            "dtype": _NAMES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)))
        handle.write(raw)
        for _, tensor in items:
            if tensor.numel() == 0:
                continue
            data = tensor.detach()
            if data.device.type != "cpu" or not data.is_contiguous():
                data = data.contiguous().cpu()  # this tensor alone
            handle.write(memoryview(data.reshape(-1).view(torch.uint8).numpy()))
