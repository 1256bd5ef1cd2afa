"""Decode a PNG with the standard library only: size, colour type and the raw pixel rows.

The web UI client must not need Pillow (it may run on a machine with nothing but Python), yet
"the server sent an image" has to mean more than "it sent some bytes": the chunks are walked
with their CRCs checked and the image data inflated to exactly the size its header promises.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Samples per pixel of each PNG colour type (greyscale, RGB, palette, grey+alpha, RGBA).
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


class PngError(ValueError):
    """The bytes are not a complete, well-formed PNG; the message says what is wrong."""


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    bit_depth: int
    colour_type: int
    # The inflated image data: one filter byte then the row's bytes, per row (filters not undone:
    # two images with the same pixels encoded the same way have the same bytes here).
    raw: bytes


def decode(data: bytes) -> Png:
    """Parse and inflate `data`; `PngError` when it is not a whole PNG."""
    if not data.startswith(SIGNATURE):
        raise PngError("not a PNG (no PNG signature)")
    offset = len(SIGNATURE)
    header: tuple[int, int, int, int, int] | None = None
    idat = bytearray()
    ended = False
    while offset < len(data):
        if offset + 8 > len(data):
            raise PngError("truncated chunk header")
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        crc_bytes = data[offset + 8 + length : offset + 12 + length]
        if len(body) != length or len(crc_bytes) != 4:
            raise PngError(f"truncated {kind!r} chunk")
        if zlib.crc32(kind + body) != struct.unpack(">I", crc_bytes)[0]:
            raise PngError(f"bad CRC in the {kind.decode('latin-1')} chunk")
        offset += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            header = (width, height, depth, colour, interlace)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            ended = True
            break
    if header is None:
        raise PngError("no IHDR chunk")
    if not ended:
        raise PngError("no IEND chunk (truncated)")
    width, height, depth, colour, interlace = header
    if colour not in _CHANNELS or width < 1 or height < 1:
        raise PngError(f"bad header: {width}x{height}, colour type {colour}")
    try:
        raw = zlib.decompress(bytes(idat))
    except zlib.error as error:
        raise PngError(f"image data does not inflate ({error})") from None
    if not interlace:
        row_bytes = (width * _CHANNELS[colour] * depth + 7) // 8
        if len(raw) != height * (1 + row_bytes):
            raise PngError(
                f"image data is {len(raw)} bytes, not {height * (1 + row_bytes)} for {width}x{height}"
            )
    return Png(width, height, depth, colour, raw)
