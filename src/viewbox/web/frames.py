"""What the viewers draw: a series' frames in viewing order, rendered by the render package, and thumbnails.

A viewer position is a frame index over all frames of all images of a series (a multi-frame
image takes one position per frame), the same numbering as the workspace's `image_index`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotFound
from ..library import queries
from ..render import MEDIA_TYPES, FrameCache, RenderError, encode, range_window, render_decoded, thumbnail
from ..station import Station
from ..viewing import image_at


@dataclass(frozen=True)
class RenderedFrame:
    """Encoded pixels plus what the overlay shows (the window actually applied)."""

    body: bytes
    media_type: str
    window_center: float
    window_width: float
    range_center: float
    range_width: float
    rows: int
    columns: int
    position: int
    count: int
    image_pk: int
    frame: int
    file_windows: tuple[tuple[float, float, str], ...] = ()  # the file's own presets (grayscale)


class SeriesFrames:
    """Renders frames and thumbnails of stored series, with the caches scrolling needs."""

    def __init__(self, workstation: Station, cache: FrameCache | None = None, thumbnails: int = 2000):
        self.workstation = workstation
        self.cache = cache or FrameCache()
        self._thumbnails: OrderedDict[tuple, bytes] = OrderedDict()
        self._thumbnail_limit = thumbnails
        self._lock = threading.Lock()

    def images(self, series_pk: int) -> list[dict]:
        database = self.workstation.database
        images = queries.images_of_series(database, series_pk)
        if not images and queries.series_by_pk(database, series_pk) is None:  # (one query per frame)
            raise NotFound(f"no series with pk {series_pk}")
        return images

    def locate(self, series_pk: int, position: int) -> tuple[Path, dict, int, int]:
        """(file, image row, frame in file, frame count of the series) for a viewer position."""
        images = self.images(series_pk)
        count = sum(image.get("number_of_frames") or 1 for image in images)
        if not images or not 0 <= position < count:
            raise NotFound(f"series {series_pk} has no frame {position} (it has {count})")
        located = image_at(images, position)
        assert located is not None  # images is not empty
        image, frame = located
        return self.workstation.database.files_dir / image["rel_path"], image, frame, count

    def render(self, series_pk: int, position: int, *, window_center: float | None = None,
               window_width: float | None = None, invert: bool = False, fmt: str = "png") -> RenderedFrame:
        """One frame for a viewer; RenderError when the file cannot be decoded."""
        path, image, frame, count = self.locate(series_pk, position)
        source, decoded = self.cache.frame(path, frame)
        pixels, shown = render_decoded(source, decoded, window_center=window_center,
                                       window_width=window_width, invert=invert)
        body = encode(pixels, fmt)
        full = range_window(source, decoded)
        file_windows = () if source.is_color else tuple(
            (window.center, window.width, name) for window, name in source.windows_for(frame))
        return RenderedFrame(body, MEDIA_TYPES[fmt], float(shown.center), float(shown.width), float(full.center),
                             float(full.width), source.rows, source.columns, position, count,
                             image["pk"], frame, file_windows)

    def thumbnail(self, series_pk: int, size: int = 128) -> bytes:
        """JPEG of the series' middle image, cached by file identity (a replaced file is redrawn)."""
        images = self.images(series_pk)
        if not images:
            raise RenderError(f"series {series_pk} has no images")
        image = images[len(images) // 2]
        path = self.workstation.database.files_dir / image["rel_path"]
        try:
            stat = path.stat()
        except OSError as exc:
            raise RenderError(f"{path.name}: cannot open: {exc}") from exc
        key = (str(path), stat.st_mtime_ns, stat.st_size, size)
        with self._lock:
            cached = self._thumbnails.get(key)
            if cached is not None:
                self._thumbnails.move_to_end(key)
                return cached
        data = thumbnail(self.cache.open(path), size=size)
        with self._lock:
            self._thumbnails[key] = data
            while len(self._thumbnails) > self._thumbnail_limit:
                self._thumbnails.popitem(last=False)
        return data


def placeholder_svg(message: str, size: int = 128) -> bytes:
    """What a thumbnail shows when its file cannot be decoded: a clear sign, not a broken image."""
    text = (message[:60] + "…") if len(message) > 60 else message
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 128 128">'
        '<rect width="128" height="128" fill="#2a1a1a"/>'
        '<path d="M64 22 L106 98 L22 98 Z" fill="none" stroke="#e0a030" stroke-width="6"/>'
        '<rect x="61" y="48" width="6" height="28" fill="#e0a030"/><rect x="61" y="82" width="6" height="7" fill="#e0a030"/>'
        f'<text x="64" y="117" font-size="9" fill="#ddd" text-anchor="middle" font-family="sans-serif">{text}</text>'
        '</svg>'
    ).encode()
