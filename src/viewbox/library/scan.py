"""A fast walk over an encoded DICOM header that keeps only the elements the database needs.

pydicom's dcmread builds every element of a header, and importing a folder spent most of its time
there. This walks the encoded elements with struct over one buffer, keeps the wanted tags as raw
elements (decoded, with the character set, only when read), skips everything else
(sequences included, at any depth) and stops at the pixel data.

It never decides a file's fate: anything it does not handle plainly (big endian, deflate, a value
running past the end, a malformed item) raises Unusual, and the caller reads the file with pydicom.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from ..transfer_syntaxes import BIG_ENDIAN, DEFLATED, IMPLICIT_LITTLE

PIXEL_DATA_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
# Transfer syntaxes whose data set is explicit VR little endian: the native one and every
# encapsulated (compressed) one. Big endian and deflate are left to pydicom.
_NOT_EXPLICIT_LITTLE = frozenset({IMPLICIT_LITTLE, BIG_ENDIAN, DEFLATED})
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
                       b"UT", b"UV"})
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_MAX_DEPTH = 16
_TAG_LENGTH = struct.Struct("<HHL")
_TAG_VR_SHORT = struct.Struct("<HH2sH")
_LONG = struct.Struct("<L")


class RawElement(NamedTuple):
    """An element as read, not decoded: the fields of pydicom's RawElement, which it becomes
    when pydicom has to convert it (pydicom is not imported for the walk)."""

    tag: int
    VR: str | None
    length: int
    value: bytes
    value_tell: int
    is_implicit_VR: bool
    is_little_endian: bool


class Unusual(Exception):
    """The encoding is not one the fast walk handles; read the file with pydicom instead."""


class NeedMore(Unusual):
    """A value runs past the end of the buffer; a longer read of the same file may succeed."""


@dataclass
class Header:
    """What the walk found: the wanted raw elements and the file meta values."""

    elements: dict[int, RawElement]
    transfer_syntax: str
    sop_class_in_meta: str | None
    pixel_data_at: int | None  # offset of the Pixel Data element, None when the walk ran to the end


def scan_file(buffer: bytes | memoryview, wanted: frozenset[int], *, complete: bool) -> Header:
    """Walk a Part 10 file (preamble, 'DICM', file meta, data set) held in `buffer`.

    `complete` says the buffer holds the whole file: a value past its end is then a truncation
    (Unusual), not a short read (NeedMore).
    """
    if len(buffer) < 144 or buffer[128:132] != b"DICM":
        raise Unusual("no Part 10 preamble")
    meta, position = _file_meta(buffer, 132, complete)
    transfer_syntax = meta.get(0x00020010)
    if transfer_syntax is None:
        raise Unusual("no transfer syntax")
    if transfer_syntax == IMPLICIT_LITTLE:
        implicit = True
    elif transfer_syntax in _NOT_EXPLICIT_LITTLE:
        raise Unusual(f"transfer syntax {transfer_syntax}")
    else:
        implicit = False
    elements, pixel_data_at = scan_dataset(buffer, position, implicit, wanted, complete=complete)
    return Header(elements, transfer_syntax, meta.get(0x00020002), pixel_data_at)


def _file_meta(buffer: bytes | memoryview, position: int, complete: bool) -> tuple[dict[int, str], int]:
    """Group 0002 (always explicit VR little endian): its UIDs, and where the data set starts."""
    meta: dict[int, str] = {}
    size = len(buffer)
    while position + 8 <= size:
        group, element, vr, length = _TAG_VR_SHORT.unpack_from(buffer, position)
        if group != 0x0002:
            return meta, position
        if not (vr.isalpha() and vr.isupper()):
            raise Unusual("file meta without explicit VRs")
        if vr in _LONG_VRS:
            if position + 12 > size:
                raise _short(complete)
            length = _LONG.unpack_from(buffer, position + 8)[0]
            position += 12
        else:
            position += 8
        end = position + length
        if length == _UNDEFINED or end > size:
            raise _short(complete)
        if element in (0x0002, 0x0010):
            meta[0x00020000 | element] = bytes(buffer[position:end]).decode("ascii", "replace").strip("\x00 ")
        position = end
    raise _short(complete)


def scan_dataset(buffer: bytes | memoryview, position: int, implicit: bool, wanted: frozenset[int], *,
                 complete: bool = True) -> tuple[dict[int, RawElement], int | None]:
    """The wanted top-level elements of a little endian data set, and where Pixel Data starts.

    A declared Pixel Data length longer than the buffer is a truncation when `complete`.
    """
    found: dict[int, RawElement] = {}
    size = len(buffer)
    while position < size:
        tag, vr, length, value_at = _element_header(buffer, position, implicit, complete)
        if tag in PIXEL_DATA_TAGS:
            if complete and length != _UNDEFINED and value_at + length > size:
                raise Unusual("Pixel Data cut short")
            return found, position
        if length == _UNDEFINED:
            end = _skip_sequence(buffer, value_at, implicit or vr == b"UN", complete, 1)
            value_end = end - 8  # the value, without its sequence delimiter
        else:
            end = value_end = value_at + length
            if end > size:
                raise _short(complete)
        if tag in wanted:
            if length == _UNDEFINED and vr not in (None, b"SQ"):
                raise Unusual("undefined length on a wanted element that is not a sequence")
            found[tag] = RawElement(tag, vr.decode("ascii") if vr else None, value_end - value_at,
                                        bytes(buffer[value_at:value_end]), value_at, implicit, True)
        position = end
    return found, None


def _element_header(buffer: bytes | memoryview, position: int, implicit: bool,
                    complete: bool) -> tuple[int, bytes | None, int, int]:
    if position + 8 > len(buffer):
        raise _short(complete)
    if implicit:
        group, element, length = _TAG_LENGTH.unpack_from(buffer, position)
        return group << 16 | element, None, length, position + 8
    group, element, vr, length = _TAG_VR_SHORT.unpack_from(buffer, position)
    if vr in _LONG_VRS:
        if position + 12 > len(buffer):
            raise _short(complete)
        return group << 16 | element, vr, _LONG.unpack_from(buffer, position + 8)[0], position + 12
    if not (vr.isalpha() and vr.isupper()):
        raise Unusual(f"no VR at offset {position}")
    return group << 16 | element, vr, length, position + 8


def _skip_sequence(buffer: bytes | memoryview, position: int, implicit: bool, complete: bool, depth: int) -> int:
    """Skip the items of an undefined-length sequence; returns the offset after its delimiter."""
    if depth > _MAX_DEPTH:
        raise Unusual("sequences nested too deep")
    size = len(buffer)
    while True:
        if position + 8 > size:
            raise _short(complete)
        group, element, length = _TAG_LENGTH.unpack_from(buffer, position)
        tag = group << 16 | element
        position += 8
        if tag == _SEQUENCE_END:
            return position
        if tag != _ITEM:
            raise Unusual(f"expected an item at offset {position - 8}")
        if length == _UNDEFINED:
            position = _skip_item(buffer, position, implicit, complete, depth)
        else:
            position += length
            if position > size:
                raise _short(complete)


def _skip_item(buffer: bytes | memoryview, position: int, implicit: bool, complete: bool, depth: int) -> int:
    """Skip the elements of an undefined-length item; returns the offset after its delimiter."""
    while True:
        if position + 8 > len(buffer):
            raise _short(complete)
        group, element = struct.unpack_from("<HH", buffer, position)
        if group << 16 | element == _ITEM_END:
            return position + 8
        _, vr, length, value_at = _element_header(buffer, position, implicit, complete)
        if length == _UNDEFINED:
            if not implicit and vr not in (b"SQ", b"UN"):
                raise Unusual("undefined length on an element that is not a sequence")
            position = _skip_sequence(buffer, value_at, implicit or vr == b"UN", complete, depth + 1)
        else:
            position = value_at + length
            if position > len(buffer):
                raise _short(complete)


def _short(complete: bool) -> Unusual:
    return Unusual("a value runs past the end of the file") if complete else NeedMore()
