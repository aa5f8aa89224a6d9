"""Storing what a peer sends: C-STORE (as the SCP, or as a C-GET requestor) and WADO-RS parts.

The bytes the peer sent are kept: the encoded data set plus its File Meta Information is written
as-is through the library's one write path, and only the header is parsed (never decoded and
re-encoded), so the stored pixel data is byte-identical to what was sent and no time goes into
re-encoding.
"""

from __future__ import annotations

from io import BytesIO

from ..errors import ImportFailure
from ..library.instance import read_part10, read_received
from ..station import Station
from ..transfer_syntaxes import DEFLATED
from .encoding import part10_header


def store_part10(workstation: Station, encoded: bytes) -> str:
    """Store a Part 10 byte string as-is (C-STORE, C-GET, WADO-RS): parse only its header.

    Returns 'imported' or 'already_present'; ImportFailure when the header is unusable.
    """
    library = workstation.library
    _, staged = library.files.stage_received((encoded,), lambda: read_part10(encoded))
    return _commit_one(library, staged)


def _commit_one(library, staged) -> str:
    """'already_present' when staging found the object stored, else the commit's outcome."""
    if staged is None:
        return "already_present"
    outcome = library.commit([staged])[0]
    if outcome.status == "refused":
        raise ImportFailure(f"not stored: {outcome.reason}")
    return outcome.status


def _affected_uid(request, name: str) -> str:
    """A C-STORE request's Affected SOP Class/Instance UID, which goes into the file's meta
    information; a value that cannot be a UID (not ASCII, control characters) is refused."""
    value = str(getattr(request, name) or "").strip("\x00 ")
    if not value or not value.isascii() or not value.isprintable():
        raise ImportFailure(f"{name} is not a UID: {value[:40]!r}", quarantine=False)
    return value


def received_part10(event) -> bytes:
    """The C-STORE dataset exactly as the peer sent it, behind its File Meta Information."""
    return _received_meta(event) + event.request.DataSet.getvalue()


def _received_meta(event) -> bytes:
    request = event.request
    return part10_header(_affected_uid(request, "AffectedSOPClassUID"),
                         _affected_uid(request, "AffectedSOPInstanceUID"),
                         str(event.context.transfer_syntax))


def store_received(workstation: Station, event) -> str:
    """Store a C-STORE's data set as received, behind its File Meta Information.

    The header is read from the data set itself with the negotiated transfer syntax (only the
    elements the database keeps) while the kernel is already writing the file (meta and received
    buffer, never joined) out; a deflated data set takes store_part10's way.
    """
    dataset = event.request.DataSet
    transfer_syntax = str(event.context.transfer_syntax)
    if not isinstance(dataset, BytesIO) or transfer_syntax == DEFLATED:
        return store_part10(workstation, received_part10(event))
    meta = _received_meta(event)
    with dataset.getbuffer() as received:
        _, staged = workstation.library.files.stage_received(
            (meta, received), lambda: read_received(dataset, transfer_syntax))
    return _commit_one(workstation.library, staged)
