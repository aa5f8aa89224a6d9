"""Measurements as the workstation offers them: add one to an image (frame), list a study's, delete;
values computed on the server from the stored pixels, rows kept in the database, listeners told.

The wire form (control API, web UI) of one measurement:
`{uid, studyInstanceUID, seriesInstanceUID, sopInstanceUID, frame, type, label, points,
patientPoints, values, note, source, created}` — `points` in image pixels (column, row; (0, 0) the
top-left corner of the image), `patientPoints` in patient mm (None without position/orientation
or Pixel Spacing), `values` as {name: {value, unit}}.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import BadRequest, NotFound
from ..library import measurements as rows
from ..library import queries
from ..render import FrameCache
from . import geometry, statistics

if TYPE_CHECKING:
    from ..station import Station

log = logging.getLogger(__name__)

Listener = Callable[[str, str, list[dict]], None]  # (study UID, "added" | "deleted", measurements)


def new_uid() -> str:
    """A DICOM UID for a measurement (2.25 + a random UUID), reused as its SR tracking UID."""
    return f"2.25.{uuid.uuid4().int}"


def parse_points(value: Any) -> list[tuple[float, float]]:
    """Points from a list of pairs (JSON, XML-RPC arrays) or text "x,y;x,y" (GET query strings)."""
    if isinstance(value, str):
        try:
            value = [[float(v) for v in pair.split(",")] for pair in value.split(";") if pair.strip()]
        except ValueError:
            raise BadRequest("points must be 'x,y;x,y;…' or a list of [x, y] pairs") from None
    if not isinstance(value, list | tuple):
        raise BadRequest("points must be a list of [x, y] pairs")
    points = []
    for pair in value:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise BadRequest("every point is a pair [x, y] (column, row in image pixels)")
        try:
            x, y = float(pair[0]), float(pair[1])
        except (TypeError, ValueError):
            raise BadRequest("point coordinates must be numbers") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise BadRequest("point coordinates must be finite")
        points.append((x, y))
    return points


def wire(row: dict) -> dict:
    measured = row["measured"]
    return {"uid": row["uid"], "studyInstanceUID": row["study_instance_uid"],
            "seriesInstanceUID": row["series_instance_uid"], "sopInstanceUID": row["sop_instance_uid"],
            "frame": row["frame"], "type": row["kind"], "label": row["label"] or "",
            "points": row["points"], "patientPoints": measured.get("patient_points"),
            "values": measured.get("values", {}), "note": measured.get("note"),
            "source": row["source"], "created": row["created"].isoformat(timespec="seconds")}


class Measurements:
    """The measurement service of one workstation (whichever database is active)."""

    def __init__(self, workstation: Station, cache: FrameCache | None = None):
        self.workstation = workstation
        self.cache = cache or FrameCache(cache_bytes=128 * 2**20)
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        workstation.on_stored(self._restore_from_reports)

    def on_change(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def _tell(self, study_uid: str, kind: str, items: list[dict]) -> None:
        for listener in list(self._listeners):
            try:
                listener(study_uid, kind, items)
            except Exception:  # noqa: BLE001 - a failing listener must not undo the change
                log.exception("measurement listener %r failed", listener)

    def _study(self, study_uid: str) -> dict:
        found = queries.studies_by_uid(self.workstation.database, [study_uid])
        if not found:
            raise NotFound(f"no study with StudyInstanceUID {study_uid}")
        return found[0]

    def of_study(self, study_uid: str) -> list[dict]:
        study = self._study(study_uid)
        return [wire(row) for row in rows.of_study(self.workstation.database, study["pk"])]

    def compute(self, sop_instance_uid: str, frame: int, kind: str,
                points: list[tuple[float, float]]) -> tuple[dict, dict]:
        """(image row, measured) for a shape on an image: checks the input, reads the pixels."""
        if kind not in geometry.KINDS:
            raise BadRequest(f"unknown measurement type {kind!r} (one of {', '.join(geometry.KINDS)})")
        low, high = geometry.POINTS_NEEDED[kind]
        if not low <= len(points) <= high:
            wanted = str(low) if low == high else f"at least {low}"
            raise BadRequest(f"a {kind} needs {wanted} points, not {len(points)}")
        database = self.workstation.database
        image = rows.image_with_study(database, sop_instance_uid)
        if image is None:
            raise NotFound(f"no image with SOPInstanceUID {sop_instance_uid}")
        frames = image.get("number_of_frames") or 1
        if not 0 <= frame < frames:
            raise BadRequest(f"frame {frame} is outside the image (0 to {frames - 1})")
        source, decoded = self.cache.frame(database.files_dir / image["rel_path"], frame)
        values = statistics.measure(kind, points, source, decoded)
        measured: dict[str, Any] = {"values": values,
                                    "patient_points": geometry.patient_points(source.dataset, frame, points),
                                    "spacing": geometry.spacing_of(source.dataset, frame).source}
        note = values.pop("note", None)
        if note:
            measured["note"] = note
        return image, measured

    def add(self, sop_instance_uid: str, frame: int, kind: str, points: list[tuple[float, float]],
            label: str = "", source: str = "api", uid: str | None = None) -> dict:
        """Measure a shape on an image (frame) and keep it; every listener hears of it."""
        if kind == "text" and not label.strip():
            raise BadRequest("a text annotation needs a label")
        image, measured = self.compute(sop_instance_uid, frame, kind, points)
        row = {"uid": uid or new_uid(), "study_pk": image["study_pk"], "image_pk": image["pk"],
               "frame": frame, "kind": kind, "points": [list(p) for p in points],
               "label": label[:1024], "measured": measured, "source": source}
        added = [wire(r) for r in rows.add(self.workstation.database, [row])]
        self._tell(added[0]["studyInstanceUID"], "added", added)
        return added[0]

    def delete(self, uids: list[str]) -> int:
        gone = [wire(r) for r in rows.remove(self.workstation.database, uids)]
        for study_uid in sorted({m["studyInstanceUID"] for m in gone}):
            self._tell(study_uid, "deleted", [m for m in gone if m["studyInstanceUID"] == study_uid])
        return len(gone)

    # -- DICOM SR ------------------------------------------------------------------------------------

    def save_report(self, study_uid: str) -> dict:
        """The study's measurements as a TID 1500 SR, stored through the importer (the one write
        path) as a new series of the study, so that SendStudy carries it along."""
        from pydicom import dcmread
        from pydicom.uid import generate_uid

        from . import sr

        study = self._study(study_uid)
        database = self.workstation.database
        measured = rows.of_study(database, study["pk"])
        if not measured:
            raise BadRequest(f"study {study_uid} has no measurements to save")
        headers = {}
        for row in measured:
            if row["sop_instance_uid"] not in headers:
                header = dcmread(database.files_dir / row["rel_path"], stop_before_pixels=True)
                headers[row["sop_instance_uid"]] = sr.evidence_of(header)
        series_uid, sop_uid = generate_uid(), generate_uid()
        report = sr.build([wire(row) for row in measured], list(headers.values()), series_uid, sop_uid,
                          series_number=9000 + len(queries.series_of_study(database, study["pk"])))
        path = database.temp_dir / f"{sop_uid}.dcm"
        report.save_as(path, enforce_file_format=True)
        imported = self.workstation.import_paths([path], move=True)
        if imported.imported != 1:
            raise BadRequest(f"the report could not be stored: {imported.errors}")
        return {"sopInstanceUID": sop_uid, "seriesInstanceUID": series_uid, "measurements": len(measured)}

    def _restore_from_reports(self, study_uids: list[str]) -> None:
        """Measurements of TID 1500 SRs just stored in these studies (ours or another viewer's),
        those not present yet (by tracking UID), with values computed again from the pixels."""
        from pydicom import dcmread

        from . import sr

        database = self.workstation.database
        for report in rows.reports_of_studies(database, study_uids, sr.SR_CLASSES):
            try:
                found = sr.read(dcmread(database.files_dir / report["rel_path"]))
            except Exception:  # noqa: BLE001 - an SR that is not TID 1500 is just not shown
                log.info("SR %s holds no measurement report Viewbox can read", report["sop_instance_uid"])
                continue
            known = {m["uid"] for m in rows.of_uids(database, [f["uid"] for f in found if f["uid"]])}
            report_uid = report["sop_instance_uid"]
            for index, item in enumerate(found):
                # a group without a tracking UID gets one derived from its place: found once only
                uid = item["uid"] or f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, f'{report_uid}/{index}').int}"
                if uid in known:
                    continue
                try:
                    self.add(item["sop_instance_uid"], item["frame"], item["kind"], item["points"],
                             label=item["label"], source="sr", uid=uid)
                except (BadRequest, NotFound) as exc:
                    log.info("SR %s: measurement %s not shown: %s", report["sop_instance_uid"], uid, exc.message)
