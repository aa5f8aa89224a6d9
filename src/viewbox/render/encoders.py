"""Display arrays (uint8 grey or RGB) → bytes for the browser: PNG written directly, JPEG, thumbnails."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Literal

import numpy as np
from PIL import Image

from ..errors import BadRequest

ImageFormat = Literal["jpeg", "png"]
MEDIA_TYPES: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png"}


def encode_png(array: np.ndarray, compress_level: int = 1) -> bytes:
    """Lossless PNG (8-bit grey or RGB), written directly: every row uses the "Up" filter, which
    suits medical images, and zlib level 1; about twice as fast as Pillow's adaptive filtering
    for a smaller file."""
    if array.dtype != np.uint8:
        raise ValueError(f"PNG encoding expects uint8 display values, got {array.dtype}")
    pixels = np.ascontiguousarray(array)
    if pixels.ndim == 2:
        colour_type = 0
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        colour_type = 2
    else:
        raise ValueError(f"cannot encode an array of shape {pixels.shape} as PNG")
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # filter type Up (PNG spec 9.2): difference with the row above
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(filtered.tobytes(), compress_level)),
            _png_chunk(b"IEND", b""),
        ]
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_jpeg(array: np.ndarray, quality: int = 90) -> bytes:
    """Lossy but the fastest to encode and transfer; 4:4:4 so colour edges stay sharp."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, "JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def encode(array: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> bytes:
    """Encode for the browser in `fmt` (a key of MEDIA_TYPES)."""
    if fmt == "jpeg":
        return encode_jpeg(array, quality)
    if fmt == "png":
        return encode_png(array)
    raise BadRequest(f"unknown image format {fmt!r} (expected one of {', '.join(MEDIA_TYPES)})")


def thumbnail_jpeg(array: np.ndarray, size: int = 128, quality: int = 85) -> bytes:
    """A display array shrunk to fit in size×size, as JPEG."""
    image = Image.fromarray(array)
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
