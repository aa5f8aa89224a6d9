"""The web UI's HTTP surface: the single page, its static files and a JSON API under /api/ui/.

Every user action goes through the same workspace and viewing functions the control API uses, so
what a radiologist opens, scrolls or selects is what GetDisplayed2DViewerSeries and
PathToFrontDCM report, and a RIS call shows up in every tab through the event stream.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles

from .. import viewing
from ..config import TRUE_WORDS, is_loopback
from ..db import schema
from ..errors import (
    BadRequest,
    NotFound,
    TooLarge,
    ViewboxError,
    error_reply,
    incident_message,
    report_incident,
)
from ..library import dicom_query, queries
from ..library.importer import staged_import_job
from ..library.tag_tree import tag_tree
from ..measure import parse_points
from ..permissions import require_allowed
from ..predicates import smart_album_filter
from ..render import RenderError
from ..station import Station
from .events import EventHub
from .frames import SeriesFrames, placeholder_svg

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
PAGE_SIZE = 500
NO_STORE = {"Cache-Control": "no-store"}
_BATCH_ID = re.compile(r"^[0-9a-f]{8,32}$")
# What the Query panel may ask a Location for; names and descriptions match as "contains".
QUERY_FIELDS = ("PatientName", "PatientID", "AccessionNumber", "StudyDate", "ModalitiesInStudy", "StudyDescription")
CONTAINS_FIELDS = ("PatientName", "StudyDescription")
QUERY_ROWS = 500
_DICOM_DATE_RANGE = re.compile(r"^(\d{8})?(-(\d{8})?)?$")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


# -- the one mapping from exceptions to HTTP answers of this API ------------------------------------

def error_response(_request: Request, exc: Exception) -> JSONResponse:
    """The exception handler of /api/ui: a ViewboxError → its HTTP status with its message;
    anything else → 500 with an incident id (the traceback goes to the log only)."""
    if isinstance(exc, ViewboxError):
        return JSONResponse(error_reply(exc.http_status, exc.message), status_code=exc.http_status,
                            headers=NO_STORE)
    message = incident_message(report_incident(log, "web UI request failed", exc))
    return JSONResponse(error_reply(500, message), status_code=500, headers=NO_STORE)


async def _json_body(request: Request) -> dict:
    body = await request.body()
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _int(value, name: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise BadRequest(f"missing parameter {name}")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be an integer, not {value!r}") from None


def _float(value, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a number, not {value!r}") from None


def _study_pks(body: dict) -> list[int]:
    pks = body.get("study_pks")
    if not isinstance(pks, list) or not pks:
        raise BadRequest("study_pks must be a non-empty list")
    return [_int(pk, "study_pks") for pk in pks]


def _text(body: dict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name} must be a non-empty string")
    return value


def _flag(value) -> bool:
    return str(value).lower() in TRUE_WORDS


def _ok(data: dict | list | None = None) -> JSONResponse:
    return JSONResponse(data if data is not None else {"error": "0"}, headers=NO_STORE)


def _contains(value: str) -> str:
    """A plain value matches anywhere ("doe john" → "*doe*john*"); one with * or ? is left as typed."""
    if "*" in value or "?" in value:
        return value
    return "*" + "*".join(re.split(r"[\s,^]+", value)) + "*"


def _study_date(value: str) -> str:
    """A DICOM date or range (YYYYMMDD, A-B, A-, -B); YYYY-MM-DD is accepted for each date."""
    dicom = _ISO_DATE.sub(r"\1\2\3", value).replace(" ", "")
    if not _DICOM_DATE_RANGE.match(dicom) or dicom == "-":
        raise BadRequest(f"StudyDate must be a date or a range like 20240101-20240131, not {value!r}")
    return dicom


def _query_filters(filters) -> dict[str, str]:
    """The Query panel's fields as C-FIND/QIDO-RS matching keys (the matching rules of docs/ui.md)."""
    if not isinstance(filters, dict):
        raise BadRequest("filters must be an object")
    query = {}
    for keyword, value in filters.items():
        if keyword not in QUERY_FIELDS:
            raise BadRequest(f"cannot query by {keyword!r} (one of {', '.join(QUERY_FIELDS)})")
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadRequest(f"{keyword} must be a string")
        value = value.strip()
        if not value:
            continue
        if keyword in CONTAINS_FIELDS:
            value = _contains(value)
        elif keyword == "StudyDate":
            value = _study_date(value)
        elif keyword == "ModalitiesInStudy":
            value = value.upper()
        query[keyword] = value
    if not query:
        raise BadRequest("fill in at least one field or choose a date")
    return query


# -- rows as the page shows them ---------------------------------------------------------------------

def _date(value: datetime | None, with_time: bool = False) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def _album_condition(album: dict):
    """An album row's studies as a condition on Study: its predicate (smart) or its members."""
    if album["smart_album"]:
        return smart_album_filter(album["predicate_string"] or "TRUEPREDICATE")
    return queries.album_member_condition(album["pk"])


def _shown_name(value: object) -> str:
    """A Patient's Name as the lists show it: OsiriX's form (schema.osirix_name), runs of spaces as one."""
    return " ".join(schema.osirix_name(str(value or "")).split())


def study_row(row: dict) -> dict:
    """A study as one line of the study list."""
    return {
        "pk": row["pk"], "uid": row["study_instance_uid"],
        "name": _shown_name(row.get("patient_name")),
        "patient_id": row.get("patient_id") or "", "birth_date": _date(row.get("patient_birth_date")),
        "sex": row.get("patient_sex") or "", "date": _date(row.get("date"), with_time=True),
        "modality": row.get("modality") or "", "description": row.get("study_description") or "",
        "accession": row.get("accession_number") or "", "images": row.get("number_of_images") or 0,
        "study_id": row.get("study_id") or "", "institution": row.get("institution_name") or "",
    }


def _dicom_date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else value


def remote_study_row(fields: dict, local_images: int | None) -> dict:
    """A study a Location reported (retrieve.study_fields) as one line of the Query panel, with
    how many of its instances the local database holds (None: not held)."""
    return {
        "uid": fields["StudyInstanceUID"], "name": _shown_name(fields["PatientName"]),
        "patient_id": fields["PatientID"], "birth_date": _dicom_date(fields["PatientBirthDate"]),
        "date": _dicom_date(fields["StudyDate"]), "modalities": ", ".join(m for m in fields["ModalitiesInStudy"].split("\\") if m),
        "description": fields["StudyDescription"], "accession": fields["AccessionNumber"],
        "instances": fields["NumberOfStudyRelatedInstances"], "local": local_images is not None,
        "local_images": local_images,
    }


def series_row(row: dict, frames: int) -> dict:
    """A series as a thumbnail of the database window and the viewer's series strip."""
    return {
        "pk": row["pk"], "uid": row["series_instance_uid"], "study_pk": row["study_pk"],
        "number": row.get("series_number"), "description": row.get("series_description") or row.get("protocol_name") or "",
        "modality": row.get("modality") or "", "images": row.get("number_of_images") or 0,
        "frames": frames, "thumbnail": f"/api/ui/thumbnail/{row['pk']}",
    }


class WebUI:
    """Handlers of the web UI for one workstation (no global state)."""

    def __init__(self, workstation: Station):
        self.workstation = workstation
        self.hub = EventHub(workstation)
        self.frames = SeriesFrames(workstation)

    def routes(self) -> list[BaseRoute]:
        """The page, its static files and the JSON API; `asgi.build_app` places them next to the
        control API. The API is a mount of its own so that its errors are mapped once, by
        `error_response`, as Starlette exception handlers."""
        return [
            Route("/ui", lambda _request: RedirectResponse("/ui/", status_code=307)),
            Route("/ui/", self.page),
            Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
            Mount("/api/ui", app=ExceptionMiddleware(Router(self.api_routes()),
                                                     handlers={Exception: error_response})),
        ]

    def api_routes(self) -> list[BaseRoute]:
        """The JSON API under /api/ui."""
        return [
            Route("/state", self.state),
            Route("/events", self.events),
            Route("/albums", self.albums),
            Route("/albums", self.create_album, methods=["POST"]),
            Route("/albums/add", self.add_to_album, methods=["POST"]),
            Route("/albums/remove", self.remove_from_album, methods=["POST"]),
            Route("/locations", self.locations),
            Route("/studies", self.studies),
            Route("/studies/{study_pk:int}/series", self.study_series),
            Route("/series/{series_pk:int}", self.series_info),
            Route("/image/{series_pk:int}/{index:int}", self.image),
            Route("/thumbnail/{series_pk:int}", self.thumbnail),
            Route("/jobs", self.jobs),
            Route("/open", self.open, methods=["POST"]),
            Route("/viewers/close-all", self.close_all, methods=["POST"]),
            Route("/viewers/{viewer_id:int}", self.update_viewer, methods=["POST"]),
            Route("/viewers/{viewer_id:int}/close", self.close_viewer, methods=["POST"]),
            Route("/viewers/{viewer_id:int}/focus", self.focus_viewer, methods=["POST"]),
            Route("/viewers/{viewer_id:int}/series", self.show_series, methods=["POST"]),
            Route("/tiling", self.tiling, methods=["POST"]),
            Route("/select", self.select, methods=["POST"]),
            Route("/db-window", self.db_window, methods=["POST"]),
            Route("/delete", self.delete, methods=["POST"]),
            Route("/send", self.send, methods=["POST"]),
            Route("/query", self.query, methods=["POST"]),
            Route("/retrieve", self.retrieve, methods=["POST"]),
            Route("/upload/{batch}", self.upload, methods=["POST", "PUT"]),
            Route("/import/{batch}", self.import_batch, methods=["POST"]),
            Route("/measurements/{series_pk:int}", self.measurements),
            Route("/measurements", self.add_measurement, methods=["POST"]),
            Route("/measurements/delete", self.delete_measurements, methods=["POST"]),
            Route("/tags/{series_pk:int}/{index:int}", self.tags),
        ]

    @property
    def database(self):
        return self.workstation.database

    def _public(self, message: str) -> str:
        """A render error without the data folder's absolute path (the browser needs the reason only)."""
        return message.replace(str(self.database.files_dir) + "/", "")

    # -- page and state -----------------------------------------------------------------------------

    async def page(self, _request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers=NO_STORE)

    async def state(self, request: Request) -> Response:
        return _ok(await run_in_threadpool(self._state, dict(request.query_params)))

    def _state(self, params: dict) -> dict:
        snapshot = self.workstation.workspace.snapshot()
        studies = self._study_list(params, snapshot["db_window"])
        series = {v["series"]["series_pk"] for v in snapshot["viewers"]}
        return {"workspace": snapshot, "studies": studies,
                "series": {pk: info for pk in series if (info := self._series_info(pk)) is not None},
                "jobs": [job.as_dict() for job in self.workstation.jobs.recent(20)]}

    async def events(self, _request: Request) -> Response:
        return StreamingResponse(self.hub.stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # -- database window ----------------------------------------------------------------------------

    def album_condition(self, name: str | None):
        """Which studies an album holds, as a condition on Study (None: the whole database)."""
        if not name or name == schema.ALL_STUDIES:
            return None
        album = queries.album_by_name(self.database, name)
        if album is None:
            raise NotFound(f"no album named {name!r}")
        return _album_condition(album)

    async def albums(self, _request: Request) -> Response:
        return _ok(await run_in_threadpool(self._albums))

    def _albums(self) -> dict:
        albums = [{"name": schema.ALL_STUDIES, "smart": False, "count": queries.count_studies(self.database)}]
        for album in queries.albums(self.database):
            entry = {"name": album["name"], "smart": bool(album["smart_album"]), "count": None}
            try:
                entry["count"] = queries.count_studies(self.database, _album_condition(album))
            except ViewboxError as exc:  # a smart album whose predicate does not compile
                entry["error"] = exc.message
            albums.append(entry)
        return {"albums": albums, "selected": self.workstation.workspace.db_window.album}

    async def studies(self, request: Request) -> Response:
        params = dict(request.query_params)
        db_window = vars(self.workstation.workspace.db_window)  # frozen: no snapshot of all viewers needed
        return _ok(await run_in_threadpool(self._study_list, params, db_window))

    def _study_list(self, params: dict, db_window: dict) -> dict:
        album = params.get("album") or db_window["album"]
        conditions = (self.album_condition(album), queries.patient_filter_condition(
            db_window["filter_field"], db_window["filter_value"]))
        sort = params.get("sort") or "date"
        if sort not in queries.STUDY_LIST_SORTS:
            raise BadRequest(f"cannot sort by {sort!r} (one of {', '.join(queries.STUDY_LIST_SORTS)})")
        offset = _int(params.get("offset"), "offset", 0)
        limit = min(max(_int(params.get("limit"), "limit", PAGE_SIZE), 1), PAGE_SIZE)
        total, rows = queries.study_page(
            self.database, conditions, search=params.get("q"),
            sort=sort, descending=params.get("order", "desc") != "asc", offset=offset, limit=limit)
        return {"total": total, "offset": offset, "album": album, "sort": sort,
                "order": "asc" if params.get("order") == "asc" else "desc",
                "rows": [study_row(row) for row in rows]}

    async def study_series(self, request: Request) -> Response:
        return _ok(await run_in_threadpool(self._study_series, request.path_params["study_pk"]))

    def _study_series(self, study_pk: int) -> dict:
        study = queries.study_by_pk(self.database, study_pk)
        if study is None:
            raise NotFound(f"no study with pk {study_pk}")
        rows = queries.series_of_study(self.database, study_pk)
        frames = queries.series_frame_counts(self.database, [row["pk"] for row in rows])
        return {"study": study_row(study), "series": [series_row(row, frames[row["pk"]]) for row in rows]}

    def _series_info(self, series_pk: int) -> dict | None:
        """A series with its study: what a viewer's overlay and series strip need."""
        series = queries.series_by_pk(self.database, series_pk)
        if series is None:
            return None
        study = queries.study_by_pk(self.database, series["study_pk"])
        frames = queries.series_frame_counts(self.database, [series_pk])[series_pk]
        return {**series_row(series, frames), "study": study_row(study) if study else None}

    async def series_info(self, request: Request) -> Response:
        series_pk = request.path_params["series_pk"]
        info = await run_in_threadpool(self._series_info, series_pk)
        if info is None:
            raise NotFound(f"no series with pk {series_pk}")
        return _ok(info)

    # -- pixels -------------------------------------------------------------------------------------

    async def image(self, request: Request) -> Response:
        params = request.query_params
        fmt = params.get("format", "png")
        if fmt not in ("png", "jpeg"):
            raise BadRequest("format must be png or jpeg")
        try:
            frame = await run_in_threadpool(
                self.frames.render, request.path_params["series_pk"], request.path_params["index"],
                window_center=_float(params.get("wc"), "wc"), window_width=_float(params.get("ww"), "ww"),
                invert=_flag(params.get("invert", "")), fmt=fmt)
        except RenderError as exc:  # shown by the viewer as a placeholder with this reason
            raise RenderError(self._public(exc.message)) from exc
        headers = {
            **NO_STORE, "X-Window-Center": f"{frame.window_center:g}", "X-Window-Width": f"{frame.window_width:g}",
            "X-Range-Center": f"{frame.range_center:g}", "X-Range-Width": f"{frame.range_width:g}",
            "X-Frame-Count": str(frame.count), "X-Rows": str(frame.rows), "X-Columns": str(frame.columns),
            # [[center, width, explanation], …] as URL-encoded JSON (explanations need not be Latin-1)
            "X-File-Windows": quote(json.dumps([list(window) for window in frame.file_windows])),
            "Access-Control-Expose-Headers": "*",
        }
        return Response(frame.body, media_type=frame.media_type, headers=headers)

    async def thumbnail(self, request: Request) -> Response:
        series_pk = request.path_params["series_pk"]
        try:
            data = await run_in_threadpool(self.frames.thumbnail, series_pk)
        except RenderError as exc:
            return Response(placeholder_svg("cannot display"), media_type="image/svg+xml",
                            headers={**NO_STORE, "X-Render-Error": _header_text(self._public(exc.message))})
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})

    # -- viewers ------------------------------------------------------------------------------------

    async def open(self, request: Request) -> Response:
        body = await _json_body(request)
        opened = await run_in_threadpool(self._open, body)
        return _ok({"error": "0", "viewers": [viewer.as_dict() for viewer in opened]})

    def _open(self, body: dict) -> list:
        """Double-click or Open: one study (its first image series), several studies tiled, or series."""
        if body.get("series_pks"):
            rows = [row for pk in body["series_pks"] if (row := queries.series_by_pk(self.database, _int(pk, "series_pks")))]
            if not rows:
                raise NotFound("none of those series exists")
            return viewing.open_series(self.workstation, rows, close_others=body.get("close_others", True),
                                       rows=body.get("rows"), columns=body.get("columns"))
        pks = body.get("study_pks") or ([body["study_pk"]] if body.get("study_pk") is not None else [])
        studies = self._studies([_int(pk, "study_pk") for pk in pks])
        if len(studies) == 1:
            return viewing.open_study(self.workstation, studies[0], close_others=body.get("close_others"))
        return viewing.open_studies_tiled(self.workstation, studies, rows=body.get("rows"),
                                          columns=body.get("columns"))

    async def update_viewer(self, request: Request) -> Response:
        body = await _json_body(request)
        changes: dict[str, int | float | bool | None] = {}
        for key in ("image_index",):
            if key in body:
                changes[key] = _int(body[key], key)
        for key in ("window_center", "window_width", "zoom", "pan_x", "pan_y"):
            if key in body:
                changes[key] = _float(body[key], key)
        if "invert" in body:
            changes["invert"] = bool(body["invert"])
        zoom, window_width = changes.get("zoom"), changes.get("window_width")
        if zoom is not None and not 0.01 <= zoom <= 100:
            raise BadRequest("zoom must be between 0.01 and 100")
        if window_width is not None and window_width <= 0:
            raise BadRequest("window_width must be positive")
        workspace = self.workstation.workspace
        viewer = workspace.update_viewer(request.path_params["viewer_id"], **changes)
        if viewer is None:
            raise NotFound(f"no viewer {request.path_params['viewer_id']}")
        # the version that includes this change: the tab ignores older live events after it
        return _ok({"error": "0", "viewer": viewer.as_dict(), "version": workspace.version})

    async def close_viewer(self, request: Request) -> Response:
        viewer_id = request.path_params["viewer_id"]
        closed = self.workstation.workspace.close(lambda viewer: viewer.id == viewer_id)
        return _ok({"error": "0", "closed": closed})

    async def close_all(self, _request: Request) -> Response:
        return _ok({"error": "0", "closed": self.workstation.workspace.close_all()})

    async def focus_viewer(self, request: Request) -> Response:
        if not self.workstation.workspace.focus(request.path_params["viewer_id"]):
            raise NotFound(f"no viewer {request.path_params['viewer_id']}")
        return _ok()

    async def show_series(self, request: Request) -> Response:
        body = await _json_body(request)
        series = await run_in_threadpool(queries.series_by_pk, self.database, _int(body.get("series_pk"), "series_pk"))
        if series is None:
            raise NotFound("no such series")
        viewer = await run_in_threadpool(viewing.show_series, self.workstation, request.path_params["viewer_id"], series)
        if viewer is None:
            raise NotFound(f"no viewer {request.path_params['viewer_id']}")
        return _ok({"error": "0", "viewer": viewer.as_dict()})

    async def tiling(self, request: Request) -> Response:
        body = await _json_body(request)
        rows, columns = _int(body.get("rows"), "rows"), _int(body.get("columns"), "columns")
        if not (1 <= rows <= 4 and 1 <= columns <= 4):
            raise BadRequest("rows and columns must be between 1 and 4")
        await run_in_threadpool(lambda: viewing.tile(self.workstation, rows, columns,
                                                     fill=bool(body.get("fill", True))))
        return _ok()

    # -- selection, album, filter, deletion --------------------------------------------------------

    async def select(self, request: Request) -> Response:
        body = await _json_body(request)
        study_uids = [str(uid) for uid in body.get("study_uids") or []]
        series_uids = [str(uid) for uid in body.get("series_uids") or []]
        workspace = self.workstation.workspace
        workspace.select(study_uids=study_uids, series_uids=series_uids)
        return _ok({"error": "0", "version": workspace.version})  # as update_viewer: see app.js

    async def db_window(self, request: Request) -> Response:
        body = await _json_body(request)
        changes: dict[str, str | None] = {}
        if "album" in body:
            album = str(body["album"] or schema.ALL_STUDIES)
            await run_in_threadpool(self.album_condition, album)  # unknown album → 404
            changes["album"] = album
        if "filter_field" in body or "filter_value" in body:
            field = body.get("filter_field") or None
            if field not in (None, "PatientName", "PatientID"):
                raise BadRequest("filter_field must be PatientName or PatientID")
            changes["filter_field"] = field
            changes["filter_value"] = (body.get("filter_value") or None) if field else None
        if changes:
            self.workstation.workspace.update_db_window(**changes)
        return _ok()

    def _studies(self, pks: list[int]) -> list[dict]:
        """The studies among `pks` (a row deleted meanwhile is skipped); NotFound if none is left."""
        studies = [study for pk in pks if (study := queries.study_by_pk(self.database, pk))]
        if not studies:
            raise NotFound("none of those studies exists")
        return studies

    def _allow(self, request: Request, permission: str) -> None:
        """The UI's destructive actions follow the control API's rule (docs/configuration.md): from this
        computer, or from others when `remote_methods` (or the user's `user_methods`) lists it."""
        peer = request.client.host if request.client else ""
        require_allowed(self.workstation.settings, permission, local=is_loopback(peer), where=peer,
                        user=request.scope.get("viewbox.user"))

    async def delete(self, request: Request) -> Response:
        self._allow(request, "DBWindowFind:Delete")
        pks = _study_pks(await _json_body(request))
        deleted = await run_in_threadpool(self._delete, pks)
        return _ok({"error": "0", "deleted": deleted})

    def _delete(self, pks: list[int]) -> int:
        return viewing.delete_studies(self.workstation, self._studies(pks))

    # -- measurements and the tag browser -------------------------------------------------------------

    async def measurements(self, request: Request) -> Response:
        """The measurements of a series' study; `position` is the viewer position of those drawn on
        this series (None for other series of the study)."""
        return _ok(await run_in_threadpool(self._measurements, request.path_params["series_pk"]))

    def _measurements(self, series_pk: int) -> dict:
        images = self.frames.images(series_pk)
        starts, position = {}, 0
        for image in images:
            starts[image["sop_instance_uid"]] = position
            position += image.get("number_of_frames") or 1
        series = queries.series_by_pk(self.database, series_pk)
        study = queries.study_by_pk(self.database, series["study_pk"]) if series else None
        if study is None:
            raise NotFound(f"no series with pk {series_pk}")
        listed = self.workstation.measurements.of_study(study["study_instance_uid"])
        for item in listed:
            start = starts.get(item["sopInstanceUID"])
            item["position"] = None if start is None else start + item["frame"]
        return {"study_uid": study["study_instance_uid"], "measurements": listed}

    async def add_measurement(self, request: Request) -> Response:
        """A shape drawn in a viewer: {series_pk, index (viewer position), type, points, label}."""
        body = await _json_body(request)
        series_pk, index = _int(body.get("series_pk"), "series_pk"), _int(body.get("index"), "index")
        kind = str(body.get("type") or "").lower()
        label = str(body.get("label") or "")

        def add() -> dict:
            _path, image, frame, _count = self.frames.locate(series_pk, index)
            return self.workstation.measurements.add(image["sop_instance_uid"], frame, kind,
                                                     parse_points(body.get("points")), label=label,
                                                     source="viewer")

        return _ok({"error": "0", "measurement": await run_in_threadpool(add)})

    async def delete_measurements(self, request: Request) -> Response:
        uids = (await _json_body(request)).get("uids")
        if not isinstance(uids, list) or not all(isinstance(uid, str) for uid in uids):
            raise BadRequest("uids must be a list of measurement UIDs")
        deleted = await run_in_threadpool(self.workstation.measurements.delete, uids)
        return _ok({"error": "0", "deleted": deleted})

    async def tags(self, request: Request) -> Response:
        """Every element of the image at a viewer position, for the tag browser."""
        def read() -> dict:
            path, image, frame, _count = self.frames.locate(request.path_params["series_pk"],
                                                            request.path_params["index"])
            return {"sop_instance_uid": image["sop_instance_uid"], "frame": frame, "elements": tag_tree(path)}

        return _ok(await run_in_threadpool(read))

    # -- albums and sending ------------------------------------------------------------------------

    async def create_album(self, request: Request) -> Response:
        body = await _json_body(request)
        name = body.get("name")
        if not isinstance(name, str):
            raise BadRequest("name must be a string")
        created = await run_in_threadpool(self.workstation.library.albums.create, name)
        self.hub.publish("library", {"kind": "albums", "album": created})
        return _ok({"error": "0", "name": created})

    async def add_to_album(self, request: Request) -> Response:
        return await self._change_album(request, self.workstation.library.albums.add, "added")

    async def remove_from_album(self, request: Request) -> Response:
        return await self._change_album(request, self.workstation.library.albums.remove, "removed")

    async def _change_album(self, request: Request, change: Callable[[str, list[int]], int], counted: str) -> Response:
        """Add or remove studies through the Library, then tell every tab (album counts, lists)."""
        body = await _json_body(request)
        album, pks = _text(body, "album"), _study_pks(body)
        count = await run_in_threadpool(lambda: change(album, [study["pk"] for study in self._studies(pks)]))
        self.hub.publish("library", {"kind": "albums", "album": album})
        return _ok({"error": "0", counted: count})

    async def locations(self, _request: Request) -> Response:
        return _ok([{"name": loc.name, "ae_title": loc.ae_title, "host": loc.host, "port": loc.port}
                    for loc in self.workstation.settings.locations])

    async def send(self, request: Request) -> Response:
        self._allow(request, "SendStudy")
        body = await _json_body(request)
        location, pks = _text(body, "location"), _study_pks(body)
        jobs = await run_in_threadpool(self._send, location, pks)
        return _ok({"error": "0", "jobs": [job.as_dict() for job in jobs]})

    def _send(self, location: str, pks: list[int]) -> list:
        """One SendStudy job per study; an unknown Location is refused before any job starts."""
        # lazily, as the control API does: the page works whatever state the DICOM layer is in
        from ..dicom import retrieve

        retrieve.location_named(self.workstation, location)
        return [retrieve.start_send(self.workstation, location, study["study_instance_uid"])
                for study in self._studies(pks)]

    # -- query and retrieve ------------------------------------------------------------------------

    async def query(self, request: Request) -> Response:
        """Ask a Location for studies (C-FIND or QIDO-RS, in a worker thread with the DICOM layer's
        timeouts, so an unreachable Location answers within seconds and never blocks the page)."""
        body = await _json_body(request)
        location, filters = _text(body, "location"), _query_filters(body.get("filters") or {})
        return _ok(await run_in_threadpool(self._query, location, filters))

    def _query(self, location_name: str, filters: dict[str, str]) -> dict:
        from ..dicom import retrieve  # lazily, as for sending

        location = retrieve.location_named(self.workstation, location_name)
        found = retrieve.study_fields(retrieve.query_location(
            self.workstation, location, filters, retrieve.resolve_mode(location, None)))
        found.sort(key=lambda fields: (fields["StudyDate"], fields["StudyTime"]), reverse=True)
        local = dicom_query.study_instance_counts(self.database, [fields["StudyInstanceUID"] for fields in found])
        return {"location": location.name, "query": filters, "total": len(found),
                "studies": [remote_study_row(fields, local.get(fields["StudyInstanceUID"]))
                            for fields in found[:QUERY_ROWS]]}

    async def retrieve(self, request: Request) -> Response:
        """One retrieve job per study; it writes to the database, so it follows the remote rule."""
        self._allow(request, "Retrieve")
        body = await _json_body(request)
        location, uids = _text(body, "location"), body.get("study_uids")
        if not isinstance(uids, list) or not uids or not all(isinstance(uid, str) and uid for uid in uids):
            raise BadRequest("study_uids must be a non-empty list of Study Instance UIDs")
        then = body.get("then")
        if then not in (None, "open"):
            raise BadRequest("then must be \"open\" or null")
        from ..dicom import retrieve

        jobs = await run_in_threadpool(retrieve.start_study_retrieves, self.workstation, location, uids, then)
        return _ok({"error": "0", "jobs": [job.as_dict() for job in jobs]})

    # -- import ------------------------------------------------------------------------------------

    def _batch_dir(self, batch: str) -> Path:
        if not _BATCH_ID.match(batch):
            raise BadRequest("batch must be 8 to 32 lowercase hex digits")
        return self.database.temp_dir / f"upload-{batch}"

    async def upload(self, request: Request) -> Response:
        """One dropped file (raw body, name in ?name=): staged in TEMP until its batch is imported."""
        folder = self._batch_dir(request.path_params["batch"])
        name = Path(request.query_params.get("name") or "upload.dcm").name
        name = re.sub(r"[^\w.\- ]", "_", name).strip(". ") or "upload.dcm"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{secrets.token_hex(4)}-{name}"
        limit = self.workstation.settings.download_max_bytes
        size = 0
        try:
            with open(target, "wb") as handle:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(f"{name} is larger than {limit} bytes")
                    handle.write(chunk)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return _ok({"error": "0", "name": name, "bytes": size})

    async def import_batch(self, request: Request) -> Response:
        folder = self._batch_dir(request.path_params["batch"])
        if not folder.is_dir():
            raise NotFound("nothing was uploaded in that batch")
        count, work = staged_import_job(folder, self.workstation.import_paths)
        job = self.workstation.jobs.submit("import", f"Import of {count} dropped file(s)", work)
        return _ok({"error": "0", "job": job.as_dict()})

    async def jobs(self, _request: Request) -> Response:
        return _ok({"jobs": [job.as_dict() for job in self.workstation.jobs.recent(50)]})


def _header_text(message: str) -> str:
    """A message fit for an HTTP header: ASCII, one line, no surrounding spaces."""
    return " ".join(message.encode("ascii", "replace").decode().split())[:300].strip()
