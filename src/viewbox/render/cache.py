"""The opened files and decoded frames that scrolling and window/level re-use.

A viewer re-renders the same frames many times; with the decoded frame at hand that is a table
lookup plus an encode. Entries are keyed by (path, mtime, size) so a replaced file is never
served stale; decoded frames are bounded by bytes, opened files by count.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from .source import DecodedFrame, FrameSource, RenderError, load_frames

FileKey = tuple[str, int, int]


class FrameCache:
    """Recently opened files and decoded frames, least recently used first out."""

    def __init__(self, cache_bytes: int = 256 * 2**20, cached_files: int = 16):
        self.cache_bytes = cache_bytes
        self.cached_files = cached_files
        self._lock = threading.Lock()
        self._sources: OrderedDict[FileKey, FrameSource] = OrderedDict()
        self._frames: OrderedDict[tuple[str, int, int, int], DecodedFrame] = OrderedDict()
        self._frame_bytes = 0

    def open(self, path: str | os.PathLike[str]) -> FrameSource:
        """The parsed file, from cache when unchanged on disk."""
        return self._open(path, _file_key(path))

    def _open(self, path: str | os.PathLike[str], key: FileKey) -> FrameSource:
        with self._lock:
            source = self._sources.get(key)
            if source is not None:
                self._sources.move_to_end(key)
                return source
        source = load_frames(path)
        with self._lock:
            self._sources[key] = source
            while len(self._sources) > self.cached_files:
                self._sources.popitem(last=False)
        return source

    def frame(self, path: str | os.PathLike[str], index: int = 0) -> tuple[FrameSource, DecodedFrame]:
        """The file and one decoded frame, each from cache when possible."""
        file_key = _file_key(path)
        source = self._open(path, file_key)
        key = (*file_key, index)
        with self._lock:
            decoded = self._frames.get(key)
            if decoded is not None:
                self._frames.move_to_end(key)
                return source, decoded
        decoded = source.decode(index)
        with self._lock:
            if key not in self._frames:
                self._frames[key] = decoded
                self._frame_bytes += decoded.nbytes
            while self._frame_bytes > self.cache_bytes and len(self._frames) > 1:
                _, evicted = self._frames.popitem(last=False)
                self._frame_bytes -= evicted.nbytes
        return source, decoded

    @property
    def cached_frames(self) -> int:
        """How many decoded frames are held (for tests and the status page)."""
        return len(self._frames)

    @property
    def cached_bytes(self) -> int:
        """Memory held by decoded frames, kept at or under cache_bytes (unless one frame is larger)."""
        return self._frame_bytes

    def clear(self) -> None:
        """Forget every cached file and frame (the next render is cold)."""
        with self._lock:
            self._sources.clear()
            self._frames.clear()
            self._frame_bytes = 0


def _file_key(path: str | os.PathLike[str]) -> FileKey:
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise RenderError(f"{path}: cannot open: {exc}") from exc
    return (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
