"""What a shape measures on a frame: lengths and angles in real units, and ROI statistics in
modality units computed from the stored pixels (the display pipeline's modality-LUT step, never
the rendered 8-bit image): Hounsfield for CT, SUVbw for PET where the header allows it.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
from pydicom.dataset import Dataset

from ..errors import BadRequest
from ..render import DecodedFrame, FrameSource
from ..render.pipeline import modality_values
from . import geometry
from .geometry import AREAS, Point

LN2 = math.log(2.0)


def modality_unit(dataset: Dataset) -> str:
    """The unit of modality values: HU for CT, the PET Units, Rescale Type, else the stored value."""
    modality = str(dataset.get("Modality", "")).upper()
    if modality == "CT":
        return "HU"
    if modality == "PT" and dataset.get("Units"):
        return str(dataset.Units)
    rescale_type = str(dataset.get("RescaleType", "") or "")
    return rescale_type if rescale_type and rescale_type != "US" else "stored value"


def suv_factor(dataset: Dataset) -> float | None:
    """The factor from Bq/ml to SUVbw (g/ml), with the injected dose decayed to the scan start.

    Needs Units BQML, Patient's Weight, and a Radiopharmaceutical Information item with the total
    dose, the half-life and the injection time; Decay Correction START (images decay-corrected to
    the series start: the dose is decayed to that time) or ADMIN (already corrected to the
    injection: no decay). None when any of it is missing, so the caller shows Bq/ml instead.
    """
    if str(dataset.get("Modality", "")).upper() != "PT" or str(dataset.get("Units", "")).upper() != "BQML":
        return None
    try:
        weight_kg = float(dataset.PatientWeight)
        item = dataset.RadiopharmaceuticalInformationSequence[0]
        dose = float(item.RadionuclideTotalDose)
        half_life = float(item.RadionuclideHalfLife)
    except (AttributeError, IndexError, TypeError, ValueError, KeyError):
        return None
    if weight_kg <= 0 or dose <= 0 or half_life <= 0:
        return None
    correction = str(dataset.get("DecayCorrection", "START")).upper()
    if correction == "START":
        injected, scanned = _injection_time(dataset, item), _series_start(dataset)
        if injected is None or scanned is None:
            return None
        dose *= math.exp(-LN2 * (scanned - injected).total_seconds() / half_life)
    elif correction != "ADMIN":
        return None
    return weight_kg * 1000.0 / dose


def _injection_time(dataset: Dataset, item: Dataset) -> datetime | None:
    if item.get("RadiopharmaceuticalStartDateTime"):
        return _parse(str(item.RadiopharmaceuticalStartDateTime)[:14], "%Y%m%d%H%M%S")
    day = dataset.get("SeriesDate") or dataset.get("StudyDate")
    if day and item.get("RadiopharmaceuticalStartTime"):
        return _parse(f"{day}{str(item.RadiopharmaceuticalStartTime)[:6]}", "%Y%m%d%H%M%S")
    return None


def _series_start(dataset: Dataset) -> datetime | None:
    day = dataset.get("SeriesDate") or dataset.get("AcquisitionDate")
    time = dataset.get("SeriesTime") or dataset.get("AcquisitionTime")
    return _parse(f"{day}{str(time)[:6]}", "%Y%m%d%H%M%S") if day and time else None


def _parse(text: str, pattern: str) -> datetime | None:
    try:
        return datetime.strptime(text, pattern)
    except ValueError:
        return None


def _value(value: float, unit: str) -> dict:
    return {"value": round(float(value), 6), "unit": unit}


def measure(kind: str, points: list[Point], source: FrameSource, decoded: DecodedFrame) -> dict:
    """The values of one shape on one decoded frame: {name: {"value", "unit"}} plus notes."""
    dataset = source.dataset
    spacing = geometry.spacing_of(dataset, decoded.index)
    out: dict = {}
    if kind == "length":
        out["length"] = _value(geometry.length(spacing, *points), spacing.unit)
    elif kind == "angle":
        out["angle"] = _value(geometry.angle(spacing, *points), "deg")
    elif kind == "cobb":
        out["angle"] = _value(geometry.cobb(spacing, *points), "deg")
    elif kind in AREAS:
        out.update(_roi(kind, points, spacing, source, decoded))
    elif kind == "probe":
        out.update(_probe(points[0], source, decoded))
    caveat = spacing.caveat if kind in ("length", "angle", "cobb", *AREAS) else None
    if caveat:
        out["note"] = caveat
    return out


def _roi(kind: str, points: list[Point], spacing: geometry.Spacing, source: FrameSource,
         decoded: DecodedFrame) -> dict:
    unit = spacing.unit
    out = {"area": _value(geometry.area(kind, spacing, points), f"{unit}2")}
    if source.is_color:
        return out
    pixels = decoded.pixels
    rows, cols, inside = geometry.mask(kind, points, pixels.shape[0], pixels.shape[1])
    stored = pixels[rows, cols][inside]
    out["pixels"] = _value(stored.size, "px")
    if stored.size == 0:
        return out
    values = modality_values(source, stored, decoded.index).astype(np.float64)
    value_unit = modality_unit(source.dataset)
    for name, value in (("mean", values.mean()), ("sd", values.std()), ("min", values.min()),
                        ("max", values.max())):
        out[name] = _value(value, value_unit)
    factor = suv_factor(source.dataset)
    if factor is not None:
        suv = values * factor
        for name, value in (("suv_mean", suv.mean()), ("suv_sd", suv.std()), ("suv_min", suv.min()),
                            ("suv_max", suv.max())):
            out[name] = _value(value, "SUVbw")
    return out


def _probe(point: Point, source: FrameSource, decoded: DecodedFrame) -> dict:
    pixels = decoded.pixels
    column, row = int(math.floor(point[0])), int(math.floor(point[1]))
    if not (0 <= row < pixels.shape[0] and 0 <= column < pixels.shape[1]):
        raise BadRequest(f"the point ({point[0]}, {point[1]}) is outside the image")
    if source.is_color:
        return {"rgb": {"value": [int(v) for v in pixels[row, column]], "unit": "RGB"}}
    value = float(modality_values(source, pixels[row:row + 1, column:column + 1], decoded.index)[0, 0])
    out = {"value": _value(value, modality_unit(source.dataset))}
    factor = suv_factor(source.dataset)
    if factor is not None:
        out["suv"] = _value(value * factor, "SUVbw")
    return out
