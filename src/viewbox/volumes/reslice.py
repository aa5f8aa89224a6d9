"""Planes through a volume: axial, coronal, sagittal and oblique reformats, and thick slabs.

A plane is a centre point and two in-plane unit vectors in patient space (LPS, mm): `right`
is the direction of increasing output column, `down` of increasing output row. Output pixels
are square, `pixel_mm` on a side, so anisotropic voxels come out with the right aspect ratio.
Slabs sample several parallel planes `slab_mm` thick and combine them (MIP, MinIP, average).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .geometry import VolumeError
from .volume import Volume

PlaneName = Literal["axial", "coronal", "sagittal"]
SlabMode = Literal["mip", "minip", "average"]
PLANE_NAMES: tuple[PlaneName, ...] = ("axial", "coronal", "sagittal")
SLAB_MODES: tuple[SlabMode, ...] = ("mip", "minip", "average")

# The standard views as radiologists read them (patient's right on the screen's left):
# axial seen from the feet, anterior up; coronal seen from the front, head up; sagittal seen
# from the patient's left, anterior on the left, head up.
_STANDARD_AXES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}


@dataclass(frozen=True)
class Plane:
    """A viewing plane in patient space."""

    center: np.ndarray
    right: np.ndarray
    down: np.ndarray

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.right, self.down)

    def rotated(self, axis: np.ndarray, degrees: float) -> Plane:
        """The plane turned about `axis` (through its centre) by `degrees` (right-hand rule)."""
        rotation = rotation_matrix(axis, degrees)
        return Plane(self.center, rotation @ self.right, rotation @ self.down)

    def moved_to(self, point: np.ndarray) -> Plane:
        return Plane(np.asarray(point, dtype=np.float64), self.right, self.down)


def standard_plane(name: str, center: np.ndarray) -> Plane:
    """Axial, coronal or sagittal through `center`."""
    if name not in _STANDARD_AXES:
        raise VolumeError(f"unknown plane {name!r} (use one of {', '.join(PLANE_NAMES)})")
    right, down = _STANDARD_AXES[name]
    return Plane(np.asarray(center, dtype=np.float64), np.array(right), np.array(down))


def rotation_matrix(axis: np.ndarray, degrees: float) -> np.ndarray:
    """Rodrigues' rotation about a unit axis."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    angle = np.radians(degrees)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * (cross @ cross)


@dataclass(frozen=True)
class Reformat:
    """A resliced image in modality units and where it lies: pixel (r, c) is at
    `top_left + c * pixel_mm * plane.right + r * pixel_mm * plane.down`; NaN outside the volume."""

    values: np.ndarray
    plane: Plane
    pixel_mm: float
    top_left: np.ndarray

    def pixel_of(self, point: np.ndarray) -> tuple[float, float]:
        """(row, column) of a patient point projected on this image."""
        relative = np.asarray(point, dtype=np.float64) - self.top_left
        return (float(relative @ self.plane.down) / self.pixel_mm,
                float(relative @ self.plane.right) / self.pixel_mm)

    def point_at(self, row: float, column: float) -> np.ndarray:
        """The patient point under pixel (row, column), on the plane."""
        return self.top_left + column * self.pixel_mm * self.plane.right + row * self.pixel_mm * self.plane.down


def field_of_view(volume: Volume, plane: Plane, pixel_mm: float) -> tuple[np.ndarray, int, int]:
    """(top-left point, rows, columns) covering the whole volume as seen on this plane. It
    depends on the plane's orientation but not on where along its normal it lies, so moving
    the crosshair does not pan the other views."""
    corners = volume.geometry.corners() - plane.center
    along_right = corners @ plane.right
    along_down = corners @ plane.down
    low_right, high_right = float(along_right.min()), float(along_right.max())
    low_down, high_down = float(along_down.min()), float(along_down.max())
    columns = max(1, int(np.ceil((high_right - low_right) / pixel_mm)) + 1)
    rows = max(1, int(np.ceil((high_down - low_down) / pixel_mm)) + 1)
    top_left = plane.center + low_right * plane.right + low_down * plane.down
    return top_left, rows, columns


def reslice(volume: Volume, plane: Plane, *, pixel_mm: float | None = None, slab_mm: float = 0.0,
            mode: SlabMode = "mip") -> Reformat:
    """Sample the volume on a plane (trilinear), optionally as a slab `slab_mm` thick."""
    if mode not in SLAB_MODES:
        raise VolumeError(f"unknown slab mode {mode!r} (use one of {', '.join(SLAB_MODES)})")
    geometry = volume.geometry
    pixel_mm = float(pixel_mm or min(geometry.row_spacing, geometry.column_spacing, geometry.slice_spacing))
    top_left, rows, columns = field_of_view(volume, plane, pixel_mm)
    step = min(geometry.row_spacing, geometry.column_spacing, geometry.slice_spacing)
    layers = max(1, int(np.ceil(slab_mm / step)) + 1) if slab_mm > 0 else 1
    depths = np.linspace(-slab_mm / 2, slab_mm / 2, layers) if layers > 1 else np.zeros(1)
    grid_rows = np.arange(rows, dtype=np.float64) * pixel_mm
    grid_columns = np.arange(columns, dtype=np.float64) * pixel_mm
    base = (top_left[None, None, :]
            + grid_rows[:, None, None] * plane.down[None, None, :]
            + grid_columns[None, :, None] * plane.right[None, None, :])
    sample = _aligned_sampler(volume, plane, top_left, rows, columns, pixel_mm) or (
        lambda depth: volume.sample(base + depth * plane.normal))
    result: np.ndarray | None = None
    covered = np.zeros((rows, columns), dtype=np.float32)  # layers inside the volume, per pixel
    for depth in depths:
        layer = sample(depth)
        covered += ~np.isnan(layer)
        if result is None:
            result = layer if mode != "average" else np.nan_to_num(layer)
        elif mode == "mip":
            result = np.fmax(result, layer)
        elif mode == "minip":
            result = np.fmin(result, layer)
        else:
            result = result + np.nan_to_num(layer)
    assert result is not None
    if mode == "average":
        result = np.where(covered > 0, result / np.maximum(covered, 1), np.nan)
    return Reformat(result.astype(np.float32), plane, pixel_mm, top_left)


def _aligned_sampler(volume: Volume, plane: Plane, top_left: np.ndarray, rows: int, columns: int,
                     pixel_mm: float) -> Callable[[float], np.ndarray] | None:
    """A fast sampler for planes along the volume's own axes (the usual axial, coronal and
    sagittal views of an untilted acquisition), or None. Each voxel coordinate then depends on
    the output row only, the output column only, or neither, so trilinear sampling separates
    into one blend of two slices and two 1D gathers: the same values as the general sampler
    at a fraction of its cost."""
    geometry = volume.geometry
    if np.abs(geometry.offsets).max(initial=0.0) > 1e-6:
        return None
    axes = (geometry.normal, geometry.column_direction, geometry.row_direction)  # voxel axes 0, 1, 2

    def axis_of(direction: np.ndarray) -> int | None:
        for index, axis in enumerate(axes):
            if abs(float(direction @ axis)) > 1 - 1e-9:
                return index
        return None

    row_axis, column_axis, depth_axis = axis_of(plane.down), axis_of(plane.right), axis_of(plane.normal)
    if row_axis is None or column_axis is None or depth_axis is None:
        return None
    shape = np.array(volume.values.shape)
    column_points = top_left + np.outer(np.arange(columns) * pixel_mm, plane.right)
    row_points = top_left + np.outer(np.arange(rows) * pixel_mm, plane.down)
    column_coordinates = geometry.to_voxel(column_points)[:, column_axis]
    row_coordinates = geometry.to_voxel(row_points)[:, row_axis]
    column_index, column_weight, column_outside = _linear_taps(column_coordinates, shape[column_axis])
    row_index, row_weight, row_outside = _linear_taps(row_coordinates, shape[row_axis])
    transposed = (row_axis, column_axis)

    def sample(depth: float) -> np.ndarray:
        coordinate = float(geometry.to_voxel(top_left + depth * plane.normal)[depth_axis])
        index, weight, outside = _linear_taps(np.array([coordinate]), shape[depth_axis])
        if outside[0]:
            return np.full((rows, columns), np.nan, dtype=np.float32)
        low = np.take(volume.values, index[0], axis=depth_axis)
        high = np.take(volume.values, index[0] + 1, axis=depth_axis)
        # the two remaining axes, in increasing order, then put as (output rows, output columns)
        plane_values = low + (high - low) * np.float32(weight[0])
        if transposed[0] > transposed[1]:
            plane_values = plane_values.T
        upper, lower = plane_values[row_index], plane_values[row_index + 1]
        by_row = upper + (lower - upper) * row_weight[:, None].astype(np.float32)
        left, right = by_row[:, column_index], by_row[:, column_index + 1]
        image = left + (right - left) * column_weight[None, :].astype(np.float32)
        image[row_outside, :] = np.nan
        image[:, column_outside] = np.nan
        return image

    return sample


def _linear_taps(coordinates: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For fractional voxel coordinates: the lower neighbour, the weight of the upper one, and
    which fall outside (more than half a voxel beyond the ends, as in Volume.sample)."""
    outside = (coordinates < -0.5) | (coordinates > size - 0.5)
    clamped = np.clip(coordinates, 0, size - 1)
    index = np.minimum(np.floor(clamped).astype(np.intp), max(size - 2, 0))
    weight = clamped - index
    return index, weight, outside
