"""Control-API methods for measurements: what a RIS or a script reads and places (e.g. an AI
result), on every transport (XML-RPC, GET, JSON, URL) through the one registry."""

from __future__ import annotations

from ..errors import BadRequest
from ..measure import parse_points
from .registry import Call


def get_measurements(call: Call) -> dict:
    """A study's measurements: type, image, points in image pixels and patient mm, values, units."""
    study_uid = call.params.require("StudyInstanceUID")
    return {"error": "0", "measurements": call.workstation.measurements.of_study(study_uid)}


def add_measurement(call: Call) -> dict:
    """Measure a shape on an image (frame 0 unless given) and keep it; every tab shows it live."""
    params = call.params
    if "points" not in params:
        raise BadRequest("missing parameter 'points'")
    measurement = call.workstation.measurements.add(
        params.require("SOPInstanceUID"), params.integer("frame", 0) or 0, params.require("type").lower(),
        parse_points(params["points"]), label=params.text("label", default="") or "", source="api")
    return {"error": "0", "measurement": measurement}


def save_measurements_as_sr(call: Call) -> dict:
    """Store the study's measurements as a DICOM SR (TID 1500), a new series of the study."""
    saved = call.workstation.measurements.save_report(call.params.require("StudyInstanceUID"))
    return {"error": "0", **saved}
