"""Where each 2D frame lies in patient space, and whether a stack of them makes a volume.

A stack makes a volume when its frames share orientation, size and pixel spacing and are
parallel. Slices are ordered by their position along the slice normal; the spacing used is the
measured distance between positions (never Slice Thickness). Irregular spacing, missing slices
and gantry tilt do not stop a volume: every slice keeps its own measured position, so mapping a
patient point to voxel coordinates interpolates between the slices that really surround it, and
tilt becomes a per-slice in-plane shift. What is unusual is reported as warnings for the viewer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset

from ..errors import ViewboxError

# Two directions are "the same" within this angle (radians); scanners write IOP with ~6 digits.
PARALLEL_TOLERANCE = 1e-3
# Spacing deviating more than this fraction from the median is "irregular".
SPACING_TOLERANCE = 0.05
# Beyond this in-plane drift per mm along the normal the stack counts as gantry-tilted.
TILT_TOLERANCE = 1e-3


class VolumeError(ViewboxError):
    """A series that cannot be shown as a volume; the message says why, for the viewer."""

    http_status = 422


@dataclass(frozen=True)
class FramePlacement:
    """One frame in patient space (LPS, mm), from Image Plane attributes (PS3.3 C.7.6.2)."""

    position: np.ndarray  # centre of the first transmitted pixel
    row_direction: np.ndarray  # direction of increasing column index (first IOP triplet)
    column_direction: np.ndarray  # direction of increasing row index (second IOP triplet)
    row_spacing: float  # mm between adjacent rows (PixelSpacing[0])
    column_spacing: float  # mm between adjacent columns (PixelSpacing[1])
    rows: int
    columns: int
    frame_of_reference_uid: str = ""  # positions compare only within one Frame of Reference

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_direction, self.column_direction)


def placement_of(dataset: Dataset, frame: int = 0) -> FramePlacement:
    """A frame's placement: per-frame functional groups first (enhanced objects), else top level."""
    position = _plane_value(dataset, frame, "PlanePositionSequence", "ImagePositionPatient")
    orientation = _plane_value(dataset, frame, "PlaneOrientationSequence", "ImageOrientationPatient")
    spacing = _plane_value(dataset, frame, "PixelMeasuresSequence", "PixelSpacing")
    if position is None or orientation is None:
        raise VolumeError("the images carry no Image Position/Orientation (Patient): not a volume")
    try:
        position_values = np.array([float(v) for v in position], dtype=np.float64)
        orientation_values = np.array([float(v) for v in orientation], dtype=np.float64)
        spacing_values = [float(v) for v in spacing] if spacing is not None else [1.0, 1.0]
        rows, columns = int(dataset.Rows), int(dataset.Columns)
    except (TypeError, ValueError, AttributeError) as exc:
        raise VolumeError(f"unreadable image plane attributes: {exc}") from exc
    if position_values.shape != (3,) or orientation_values.shape != (6,) or len(spacing_values) != 2:
        raise VolumeError("malformed Image Position/Orientation (Patient) or Pixel Spacing")
    row_direction = _unit(orientation_values[:3])
    column_direction = _unit(orientation_values[3:])
    if abs(float(row_direction @ column_direction)) > PARALLEL_TOLERANCE:
        raise VolumeError("Image Orientation (Patient) is not orthogonal")
    if min(spacing_values) <= 0:
        raise VolumeError("Pixel Spacing is not positive")
    return FramePlacement(position_values, row_direction, column_direction,
                          spacing_values[0], spacing_values[1], rows, columns,
                          str(dataset.get("FrameOfReferenceUID") or ""))


@dataclass(frozen=True)
class StackGeometry:
    """A sorted stack of parallel frames: everything needed to go between voxels and patient mm.

    Voxel coordinates are (slice, row, column) as floats; slice 0 is the lowest position along
    the normal. `offsets` holds each slice's position relative to slice 0 projected on the row
    and column directions (zero unless the gantry was tilted)."""

    origin: np.ndarray
    row_direction: np.ndarray
    column_direction: np.ndarray
    normal: np.ndarray
    row_spacing: float
    column_spacing: float
    rows: int
    columns: int
    depths: np.ndarray  # each sorted slice's distance from slice 0 along the normal (mm)
    offsets: np.ndarray  # (slices, 2): in-plane shift of each slice along row/column direction
    order: tuple[int, ...]  # input index of each sorted slice
    warnings: tuple[str, ...] = field(default=())

    @property
    def slices(self) -> int:
        return len(self.depths)

    @property
    def slice_spacing(self) -> float:
        """The median measured distance between neighbouring slices (mm)."""
        return float(np.median(np.diff(self.depths))) if self.slices > 1 else 1.0

    @property
    def tilt_degrees(self) -> float:
        if self.slices < 2 or self.depths[-1] == 0:
            return 0.0
        drift = float(np.linalg.norm(self.offsets[-1])) / float(self.depths[-1])
        return float(np.degrees(np.arctan(drift)))

    def to_voxel(self, points: np.ndarray) -> np.ndarray:
        """Patient points (..., 3) → fractional (slice, row, column); outside the stack the slice
        coordinate extrapolates with the end spacing (callers treat it as outside)."""
        relative = np.asarray(points, dtype=np.float64) - self.origin
        depth = relative @ self.normal
        slice_index = self._slice_of_depth(depth)
        shift_row = np.interp(slice_index, np.arange(self.slices), self.offsets[:, 0])
        shift_column = np.interp(slice_index, np.arange(self.slices), self.offsets[:, 1])
        column = (relative @ self.row_direction - shift_row) / self.column_spacing
        row = (relative @ self.column_direction - shift_column) / self.row_spacing
        return np.stack([slice_index, row, column], axis=-1)

    def to_patient(self, voxels: np.ndarray) -> np.ndarray:
        """Fractional (slice, row, column) (..., 3) → patient points (..., 3)."""
        voxels = np.asarray(voxels, dtype=np.float64)
        slice_index, row, column = voxels[..., 0], voxels[..., 1], voxels[..., 2]
        indices = np.arange(self.slices)
        depth = self._depth_of_slice(slice_index)
        shift_row = np.interp(slice_index, indices, self.offsets[:, 0])
        shift_column = np.interp(slice_index, indices, self.offsets[:, 1])
        return (self.origin
                + depth[..., None] * self.normal
                + (column * self.column_spacing + shift_row)[..., None] * self.row_direction
                + (row * self.row_spacing + shift_column)[..., None] * self.column_direction)

    def corners(self) -> np.ndarray:
        """The 8 corner points of the stack in patient space."""
        last = (self.slices - 1, self.rows - 1, self.columns - 1)
        grid = np.array([(s, r, c) for s in (0, last[0]) for r in (0, last[1]) for c in (0, last[2])],
                        dtype=np.float64)
        return self.to_patient(grid)

    def _slice_of_depth(self, depth: np.ndarray) -> np.ndarray:
        if self.slices == 1:
            return np.asarray(depth, dtype=np.float64) / 1.0
        inside = np.interp(depth, self.depths, np.arange(self.slices, dtype=np.float64))
        first, last = self.depths[1] - self.depths[0], self.depths[-1] - self.depths[-2]
        below = (depth - self.depths[0]) / first
        above = self.slices - 1 + (depth - self.depths[-1]) / last
        return np.where(depth < self.depths[0], below, np.where(depth > self.depths[-1], above, inside))

    def _depth_of_slice(self, slice_index: np.ndarray) -> np.ndarray:
        slice_index = np.asarray(slice_index, dtype=np.float64)
        if self.slices == 1:
            return slice_index * 0.0
        return np.interp(slice_index, np.arange(self.slices, dtype=np.float64), self.depths)


def stack_geometry(placements: Sequence[FramePlacement]) -> StackGeometry:
    """Sort frames into a volume or say, in the viewer's words, why they are not one."""
    if len(placements) < 2:
        raise VolumeError("a volume needs at least 2 slices")
    first = placements[0]
    for placement in placements[1:]:
        if (placement.rows, placement.columns) != (first.rows, first.columns):
            raise VolumeError("the slices differ in size: not one volume")
        if not (_parallel(placement.row_direction, first.row_direction)
                and _parallel(placement.column_direction, first.column_direction)):
            raise VolumeError("the slices are not parallel (several orientations, e.g. a localizer): not one volume")
        if not (np.isclose(placement.row_spacing, first.row_spacing, rtol=1e-3)
                and np.isclose(placement.column_spacing, first.column_spacing, rtol=1e-3)):
            raise VolumeError("the slices differ in pixel spacing: not one volume")
    normal = _unit(first.normal)
    positions = np.array([placement.position for placement in placements])
    depths = positions @ normal
    order = np.argsort(depths, kind="stable")
    depths = depths[order]
    steps = np.diff(depths)
    if np.any(steps < 1e-3):
        repeated = int(np.sum(steps < 1e-3)) + 1
        raise VolumeError(f"{repeated} slices share a position (several phases or echoes in one series): "
                          "open them in a 2D viewer")
    origin = positions[order[0]]
    relative = positions[order] - origin
    offsets = np.stack([relative @ first.row_direction, relative @ first.column_direction], axis=1)
    warnings = _spacing_warnings(steps)
    drift = float(np.linalg.norm(offsets[-1])) / float(depths[-1] - depths[0])
    if drift > TILT_TOLERANCE:
        warnings.append(f"gantry tilt of {np.degrees(np.arctan(drift)):.1f}° corrected")
    return StackGeometry(origin, first.row_direction, first.column_direction, normal, first.row_spacing,
                         first.column_spacing, first.rows, first.columns, depths - depths[0], offsets,
                         tuple(int(i) for i in order), tuple(warnings))


def _spacing_warnings(steps: np.ndarray) -> list[str]:
    median = float(np.median(steps))
    warnings: list[str] = []
    missing = int(sum(round(step / median) - 1 for step in steps if step > 1.5 * median))
    if missing:
        warnings.append(f"{missing} missing slice{'s' if missing > 1 else ''} (gap in the positions)")
    elif np.any(np.abs(steps - median) > SPACING_TOLERANCE * median):
        warnings.append(f"irregular slice spacing ({steps.min():.2f}–{steps.max():.2f} mm)")
    return warnings


def _plane_value(dataset: Dataset, frame: int, sequence: str, keyword: str):
    """PS3.3 C.7.6.16: a per-frame functional group item overrides the shared one, which
    overrides the top level."""
    for groups_keyword, index in (("PerFrameFunctionalGroupsSequence", frame),
                                  ("SharedFunctionalGroupsSequence", 0)):
        groups = dataset.get(groups_keyword)
        if groups and index < len(groups):
            items = groups[index].get(sequence)
            if items and keyword in items[0]:
                return items[0][keyword].value
    return dataset[keyword].value if keyword in dataset else None


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if norm < 1e-6:
        raise VolumeError("a zero-length direction in Image Orientation (Patient)")
    return np.asarray(vector, dtype=np.float64) / norm


def _parallel(a: np.ndarray, b: np.ndarray) -> bool:
    return float(a @ b) > np.cos(PARALLEL_TOLERANCE)
