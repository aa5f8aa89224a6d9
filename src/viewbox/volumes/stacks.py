"""Stored series as stacks in patient space: where each viewer position lies, the volume of a
series, scrolling in step by patient position, and reference lines.

A viewer position is a frame index over all frames of all images of a series, in viewing order
(the numbering of the workspace's `image_index`). These functions take the series' image rows
and the folder of stored files, so they serve the web UI, the control API and tests alike.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom

from ..render import load_frames
from .geometry import FramePlacement, VolumeError, placement_of
from .volume import Volume, VolumeCache, build_volume

# Headers of a series are read in parallel (file opening dominates, and it releases the GIL).
HEADER_THREADS = 8
# How far (mm) a slice may lie from the point asked for and still count as "at" it.
SAME_PLACE_MM = 0.5


def _positions(images: Sequence[dict]) -> list[tuple[dict, int]]:
    """(image row, frame) for every viewer position, in order."""
    return [(image, frame) for image in images for frame in range(image.get("number_of_frames") or 1)]


def _header(path: Path) -> pydicom.Dataset | None:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:  # an unreadable file has no place in space; the viewer still shows the others
        return None


def read_placements(images: Sequence[dict], files_dir: Path) -> list[FramePlacement | None]:
    """Each viewer position's placement, None where a frame has no usable geometry."""
    paths = [files_dir / image["rel_path"] for image in images]
    with ThreadPoolExecutor(HEADER_THREADS) as pool:
        headers = list(pool.map(_header, paths))
    placements: list[FramePlacement | None] = []
    for image, header in zip(images, headers, strict=True):
        for frame in range(image.get("number_of_frames") or 1):
            try:
                placements.append(placement_of(header, frame) if header is not None else None)
            except VolumeError:
                placements.append(None)
    return placements


def load_volume(images: Sequence[dict], files_dir: Path) -> Volume:
    """The volume of a series; its `sources` are viewer positions."""
    positions = _positions(images)
    paths = sorted({image["rel_path"] for image, _ in positions})
    with ThreadPoolExecutor(HEADER_THREADS) as pool:
        opened = dict(zip(paths, pool.map(lambda rel: load_frames(files_dir / rel), paths), strict=True))
    return build_volume([(opened[image["rel_path"]], frame, index)
                         for index, (image, frame) in enumerate(positions)])


class PlacementCache:
    """Placements of recently shown series, keyed by the caller (series pk and image count)."""

    def __init__(self, series: int = 64):
        self._limit = series
        self._entries: OrderedDict[tuple, list[FramePlacement | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, images: Sequence[dict], files_dir: Path) -> list[FramePlacement | None]:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        placements = read_placements(images, files_dir)
        with self._lock:
            self._entries[key] = placements
            while len(self._entries) > self._limit:
                self._entries.popitem(last=False)
        return placements


def slice_center(placement: FramePlacement) -> np.ndarray:
    """The patient point at the middle of a frame."""
    return (placement.position
            + (placement.columns - 1) / 2 * placement.column_spacing * placement.row_direction
            + (placement.rows - 1) / 2 * placement.row_spacing * placement.column_direction)


def position_at(placements: Sequence[FramePlacement | None], point: np.ndarray, normal: np.ndarray,
                offset_mm: float = 0.0) -> int | None:
    """The position whose slice lies nearest to `point` moved `offset_mm` along `normal`, among
    slices parallel to `normal` (a sagittal series does not follow an axial one). None when no
    slice is parallel or the nearest one is over a slice's distance away."""
    target = np.asarray(point, dtype=np.float64) + offset_mm * np.asarray(normal, dtype=np.float64)
    best: tuple[float, int] | None = None
    spacing = _typical_spacing(placements)
    for index, placement in enumerate(placements):
        if placement is None or abs(float(placement.normal @ normal)) < 0.99:
            continue
        distance = abs(float((target - placement.position) @ placement.normal))
        if best is None or distance < best[0]:
            best = (distance, index)
    if best is None or best[0] > max(spacing, SAME_PLACE_MM) * 1.01:
        return None
    return best[1]


def depth_between(a: FramePlacement, b: FramePlacement) -> float:
    """How far b's slice lies from a's along a's normal (mm): the offset that lines two
    series up where their Frames of Reference differ (comparison with a prior)."""
    return float((b.position - a.position) @ a.normal)


def _typical_spacing(placements: Sequence[FramePlacement | None]) -> float:
    known = [p for p in placements if p is not None]
    if len(known) < 2:
        return SAME_PLACE_MM
    depths = np.sort([float(p.position @ known[0].normal) for p in known])
    steps = np.diff(depths)
    steps = steps[steps > 1e-3]
    return float(np.median(steps)) if len(steps) else SAME_PLACE_MM


def reference_line(target: FramePlacement, other: FramePlacement) -> tuple[tuple[float, float],
                                                                           tuple[float, float]] | None:
    """Where `other`'s slice plane cuts `target`'s image, as ((row, column), (row, column)) at
    the image's edges; None when the planes are parallel or do not meet inside the image."""
    normal = other.normal
    along_columns = float(normal @ target.row_direction) * target.column_spacing
    along_rows = float(normal @ target.column_direction) * target.row_spacing
    constant = float(normal @ (target.position - other.position))
    if abs(along_columns) < 1e-9 and abs(along_rows) < 1e-9:
        return None  # parallel planes
    last_row, last_column = target.rows - 1, target.columns - 1
    ends: list[tuple[float, float]] = []
    # constant + column * along_columns + row * along_rows = 0, cut by the four image edges
    if abs(along_rows) > 1e-9:
        for column in (0.0, float(last_column)):
            row = -(constant + column * along_columns) / along_rows
            if -1e-6 <= row <= last_row + 1e-6:
                ends.append((row, column))
    if abs(along_columns) > 1e-9:
        for row in (0.0, float(last_row)):
            column = -(constant + row * along_rows) / along_columns
            if -1e-6 <= column <= last_column + 1e-6:
                ends.append((row, column))
    unique: list[tuple[float, float]] = []
    for end in ends:
        if all(abs(end[0] - u[0]) > 1e-6 or abs(end[1] - u[1]) > 1e-6 for u in unique):
            unique.append(end)
    if len(unique) < 2:
        return None
    return unique[0], unique[1]


class SeriesVolumes:
    """Volumes and placements of stored series, cached across viewers and requests. Keys carry
    the series' image count and newest image, so a series that grows is read again."""

    def __init__(self, max_bytes: int = 1 << 30):
        self.volumes = VolumeCache(max_bytes)
        self._placements = PlacementCache()

    @staticmethod
    def _key(files_dir: Path, series_pk: int, images: Sequence[dict]) -> tuple:
        return (str(files_dir), series_pk, len(images), max((image["pk"] for image in images), default=0))

    def volume(self, images: Sequence[dict], files_dir: Path, series_pk: int) -> Volume:
        return self.volumes.get(self._key(files_dir, series_pk, images), lambda: load_volume(images, files_dir))

    def placements(self, images: Sequence[dict], files_dir: Path, series_pk: int) -> list[FramePlacement | None]:
        return self._placements.get(self._key(files_dir, series_pk, images), images, files_dir)
