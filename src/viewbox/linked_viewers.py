"""Viewers that move together: scrolling in step by patient position, linked window/level and
zoom, "link here" for series of different Frames of Reference, and reference lines.

Scrolling in step goes by where the slices lie, not by their index: a 5 mm series follows a
1 mm one to the slice nearest the same patient position, and a sagittal series does not follow
an axial one. Series of one Frame of Reference line up by their positions; series of different
ones (the patient's prior study) line up from the moment the user links them, by the depth
between their slices then (each viewer's `sync_depth`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .library import queries
from .station import Station
from .volumes.geometry import FramePlacement
from .volumes.stacks import position_at, reference_line, slice_center
from .workspace import Viewer

WINDOW_FIELDS = ("window_center", "window_width")
ZOOM_FIELDS = ("zoom",)


def placements(workstation: Station, viewer: Viewer) -> list[FramePlacement | None]:
    series_pk = viewer.series.series_pk
    images = queries.images_of_series(workstation.database, series_pk)
    return workstation.volumes.placements(images, workstation.database.files_dir, series_pk)


def current_placement(workstation: Station, viewer: Viewer) -> FramePlacement | None:
    found = placements(workstation, viewer)
    return found[viewer.image_index] if 0 <= viewer.image_index < len(found) else None


def change_viewer(workstation: Station, viewer_id: int, changes: dict) -> Viewer | None:
    """A change to one viewer and, as one workspace event, what the linked viewers do with it."""
    workspace = workstation.workspace
    viewer = workspace.viewer(viewer_id)
    if viewer is None:
        return None
    follow: dict[int, dict] = {}
    others = [v for v in workspace.open_viewers() if v.id != viewer_id]
    if workspace.sync_scroll and others and viewer.mode == "2d" and "image_index" in changes:
        moved = replace(viewer, image_index=int(changes["image_index"]))
        follow = _followers(workstation, moved, others)
    elif workspace.sync_scroll and others and viewer.mode == "mpr" and changes.get("mpr_point") is not None:
        follow = _followers_of_point(workstation, viewer, np.asarray(changes["mpr_point"], dtype=float), others)
    for flag, names in (("link_window", WINDOW_FIELDS), ("link_zoom", ZOOM_FIELDS)):
        shared = {name: changes[name] for name in names if name in changes}
        if getattr(workspace, flag) and shared:
            for other in others:
                if flag == "link_zoom" or other.series.modality == viewer.series.modality:
                    follow.setdefault(other.id, {}).update(shared)
    return workspace.update_viewers({**follow, viewer_id: changes}).get(viewer_id)


def _offset(source: Viewer, source_placement: FramePlacement, other: Viewer,
            other_placement: FramePlacement) -> float | None:
    """mm to move along the source's normal to find the other's matching slice; None if the
    two cannot be lined up (different Frames of Reference and never linked)."""
    if source.sync_depth is not None and other.sync_depth is not None:
        return other.sync_depth - source.sync_depth
    uid = source_placement.frame_of_reference_uid
    if uid and uid == other_placement.frame_of_reference_uid:
        return 0.0
    return None


def _followers(workstation: Station, source: Viewer, others: list[Viewer]) -> dict[int, dict]:
    source_placement = current_placement(workstation, source)
    if source_placement is None:
        return {}
    point, normal = slice_center(source_placement), source_placement.normal
    follow = {}
    for other in others:
        if other.mode != "2d":
            continue
        other_placements = placements(workstation, other)
        reference = next((p for p in other_placements if p is not None), None)
        if reference is None:
            continue
        offset = _offset(source, source_placement, other, reference)
        if offset is None:
            continue
        position = position_at(other_placements, point, normal, offset)
        if position is not None and position != other.image_index:
            follow[other.id] = {"image_index": position}
    return follow


def _followers_of_point(workstation: Station, source: Viewer, point: np.ndarray, others: list[Viewer]) -> dict[int, dict]:
    """2D viewers of the MPR's Frame of Reference scroll to its crosshair point."""
    source_placement = next((p for p in placements(workstation, source) if p is not None), None)
    if source_placement is None:
        return {}
    follow = {}
    for other in others:
        other_placements = placements(workstation, other)
        reference = next((p for p in other_placements if p is not None), None)
        if other.mode != "2d" or reference is None or _offset(source, source_placement, other, reference) is None:
            continue
        position = position_at(other_placements, point, reference.normal)
        if position is not None and position != other.image_index:
            follow[other.id] = {"image_index": position}
    return follow


def link_here(workstation: Station) -> int:
    """Line the open 2D viewers up as they are now (series of different Frames of Reference, such
    as a prior study) and scroll them in step from here; returns how many viewers are linked."""
    workspace = workstation.workspace
    viewers = [v for v in workspace.open_viewers() if v.mode == "2d"]
    focused = workspace.front_viewer()
    anchor = current_placement(workstation, focused) if focused is not None else None
    if anchor is None:
        return 0
    changes = {}
    for viewer in viewers:
        placement = current_placement(workstation, viewer)
        if placement is not None and abs(float(placement.normal @ anchor.normal)) > 0.99:
            changes[viewer.id] = {"sync_depth": float(placement.position @ anchor.normal)}
    workspace.update_viewers(changes)
    workspace.set_links(sync_scroll=True)
    return len(changes)


def reference_lines(workstation: Station, viewer_id: int) -> list[dict]:
    """Where the other viewers' current slices cut this viewer's current image (same Frame of
    Reference only), in its pixel coordinates: [{"viewer", "start": [row, col], "end": [...]}]."""
    workspace = workstation.workspace
    viewer = workspace.viewer(viewer_id)
    if viewer is None or viewer.mode != "2d":
        return []
    target = current_placement(workstation, viewer)
    if target is None:
        return []
    lines = []
    for other in workspace.open_viewers():
        if other.id == viewer_id or other.mode != "2d":
            continue
        placement = current_placement(workstation, other)
        if placement is None or not target.frame_of_reference_uid or (
                placement.frame_of_reference_uid != target.frame_of_reference_uid):
            continue
        line = reference_line(target, placement)
        if line is not None:
            lines.append({"viewer": other.id, "start": list(line[0]), "end": list(line[1])})
    return lines
