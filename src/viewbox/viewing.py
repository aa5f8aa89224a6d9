"""Opening, selecting and closing studies and series on the workspace, from database rows.

The one place that turns "open this study" into viewers: used by DisplayStudy, DBWindowFind Open,
Retrieve's `then`, DownloadURL's Display, IHE IID and the web UI's double-click alike.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import priors
from .errors import BadRequest
from .library import queries
from .station import Station
from .workspace import SeriesRef, Viewer

# Series that are not images (reports, structures, plans): a viewer would show nothing.
_NON_IMAGE_MODALITIES = queries.NON_IMAGE_MODALITIES


def series_ref(study: dict, series: dict, number_of_frames: int = 0) -> SeriesRef:
    return SeriesRef(series_pk=series["pk"], series_uid=series["series_instance_uid"],
                     study_pk=study["pk"], study_uid=study["study_instance_uid"],
                     number_of_images=series["number_of_images"] or 0, modality=series["modality"],
                     number_of_frames=number_of_frames)


def _with_frames(workstation: Station, pairs: list[tuple[dict, dict]]) -> list[SeriesRef]:
    """SeriesRefs carrying their frame counts, so viewers scroll through every frame."""
    frames = queries.series_frame_counts(workstation.database, [series["pk"] for _, series in pairs])
    return [series_ref(study, series, frames.get(series["pk"], 0)) for study, series in pairs]


def image_series(workstation: Station, study: dict) -> list[dict]:
    """A study's series a viewer can show, in display order (all of them if none is an image)."""
    all_series = queries.series_of_study(workstation.database, study["pk"])
    return [s for s in all_series if s["modality"] not in _NON_IMAGE_MODALITIES] or all_series


def open_study(workstation: Station, study: dict, *, close_others: bool | None = None) -> list[Viewer]:
    """Open a study: one viewer on its first image series (OsiriX opens the first series)."""
    first = queries.first_image_series(workstation.database, study["pk"])  # one query, frames too
    if first is None:
        return []
    series, frames = first
    if close_others is None:
        close_others = workstation.settings.close_all_before_open
    workstation.library.mark_opened([study["pk"]])
    return workstation.workspace.open_series([series_ref(study, series, frames)],
                                             close_others=close_others)


def open_series(workstation: Station, series_rows: Iterable[dict], *, close_others: bool | None = None,
                rows: int | None = None, columns: int | None = None, mode: str = "2d") -> list[Viewer]:
    """Open one viewer per series row (DisplaySeries, tiling, the UI)."""
    pairs = []
    for series in series_rows:
        study = queries.study_by_pk(workstation.database, series["study_pk"])
        if study is not None:
            pairs.append((study, series))
    refs = _with_frames(workstation, pairs)
    if not refs:
        return []
    if close_others is None:
        close_others = workstation.settings.close_all_before_open
    workstation.library.mark_opened({ref.study_pk for ref in refs})
    return workstation.workspace.open_series(refs, close_others=close_others, rows=rows, columns=columns,
                                             mode=mode)


def open_mpr(workstation: Station, series: dict) -> list[Viewer]:
    """Open a series as a volume: one viewer showing axial, coronal and sagittal planes through
    a crosshair at the volume's centre (the viewer fills the screen)."""
    return open_series(workstation, [series], close_others=True, rows=1, columns=1, mode="mpr")


# How a RIS may ask for a study to be shown: DisplayStudy/DisplaySeries `viewer`, IID `viewerType`.
VIEWS = {"2D": "2d", "IHE_BIR": "2d", "MPR": "mpr", "PRIOR": "prior", "COMPARE": "prior"}


def view_named(name: str | None) -> str:
    """'2d', 'mpr' or 'prior' for a requested view (case-insensitive; none given: 2d)."""
    if not name:
        return "2d"
    view = VIEWS.get(name.strip().upper())
    if view is None:
        raise BadRequest(f"unknown viewer {name!r}: use one of 2D, MPR, PRIOR (or COMPARE)")
    return view


def open_study_as(workstation: Station, study: dict, view: str, *, close_others: bool | None = None) -> list[Viewer]:
    """Open a study as asked: 2D (its first image series), MPR (its largest series as a volume)
    or beside the patient's prior study."""
    if view == "mpr":
        series = volume_series(workstation, study)
        return open_mpr(workstation, series) if series is not None else []
    if view == "prior":
        return open_comparison(workstation, study)
    return open_study(workstation, study, close_others=close_others)


def open_series_as(workstation: Station, series: dict, view: str) -> list[Viewer]:
    """DisplaySeries as asked: the series in 2D, as a volume, or its study beside the prior."""
    if view == "mpr":
        return open_mpr(workstation, series)
    if view == "prior":
        study = queries.study_by_pk(workstation.database, series["study_pk"])
        return open_comparison(workstation, study) if study is not None else []
    return open_series(workstation, [series])


def volume_series(workstation: Station, study: dict) -> dict | None:
    """The series of a study to open as a volume: the image series with the most frames."""
    candidates = image_series(workstation, study)
    if not candidates:
        return None
    frames = queries.series_frame_counts(workstation.database, [s["pk"] for s in candidates])
    return max(candidates, key=lambda s: (frames.get(s["pk"], 0), -(s["series_number"] or 0)))


def open_comparison(workstation: Station, study: dict, prior: dict | None = None) -> list[Viewer]:
    """A study beside the patient's prior: each image series of the study (two at most) left,
    its prior counterpart right, scrolling in step (by position within one Frame of Reference;
    otherwise once the user links them). Without a prior the study opens as usual."""
    prior = prior or priors.prior_study(workstation, study)
    if prior is None:
        return open_study(workstation, study)
    pairs = [(now, before) for now, before in priors.pair_series(
        image_series(workstation, study), image_series(workstation, prior)) if before is not None][:2]
    if not pairs:
        first = image_series(workstation, study)[:1] + image_series(workstation, prior)[:1]
        return open_series(workstation, first, close_others=True, rows=1, columns=2)
    viewers = open_series(workstation, [row for pair in pairs for row in pair], close_others=True,
                          rows=len(pairs), columns=2)
    workstation.workspace.set_links(sync_scroll=True)
    return viewers


def open_studies_tiled(workstation: Station, studies: list[dict], *, rows: int | None = None,
                       columns: int | None = None) -> list[Viewer]:
    """Open several studies side by side: the first image series of each, tiled (one study
    opens as `open_study` does)."""
    if len(studies) == 1:
        return open_study(workstation, studies[0])
    first = [series[0] for study in studies if (series := image_series(workstation, study))]
    return open_series(workstation, first, close_others=True, rows=rows, columns=columns)


def tile(workstation: Station, rows: int, columns: int, *, fill: bool = True) -> None:
    """Set the tiling; with `fill`, empty cells get the focused study's next series (as a
    radiologist expects), and the focus stays where it was."""
    workspace = workstation.workspace
    viewers = workspace.open_viewers()
    front = workspace.front_viewer()
    if fill and front is not None and len(viewers) < rows * columns:
        study = queries.study_by_pk(workstation.database, front.series.study_pk)
        shown = {viewer.series.series_pk for viewer in viewers}
        more = [s for s in image_series(workstation, study) if s["pk"] not in shown] if study else []
        more = more[: rows * columns - len(viewers)]
        if more:
            open_series(workstation, more, close_others=False)
            if front.id != workspace.focused_viewer:
                workspace.focus(front.id)
    workspace.set_tiling(rows, columns)


def show_series(workstation: Station, viewer_id: int, series: dict) -> Viewer | None:
    """Show `series` in the open viewer `viewer_id` (the web UI's series strip)."""
    study = queries.study_by_pk(workstation.database, series["study_pk"])
    if study is None:
        return None
    workstation.library.mark_opened([study["pk"]])
    return workstation.workspace.show_series(viewer_id, _with_frames(workstation, [(study, series)])[0])


def image_at(images: list[dict], frame_index: int) -> tuple[dict, int] | None:
    """The image row and its frame number at a viewer's position (frames of multi-frame images
    each take one position, in viewing order)."""
    if not images:
        return None
    remaining = max(0, frame_index)
    for image in images:
        frames = image.get("number_of_frames") or 1
        if remaining < frames:
            return image, remaining
        remaining -= frames
    last = images[-1]
    return last, (last.get("number_of_frames") or 1) - 1


def position_of(images: list[dict], image_pk: int) -> int:
    """The viewer position of an image's first frame (image_at's inverse); 0 if it is not there."""
    position = 0
    for image in images:
        if image["pk"] == image_pk:
            return position
        position += image.get("number_of_frames") or 1
    return 0


def select_studies(workstation: Station, studies: Iterable[dict]) -> None:
    """Select studies in the database window (DBWindowFind Select, Retrieve then=select)."""
    workstation.workspace.select(study_uids=[s["study_instance_uid"] for s in studies])


def delete_studies(workstation, studies: Iterable[dict]) -> int:
    """Delete studies as a user sees it (DBWindowFind Delete, the UI's Delete): their viewers
    close, they leave the selection, they go with their files, and the UI (and every other node
    sharing the database) is told."""
    studies = list(studies)
    gone_pks = {study["pk"] for study in studies}
    gone_uids = {study["study_instance_uid"] for study in studies}
    workstation.workspace.close(lambda viewer: viewer.series.study_pk in gone_pks)
    deleted = workstation.library.delete_studies(gone_pks)
    _deselect(workstation, gone_uids)
    workstation.deleted(sorted(gone_uids))
    return deleted


def forget_studies(workstation, study_uids: list[str]) -> None:
    """Studies deleted by another node: their viewers close here too, they leave the selection,
    and the UI is told (the workspace stays this node's own)."""
    gone = set(study_uids)
    workstation.workspace.close(lambda viewer: viewer.series.study_uid in gone)
    _deselect(workstation, gone)
    workstation.deleted(study_uids, by_peer=True)


def _deselect(workstation, gone_uids: set[str]) -> None:
    workspace = workstation.workspace
    selected = workspace.db_window.selected_study_uids
    if gone_uids & set(selected):
        workspace.select(study_uids=[uid for uid in selected if uid not in gone_uids])


def front_image_path(workstation: Station) -> str | None:
    """Absolute path of the file shown in the focused viewer (PathToFrontDCM)."""
    viewer = workstation.workspace.front_viewer()
    if viewer is None:
        return None
    found = image_at(queries.images_of_series(workstation.database, viewer.series.series_pk),
                     viewer.image_index)
    if found is None:
        return None
    return str(workstation.database.files_dir / found[0]["rel_path"])
