"""Media types on the DICOMweb wire: Accept negotiation and multipart/related bodies (RFC 2387).

Real clients send several alternatives in one Accept header, quality values, `type="*/*"`
(dicomweb-client's default for frames) and quoted or bare parameters; every one of them is read
here, once, into `MediaRange`s that the resources match against what they can offer.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..errors import BadRequest, ViewboxError

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
OCTET_STREAM = "application/octet-stream"
MULTIPART = "multipart/related"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"

# Compressed transfer syntaxes and the media type a frame in each of them travels as (PS3.18 8.7.4).
FRAME_MEDIA_TYPES = {
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
}
_MEDIA_ALIASES = {"image/x-dicom-rle": "image/dicom-rle", "image/x-jls": "image/jls"}


class NotAcceptable(ViewboxError):
    """No representation the client accepts can be produced (HTTP 406)."""

    http_status = 406


class UnsupportedMediaType(ViewboxError):
    """A request body in a media type this server does not take (HTTP 415)."""

    http_status = 415


@dataclass(frozen=True)
class MediaRange:
    """One alternative of an Accept header: `type` lower-cased, parameters with lower-cased names."""

    type: str
    params: dict[str, str] = field(default_factory=dict)
    quality: float = 1.0

    @property
    def part_type(self) -> str | None:
        """The `type` parameter of a multipart/related range (what each part is)."""
        value = self.params.get("type")
        return _MEDIA_ALIASES.get(value.lower(), value.lower()) if value else None

    @property
    def transfer_syntax(self) -> str | None:
        return self.params.get("transfer-syntax")

    def matches(self, media_type: str) -> bool:
        """Whether `media_type` (no wildcards) falls in this range."""
        return type_matches(self.type, media_type)


def type_matches(pattern: str, media_type: str) -> bool:
    """`*/*`, `image/*` or an exact type against a concrete media type."""
    if pattern in ("*/*", "*"):
        return True
    major, _, minor = pattern.partition("/")
    media_major, _, media_minor = media_type.partition("/")
    return major == media_major and minor in ("*", media_minor)


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_media_type(text: str) -> MediaRange:
    """`type/subtype; name=value; …` (values quoted or not) → MediaRange; BadRequest if malformed."""
    pieces = _split_outside_quotes(text, ";")
    media_type = pieces[0].strip().lower()
    if media_type == "*":
        media_type = "*/*"
    if "/" not in media_type:
        raise BadRequest(f"malformed media type {text.strip()!r}")
    params: dict[str, str] = {}
    quality = 1.0
    for piece in pieces[1:]:
        name, _, value = piece.strip().partition("=")
        name, value = name.strip().lower(), value.strip().strip('"')
        if not name:
            continue
        if name == "q":
            try:
                quality = float(value)
            except ValueError:
                raise BadRequest(f"malformed quality value in {text.strip()!r}") from None
            continue
        params[name] = value
    return MediaRange(media_type, params, quality)


def parse_accept(header: str | None, query_accept: Iterable[str] = ()) -> list[MediaRange]:
    """The acceptable media ranges, best first (stable for equal quality); `*/*` when none given.

    `query_accept` are values of the `accept` query parameter, which PS3.18 lets take precedence
    over the header (for links opened in a browser)."""
    texts = [text for value in query_accept for text in _split_outside_quotes(value, ",")]
    if not texts and header:
        texts = _split_outside_quotes(header, ",")
    ranges = [parse_media_type(text) for text in texts if text.strip()]
    ranges = [r for r in ranges if r.quality > 0]
    if not ranges:
        return [MediaRange("*/*")]
    return sorted(ranges, key=lambda r: -r.quality)


def choose(ranges: list[MediaRange], offered: Iterable[str]) -> tuple[str, MediaRange]:
    """The first offered media type the client accepts (its preference first, then ours)."""
    offered = list(offered)
    for accepted in ranges:
        for media_type in offered:
            if accepted.matches(media_type):
                return media_type, accepted
    raise NotAcceptable(f"none of the accepted media types ({', '.join(r.type for r in ranges)}) "
                        f"is available here; this resource offers {', '.join(offered)}")


# -- multipart/related -------------------------------------------------------------------------------

def new_boundary() -> str:
    return "viewbox-" + secrets.token_hex(16)


def multipart_content_type(part_type: str, boundary: str, transfer_syntax: str | None = None) -> str:
    extra = f"; transfer-syntax={transfer_syntax}" if transfer_syntax else ""
    return f'multipart/related; type="{part_type}"; boundary={boundary}{extra}'


def part_header(boundary: str, content_type: str, location: str | None = None) -> bytes:
    """The delimiter and headers that open one part (the body and a CRLF follow)."""
    lines = [f"--{boundary}", f"Content-Type: {content_type}"]
    if location:
        lines.append(f"Content-Location: {location}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode("latin-1")


def multipart_body(boundary: str, parts: Iterable[tuple[str, bytes]]) -> Iterator[bytes]:
    """(content type, bytes) pairs as the chunks of a multipart body."""
    for content_type, data in parts:
        yield part_header(boundary, content_type)
        yield data
        yield b"\r\n"
    yield closing(boundary)


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a multipart Content-Type; BadRequest when missing."""
    boundary = parse_media_type(content_type).params.get("boundary")
    if not boundary:
        raise BadRequest(f"multipart body without a boundary: {content_type}")
    return boundary


class MultipartReader:
    """Splits a multipart body fed in chunks into (headers, body) parts as each one completes,
    so a large upload is never held whole in memory (only the part being read)."""

    def __init__(self, boundary: str):
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        self._buffer = bytearray(b"\r\n")  # the first delimiter may open the body without its CRLF
        self._in_part = False
        self._scanned = 0
        self.finished = False

    def feed(self, chunk: bytes) -> list[tuple[dict[str, str], bytes]]:
        """Parts completed by this chunk (a part ends where the next delimiter starts)."""
        self._buffer += chunk
        parts = []
        while not self.finished:
            at = self._buffer.find(self._delimiter, self._scanned)
            if at < 0:
                # the delimiter may straddle two chunks: rescan its length's worth next time
                self._scanned = max(0, len(self._buffer) - len(self._delimiter))
                break
            after = at + len(self._delimiter)
            line_end = self._buffer.find(b"\r\n", after)
            if line_end < 0 and self._buffer[after:after + 2] != b"--":
                self._scanned = at
                break
            if self._in_part:
                parts.append(_part(bytes(self._buffer[:at])))
            if self._buffer[after:after + 2] == b"--":
                self.finished = True
                self._buffer.clear()
                break
            del self._buffer[:line_end + 2]
            self._in_part = True
            self._scanned = 0
        return parts

    def close(self) -> None:
        """The body ended: BadRequest unless the closing delimiter came."""
        if not self.finished:
            raise BadRequest("the multipart body ended before its closing boundary")


def _part(raw: bytes) -> tuple[dict[str, str], bytes]:
    if raw.startswith(b"\r\n"):  # a part without headers
        return {}, raw[2:]
    head, separator, body = raw.partition(b"\r\n\r\n")
    if not separator:
        raise BadRequest("a multipart part has no blank line after its headers")
    headers = {}
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip():
            headers[name.strip().lower()] = value.strip()
    return headers, body
