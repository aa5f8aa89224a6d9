"""Opening, selecting and closing studies and series on the workspace, from database rows.

The one place that turns "open this study" into viewers: used by DisplayStudy, DBWindowFind Open,
Retrieve's `then`, DownloadURL's Display, IHE IID and the web UI's double-click alike.
"""

from __future__ import annotations

from typing import Iterable

from .library import queries
from .workspace import SeriesRef, Viewer

# Series that are not images (reports, structures, plans): a viewer would show nothing.
_NON_IMAGE_MODALITIES = {"SR", "KO", "PR", "RTSTRUCT", "RTPLAN", "RTRECORD", "DOC"}


def series_ref(study: dict, series: dict) -> SeriesRef:
    return SeriesRef(series_pk=series["pk"], series_uid=series["series_instance_uid"],
                     study_pk=study["pk"], study_uid=study["study_instance_uid"],
                     number_of_images=series["number_of_images"] or 0, modality=series["modality"])


def open_study(workstation, study: dict, *, close_others: bool | None = None) -> list[Viewer]:
    """Open a study: one viewer on its first image series (OsiriX opens the first series)."""
    all_series = queries.series_of_study(workstation.database, study["pk"])
    images = [s for s in all_series if s["modality"] not in _NON_IMAGE_MODALITIES] or all_series
    if not images:
        return []
    if close_others is None:
        close_others = workstation.settings.close_all_before_open
    workstation.library.mark_opened([study["pk"]])
    return workstation.workspace.open_series([series_ref(study, images[0])], close_others=close_others)


def open_series(workstation, series_rows: Iterable[dict], *, close_others: bool | None = None,
                rows: int | None = None, columns: int | None = None) -> list[Viewer]:
    """Open one viewer per series row (DisplaySeries, tiling, the UI)."""
    refs = []
    for series in series_rows:
        study = queries.study_by_pk(workstation.database, series["study_pk"])
        if study is not None:
            refs.append(series_ref(study, series))
    if not refs:
        return []
    if close_others is None:
        close_others = workstation.settings.close_all_before_open
    workstation.library.mark_opened({ref.study_pk for ref in refs})
    return workstation.workspace.open_series(refs, close_others=close_others, rows=rows, columns=columns)


def select_studies(workstation, studies: Iterable[dict]) -> None:
    """Select studies in the database window (DBWindowFind Select, Retrieve then=select)."""
    workstation.workspace.select(study_uids=[s["study_instance_uid"] for s in studies])


def front_image_path(workstation) -> str | None:
    """Absolute path of the file shown in the focused viewer (PathToFrontDCM)."""
    viewer = workstation.workspace.front_viewer()
    if viewer is None:
        return None
    images = queries.images_of_series(workstation.database, viewer.series.series_pk)
    if not images:
        return None
    image = images[min(viewer.image_index, len(images) - 1)]
    return str(workstation.database.files_dir / image["rel_path"])
