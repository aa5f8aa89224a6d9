"""A series (or the frames of a multi-frame image) as one array of modality values in patient space,
and a memory-bounded cache of them.

Values are modality units (after Rescale or the Modality LUT: Hounsfield for CT) as float32, so
reformats, slabs and statistics see the same numbers as the 2D viewer's pipeline before its
window. Colour images are not volumes here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from scipy import ndimage

from ..render import FrameSource, RenderError, Window, modality_values
from .geometry import StackGeometry, VolumeError, placement_of, stack_geometry

# Frames decode in parallel: pydicom's decoders and numpy release the GIL for most of the work.
DECODE_THREADS = 4


@dataclass(frozen=True)
class Volume:
    """Modality values (slices, rows, columns) in sorted order, their geometry, and where each
    slice came from (`sources[k]` is the caller's key of the frame shown as slice k)."""

    values: np.ndarray
    geometry: StackGeometry
    sources: tuple[Hashable, ...]
    window: Window
    frame_of_reference_uid: str
    modality: str

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)

    @property
    def center(self) -> np.ndarray:
        """The patient point at the middle of the volume."""
        middle = (np.array(self.values.shape, dtype=np.float64) - 1) / 2
        return self.geometry.to_patient(middle)

    def sample(self, points: np.ndarray) -> np.ndarray:
        """Trilinear modality values at patient points (..., 3); NaN outside the volume."""
        points = np.asarray(points, dtype=np.float64)
        voxels = self.geometry.to_voxel(points.reshape(-1, 3))
        shape = np.array(self.values.shape, dtype=np.float64)
        outside = np.any((voxels < -0.5) | (voxels > shape - 0.5), axis=1)
        samples = ndimage.map_coordinates(self.values, voxels.T, order=1, mode="nearest", prefilter=False)
        samples = samples.astype(np.float32)
        samples[outside] = np.nan
        return samples.reshape(points.shape[:-1])

    def value_at(self, point: np.ndarray) -> float | None:
        """The modality value at a patient point, None outside."""
        sample = float(self.sample(np.asarray(point, dtype=np.float64)))
        return None if np.isnan(sample) else sample

    def slice_nearest(self, point: np.ndarray) -> int:
        """The stored slice closest to a patient point (for scrolling 2D viewers in step)."""
        slice_index = float(self.geometry.to_voxel(np.asarray(point, dtype=np.float64))[0])
        return int(np.clip(round(slice_index), 0, self.geometry.slices - 1))


def build_volume(frames: Sequence[tuple[FrameSource, int, Hashable]]) -> Volume:
    """A volume from (opened image, frame index, key) triples, in any order."""
    if not frames:
        raise VolumeError("the series has no images")
    if any(source.is_color for source, _, _ in frames):
        raise VolumeError("colour images cannot be shown as a volume")
    geometry = stack_geometry([placement_of(source.dataset, frame) for source, frame, _ in frames])
    ordered = [frames[i] for i in geometry.order]

    values = np.empty((len(ordered), geometry.rows, geometry.columns), dtype=np.float32)

    def fill(k: int) -> None:
        source, frame, _ = ordered[k]
        _modality_values_into(source, frame, values[k])

    try:
        with ThreadPoolExecutor(DECODE_THREADS) as pool:
            list(pool.map(fill, range(len(ordered))))
    except RenderError as exc:
        raise VolumeError(f"a slice cannot be decoded: {exc}") from exc
    middle_source, middle_frame, _ = ordered[len(ordered) // 2]
    window = middle_source.window_for(middle_frame) or _range_window(values)
    dataset = middle_source.dataset
    return Volume(values, geometry, tuple(key for _, _, key in ordered), window,
                  str(dataset.get("FrameOfReferenceUID") or ""), str(dataset.get("Modality") or ""))


def _modality_values_into(source: FrameSource, frame: int, out: np.ndarray) -> None:
    """One frame's modality values written into `out` (float32). Uncompressed little-endian
    frames are read straight from the pixel bytes and rescaled in place: most of a cold volume's
    cost otherwise; everything else goes through the display pipeline's own decoding."""
    stored = _plain_stored_values(source, frame)
    slope_intercept = source.rescale_for(frame) if source.dataset.get("ModalityLUTSequence") is None else None
    if stored is None or slope_intercept is None:
        decoded = source.decode(frame)
        out[...] = modality_values(source, decoded.pixels, frame)
        return
    slope, intercept = slope_intercept
    out[...] = stored
    if slope != 1.0:
        out *= np.float32(slope)
    if intercept != 0.0:
        out += np.float32(intercept)


_PLAIN_SYNTAXES = {ExplicitVRLittleEndian, ImplicitVRLittleEndian}


def _plain_stored_values(source: FrameSource, frame: int) -> np.ndarray | None:
    """The stored values of an uncompressed little-endian grayscale frame whose bits fill their
    words (no sign extension or masking needed), as a view on the pixel bytes; else None."""
    dataset = source.dataset
    try:
        if (dataset.file_meta.TransferSyntaxUID not in _PLAIN_SYNTAXES or source.samples_per_pixel != 1
                or int(dataset.BitsAllocated) not in (8, 16) or source.bits_stored != int(dataset.BitsAllocated)):
            return None
        kind = "i" if int(dataset.get("PixelRepresentation") or 0) else "u"
        dtype = np.dtype(f"<{kind}{int(dataset.BitsAllocated) // 8}")
        size = source.rows * source.columns
        data = dataset.PixelData
        if not isinstance(data, bytes) or len(data) < size * dtype.itemsize * source.number_of_frames:
            return None
        return np.frombuffer(data, dtype=dtype, count=size, offset=frame * size * dtype.itemsize).reshape(
            source.rows, source.columns)
    except (AttributeError, TypeError, ValueError):
        return None


def _range_window(values: np.ndarray) -> Window:
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    return Window((low + high + 1) / 2, high - low + 1)


class VolumeCache:
    """Recently used volumes, evicted oldest first beyond `max_bytes`; one build per key at a time
    (a second viewer asking for the same volume waits for the first build instead of repeating it)."""

    def __init__(self, max_bytes: int = 1 << 30):
        self.max_bytes = max_bytes
        self._volumes: OrderedDict[Hashable, Volume] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], Volume]) -> Volume:
        with self._lock:
            volume = self._volumes.get(key)
            if volume is not None:
                self._volumes.move_to_end(key)
                return volume
            building = self._building.setdefault(key, threading.Lock())
        with building:
            with self._lock:
                volume = self._volumes.get(key)
            if volume is None:
                volume = build()
                self._store(key, volume)
        with self._lock:
            self._building.pop(key, None)
        return volume

    def _store(self, key: Hashable, volume: Volume) -> None:
        with self._lock:
            self._volumes[key] = volume
            total = sum(v.nbytes for v in self._volumes.values())
            while total > self.max_bytes and len(self._volumes) > 1:
                _, evicted = self._volumes.popitem(last=False)
                total -= evicted.nbytes

    def forget(self, predicate: Callable[[Any], bool]) -> None:
        """Drop volumes whose key matches (their series changed or was deleted)."""
        with self._lock:
            for key in [k for k in self._volumes if predicate(k)]:
                del self._volumes[key]

    @property
    def cached_bytes(self) -> int:
        with self._lock:
            return sum(v.nbytes for v in self._volumes.values())
