"""Service handlers of the DICOM node: C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET on the local database.

C-STORE keeps the bytes the peer sent: the encoded dataset plus its file meta is written as-is
through the library's one write path, and only the header is parsed (never decoded and re-encoded),
so the stored pixel data is byte-identical to what was sent and no time goes into re-encoding.
"""

from __future__ import annotations

import logging
import queue
import select
import socket
import ssl
import struct
import warnings
from collections.abc import Iterable, Iterator
from io import BytesIO
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import (
    PYNETDICOM_IMPLEMENTATION_UID,
    PYNETDICOM_IMPLEMENTATION_VERSION,
    build_context,
    evt,
)
from pynetdicom._handlers import (
    standard_dimse_recv_handler,
    standard_dimse_sent_handler,
    standard_pdu_recv_handler,
    standard_pdu_sent_handler,
)
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
)
from pynetdicom.transport import AssociationSocket

from ..errors import ImportFailure
from ..library import dicom_query
from ..library.instance import read_part10, read_received
from ..pydicom_setup import lenient_pydicom
from .status import (
    CANCEL,
    IDENTIFIER_DOES_NOT_MATCH,
    PENDING,
    SUCCESS,
    status_for,
)

lenient_pydicom()  # this module reads stored files: leniently, like the importer

log = logging.getLogger(__name__)

_PATIENT_ROOT = {str(PatientRootQueryRetrieveInformationModelFind)}
_UNIQUE_KEYS = {"PATIENT": ["PatientID"], "STUDY": ["StudyInstanceUID"],
                "SERIES": ["StudyInstanceUID", "SeriesInstanceUID"],
                "IMAGE": ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]}
_NOT_MATCHED = {"QueryRetrieveLevel", "SpecificCharacterSet"}
_DEFLATED = "1.2.840.10008.1.2.1.99"


# pynetdicom's DUL thread sleeps this long whenever it finds nothing to do (default 1 ms): each
# C-STORE waits for it twice (request in, response out). 0.2 ms measured 134 → ~200 files/s bare,
# but costs ~12% of a core while an association sits idle, so only storing associations get it.
DUL_LOOP_DELAY = 0.0002
# pynetdicom's association thread sleeps 1 ms, then polls for a complete DIMSE message; a storing
# association instead waits on the message queue (woken the moment the message is complete), for
# at most this long, so that release and abort are still noticed promptly.
MESSAGE_WAIT = 0.005
# ... and its DUL thread waits in select() for the peer's next bytes (woken the moment they come)
# for at most this long, instead of sleeping DUL_LOOP_DELAY between non-blocking polls; what the
# node itself queues for sending (not a C-STORE success) waits at most this long.
SOCKET_WAIT = 0.001


def _whole_reads(transport):
    """A replacement for pynetdicom's AssociationSocket.recv that fills one buffer with
    recv_into instead of gluing 4 KiB reads together (~130 calls and copies per 512 KiB object).
    Same contract: block until `nr_bytes` arrived; on a closed connection return what came."""

    def recv(nr_bytes: int) -> bytearray:
        sock = transport.socket
        buffer = bytearray(nr_bytes)
        view = memoryview(buffer)
        received = 0
        try:
            while received < nr_bytes:
                count = sock.recv_into(view[received:], nr_bytes - received)
                if not count:
                    break
                received += count
        finally:
            view.release()
        if received < nr_bytes:
            del buffer[received:]
        return buffer

    return recv


_STANDARD_LOGGING = (
    (evt.EVT_DIMSE_RECV, standard_dimse_recv_handler), (evt.EVT_DIMSE_SENT, standard_dimse_sent_handler),
    (evt.EVT_PDU_RECV, standard_pdu_recv_handler), (evt.EVT_PDU_SENT, standard_pdu_sent_handler),
)


def tune_association(event) -> None:
    """EVT_CONN_OPEN: disable Nagle (else every DIMSE message waits ~40 ms for an ACK on loopback)
    and read PDUs in whole.

    Also unbinds pynetdicom's standard logging handlers when its logger would drop what they
    write (INFO and DEBUG): they run on every PDU and message anyway, and the one for a received
    C-STORE copies the whole data set just to log that it is present.
    """
    assoc = event.assoc
    try:
        transport = assoc.dul.socket
        transport.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.recv = _whole_reads(transport)
    except (AttributeError, OSError):
        pass
    if not logging.getLogger("pynetdicom").isEnabledFor(logging.INFO):
        for event_type, handler in _STANDARD_LOGGING:
            if any(bound is handler for bound, _ in assoc.get_handlers(event_type)):
                assoc.unbind(event_type, handler)


def _quicken(assoc) -> None:
    """Take each received DIMSE message as soon as it is complete; answer success quickly.

    Replaces two methods of this association's DIMSE provider (instance attributes; pynetdicom
    itself is untouched),

    - `get_msg`: the reactor loop's non-blocking poll (after a fixed 1 ms sleep) becomes a wait
      of at most MESSAGE_WAIT; a blocking get keeps pynetdicom's behaviour. Only acceptors get it
      (from the C-STORE handler): a requestor pauses its reactor around each request, and a
      reactor parked in the wait would delay that pause. Bare receiver: ~+10% files/s.
    - `send_msg`: a plain C-STORE success response is encoded directly (~0.05 ms) instead of
      through a pydicom Dataset (~0.6 ms) and, in the data transfer state, written to the socket
      by this thread (the DUL thread's queue costs ~1 ms: its idle sleep and a thread switch);
      anything else goes through pynetdicom.

    and makes its socket a _WaitingSocket, so that its DUL thread waits for the peer's bytes in
    select() instead of sleeping between polls (bare receiver: ~+7% files/s, less idle CPU).
    """
    dimse = assoc.dimse
    if getattr(dimse, "_viewbox_quick", False):
        return
    messages = dimse.msg_queue
    send_msg = dimse.send_msg

    def get_msg(block: bool = False):
        try:
            return messages.get(timeout=dimse.dimse_timeout if block else MESSAGE_WAIT)
        except queue.Empty:
            return None, None

    def send(primitive, context_id: int) -> None:
        command = _store_success(primitive)
        limit = dimse.maximum_pdu_size
        if (command is None or assoc.get_handlers(evt.EVT_DIMSE_SENT)
                or (limit and len(command) + 7 > limit)):
            send_msg(primitive, context_id)
            return
        dul = dimse.dul
        if (dul.state_machine.current_state == "Sta6" and dul.to_provider_queue.empty()
                and not assoc.get_handlers(evt.EVT_PDU_SENT)):
            # Straight onto the socket from this thread: the DUL thread would take it from its
            # queue only after its next idle sleep. Nothing else is being sent meanwhile: the
            # queue is empty and the peer waits for this answer before its next request.
            dul.socket.send(p_data_tf(context_id, b"\x03" + command))
            return
        pdata = P_DATA()
        pdata.presentation_data_value_list.append((context_id, b"\x03" + command))
        dul.send_pdu(pdata)

    dimse.get_msg = get_msg
    dimse.send_msg = send
    dimse._viewbox_quick = True
    transport = assoc.dul.socket
    if type(transport) is AssociationSocket:
        transport.__class__ = _WaitingSocket
        assoc.dul._run_loop_delay = 0


class _WaitingSocket(AssociationSocket):
    """An association socket whose `ready` waits up to SOCKET_WAIT for data (see _quicken)."""

    @property
    def ready(self) -> bool:
        sock = self.socket
        if sock is None or self._is_connected is False:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        try:
            ready, _, _ = select.select([sock], [], [], SOCKET_WAIT)
        except (OSError, TimeoutError, ValueError):
            self.event_queue.put("Evt17")  # transport connection closed
            return False
        return bool(ready)


def p_data_tf(context_id: int, value: bytes) -> bytes:
    """A P-DATA-TF PDU holding one presentation data value (control header first in `value`)."""
    item = struct.pack(">IB", len(value) + 1, context_id) + value
    return struct.pack(">BBI", 0x04, 0x00, len(item)) + item


def _command_element(element: int, value: bytes) -> bytes:
    """One Command Set element, Implicit VR Little Endian (group 0000)."""
    return struct.pack("<HHI", 0x0000, element, len(value)) + value


def _command_uid(uid) -> bytes:
    value = str(uid).encode("ascii")
    return value + b"\x00" if len(value) % 2 else value


def _store_success(primitive) -> bytes | None:
    """The Command Set of a C-STORE-RSP with Status 0x0000 and no optional fields, else None.

    Byte for byte what pynetdicom encodes for it (tests compare the two).
    """
    if (type(primitive) is not C_STORE or primitive.MessageIDBeingRespondedTo is None
            or primitive.Status != 0x0000 or primitive.ErrorComment is not None
            or primitive.OffendingElement is not None or primitive.AffectedSOPClassUID is None
            or primitive.AffectedSOPInstanceUID is None):
        return None
    body = b"".join((
        _command_element(0x0002, _command_uid(primitive.AffectedSOPClassUID)),
        _command_element(0x0100, struct.pack("<H", 0x8001)),
        _command_element(0x0120, struct.pack("<H", primitive.MessageIDBeingRespondedTo)),
        _command_element(0x0800, struct.pack("<H", 0x0101)),
        _command_element(0x0900, struct.pack("<H", 0x0000)),
        _command_element(0x1000, _command_uid(primitive.AffectedSOPInstanceUID)),
    ))
    return _command_element(0x0000, struct.pack("<I", len(body))) + body


# -- C-ECHO ------------------------------------------------------------------------------------------

def handle_echo(event) -> int:
    return SUCCESS


# -- C-STORE -----------------------------------------------------------------------------------------

def store_part10(workstation, encoded: bytes) -> str:
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
    return library.commit([staged])[0].status


def _element(element: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b" " if vr == b"SH" else b"\x00"
    if vr == b"OB":
        return struct.pack("<HH2s2xI", 0x0002, element, vr, len(value)) + value
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def part10_header(sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str) -> bytes:
    """Preamble, 'DICM' and File Meta Information (Explicit VR Little Endian) for a received dataset.

    Built directly: pynetdicom's encoder (through pydicom) costs ~0.3 ms per object.
    """
    body = b"".join((
        _element(0x0001, b"OB", b"\x00\x01"),
        _element(0x0002, b"UI", sop_class_uid.encode("ascii")),
        _element(0x0003, b"UI", sop_instance_uid.encode("ascii")),
        _element(0x0010, b"UI", transfer_syntax_uid.encode("ascii")),
        _element(0x0012, b"UI", PYNETDICOM_IMPLEMENTATION_UID.encode("ascii")),
        _element(0x0013, b"SH", PYNETDICOM_IMPLEMENTATION_VERSION.encode("ascii")),
    ))
    group_length = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(body))
    return b"\x00" * 128 + b"DICM" + group_length + body


def received_part10(event) -> bytes:
    """The C-STORE dataset exactly as the peer sent it, behind its File Meta Information."""
    request = event.request
    return _received_meta(event) + request.DataSet.getvalue()


def _received_meta(event) -> bytes:
    request = event.request
    return part10_header(str(request.AffectedSOPClassUID).strip("\x00 "),
                         str(request.AffectedSOPInstanceUID).strip("\x00 "),
                         str(event.context.transfer_syntax))


def store_received(workstation, event) -> str:
    """Store a C-STORE's data set as received, behind its File Meta Information.

    The header is read from the data set itself with the negotiated transfer syntax (only the
    elements the database keeps) while the kernel is already writing the file (meta and received
    buffer, never joined) out; a deflated data set takes store_part10's way.
    """
    dataset = event.request.DataSet
    transfer_syntax = str(event.context.transfer_syntax)
    if not isinstance(dataset, BytesIO) or transfer_syntax == _DEFLATED:
        return store_part10(workstation, received_part10(event))
    with dataset.getbuffer() as received:
        _, staged = workstation.library.files.stage_received(
            (_received_meta(event), received),
            lambda: read_received(dataset, transfer_syntax))
    return _commit_one(workstation.library, staged)


def handle_store(event, workstation) -> int | Dataset:
    """Store one received object; success is answered only once its file and row are durable."""
    assoc = event.assoc
    # a storing association: answer sooner (a quickened one waits in select() with delay 0)
    assoc.dul._run_loop_delay = min(assoc.dul._run_loop_delay, DUL_LOOP_DELAY)
    if assoc.is_acceptor:  # (a C-GET requestor waits for its messages itself)
        _quicken(assoc)
    try:
        store_received(workstation, event)
        return SUCCESS
    except ImportFailure as exc:
        log.warning("refused C-STORE from %s: %s", event.assoc.requestor.ae_title, exc.message)
        return status_for(exc)
    except Exception as exc:  # noqa: BLE001 - answered as a DICOM failure status
        return status_for(exc)


# -- C-FIND ------------------------------------------------------------------------------------------

def identifier_filters(identifier: Dataset) -> dict[str, str]:
    """Matching keys of an identifier as keyword → text (sequences are not matched)."""
    filters: dict[str, str] = {}
    for element in identifier:
        keyword = element.keyword
        if not keyword or keyword in _NOT_MATCHED or element.VR == "SQ":
            continue
        value = element.value
        if value is None:
            text = ""
        elif isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
            text = "\\".join(str(v) for v in value)
        else:
            text = str(value)
        filters[keyword] = text
    return filters


def _format(keyword: str, value, vr: str) -> object:
    if value is None:
        return ""
    kind = dicom_query.KEYS[keyword].kind
    if kind == "date":
        return value.strftime("%Y%m%d")
    if kind == "time":
        return value.strftime("%H%M%S")
    if vr in ("IS", "US", "UL", "SS", "SL"):
        return int(value)
    return str(value)


class _Headers:
    """Headers of representative stored files, read once per request (for unmapped return keys)."""

    def __init__(self, files_dir: Path):
        self.files_dir = files_dir
        self._cache: dict[str, Dataset | None] = {}

    def get(self, rel_path: str | None) -> Dataset | None:
        if not rel_path:
            return None
        if rel_path not in self._cache:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self._cache[rel_path] = pydicom.dcmread(self.files_dir / rel_path,
                                                            stop_before_pixels=True, force=True)
            except Exception:  # noqa: BLE001 - a missing file only loses optional return keys
                self._cache[rel_path] = None
        return self._cache[rel_path]


def find_responses(workstation, identifier: Dataset, model: str) -> Iterator[tuple[int, Dataset | None]]:
    """(status, identifier) pairs answering a C-FIND request on the local database."""
    level = str(identifier.get("QueryRetrieveLevel", "")).upper()
    if level not in dicom_query.LEVELS or (level == "PATIENT" and model not in _PATIENT_ROOT):
        failure = Dataset()
        failure.Status = IDENTIFIER_DOES_NOT_MATCH
        failure.ErrorComment = f"unsupported query level {level!r}"[:64]
        yield failure, None
        return
    database = workstation.database
    rows = dicom_query.find(database, level, identifier_filters(identifier))
    headers = _Headers(database.files_dir)
    requested = [e for e in identifier if e.keyword and e.keyword not in _NOT_MATCHED]
    study_of = (lambda row: row.get("pk")) if level == "STUDY" else (lambda row: row.get("study_pk"))
    modalities = (dicom_query.modalities_by_study(database, sorted({study_of(row) for row in rows}))
                  if any(e.keyword == "ModalitiesInStudy" for e in requested) else {})
    for row in rows:
        answer = Dataset()
        answer.SpecificCharacterSet = "ISO_IR 192"
        answer.QueryRetrieveLevel = level
        answer.RetrieveAETitle = workstation.settings.aet
        for keyword in _UNIQUE_KEYS[level]:
            setattr(answer, keyword, dicom_query.value_of(keyword, row, level) or "")
        for element in requested:
            keyword = element.keyword
            if element.VR == "SQ":
                setattr(answer, keyword, [])
            elif keyword == "ModalitiesInStudy":
                answer.ModalitiesInStudy = modalities.get(study_of(row), [])
            elif keyword in dicom_query.KEYS and dicom_query.KEYS[keyword].level in _levels_up_to(level):
                setattr(answer, keyword, _format(keyword, dicom_query.value_of(keyword, row, level),
                                                 element.VR))
            elif keyword not in answer:
                header = headers.get(row.get("rel_path"))
                source = header.get(element.tag) if header is not None else None
                if source is not None and source.VR != "SQ":
                    answer.add_new(element.tag, source.VR, source.value)
                else:
                    answer.add_new(element.tag, element.VR, None)
        yield PENDING, answer


def _levels_up_to(level: str) -> tuple[str, ...]:
    return dicom_query.LEVELS[: dicom_query.LEVELS.index(level) + 1]


def handle_find(event, workstation):
    """EVT_C_FIND: yield pending matches; stop with Cancel when the peer asks."""
    model = str(event.request.AffectedSOPClassUID)
    try:
        for status, answer in find_responses(workstation, event.identifier, model):
            if event.is_cancelled:
                yield CANCEL, None
                return
            yield status, answer
    except Exception as exc:  # noqa: BLE001
        yield status_for(exc), None


# -- C-MOVE and C-GET --------------------------------------------------------------------------------

def _selected_images(workstation, identifier: Dataset) -> list[dict]:
    level = str(identifier.get("QueryRetrieveLevel", "")).upper()
    filters = {k: v for k, v in identifier_filters(identifier).items()
               if k in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")}
    if level not in dicom_query.LEVELS:
        return []
    return dicom_query.images_matching(workstation.database, level, filters)


_UNCOMPRESSED = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")


def storage_contexts(stored: Iterable[tuple[str, str | None]]) -> list:
    """Presentation contexts to send stored objects (C-MOVE, SendStudy), from their (SOP class,
    stored transfer syntax): one per pair, and for SOP classes stored compressed one more offering
    them uncompressed, which fit_to_contexts falls back to when the destination takes no
    compressed syntax. At most 128; the stored syntaxes come first."""
    pairs = list(dict.fromkeys((sop_class, ts or _UNCOMPRESSED[0]) for sop_class, ts in stored if sop_class))
    compressed = dict.fromkeys(sop_class for sop_class, ts in pairs if ts not in _UNCOMPRESSED)
    contexts = [build_context(sop_class, [ts]) for sop_class, ts in pairs]
    contexts += [build_context(sop_class, list(_UNCOMPRESSED)) for sop_class in compressed]
    return contexts[:128]


def _load(files_dir: Path, image: dict) -> Dataset | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(files_dir / image["rel_path"], force=True)
    except Exception:  # noqa: BLE001 - counted as a failed sub-operation
        log.warning("cannot read stored file %s", image["rel_path"])
        return None


def fit_to_contexts(dataset: Dataset, contexts) -> Dataset:
    """Decompress a dataset when the peer accepted its SOP class only uncompressed.

    Objects are sent as stored whenever the peer accepts that; otherwise pynetdicom would fail
    the sub-operation, so the pixel data is decoded (pydicom's codecs) into what was accepted.
    """
    sop_class = str(dataset.get("SOPClassUID", ""))
    stored = str(dataset.file_meta.get("TransferSyntaxUID", ""))
    accepted = {str(cx.transfer_syntax[0]) for cx in contexts if cx.abstract_syntax == sop_class}
    if stored in accepted or not accepted:
        return dataset
    target = next((ts for ts in _UNCOMPRESSED if ts in accepted), None)
    if target is None:
        return dataset
    if dataset.file_meta.TransferSyntaxUID.is_compressed:
        dataset.decompress()
    dataset.file_meta.TransferSyntaxUID = target
    return dataset


class _StoreAssociation:
    """The association pynetdicom opens to a C-MOVE destination, caught by its EVT_ACCEPTED:
    what it accepted decides how each object is sent."""

    def __init__(self) -> None:
        self.accepted_contexts: list = []

    def accepted(self, event) -> None:
        self.accepted_contexts = event.assoc.accepted_contexts


def _sub_operations(workstation, event, images: list[dict], peer):
    """Yield the C-STORE sub-operations; `peer` has the accepted_contexts of the association that
    carries them (the requestor's for C-GET, the destination's for C-MOVE)."""
    files_dir = workstation.database.files_dir
    for image in images:
        if event.is_cancelled:
            yield CANCEL, None
            return
        dataset = _load(files_dir, image)
        if dataset is not None:
            try:
                dataset = fit_to_contexts(dataset, peer.accepted_contexts)
            except Exception:  # noqa: BLE001 - no codec: the sub-operation fails, the rest go on
                log.warning("cannot convert %s for the peer", image["rel_path"])
                dataset = None
        # Something that is not a Dataset is counted by pynetdicom as a failed sub-operation.
        yield PENDING, dataset if dataset is not None else image["rel_path"]


def handle_move(event, workstation):
    """EVT_C_MOVE: send the selected objects to a destination known as a Location."""
    destination = str(event.move_destination or "").strip()
    location = next((loc for loc in workstation.settings.locations if loc.ae_title == destination), None)
    if location is None:
        log.warning("C-MOVE to unknown destination %r refused", destination)
        yield None, None
        return
    try:
        images = _selected_images(workstation, event.identifier)
    except Exception as exc:  # noqa: BLE001
        yield location.host, location.port
        yield status_for(exc), None
        return
    store_association = _StoreAssociation()
    yield location.host, location.port, {
        "contexts": storage_contexts((img["sop_class_uid"], img["transfer_syntax_uid"]) for img in images)
        or None,
        "evt_handlers": [(evt.EVT_CONN_OPEN, tune_association),
                         (evt.EVT_ACCEPTED, store_association.accepted)],
    }
    yield len(images)
    yield from _sub_operations(workstation, event, images, store_association)


def handle_get(event, workstation):
    """EVT_C_GET: send the selected objects back over the requesting association."""
    try:
        images = _selected_images(workstation, event.identifier)
    except Exception as exc:  # noqa: BLE001
        yield 0
        yield status_for(exc), None
        return
    yield len(images)
    yield from _sub_operations(workstation, event, images, event.assoc)
