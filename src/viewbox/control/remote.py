"""Retrieve, CMove and SendStudy: parameter decoding here, the DICOM work in viewbox.dicom.retrieve.

The DICOM layer is imported lazily, inside each call, so the control API starts (and its other
methods work) whatever state the DICOM layer is in.
"""

from __future__ import annotations

from ..errors import BadRequest, NoMatch, NotFound, RemoteFailure, UnknownLocation, ViewboxError
from ..plugins.hooks import hookimpl
from .registry import Call, Registry

FILTER_SUFFIXES = ("", "1", "2", "3", "4", "5", "6", "7", "8", "9")
RETRIEVE_MODES = {"1": "C-GET", "2": "DICOMweb"}


def _dicom():
    try:
        from ..dicom import retrieve
    except ImportError as exc:
        raise RemoteFailure(f"DICOM retrieval is not available: {exc}") from None
    return retrieve


def _job_reply(ws, location: str, start, codes: dict[type[ViewboxError], str]) -> dict:
    """Check the Location, run `start(dicom_retrieve_module)` (which queues a DICOM job), and map
    the DICOM layer's refusals to this method's OsiriX error codes: the one error mapping of
    Retrieve, CMove and SendStudy."""
    try:
        if ws.settings.location(location) is None:
            raise UnknownLocation(f"unknown server {location!r}")
        job = start(_dicom())
    except tuple(codes) as exc:
        code = next(code for kind, code in codes.items() if isinstance(exc, kind))
        return {"error": code, "message": exc.message}
    return {"error": "0", "jobID": job.id}


def retrieve_filters(params) -> list[tuple[str, str]]:
    """filterKey/filterValue … filterKey9/filterValue9 (pairs with both parts present)."""
    filters = []
    for suffix in FILTER_SUFFIXES:
        key, value = params.text(f"filterKey{suffix}"), params.text(f"filterValue{suffix}")
        if key and value:
            filters.append((key, value))
    return filters


def retrieve(call: Call) -> dict:
    """Query a Location at study level with the filters and retrieve the matches as a job."""
    params, ws = call.params, call.workstation
    server = params.require("serverName")
    filters = retrieve_filters(params)
    if not filters:
        raise BadRequest("Retrieve needs filterKey and filterValue")
    then = (params.text("then") or "").lower() or None
    only_if_needed = params.boolean("retrieveOnlyIfNeeded")
    mode = RETRIEVE_MODES.get(params.text("retrieveMode") or "")
    return _job_reply(ws, server, lambda dicom: dicom.start_retrieve(ws, server, filters, then,
                                                                     only_if_needed, mode),
                      {UnknownLocation: "-2", NoMatch: "-3", RemoteFailure: "-1"})


def cmove(call: Call) -> dict:
    """C-FIND on an accession number at a Location and C-MOVE every match to us, as a job."""
    params, ws = call.params, call.workstation
    accession = params.require("accessionNumber")
    server = params.require("server", "serverName")
    return _job_reply(ws, server, lambda dicom: dicom.start_cmove(ws, accession, server),
                      {UnknownLocation: "-1", NoMatch: "-3", RemoteFailure: "-1"})


def send_study(call: Call) -> dict:
    """C-STORE a local study to a Location, as a job."""
    params, ws = call.params, call.workstation
    location = params.require("location", "server")
    study_uid = params.require("studyInstanceUID")
    # NotFound: no such local study
    return _job_reply(ws, location, lambda dicom: dicom.start_send(ws, location, study_uid),
                      {UnknownLocation: "-2", NoMatch: "-1", NotFound: "-1", RemoteFailure: "-1"})


@hookimpl(tryfirst=True)
def viewbox_register_methods(registry: Registry) -> None:
    """Retrieve, CMove and SendStudy."""
    registry.add("Retrieve", retrieve, source="core",
                 params=("serverName", "filterKey", "filterValue", "then", "retrieveOnlyIfNeeded",
                         "retrieveMode"))
    registry.add("CMove", cmove, source="core", params=("accessionNumber", "server"))
    registry.add("SendStudy", send_study, source="core", params=("location", "studyInstanceUID"),
                 permission="SendStudy")
