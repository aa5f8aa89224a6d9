"""The display state of the workstation: database window and open 2D viewers.

Owned by the server so the control API works headless; the web UI renders it and sends user
actions back. Every change bumps `version` and notifies listeners (the UI's live stream), so a
RIS call and a click in the browser are the same kind of event.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from .db.schema import ALL_STUDIES

ChangeListener = Callable[[str, dict], None]

# What a user (or the RIS) may change on an open viewer.
VIEWER_CHANGES = frozenset({"image_index", "window_center", "window_width", "zoom", "pan_x", "pan_y", "invert",
                            "mode", "mpr_point", "mpr_rotation", "mpr_layout", "slab_mm", "slab_mode",
                            "sync_depth"})
LINK_FLAGS = ("sync_scroll", "link_window", "link_zoom", "reference_lines")


@dataclass(frozen=True)
class SeriesRef:
    """What a viewer needs to know about the series it shows, resolved once from the database."""

    series_pk: int
    series_uid: str
    study_pk: int
    study_uid: str
    number_of_images: int = 0
    modality: str | None = None
    # Frames over all images (a multi-frame image counts each frame); 0 = unknown, use images.
    number_of_frames: int = 0

    @property
    def scroll_length(self) -> int:
        """How many positions a viewer scrolls through: frames when known, else images."""
        return self.number_of_frames or self.number_of_images


@dataclass(frozen=True)
class Viewer:
    """One open 2D viewer."""

    id: int
    series: SeriesRef
    image_index: int = 0
    window_center: float | None = None
    window_width: float | None = None
    zoom: float = 1.0
    pan_x: float = 0.0
    pan_y: float = 0.0
    invert: bool = False
    # "2d" (a stack) or "mpr" (three planes through a crosshair point of the series' volume)
    mode: str = "2d"
    mpr_point: tuple[float, float, float] | None = None  # patient mm; None: the volume's centre
    mpr_rotation: tuple[float, ...] | None = None  # 3×3 row-major turning the standard planes (oblique)
    mpr_layout: str = "1x3"  # "1x3", or "2x2" with a thick MIP as the fourth pane
    slab_mm: float = 0.0  # 0: thin planes; else MIP/MinIP/average over this thickness
    slab_mode: str = "mip"
    # Set by "link here": this viewer's slice depth (mm) when the user lined the viewers up, so
    # series of different Frames of Reference (a prior study) scroll in step from that offset.
    sync_depth: float | None = None

    def as_dict(self) -> dict:
        # What dataclasses.asdict gives (fields in order, the series as a dict), built directly:
        # every field is immutable, so the deep copy asdict makes is not needed.
        out = dict(vars(self))
        out["series"] = dict(vars(self.series))
        return out


@dataclass(frozen=True)
class DatabaseWindow:
    """The database window: which database and album, the list filter and the selection."""

    database: str = "default"
    album: str = ALL_STUDIES
    filter_field: str | None = None  # "PatientName" | "PatientID"
    filter_value: str | None = None
    selected_study_uids: tuple[str, ...] = ()
    selected_series_uids: tuple[str, ...] = ()


@dataclass
class Workspace:
    """Display state with a lock, a version counter and change listeners."""

    db_window: DatabaseWindow = field(default_factory=DatabaseWindow)
    viewers: list[Viewer] = field(default_factory=list)
    rows: int = 1
    columns: int = 1
    focused_viewer: int | None = None
    version: int = 0
    # Viewers that move together: scrolling by patient position, window/level, zoom; and
    # whether each 2D viewer shows where the others' slices cut it.
    sync_scroll: bool = False
    link_window: bool = False
    link_zoom: bool = False
    reference_lines: bool = True

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._listeners: list[ChangeListener] = []

    # -- listening -------------------------------------------------------------------------------

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def _changed(self, kind: str) -> None:
        self.version += 1
        if not self._listeners:
            return  # nobody watches (a headless RIS-driven workstation): no snapshot to build
        snapshot = self.snapshot()
        for listener in list(self._listeners):
            listener(kind, snapshot)

    def snapshot(self) -> dict:
        """The whole state as plain data (what the UI draws and the tests read)."""
        with self._lock:
            return {
                "version": self.version,
                "db_window": dict(vars(self.db_window)),  # frozen, immutable fields: asdict's copy
                "viewers": [v.as_dict() for v in self.viewers],
                "rows": self.rows,
                "columns": self.columns,
                "focused_viewer": self.focused_viewer,
                "links": self.links(),
            }

    def links(self) -> dict:
        return {"sync_scroll": self.sync_scroll, "link_window": self.link_window,
                "link_zoom": self.link_zoom, "reference_lines": self.reference_lines}

    def set_links(self, **flags: bool) -> dict:
        """Turn scrolling in step, linked window/level, linked zoom or reference lines on or off."""
        with self._lock:
            for name in LINK_FLAGS:
                if flags.get(name) is not None:
                    setattr(self, name, bool(flags[name]))
            self._changed("links")
            return self.links()

    # -- viewers ---------------------------------------------------------------------------------

    def open_series(self, refs: Iterable[SeriesRef], *, close_others: bool = True,
                    rows: int | None = None, columns: int | None = None, mode: str = "2d") -> list[Viewer]:
        """Open one viewer per series (closing the others first by default), focus the first."""
        refs = list(refs)
        with self._lock:
            if close_others:
                self.viewers = []
            opened = [Viewer(id=next(self._ids), series=ref, mode=mode) for ref in refs]
            self.viewers.extend(opened)
            if rows and columns:
                self.rows, self.columns = rows, columns
            elif close_others:
                self.rows, self.columns = _tiling_for(len(self.viewers))
            if opened:
                self.focused_viewer = opened[0].id
            self._changed("viewers")
            return opened

    def close(self, predicate: Callable[[Viewer], bool]) -> int:
        """Close the viewers the predicate selects; returns how many closed."""
        with self._lock:
            before = len(self.viewers)
            self.viewers = [v for v in self.viewers if not predicate(v)]
            closed = before - len(self.viewers)
            if self.focused_viewer not in {v.id for v in self.viewers}:
                self.focused_viewer = self.viewers[0].id if self.viewers else None
            if closed:
                self._changed("viewers")
            return closed

    def close_all(self) -> int:
        return self.close(lambda _viewer: True)

    def update_viewer(self, viewer_id: int, **changes) -> Viewer | None:
        """Change a viewer's image index, window, zoom, pan, invert or volume view (user actions)."""
        return self.update_viewers({viewer_id: changes}).get(viewer_id)

    def update_viewers(self, changes: dict[int, dict]) -> dict[int, Viewer]:
        """Change several viewers as one event (a scroll and the viewers following it)."""
        updated: dict[int, Viewer] = {}
        with self._lock:
            for position, viewer in enumerate(self.viewers):
                if viewer.id not in changes:
                    continue
                new = replace(viewer, **{k: v for k, v in changes[viewer.id].items() if k in VIEWER_CHANGES})
                if new.series.scroll_length:
                    new = replace(new, image_index=max(0, min(new.image_index, new.series.scroll_length - 1)))
                self.viewers[position] = updated[viewer.id] = new
            if updated:
                self._changed("viewer")
            return updated

    def viewer(self, viewer_id: int) -> Viewer | None:
        with self._lock:
            return next((v for v in self.viewers if v.id == viewer_id), None)

    def show_series(self, viewer_id: int, ref: SeriesRef) -> Viewer | None:
        """Show another series in an open viewer (the UI's series strip), keeping its place in the tiling."""
        with self._lock:
            for position, viewer in enumerate(self.viewers):
                if viewer.id == viewer_id:
                    updated = Viewer(id=viewer.id, series=ref)
                    self.viewers[position] = updated
                    self.focused_viewer = viewer.id
                    self._changed("viewers")
                    return updated
            return None

    def focus(self, viewer_id: int) -> bool:
        with self._lock:
            if viewer_id not in {v.id for v in self.viewers}:
                return False
            self.focused_viewer = viewer_id
            self._changed("focus")
            return True

    def set_tiling(self, rows: int, columns: int) -> None:
        with self._lock:
            self.rows, self.columns = max(1, rows), max(1, columns)
            self._changed("tiling")

    def front_viewer(self) -> Viewer | None:
        with self._lock:
            return next((v for v in self.viewers if v.id == self.focused_viewer),
                        self.viewers[0] if self.viewers else None)

    def open_viewers(self) -> list[Viewer]:
        with self._lock:
            return list(self.viewers)

    # -- database window -------------------------------------------------------------------------

    def update_db_window(self, **changes) -> DatabaseWindow:
        """Change the album, filter, selection or database shown in the database window."""
        with self._lock:
            self.db_window = replace(self.db_window, **changes)
            self._changed("db_window")
            return self.db_window

    def select(self, study_uids: Iterable[str] = (), series_uids: Iterable[str] = ()) -> None:
        self.update_db_window(selected_study_uids=tuple(dict.fromkeys(study_uids)),
                              selected_series_uids=tuple(dict.fromkeys(series_uids)))

    def reset(self, database: str) -> None:
        """A database switch: viewers of the old database close, the window starts afresh."""
        with self._lock:
            self.viewers = []
            self.focused_viewer = None
            self.db_window = DatabaseWindow(database=database)
            self._changed("database")


def _tiling_for(count: int) -> tuple[int, int]:
    """Rows × columns that fit `count` viewers, wider than tall (1, 1×2, 2×2, 2×3 …)."""
    if count <= 1:
        return 1, 1
    columns = 1
    while columns * columns < count:
        columns += 1
    rows = (count + columns - 1) // columns
    return rows, columns
