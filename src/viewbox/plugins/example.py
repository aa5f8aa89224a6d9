"""The example plugin: the two methods of OsiriX's XML-RPC sample plugin, as a Viewbox plugin.

Shipped with the project and loaded through the public mechanism (entry point `example` in group
`viewbox`), to prove that mechanism works: `exportSelectedToPath` and `openSelectedWithTiling`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import viewing
from ..errors import BadRequest
from ..library import queries
from ..library.instance import uid_file_name
from ..station import Station
from .hooks import hookimpl


def _selected_series(workstation: Station) -> list[dict]:
    """The series of the database window's selection: selected series, else the studies' series."""
    database = workstation.database
    window = workstation.workspace.db_window
    if window.selected_series_uids:
        rows = []
        for uid in window.selected_series_uids:
            rows.extend(queries.series_where(database, series_uid=uid))
        return rows
    rows = []
    for study in queries.studies_by_uid(database, window.selected_study_uids):
        rows.extend(queries.series_of_study(database, study["pk"]))
    return rows


def export_selected_to_path(call) -> dict:
    """Copy the DICOM files of the selected studies/series into the folder `path`."""
    ws = call.workstation
    target = Path(call.params.require("path")).expanduser()
    if not target.is_absolute():
        raise BadRequest(f"path must be absolute: {str(target)!r}")
    series = _selected_series(ws)
    if not series:
        return {"error": "-1", "message": "nothing is selected"}
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for row in series:
        for image in queries.images_of_series(ws.database, row["pk"]):
            shutil.copyfile(ws.database.files_dir / image["rel_path"],
                            target / (uid_file_name(image["sop_instance_uid"]) + ".dcm"))
            count += 1
    return {"error": "0", "exported": str(count)}


def open_selected_with_tiling(call) -> dict:
    """Open the selection's series tiled rowsTiling × columnsTiling."""
    params = call.params
    rows = params.integer("rowsTiling", 1) or 1
    columns = params.integer("columnsTiling", 1) or 1
    if not (1 <= rows <= 8 and 1 <= columns <= 8):
        raise BadRequest("rowsTiling and columnsTiling must be between 1 and 8")
    series = _selected_series(call.workstation)
    if not series:
        return {"error": "-1", "message": "nothing is selected"}
    viewing.open_series(call.workstation, series[: rows * columns], close_others=True,
                        rows=rows, columns=columns)
    return {"error": "0"}


@hookimpl
def viewbox_register_methods(registry) -> None:
    """Register the two methods of OsiriX's sample plugin."""
    registry.add("exportSelectedToPath", export_selected_to_path, params=("path",),
                 permission="exportSelectedToPath", source="example plugin")
    registry.add("openSelectedWithTiling", open_selected_with_tiling,
                 params=("rowsTiling", "columnsTiling"), source="example plugin")
