"""Retrieve, CMove and SendStudy (docs/dicom.md): query a Location now, transfer in a background job.

The C-FIND (or QIDO-RS) happens before the caller gets its answer, so an unknown server (-2), a
query that matches nothing (-3) and an unreachable peer (-1) are reported synchronously; the
transfer itself is a Job whose progress GetJob reports, and `then` runs when it ends.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from pydicom.datadict import keyword_dict
from pydicom.multival import MultiValue

from ..config import Location
from ..errors import BadRequest, NoMatch, NotFound, RemoteFailure, UnknownLocation
from ..jobs import Job
from ..library import dicom_query, queries
from ..station import Station
from ..viewing import open_study, select_studies
from . import dicomweb, scu

log = logging.getLogger(__name__)

# OsiriX/Horos filter names (docs/dicom.md, Retrieve) that are not DICOM keywords.
OSIRIX_FILTER_NAMES = {
    "patientsname": "PatientName",
    "referringphysiciansname": "ReferringPhysicianName",
    "performingphysiciansname": "PerformingPhysicianName",
    "patientsbirthdate": "PatientBirthDate",
    "patientssex": "PatientSex",
    "modalitiesinstudy": "ModalitiesInStudy",
    "comments": "StudyComments",
}
_KEYWORDS = {keyword.lower(): keyword for keyword in keyword_dict}
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
RETRIEVE_MODE_NAMES = {"1": "C-GET", "2": "DICOMweb"}


def dicom_keyword(name: str) -> str | None:
    """The DICOM keyword for a filterKey (DICOM keyword or OsiriX spelling, any case), or None."""
    lowered = name.strip().lower()
    return OSIRIX_FILTER_NAMES.get(lowered) or _KEYWORDS.get(lowered)


def normalise_filters(filters: list[tuple[str, str]]) -> dict[str, str]:
    """filterKey/filterValue pairs → DICOM keyword → value; unknown names are logged and ignored."""
    query: dict[str, str] = {}
    for name, value in filters:
        keyword = dicom_keyword(name or "")
        if keyword is None:
            log.warning("Retrieve: ignoring unknown filter key %r", name)
            continue
        value = "" if value is None else str(value).strip()
        match = _ISO_DATE.match(value)
        if match and keyword.endswith("Date"):
            value = "".join(match.groups())
        query[keyword] = value
    return query


@dataclass
class RemoteStudy:
    uid: str
    instances: int | None
    description: str


def _instance_count(ds) -> int | None:
    count = ds.get("NumberOfStudyRelatedInstances")
    try:
        return int(count) if count not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _remote_studies(matches) -> list[RemoteStudy]:
    studies = [RemoteStudy(str(ds.StudyInstanceUID), _instance_count(ds),
                           f"{ds.get('PatientName', '')} {ds.get('StudyDescription', '')}".strip())
               for ds in matches]
    return list({study.uid: study for study in studies}.values())


def study_fields(matches) -> list[dict]:
    """Study-level matches (C-FIND or QIDO-RS data sets) as plain dicts keyed by DICOM keyword:
    text values ('\\' between several), NumberOfStudyRelatedInstances an int or None; one per study."""
    rows: dict[str, dict] = {}
    for ds in matches:
        row: dict[str, str | int | None] = {}
        for keyword in scu.STUDY_RETURN_KEYS:
            value = ds.get(keyword)
            if value is None:
                row[keyword] = ""
            elif isinstance(value, (list, tuple, MultiValue)):
                row[keyword] = "\\".join(str(item) for item in value)
            else:
                row[keyword] = str(value)
        row["NumberOfStudyRelatedInstances"] = _instance_count(ds)
        rows.setdefault(str(row["StudyInstanceUID"]), row)
    return list(rows.values())


def location_named(workstation: Station, name: str) -> Location:
    location = workstation.settings.location(name or "")
    if location is None:
        raise UnknownLocation(f"no Location named {name!r}")
    return location


def resolve_mode(location: Location, retrieve_mode: str | None) -> str:
    """None = the Location's own mode; '1'/'2' are Retrieve's retrieveMode numbers."""
    if retrieve_mode in (None, ""):
        return location.retrieve_mode
    mode = RETRIEVE_MODE_NAMES.get(str(retrieve_mode), str(retrieve_mode))
    if mode not in ("C-MOVE", "C-GET", "DICOMweb"):
        return location.retrieve_mode
    return mode


def query_location(workstation: Station, location: Location, query: dict[str, str], mode: str):
    """Study-level matches at a Location (QIDO-RS for DICOMweb, else C-FIND)."""
    if mode == "DICOMweb":
        return dicomweb.find_studies(location, query)
    return scu.find_studies(workstation, location, query)


def _transfer(workstation: Station, location: Location, mode: str) -> Callable:
    if mode == "DICOMweb":
        return lambda uid, progress: dicomweb.retrieve_study(workstation, location, uid, progress)
    if mode == "C-GET":
        return lambda uid, progress: scu.get_study(workstation, location, uid, progress)
    return lambda uid, progress: scu.move_study(workstation, location, uid, progress)


def _run_transfer(workstation: Station, location: Location, mode: str, studies: list[RemoteStudy],
                  skipped: int) -> Callable[[Job], dict]:
    transfer = _transfer(workstation, location, mode)

    def work(job: Job) -> dict:
        total = sum(s.instances or 0 for s in studies) if all(s.instances is not None for s in studies) else None
        job.progress(done=0, total=total, failed=0)
        done_before = failed_before = 0
        for study in studies:
            def progress(completed: int, failed: int, base=(done_before, failed_before)) -> None:
                job.progress(done=base[0] + completed, failed=base[1] + failed)

            completed, failed = transfer(study.uid, progress)
            done_before += completed
            failed_before += failed
            job.progress(done=done_before, failed=failed_before)
        if failed_before and not done_before:
            raise RemoteFailure(f"{location.name}: all {failed_before} transfers failed")
        return {"studies": str(len(studies)), "skipped": str(skipped), "mode": mode,
                "server": location.name}
    return work


def _then(workstation: Station, then: str | None, study_uid: str) -> Callable[[Job], None] | None:
    action = (then or "").strip().lower()
    if action not in ("open", "display", "select"):
        return None

    def follow_up(job: Job) -> None:
        studies = queries.studies_by_uid(workstation.database, [study_uid])
        if not studies:
            log.warning("job %s: study %s is not in the database, nothing to %s", job.id, study_uid, action)
            return
        if action == "select":
            select_studies(workstation, studies[:1])
        else:
            open_study(workstation, studies[0])
    return follow_up


def start_retrieve(workstation: Station, server_name: str, filters: list[tuple[str, str]], then: str | None,
                   only_if_needed: bool, retrieve_mode: str | None) -> Job:
    """Retrieve: C-FIND now (UnknownLocation / NoMatch / RemoteFailure), transfer as a Job."""
    location = location_named(workstation, server_name)
    mode = resolve_mode(location, retrieve_mode)
    query = normalise_filters(filters)
    if not any(query.values()):
        raise BadRequest("Retrieve needs at least one filterKey/filterValue")
    studies = _remote_studies(query_location(workstation, location, query, mode))
    if not studies:
        raise NoMatch(f"no study at {location.name} matches {query}")
    first = studies[0].uid
    skipped = 0
    if only_if_needed:
        local = dicom_query.study_instance_counts(workstation.database, [s.uid for s in studies])
        needed = [s for s in studies
                  if s.uid not in local or s.instances is None or local[s.uid] < s.instances]
        skipped = len(studies) - len(needed)
        studies = needed
    description = f"Retrieve {len(studies)} stud{'y' if len(studies) == 1 else 'ies'} from {location.name} ({mode})"
    return workstation.jobs.submit("retrieve", description,
                                   _run_transfer(workstation, location, mode, studies, skipped),
                                   then=_then(workstation, then, first))


def start_study_retrieves(workstation: Station, server_name: str, study_uids: list[str], then: str | None) -> list[Job]:
    """The Query panel's Retrieve: one job per study UID, in the Location's own mode.

    Each study is asked for again first (its instance count is the job's total), so a study the
    Location no longer has is NoMatch before any job starts.
    """
    location = location_named(workstation, server_name)
    mode = location.retrieve_mode
    studies = []
    for uid in dict.fromkeys(study_uids):
        found = _remote_studies(query_location(workstation, location, {"StudyInstanceUID": uid}, mode))
        if not found:
            raise NoMatch(f"{location.name} has no study {uid}")
        studies.append(found[0])
    return [workstation.jobs.submit("retrieve", f"Retrieve {study.description or study.uid} from {location.name} ({mode})",
                                    _run_transfer(workstation, location, mode, [study], 0),
                                    then=_then(workstation, then, study.uid))
            for study in studies]


def start_cmove(workstation: Station, accession_number: str, server_name: str) -> Job:
    """CMove: C-FIND on the accession number, then C-MOVE every match (a Job)."""
    location = location_named(workstation, server_name)
    if not (accession_number or "").strip():
        raise BadRequest("CMove needs an accessionNumber")
    studies = _remote_studies(scu.find_studies(workstation, location,
                                               {"AccessionNumber": accession_number.strip()}))
    if not studies:
        raise NoMatch(f"no study at {location.name} has accession number {accession_number!r}")
    return workstation.jobs.submit("retrieve", f"CMove {accession_number} from {location.name}",
                                   _run_transfer(workstation, location, "C-MOVE", studies, 0))


def start_send(workstation: Station, location_name: str, study_uid: str) -> Job:
    """SendStudy / `viewbox send`: C-STORE a local study's files to a Location (a Job)."""
    location = location_named(workstation, location_name)
    studies = queries.studies_by_uid(workstation.database, [study_uid])
    if not studies:
        raise NotFound(f"no local study {study_uid}")
    images = queries.images_of_study(workstation.database, studies[0]["pk"])
    items = [(image["sop_class_uid"], image["transfer_syntax_uid"], workstation.database.files_dir / image["rel_path"])
             for image in images]

    def work(job: Job) -> dict:
        job.progress(done=0, total=len(items), failed=0)
        sent, _failed = scu.store_files(workstation, location, items,
                                       lambda done, bad: job.progress(done=done, failed=bad))
        return {"sent": str(sent), "server": location.name}

    return workstation.jobs.submit("send", f"Send {len(items)} images to {location.name}", work)
