"""Stored objects in the transfer syntax a client asks for, and their frames.

`*`, or the syntax the object is stored in, returns the stored bytes untouched (byte-identical);
anything else is decoded and re-encoded with pydicom and its plugins where they can, and refused
(406) where they cannot (JPEG baseline, for one, has no encoder).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from ..pydicom_setup import lenient_pydicom
from .media import EXPLICIT_LITTLE, FRAME_MEDIA_TYPES, NotAcceptable

IMPLICIT_LITTLE = "1.2.840.10008.1.2"
UNCOMPRESSED = (EXPLICIT_LITTLE, IMPLICIT_LITTLE)


def _encodable(transfer_syntax: str) -> bool:
    if transfer_syntax in UNCOMPRESSED:
        return True
    lenient_pydicom()
    from pydicom.pixels import get_encoder

    try:
        return get_encoder(transfer_syntax).is_available
    except (NotImplementedError, ValueError, KeyError):
        return False


def check_transcodable(stored: str | None, wanted: str) -> None:
    """NotAcceptable unless an object stored in `stored` can be sent in `wanted`."""
    if wanted in ("*", stored):
        return
    if not _encodable(wanted):
        raise NotAcceptable(f"objects cannot be converted to transfer syntax {wanted}; "
                            "ask for transfer-syntax=* (as stored) or 1.2.840.10008.1.2.1")


def read_dataset(path: Path):
    """The whole stored data set (pixel data included)."""
    pydicom = lenient_pydicom()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, force=True)


def part10(path: Path, stored: str | None, wanted: str) -> bytes:
    """The object as a Part 10 file in `wanted` (`*`: as stored, byte for byte)."""
    if wanted in ("*", stored):
        return path.read_bytes()
    dataset = read_dataset(path)
    current = str(dataset.file_meta.get("TransferSyntaxUID", stored or IMPLICIT_LITTLE))
    if wanted == current:
        return path.read_bytes()
    try:
        if _is_compressed(current) and "PixelData" in dataset:
            dataset.decompress()
        if wanted not in UNCOMPRESSED and "PixelData" in dataset:
            dataset.compress(wanted)
        dataset.file_meta.TransferSyntaxUID = wanted
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
    except Exception as exc:  # noqa: BLE001 - codecs raise many kinds; the client gets 406
        raise NotAcceptable(f"{path.name} cannot be converted from {current} to {wanted}: {exc}") from exc
    return buffer.getvalue()


def _is_compressed(transfer_syntax: str) -> bool:
    from pydicom.uid import UID

    return UID(transfer_syntax).is_compressed


def frames(dataset, numbers: list[int], wanted: str | None) -> list[tuple[str, bytes]]:
    """(media type, bytes) of the 1-based frames `numbers`.

    `wanted` is a frame media type: `application/octet-stream` decodes (little endian, as the
    stored bit depth), a compressed type returns the stored fragments when the object is stored
    that way, None returns frames as they are stored (compressed in their own media type, or raw).
    """
    from pydicom.encaps import generate_frames
    from pydicom.pixels import pixel_array

    stored = str(dataset.file_meta.get("TransferSyntaxUID", EXPLICIT_LITTLE))
    count = int(dataset.get("NumberOfFrames", 1) or 1)
    bad = [n for n in numbers if not 1 <= n <= count]
    if bad:
        raise LookupError(f"frame {bad[0]} does not exist (the object has {count})")
    compressed = _is_compressed(stored)
    own_type = FRAME_MEDIA_TYPES.get(stored, "application/octet-stream") if compressed else "application/octet-stream"
    if wanted not in (None, own_type, "application/octet-stream"):
        raise NotAcceptable(f"frames are stored as {own_type}; they can be sent as that or as "
                            "application/octet-stream")
    if compressed and wanted != "application/octet-stream":
        stored_frames = list(generate_frames(dataset.PixelData, number_of_frames=count))
        return [(f"{own_type}; transfer-syntax={stored}", stored_frames[n - 1]) for n in numbers]
    if not compressed and int(dataset.get("BitsAllocated", 16)) % 8 == 0:
        size = (int(dataset.Rows) * int(dataset.Columns) * int(dataset.get("SamplesPerPixel", 1))
                * int(dataset.BitsAllocated) // 8)
        data = dataset.PixelData
        return [("application/octet-stream", bytes(data[(n - 1) * size:n * size])) for n in numbers]
    answers = []
    for n in numbers:
        array = pixel_array(dataset, index=n - 1, raw=True)
        answers.append(("application/octet-stream", array.astype(array.dtype.newbyteorder("<")).tobytes()))
    return answers
