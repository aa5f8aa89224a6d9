"""The built-in methods (docs/control-api.md) that act on the local database and the workspace.

Registered through the same plugin hook third-party plugins use. Every display effect goes
through viewing.py and is applied before the method returns, so the reply is never ahead of the
workspace (GetDisplayed2DViewerStudies right after DisplayStudy shows the study).
"""

from __future__ import annotations

import logging
from pathlib import Path

from .. import viewing
from ..config import DATA_FOLDER_NAME
from ..db import schema
from ..errors import BadRequest, Forbidden, NoMatch, RemoteFailure, UnknownLocation
from ..library import queries
from ..library.elements import element
from ..plugins.hooks import hookimpl
from .measuring import add_measurement, get_measurements, save_measurements_as_sr
from .registry import Call, Params, Registry

log = logging.getLogger(__name__)

TABLES = ("Study", "Series", "Image", "Album")
EXECUTE_ACTIONS = ("nothing", "select", "open", "delete")
STUDY_KEYS = ("PatientID", "StudyInstanceUID", "AccessionNumber", "StudyID")
# Other spellings of those keys that links send (`horos://displaystudy?studyUID=…`, WADO and IID style)
STUDY_KEY_ALIASES = {"StudyInstanceUID": ("studyUID",)}


def compile_filter(text: str, table: str, conventional_precedence: bool):
    """The predicate compiler, with the workstation's precedence setting."""
    from ..predicates import compile_filter as compiler

    return compiler(text, table, conventional_precedence=conventional_precedence)


def _study_elements(studies: list[dict]) -> list[dict]:
    return [element("Study", study) for study in studies]


# -- opening things ------------------------------------------------------------------------------

def display_study(call: Call) -> dict:
    """Open the first local study matching all given keys (exact); -1 when none."""
    ws, params = call.workstation, call.params
    keys = {key: params.text(key, *STUDY_KEY_ALIASES.get(key, ())) for key in STUDY_KEYS}
    if not any(keys.values()):
        raise BadRequest("DisplayStudy needs at least one of PatientID, StudyInstanceUID, "
                         "AccessionNumber, StudyID")
    view = viewing.view_named(params.text("viewer"))
    studies = queries.find_studies(ws.database, patient_id=keys["PatientID"],
                                   study_instance_uid=keys["StudyInstanceUID"],
                                   accession_number=keys["AccessionNumber"], study_id=keys["StudyID"])
    if not studies:
        if ws.settings.retrieve_on_display:
            return _retrieve_for_display(ws, keys)
        return {"error": "-1", "elements": []}
    for study in studies:
        if viewing.open_study_as(ws, study, view):
            break
    return {"error": "0", "elements": _study_elements(studies)}


def _retrieve_for_display(ws, keys: dict) -> dict:
    """DisplayStudy found nothing locally: retrieve from the configured Locations, then open."""
    from ..dicom.retrieve import start_retrieve

    filters = [(key, value) for key, value in keys.items() if value]
    for location in ws.settings.retrieve_on_display:
        try:
            job = start_retrieve(ws, location, filters, "open", True, None)
        except (NoMatch, UnknownLocation):
            continue
        except RemoteFailure as exc:
            log.warning("DisplayStudy: retrieve from %s failed: %s", location, exc.message)
            continue
        return {"error": "0", "jobID": job.id, "elements": []}
    return {"error": "-1", "elements": []}


def display_series(call: Call) -> dict:
    """Open the first matching series; -1 when none."""
    ws, params = call.workstation, call.params
    patient_id, series_uid = params.text("PatientID"), params.text("SeriesInstanceUID")
    if not patient_id and not series_uid:
        raise BadRequest("DisplaySeries needs PatientID and/or SeriesInstanceUID")
    view = viewing.view_named(params.text("viewer"))
    rows = queries.series_where(ws.database, series_uid=series_uid, patient_id=patient_id)
    if not rows:
        return {"error": "-1", "elements": []}
    with_images = [row for row in rows if row["number_of_images"]] or rows
    viewing.open_series_as(ws, with_images[0], view)
    return {"error": "0", "elements": [element("Series", row) for row in rows]}


# -- DBWindowFind ----------------------------------------------------------------------------------

def _delete_permission(params: Params) -> str | None:
    return "DBWindowFind:Delete" if (params.text("execute") or "").lower() == "delete" else None


def db_window_find(call: Call) -> dict:
    """Run an NSPredicate on a table; Select, Open or Delete the matches (studies for Delete)."""
    ws, params = call.workstation, call.params
    request = params.require("request")
    table_text = params.require("table")
    table = next((t for t in TABLES if t.lower() == table_text.lower()), None)
    if table is None:
        raise BadRequest(f"unknown table {table_text!r}: use Study, Series, Image or Album")
    action = (params.text("execute") or "nothing").lower()
    if action not in EXECUTE_ACTIONS:
        action = "nothing"  # OsiriX treats any other value as a plain query
    if action == "delete" and table == "Album":
        raise BadRequest("execute=Delete works on Study, Series or Image matches")
    condition = compile_filter(request, table, ws.settings.conventional_precedence)
    database = ws.database
    rows = queries.element_rows_where(database, table, condition)
    if not rows:
        return {"error": "-1", "elements": []}
    files_dir = database.files_dir
    elements = [element(table, row, files_dir) for row in rows]
    if action == "select":
        _select(ws, table, rows)
    elif action == "open":
        _open_first(ws, table, rows)
    elif action == "delete":
        study_pks = _study_pks(ws, table, rows)
        viewing.delete_studies(ws, [study for pk in study_pks if (study := queries.study_by_pk(database, pk))])
    return {"error": "0", "elements": elements}


def _series_row(ws, table: str, row: dict) -> dict | None:
    if table == "Series":
        return row
    if table == "Image":
        return queries.series_by_pk(ws.database, row["series_pk"])
    return None


def _study_pks(ws, table: str, rows: list[dict]) -> set[int]:
    if table == "Study":
        return {row["pk"] for row in rows}
    pks = set()
    cache: dict[int, dict | None] = {}
    for row in rows:
        key = row["series_pk"] if table == "Image" else row["pk"]
        if key not in cache:
            cache[key] = _series_row(ws, table, row)
        if (series := cache[key]) is not None:
            pks.add(series["study_pk"])
    return pks


def _select(ws, table: str, rows: list[dict]) -> None:
    if table == "Album":
        ws.workspace.update_db_window(album=rows[0]["name"])
        return
    if table == "Study":
        viewing.select_studies(ws, rows)
        return
    series_rows = [s for s in (_series_row(ws, table, row) for row in rows) if s is not None]
    studies = [queries.study_by_pk(ws.database, pk) for pk in dict.fromkeys(s["study_pk"] for s in series_rows)]
    ws.workspace.select(study_uids=[s["study_instance_uid"] for s in studies if s],
                        series_uids=[s["series_instance_uid"] for s in series_rows])


def _open_first(ws, table: str, rows: list[dict]) -> None:
    if table == "Study":
        for row in rows:
            if viewing.open_study(ws, row):
                return
        return
    if table == "Album":
        return  # an album is not something a viewer shows; documented in docs/control-api.md
    for row in rows:
        series = _series_row(ws, table, row)
        if series is None:
            continue
        viewers = viewing.open_series(ws, [series])
        if not viewers:
            continue
        if table == "Image":
            images = queries.images_of_series(ws.database, series["pk"])
            ws.workspace.update_viewer(viewers[0].id, image_index=viewing.position_of(images, row["pk"]))
        return


# -- viewers and the database window -------------------------------------------------------------

def close_all_windows(call: Call) -> dict:
    """Close every viewer."""
    call.workstation.workspace.close_all()
    return {"error": "0"}


def _per_viewer(call: Call, entity: str, lookup, key) -> dict:
    """One `entity` element per open viewer, in viewer order (duplicates kept, as OsiriX)."""
    ws = call.workstation
    rows = (lookup(ws.database, key(viewer.series)) for viewer in ws.workspace.open_viewers())
    return {"error": "0", "elements": [element(entity, row) for row in rows if row is not None]}


def displayed_series(call: Call) -> dict:
    """One series element per open viewer."""
    return _per_viewer(call, "Series", queries.series_by_pk, lambda ref: ref.series_pk)


def displayed_studies(call: Call) -> dict:
    """One study element per open viewer (duplicates kept, as OsiriX)."""
    return _per_viewer(call, "Study", queries.study_by_pk, lambda ref: ref.study_pk)


def close_series_viewers(call: Call) -> dict:
    """Close the viewers showing that series; {error:"0"} even if none."""
    uid = call.params.require("uid")
    call.workstation.workspace.close(lambda viewer: viewer.series.series_uid == uid)
    return {"error": "0"}


def close_study_viewers(call: Call) -> dict:
    """Close the viewers showing that study; {error:"0"} even if none."""
    uid = call.params.require("uid")
    call.workstation.workspace.close(lambda viewer: viewer.series.study_uid == uid)
    return {"error": "0"}


def list_by_patient_name(call: Call) -> dict:
    """Filter the database window's study list by patient name."""
    value = call.params.require("PatientName")
    call.workstation.workspace.update_db_window(filter_field="PatientName", filter_value=value)
    return {"error": "0"}


def list_by_patient_id(call: Call) -> dict:
    """Filter the database window's study list by patient ID."""
    value = call.params.require("PatientID")
    call.workstation.workspace.update_db_window(filter_field="PatientID", filter_value=value)
    return {"error": "0"}


def select_album(call: Call) -> dict:
    """Show an album (exact name; `Database` = all studies) in the database window."""
    ws = call.workstation
    name = call.params.require("name")
    if name != schema.ALL_STUDIES and queries.album_by_name(ws.database, name) is None:
        return {"error": "-1"}
    ws.workspace.update_db_window(album=name)
    return {"error": "0"}


def path_to_front_dcm(call: Call) -> dict:
    """Path (or file name with onlyfilename=yes) of the image shown in the focused viewer."""
    path = viewing.front_image_path(call.workstation) or ""
    if path and call.params.boolean("onlyfilename"):
        path = Path(path).name
    return {"error": "0", "currentDCMPath": path}


# -- databases and the process -------------------------------------------------------------------

def data_dir_for(path: Path) -> Path:
    """OpenDB's rule: `<path>/Viewbox Data`, cut at that component if the path has it."""
    parts = path.parts
    if DATA_FOLDER_NAME in parts:
        return Path(*parts[: parts.index(DATA_FOLDER_NAME) + 1])
    return path / DATA_FOLDER_NAME


def open_db(call: Call) -> dict:
    """Switch the active database to `<path>/Viewbox Data`, creating it if needed."""
    ws = call.workstation
    path = Path(call.params.require("path")).expanduser()
    if not path.is_absolute():
        raise BadRequest(f"path must be absolute: {str(path)!r}")
    if not path.exists():
        return {"error": "-1"}
    roots = ws.settings.allowed_db_roots
    if roots:
        resolved = path.resolve()
        if not any(resolved == Path(r).expanduser().resolve()
                   or Path(r).expanduser().resolve() in resolved.parents for r in roots):
            raise Forbidden(f"OpenDB: {path} is outside the allowed database folders")
    ws.open_database(data_dir_for(path))
    return {"error": "0"}


def switch_to_default_db(call: Call) -> dict:
    """Back to the default database."""
    call.workstation.switch_to_default_database()
    return {"error": "0"}


def kill(call: Call) -> dict:
    """Answer, then shut the workstation down cleanly."""
    call.then(call.workstation.request_shutdown)
    return {"error": "0"}


def get_job(call: Call) -> dict:
    """State and progress of a background job (DownloadURL, Retrieve, CMove …)."""
    job = call.workstation.jobs.get(call.params.require("jobID"))
    if job is None:
        return {"error": "-1", "message": "no such job"}
    return {"error": "0", "job": job.as_dict()}


@hookimpl(tryfirst=True)
def viewbox_register_methods(registry: Registry) -> None:
    """The core methods (tryfirst: core names are taken before any plugin's)."""
    add = lambda name, fn, **kw: registry.add(name, fn, source="core", **kw)  # noqa: E731
    add("DisplayStudy", display_study, params=(*STUDY_KEYS, "viewer"))
    add("DisplaySeries", display_series, params=("PatientID", "SeriesInstanceUID", "viewer"))
    add("DBWindowFind", db_window_find, aliases=("FindObject",), params=("request", "table", "execute"),
        permission=_delete_permission)
    add("CloseAllWindows", close_all_windows)
    add("OpenDB", open_db, aliases=("OpenDatabase",), params=("path",), permission="OpenDB")
    add("SwitchToDefaultDBIfNeeded", switch_to_default_db, aliases=("SelectDefaultDatabase",))
    add("SelectAlbum", select_album, params=("name",))
    add("GetDisplayed2DViewerSeries", displayed_series)
    add("GetDisplayed2DViewerStudies", displayed_studies)
    add("Close2DViewerWithSeriesUID", close_series_viewers, params=("uid",))
    add("Close2DViewerWithStudyUID", close_study_viewers, params=("uid",))
    add("DisplayStudyListByPatientName", list_by_patient_name, params=("PatientName",))
    add("DisplayStudyListByPatientId", list_by_patient_id, params=("PatientID",))
    add("PathToFrontDCM", path_to_front_dcm, params=("onlyfilename",))
    add("KillOsiriX", kill, permission="KillOsiriX")
    add("GetJob", get_job, params=("jobID",))
    add("GetMeasurements", get_measurements, params=("StudyInstanceUID",))
    add("AddMeasurement", add_measurement, params=("SOPInstanceUID", "frame", "type", "points", "label"))
    add("SaveMeasurementsAsSR", save_measurements_as_sr, params=("StudyInstanceUID",))
