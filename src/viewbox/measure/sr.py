"""Measurements as a DICOM Structured Report (TID 1500 Measurement Report, Comprehensive 3D SR) with
highdicom, and back: one planar ROI group per measurement, its region as SCOORD on the image
(frame) it was drawn on, its tracking UID the measurement's uid.

Reading keeps what locates a measurement (image, frame, shape, label, uid); the values are computed
again from the stored pixels, so an SR from another viewer shows values in this one's units.
"""

from __future__ import annotations

import logging
import math

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.uid import UID

from .. import __version__

log = logging.getLogger(__name__)

SR_CLASSES = {"1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.88.33",
              "1.2.840.10008.5.1.4.1.1.88.22"}  # Comprehensive 3D, Comprehensive, Enhanced SR
PREFIX = "Viewbox "  # tracking identifiers we write: "Viewbox <kind>: <label>"

_NAMES = {
    "length": Code("410668003", "SCT", "Length"),
    "angle": Code("1483009", "SCT", "Angle"),
    "area": Code("42798000", "SCT", "Area"),
    "mean": Code("373098007", "SCT", "Mean"),
    "sd": Code("386136009", "SCT", "Standard Deviation"),
    "min": Code("255605001", "SCT", "Minimum"),
    "max": Code("56851009", "SCT", "Maximum"),
    "suv_mean": Code("373098007", "SCT", "Mean"),
    "suv_max": Code("56851009", "SCT", "Maximum"),
}
_UNITS = {
    "mm": Code("mm", "UCUM", "millimeter"), "mm2": Code("mm2", "UCUM", "square millimeter"),
    "px": Code("{pixels}", "UCUM", "pixels"), "px2": Code("{pixels}", "UCUM", "square pixels"),
    "deg": Code("deg", "UCUM", "degree"), "HU": Code("[hnsf'U]", "UCUM", "Hounsfield unit"),
    "BQML": Code("Bq/mL", "UCUM", "Becquerels/milliliter"),
    "SUVbw": Code("{SUVbw}g/mL", "UCUM", "Standardized Uptake Value body weight"),
}
_NO_UNIT = Code("1", "UCUM", "no units")


def _graphic(kind: str, points: list[list[float]]) -> tuple[str, np.ndarray]:
    """Our shape as a SCOORD graphic: POINT, POLYLINE (closed for areas) or ELLIPSE (axis ends)."""
    if kind in ("probe", "text"):
        return "POINT", np.array(points[:1], dtype=float)
    if kind == "ellipse":
        (x0, y0), (x1, y1) = points
        mx, my, ax, ay = (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2
        horizontal = [[mx - ax, my], [mx + ax, my]]
        vertical = [[mx, my - ay], [mx, my + ay]]
        ends = horizontal + vertical if ax >= ay else vertical + horizontal
        return "ELLIPSE", np.array(ends, dtype=float)
    if kind == "rectangle":
        (x0, y0), (x1, y1) = points
        return "POLYLINE", np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float)
    if kind == "polygon":
        return "POLYLINE", np.array([*points, points[0]], dtype=float)
    return "POLYLINE", np.array(points, dtype=float)


def _shape(kind: str | None, graphic_type: str, data: list[list[float]]) -> tuple[str, list[list[float]]] | None:
    """A SCOORD graphic back to (kind, points); `kind` from our tracking identifier if there."""
    if graphic_type == "POINT":
        return (kind if kind in ("probe", "text") else "probe"), data[:1]
    if graphic_type in ("ELLIPSE", "CIRCLE"):
        if graphic_type == "CIRCLE":
            (cx, cy), (ex, ey) = data[:2]
            r = math.hypot(ex - cx, ey - cy)
            return "ellipse", [[cx - r, cy - r], [cx + r, cy + r]]
        xs, ys = [p[0] for p in data[:4]], [p[1] for p in data[:4]]
        return "ellipse", [[min(xs), min(ys)], [max(xs), max(ys)]]  # axis-aligned ellipses only
    if graphic_type != "POLYLINE" or len(data) < 2:
        return None
    closed = len(data) >= 4 and data[0] == data[-1]
    if kind == "rectangle" and closed and len(data) == 5:
        return "rectangle", [data[0], data[2]]
    if closed:
        return "polygon", data[:-1]
    if kind in ("length", "angle", "cobb", "arrow") and len(data) in (2, 3, 4):
        return kind, data
    return {2: ("length", data), 3: ("angle", data)}.get(len(data))


# What the SR copies from its evidence (patient and study modules; type 2 may be empty).
_EVIDENCE_KEYWORDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
                      "NumberOfFrames", "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                      "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName")


def evidence_of(header: Dataset) -> Dataset:
    """The few attributes of a referenced image the SR needs, type 2 ones empty when absent."""
    out = Dataset()
    for keyword in _EVIDENCE_KEYWORDS:
        value = header.get(keyword)
        if value is not None or keyword not in ("NumberOfFrames",):
            setattr(out, keyword, value if value is not None else "")
    return out


def build(measurements: list[dict], evidence: list[Dataset], series_uid: str, sop_uid: str,
          series_number: int) -> Dataset:
    """A Comprehensive 3D SR holding `measurements` (wire form) of the images in `evidence`
    (headers made by `evidence_of`)."""
    by_uid = {str(ds.SOPInstanceUID): ds for ds in evidence}
    groups = []
    for m in measurements:
        image = by_uid[m["sopInstanceUID"]]
        frames = int(image.get("NumberOfFrames", 1) or 1)
        source = hd.sr.SourceImageForRegion(
            referenced_sop_class_uid=image.SOPClassUID, referenced_sop_instance_uid=image.SOPInstanceUID,
            referenced_frame_numbers=[m["frame"] + 1] if frames > 1 else None)
        graphic_type, data = _graphic(m["type"], m["points"])
        region = hd.sr.ImageRegion(graphic_type=graphic_type, graphic_data=data, source_image=source)
        identifier = f"{PREFIX}{m['type']}: {m['label']}".strip().rstrip(":")[:64]
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=m["uid"], identifier=identifier),
            referenced_region=region, measurements=_measurements(m["values"]) or None))
    observer = hd.sr.ObserverContext(
        observer_type=Code("121007", "DCM", "Device"),  # type: ignore[arg-type]  # highdicom takes a Code too
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=UID(f"2.25.{int.from_bytes(b'viewbox', 'big')}"), name="Viewbox", model_name=__version__))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=Code("363679005", "SCT", "Imaging procedure"), imaging_measurements=groups)
    return hd.sr.Comprehensive3DSR(
        evidence=evidence, content=report, series_instance_uid=series_uid, series_number=series_number,
        sop_instance_uid=sop_uid, instance_number=1, manufacturer="Viewbox", is_complete=True,
        series_description="Viewbox measurements")


def _measurements(values: dict) -> list:
    out = []
    for name, code in _NAMES.items():
        entry = values.get(name)
        if entry is None or not isinstance(entry.get("value"), int | float) or not math.isfinite(entry["value"]):
            continue
        out.append(hd.sr.Measurement(name=code, value=float(entry["value"]),
                                     unit=_UNITS.get(entry.get("unit", ""), _NO_UNIT)))
    return out


def read(dataset: Dataset) -> list[dict]:
    """The measurements of a TID 1500 SR: [{uid, sop_instance_uid, frame, kind, points, label}]."""
    report = hd.sr.Comprehensive3DSR.from_dataset(dataset) if dataset.SOPClassUID == \
        "1.2.840.10008.5.1.4.1.1.88.34" else hd.sr.EnhancedSR.from_dataset(dataset) \
        if dataset.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.22" else hd.sr.ComprehensiveSR.from_dataset(dataset)
    found = []
    for group in report.content.get_planar_roi_measurement_groups():
        region = group.roi
        source = region.ContentSequence[0] if region is not None and "ContentSequence" in region else None
        if source is None or not hasattr(source, "referenced_sop_instance_uid"):
            continue  # 3D regions and segmentations are not shapes on one image
        identifier = str(group.tracking_identifier or "")
        kind, label = None, identifier
        if identifier.startswith(PREFIX):
            kind, _, label = identifier[len(PREFIX):].partition(":")
        shape = _shape(kind, str(region.graphic_type.value), region.value.tolist())
        if shape is None:
            log.info("SR %s: skipped a %s region it cannot show", dataset.SOPInstanceUID, region.graphic_type)
            continue
        frames = source.referenced_frame_numbers or [1]
        found.append({"uid": str(group.tracking_uid or "") or None,
                      "sop_instance_uid": str(source.referenced_sop_instance_uid),
                      "frame": int(frames[0]) - 1, "kind": shape[0], "points": shape[1],
                      "label": label.strip()})
    return found
