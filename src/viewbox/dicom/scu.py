"""Talking to Locations as a DICOM client: C-ECHO, Study Root C-FIND, C-MOVE, C-GET, C-STORE.

Connection and ACSE timeouts are short so an unreachable Location answers within seconds (Retrieve
replies -1 instead of hanging the caller); DIMSE timeouts are longer because a PACS may take a
while to find files. Every failure to reach or talk to the peer becomes RemoteFailure.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import AE, build_context, build_role, evt
from pynetdicom.presentation import StoragePresentationContexts
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from ..config import Location
from ..errors import RemoteFailure
from ..station import Station
from . import tuning
from .entity import STORAGE_TRANSFER_SYNTAXES, UNCOMPRESSED, quiet_pynetdicom_logging
from .handlers import handle_store
from .sending import fit_to_contexts, storage_contexts

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.0
ACSE_TIMEOUT = 5.0
DIMSE_TIMEOUT = 60.0
# Return keys of Retrieve's study-level C-FIND, OsiriX's (docs/dicom.md, Retrieve).
STUDY_RETURN_KEYS = ("PatientName", "PatientID", "AccessionNumber", "PatientBirthDate",
                     "StudyDescription", "StudyDate", "StudyTime", "StudyInstanceUID", "StudyID",
                     "NumberOfStudyRelatedInstances", "ModalitiesInStudy", "InstitutionName",
                     "ReferringPhysicianName")


def _client_ae(workstation: Station) -> AE:
    quiet_pynetdicom_logging()
    ae = AE(ae_title=workstation.settings.aet)
    ae.connection_timeout = CONNECT_TIMEOUT
    ae.acse_timeout = ACSE_TIMEOUT
    ae.dimse_timeout = DIMSE_TIMEOUT
    ae.network_timeout = DIMSE_TIMEOUT
    return ae


@contextmanager
def association(workstation: Station, location: Location, contexts: list, *, roles: list | None = None,
                handlers: list | None = None) -> Iterator:
    """An established association with a Location, released on exit; RemoteFailure otherwise."""
    ae = _client_ae(workstation)
    ae.requested_contexts = contexts
    connected: list[bool] = []  # pynetdicom reports a refused connection as an abort too
    assoc = ae.associate(location.host, location.port, ae_title=location.ae_title,
                         ext_neg=roles or None,
                         evt_handlers=[*tuning.event_handlers(),
                                       (evt.EVT_CONN_OPEN, lambda _event: connected.append(True))]
                         + (handlers or []))
    if not assoc.is_established:
        reason = ("cannot be reached" if not connected else "rejected the association" if assoc.is_rejected
                  else "aborted the association")
        raise RemoteFailure(f"{location.name} ({location.ae_title}@{location.host}:{location.port}) {reason}")
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def _check(status: Dataset | None, location: Location, what: str) -> int:
    if status is None or "Status" not in status:
        raise RemoteFailure(f"{location.name}: no answer to {what} (timeout or connection lost)")
    return int(status.Status)


def echo(workstation: Station, location: Location) -> float:
    """Seconds a C-ECHO round trip takes (association included)."""
    started = time.perf_counter()
    with association(workstation, location, [build_context(Verification)]) as assoc:
        code = _check(assoc.send_c_echo(), location, "C-ECHO")
    if code != 0:
        raise RemoteFailure(f"{location.name} answered C-ECHO with status 0x{code:04X}")
    return time.perf_counter() - started


def find_studies(workstation: Station, location: Location, filters: dict[str, str]) -> list[Dataset]:
    """Study Root C-FIND at STUDY level: matching keys `filters`, plus the usual return keys."""
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    if not all(value.isascii() for value in filters.values()):
        identifier.SpecificCharacterSet = "ISO_IR 192"  # only when needed: old PACS refuse it
    for keyword in STUDY_RETURN_KEYS:
        setattr(identifier, keyword, "")
    for keyword, value in filters.items():
        setattr(identifier, keyword, value)
    matches = []
    context = build_context(StudyRootQueryRetrieveInformationModelFind, UNCOMPRESSED[:2])
    with association(workstation, location, [context]) as assoc:
        for status, answer in assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind):
            code = _check(status, location, "C-FIND")
            if code in (0xFF00, 0xFF01):
                if answer is not None and answer.get("StudyInstanceUID"):
                    matches.append(answer)
            elif code != 0:
                raise RemoteFailure(f"{location.name} answered C-FIND with status 0x{code:04X}")
    return matches


ProgressCallback = Callable[[int, int], None]  # (completed, failed)


def _follow_retrieve(responses, location: Location, what: str,
                     progress: ProgressCallback | None) -> tuple[int, int]:
    completed = failed = 0
    for status, _identifier in responses:
        code = _check(status, location, what)
        completed = int(status.get("NumberOfCompletedSuboperations", completed) or 0)
        failed = int(status.get("NumberOfFailedSuboperations", failed) or 0)
        if progress:
            progress(completed, failed)
        if code in (0xFF00, 0xFF01):
            continue
        if code == 0xA702 and failed:  # every sub-operation failed: counted, the caller decides
            return completed, failed
        if code not in (0x0000, 0xB000):
            raise RemoteFailure(f"{location.name} answered {what} with status 0x{code:04X}"
                                + (f": {status.ErrorComment}" if "ErrorComment" in status else ""))
    return completed, failed


def _study_identifier(study_uid: str) -> Dataset:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = study_uid
    return identifier


def move_study(workstation: Station, location: Location, study_uid: str,
               progress: ProgressCallback | None = None) -> tuple[int, int]:
    """C-MOVE a study to our own AE title; returns (completed, failed) sub-operations.

    The objects arrive through the node's C-STORE SCP, which answers each only once it is stored,
    so everything is in the database when the final response comes.
    """
    context = build_context(StudyRootQueryRetrieveInformationModelMove, UNCOMPRESSED[:2])
    with association(workstation, location, [context]) as assoc:
        responses = assoc.send_c_move(_study_identifier(study_uid), workstation.settings.aet,
                                      StudyRootQueryRetrieveInformationModelMove)
        return _follow_retrieve(responses, location, "C-MOVE", progress)


def get_study(workstation: Station, location: Location, study_uid: str,
              progress: ProgressCallback | None = None) -> tuple[int, int]:
    """C-GET a study over one association, storing each object as the C-STORE SCP does.

    Each storage SOP class is offered once with every syntax we take, and the PACS picks one per
    class, which may be a syntax it cannot send some of its files in (Viewbox itself prefers
    lossless JPEG, and cannot send a file stored uncompressed that way). When sub-operations fail,
    the study is asked for once more offering uncompressed syntaxes only: a PACS can always decode,
    and what arrived already is not stored twice.
    """
    completed, failed = _get_study(workstation, location, study_uid, STORAGE_TRANSFER_SYNTAXES, progress)
    if failed:
        log.info("%s: %d C-GET sub-operations failed; asking again for uncompressed objects",
                 location.name, failed)
        completed, failed = _get_study(workstation, location, study_uid, UNCOMPRESSED[:2], progress)
    return completed, failed


def _get_study(workstation: Station, location: Location, study_uid: str, syntaxes: list[str],
               progress: ProgressCallback | None) -> tuple[int, int]:
    storage = [cx.abstract_syntax for cx in StoragePresentationContexts][:127]
    contexts = [build_context(StudyRootQueryRetrieveInformationModelGet, UNCOMPRESSED[:2])]
    contexts += [build_context(sop_class, syntaxes) for sop_class in storage]
    roles = [build_role(sop_class, scp_role=True) for sop_class in storage]
    handlers = [(evt.EVT_C_STORE, handle_store, [workstation])]
    with association(workstation, location, contexts, roles=roles, handlers=handlers) as assoc:
        responses = assoc.send_c_get(_study_identifier(study_uid), StudyRootQueryRetrieveInformationModelGet)
        return _follow_retrieve(responses, location, "C-GET", progress)


def store_files(workstation: Station, location: Location, items: list[tuple[str, str | None, Path]],
                progress: ProgressCallback | None = None) -> tuple[int, int]:
    """C-STORE files, given as (SOP class, stored transfer syntax, path) from their image rows, to
    a Location; returns (sent, failed).

    Each file goes as stored when the Location accepts its transfer syntax, else decoded into an
    uncompressed one it accepts (fit_to_contexts).
    """
    contexts = storage_contexts((sop_class, ts) for sop_class, ts, _ in items)
    if len(dict.fromkeys((sop_class, ts) for sop_class, ts, _ in items)) > 128:
        raise RemoteFailure("more than 128 SOP class/transfer syntax pairs in one send")
    sent = failed = 0
    with association(workstation, location, contexts) as assoc:
        as_stored = {(cx.abstract_syntax, cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
        for sop_class, ts, path in items:
            try:
                status = assoc.send_c_store(path if (sop_class, ts) in as_stored
                                            else fit_to_contexts(_read_whole(path), assoc.accepted_contexts))
            except (ValueError, AttributeError, NotImplementedError, RuntimeError) as exc:
                failed += 1  # no accepted context, or no codec for it: this file fails, the rest go on
                log.warning("cannot send %s to %s: %s", path.name, location.name, exc)
            else:
                code = _check(status, location, "C-STORE")
                if code == 0 or 0xB000 <= code <= 0xBFFF:
                    sent += 1
                else:
                    failed += 1
                    log.warning("%s refused %s with status 0x%04X", location.name, path.name, code)
            if progress:
                progress(sent, failed)
    return sent, failed


def _read_whole(path: Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, force=True)
