"""Service handlers of the DICOM node: C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET on the local database.

Each answers with a DICOM status, never a dropped association: failures map through status.py.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelFind

from ..errors import ImportFailure
from ..library import dicom_query
from ..library.instance import StoredHeaders
from ..pydicom_setup import lenient_pydicom
from ..station import Station
from . import tuning
from .receiving import store_received
from .sending import fit_to_contexts, storage_contexts
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


# -- C-ECHO ------------------------------------------------------------------------------------------

def handle_echo(event) -> int:
    return SUCCESS


# -- C-STORE -----------------------------------------------------------------------------------------

def handle_store(event, workstation: Station) -> int | Dataset:
    """Store one received object; success is answered only once its file and row are durable."""
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


def find_responses(workstation: Station, identifier: Dataset, model: str) -> Iterator[tuple[int | Dataset, Dataset | None]]:
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
    headers = StoredHeaders(database.files_dir)
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


def handle_find(event, workstation: Station):
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

def _selected_images(workstation: Station, identifier: Dataset) -> list[dict]:
    level = str(identifier.get("QueryRetrieveLevel", "")).upper()
    filters = {k: v for k, v in identifier_filters(identifier).items()
               if k in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")}
    if level not in dicom_query.LEVELS:
        return []
    return dicom_query.images_matching(workstation.database, level, filters)


def _load(files_dir: Path, image: dict) -> Dataset | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(files_dir / image["rel_path"], force=True)
    except Exception:  # noqa: BLE001 - counted as a failed sub-operation
        log.warning("cannot read stored file %s", image["rel_path"])
        return None


class _StoreAssociation:
    """The association pynetdicom opens to a C-MOVE destination, caught by its EVT_ACCEPTED:
    what it accepted decides how each object is sent."""

    def __init__(self) -> None:
        self.accepted_contexts: list = []

    def accepted(self, event) -> None:
        self.accepted_contexts = event.assoc.accepted_contexts


def _sub_operations(workstation: Station, event, images: list[dict], peer):
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


def handle_move(event, workstation: Station):
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
        "evt_handlers": [*tuning.event_handlers(), (evt.EVT_ACCEPTED, store_association.accepted)],
    }
    yield len(images)
    yield from _sub_operations(workstation, event, images, store_association)


def handle_get(event, workstation: Station):
    """EVT_C_GET: send the selected objects back over the requesting association."""
    try:
        images = _selected_images(workstation, event.identifier)
    except Exception as exc:  # noqa: BLE001
        yield 0
        yield status_for(exc), None
        return
    yield len(images)
    yield from _sub_operations(workstation, event, images, event.assoc)
