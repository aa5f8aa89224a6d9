"""Where an image's pixels are: pixel spacing (and how trustworthy it is), patient coordinates,
and the plane geometry of the measurement shapes.

Points are image coordinates as DICOM SCOORD gives them: (column, row) floats with (0, 0) the
top-left corner of the top-left pixel, so that pixel's centre is (0.5, 0.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

Point = tuple[float, float]

KINDS = ("length", "angle", "cobb", "ellipse", "rectangle", "polygon", "probe", "arrow", "text")
POINTS_NEEDED = {"length": (2, 2), "angle": (3, 3), "cobb": (4, 4), "ellipse": (2, 2),
                 "rectangle": (2, 2), "polygon": (3, 10_000), "probe": (1, 1), "arrow": (2, 2),
                 "text": (1, 1)}
AREAS = ("ellipse", "rectangle", "polygon")


@dataclass(frozen=True)
class Spacing:
    """Millimetres per pixel along rows (`row`: between rows) and columns, and where they come from.

    `source` is "pixel" (Pixel Spacing: in the patient), "imager" (Imager Pixel Spacing: at the
    detector, so a projection image's lengths are magnified unless calibrated — the caveat the
    viewer shows) or "none" (lengths in pixels).
    """

    row: float
    column: float
    source: str

    @property
    def unit(self) -> str:
        return "px" if self.source == "none" else "mm"

    @property
    def caveat(self) -> str | None:
        if self.source == "imager":
            return "Imager Pixel Spacing: measured at the detector, not calibrated for magnification"
        if self.source == "none":
            return "no pixel spacing: values in pixels"
        return None


def spacing_of(dataset: Dataset, frame: int = 0) -> Spacing:
    """Pixel Spacing (per-frame or shared functional groups first), else Imager Pixel Spacing."""
    for source, values in (("pixel", _pixel_spacing(dataset, frame)),
                           ("imager", dataset.get("ImagerPixelSpacing"))):
        pair = _positive_pair(values)
        if pair:
            return Spacing(pair[0], pair[1], source)
    return Spacing(1.0, 1.0, "none")


def _pixel_spacing(dataset: Dataset, frame: int):
    measures = _functional(dataset, frame, "PixelMeasuresSequence")
    if measures is not None and "PixelSpacing" in measures:
        return measures.PixelSpacing
    return dataset.get("PixelSpacing")


def _functional(dataset: Dataset, frame: int, keyword: str) -> Dataset | None:
    """A functional group item of a frame (per-frame first, then shared), or None."""
    for group, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        items = dataset.get(group)
        if items and len(items) > index and keyword in items[index] and items[index][keyword].value:
            return items[index][keyword].value[0]
    return None


def _positive_pair(values) -> tuple[float, float] | None:
    try:
        row, column = float(values[0]), float(values[1])
    except (TypeError, ValueError, IndexError):
        return None
    return (row, column) if row > 0 and column > 0 and math.isfinite(row * column) else None


def patient_points(dataset: Dataset, frame: int, points: list[Point]) -> list[list[float]] | None:
    """Image points → patient coordinates in mm (x, y, z), or None without position/orientation."""
    plane = _functional(dataset, frame, "PlanePositionSequence")
    orient = _functional(dataset, frame, "PlaneOrientationSequence")
    position = (plane or dataset).get("ImagePositionPatient")
    orientation = (orient or dataset).get("ImageOrientationPatient")
    spacing = spacing_of(dataset, frame)
    if position is None or orientation is None or len(position) != 3 or len(orientation) != 6 \
            or spacing.source != "pixel":
        return None
    origin = np.array([float(v) for v in position])
    along_row, along_column = (np.array([float(v) for v in orientation[:3]]),
                               np.array([float(v) for v in orientation[3:]]))
    return [[round(float(v), 4) for v in origin + (x - 0.5) * spacing.column * along_row
             + (y - 0.5) * spacing.row * along_column] for x, y in points]


# -- shapes ------------------------------------------------------------------------------------------

def _mm(spacing: Spacing, a: Point, b: Point) -> np.ndarray:
    return np.array([(b[0] - a[0]) * spacing.column, (b[1] - a[1]) * spacing.row])


def length(spacing: Spacing, a: Point, b: Point) -> float:
    return float(np.hypot(*_mm(spacing, a, b)))


def _angle_between(u: np.ndarray, v: np.ndarray) -> float:
    norm = float(np.linalg.norm(u) * np.linalg.norm(v))
    if norm == 0:
        return 0.0
    return math.degrees(math.acos(max(-1.0, min(1.0, float(np.dot(u, v)) / norm))))


def angle(spacing: Spacing, end1: Point, vertex: Point, end2: Point) -> float:
    """The angle at `vertex` in degrees (0..180), in real space (anisotropic pixels respected)."""
    return _angle_between(_mm(spacing, vertex, end1), _mm(spacing, vertex, end2))


def cobb(spacing: Spacing, a1: Point, a2: Point, b1: Point, b2: Point) -> float:
    """The Cobb angle between two lines (0..90 degrees: the angle of the lines, not the rays)."""
    theta = _angle_between(_mm(spacing, a1, a2), _mm(spacing, b1, b2))
    return min(theta, 180.0 - theta)


def area(kind: str, spacing: Spacing, points: list[Point]) -> float:
    """The shape's geometric area in mm² (or px² without spacing)."""
    scale = spacing.row * spacing.column
    if kind in ("ellipse", "rectangle"):
        (x0, y0), (x1, y1) = points
        box = abs(x1 - x0) * abs(y1 - y0) * scale
        return math.pi * box / 4 if kind == "ellipse" else box
    xs, ys = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    return float(abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))) / 2 * scale)


def mask(kind: str, points: list[Point], rows: int, columns: int) -> tuple[slice, slice, np.ndarray]:
    """The pixels whose centres lie inside the shape: (row slice, column slice, boolean mask over
    that window of the frame), so statistics touch only the bounding box."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    c0, c1 = max(0, math.floor(min(xs))), min(columns, math.ceil(max(xs)))
    r0, r1 = max(0, math.floor(min(ys))), min(rows, math.ceil(max(ys)))
    window = (slice(r0, max(r0, r1)), slice(c0, max(c0, c1)))
    cy, cx = np.mgrid[r0:max(r0, r1), c0:max(c0, c1)] + 0.5
    if kind == "rectangle":
        inside = (cx >= min(xs)) & (cx <= max(xs)) & (cy >= min(ys)) & (cy <= max(ys))
    elif kind == "ellipse":
        mx, my = (xs[0] + xs[1]) / 2, (ys[0] + ys[1]) / 2
        ax, ay = abs(xs[1] - xs[0]) / 2, abs(ys[1] - ys[0]) / 2
        if ax == 0 or ay == 0:
            inside = np.zeros(cx.shape, dtype=bool)
        else:
            inside = ((cx - mx) / ax) ** 2 + ((cy - my) / ay) ** 2 <= 1.0
    else:
        inside = _inside_polygon(cx, cy, xs, ys)
    return window[0], window[1], inside


def _inside_polygon(cx: np.ndarray, cy: np.ndarray, xs: list[float], ys: list[float]) -> np.ndarray:
    """Even-odd rule: a ray to the right crosses the closed polygon's edges an odd number of times."""
    inside = np.zeros(cx.shape, dtype=bool)
    for i in range(len(xs)):
        x0, y0, x1, y1 = xs[i - 1], ys[i - 1], xs[i], ys[i]
        if y0 == y1:
            continue
        spans = (cy >= min(y0, y1)) & (cy < max(y0, y1))
        crossing = x0 + (cy - y0) * (x1 - x0) / (y1 - y0)
        inside ^= spans & (cx < crossing)
    return inside
