"""IHE Invoke Image Display (docs/control-api.md): open studies by UID, accession or patient, answer a page.

Registered as the method `IHEInvokeImageDisplay`, so the IID transport goes through the same
permission check, audit log and plugin hooks as every other call.
"""

from __future__ import annotations

import html
from datetime import datetime

from .. import viewing
from ..errors import BadRequest
from ..library import queries
from ..library.elements import element
from ..plugins.hooks import hookimpl
from .registry import Call, Registry


def _parse_datetime(text: str | None, name: str) -> datetime | None:
    """IID dates: ISO 8601 (`2024-05-01T10:00:00`, `2024-05-01`) or DICOM `YYYYMMDD[HHMMSS]`."""
    if not text:
        return None
    cleaned = text.strip().removesuffix("Z")
    try:
        return datetime.fromisoformat(cleaned).replace(tzinfo=None)
    except ValueError:
        pass
    for fmt in ("%Y%m%d%H%M%S", "%Y%m%d"):
        try:
            return datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
    raise BadRequest(f"{name}: {text!r} is not a date-time")


def invoke_image_display(call: Call) -> dict:
    """Find the studies an IID request names and open them as DisplayStudy does."""
    ws, params = call.workstation, call.params
    request_type = (params.text("requestType") or "").upper()
    if request_type == "STUDY":
        uids = [u.strip() for u in (params.text("studyUID") or "").split(",") if u.strip()]
        accession = params.text("accessionNumber")
        if uids:
            studies = queries.studies_by_uid(ws.database, uids)
            order = {uid: i for i, uid in enumerate(uids)}
            studies.sort(key=lambda s: order.get(s["study_instance_uid"], 0))
        elif accession:
            studies = queries.find_studies(ws.database, accession_number=accession)
        else:
            raise BadRequest("requestType=STUDY needs studyUID or accessionNumber")
    elif request_type == "PATIENT":
        patient = params.require("patientID").split("^", 1)[0]  # HL7 CX: ID^^^ISSUER
        studies = queries.find_studies(ws.database, patient_id=patient)
        lower = _parse_datetime(params.text("lowerDateTime"), "lowerDateTime")
        upper = _parse_datetime(params.text("upperDateTime"), "upperDateTime")
        if lower:
            studies = [s for s in studies if s["date"] and s["date"] >= lower]
        if upper:
            studies = [s for s in studies if s["date"] and s["date"] <= upper]
        modalities = {m.strip().upper() for m in (params.text("modalitiesInStudy") or "").split(",") if m.strip()}
        if modalities:
            studies = [s for s in studies
                       if modalities & set((s["modality"] or "").upper().split("\\"))]
        most_recent = params.integer("mostRecentResults")
        if most_recent:
            studies = studies[:most_recent]  # find_studies is newest first
    else:
        raise BadRequest("requestType must be STUDY or PATIENT")
    if not studies:
        return {"error": "-1", "elements": []}
    view = viewing.VIEWS.get((params.text("viewerType") or "").strip().upper(), "2d")  # others: IID's default
    if view != "2d":
        viewing.open_study_as(ws, studies[0], view)
        return {"error": "0", "elements": [element("Study", s) for s in studies]}
    first = True
    for study in studies:
        if viewing.open_study(ws, study, close_others=None if first else False):
            first = False
    return {"error": "0", "elements": [element("Study", s) for s in studies]}


def render_page(reply: dict, status: int) -> str:
    """The HTML page answering an IID request."""
    if status != 200:
        title, body = "Request refused", f"<p>{html.escape(reply.get('message', ''))}</p>"
    elif reply.get("error") != "0":
        title, body = "No matching studies", "<p>Nothing in this workstation matches the request.</p>"
    else:
        items = "".join(
            f"<li>{html.escape(e.get('name', ''))} — {html.escape(e.get('studyName', ''))} "
            f"({html.escape(e.get('date', ''))}) <code>{html.escape(e.get('studyInstanceUID', ''))}</code></li>"
            for e in reply.get("elements", []))
        title, body = "Studies displayed", f"<ul>{items}</ul><p><a href=\"/ui/\">Open the viewer</a></p>"
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>Viewbox — {title}</title>"
            f"</head><body><h1>{title}</h1>{body}</body></html>")


@hookimpl(tryfirst=True)
def viewbox_register_methods(registry: Registry) -> None:
    """IHEInvokeImageDisplay."""
    registry.add("IHEInvokeImageDisplay", invoke_image_display, source="core",
                 params=("requestType", "studyUID", "accessionNumber", "patientID", "lowerDateTime",
                         "upperDateTime", "mostRecentResults", "modalitiesInStudy", "viewerType",
                         "diagnosticQuality", "keyImagesOnly"))
