"""DownloadURL: fetch a DICOM file or a zip over http(s) as a job, import it, optionally open it.

Limits (settings.download_max_bytes, download_timeout) bound what a URL can cost; the body goes
to the active database's TEMP folder and through the Importer, whose zip unpacking refuses path
escapes, links, and entry/size bombs. Nothing is written outside the data folder.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from .. import viewing
from ..errors import BadRequest, ImportFailure, RemoteFailure
from ..library import queries
from ..library.instance import NotDicom, read_instance
from ..plugins.hooks import hookimpl
from .registry import Call, Registry

log = logging.getLogger(__name__)


def check_url(url: str) -> str:
    """Only absolute http/https URLs with a host (no file:, ftp:, data: …)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise BadRequest(f"URL must be an absolute http or https URL, not {url!r}")
    return url


def download(url: str, folder: Path, max_bytes: int, timeout: float, job=None) -> Path:
    """Stream `url` into a new file in `folder`, refusing bodies over `max_bytes`."""
    deadline = time.monotonic() + timeout
    handle, name = tempfile.mkstemp(dir=folder, prefix="download-", suffix=".part")
    path = Path(name)
    try:
        with open(handle, "wb") as out, httpx.stream("GET", url, timeout=timeout,
                                                      follow_redirects=True) as response:
            if response.status_code >= 300:
                raise RemoteFailure(f"download failed: HTTP {response.status_code} from {url}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise RemoteFailure(f"download refused: {declared} bytes (limit {max_bytes})")
            total = int(declared) if declared and declared.isdigit() else None
            received = 0
            for chunk in response.iter_bytes(1024 * 1024):
                received += len(chunk)
                if received > max_bytes:
                    raise RemoteFailure(f"download refused: more than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise RemoteFailure(f"download took longer than {timeout:g} s")
                out.write(chunk)
                if job is not None:
                    job.progress(done=received, total=total, message="downloading")
        return path
    except httpx.HTTPError as exc:
        path.unlink(missing_ok=True)
        raise RemoteFailure(f"download failed: {type(exc).__name__}: {exc}") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _study_uid_of(path: Path, url: str) -> str | None:
    """The study a download is about: WADO's studyUID in the URL, else the file's own."""
    query = parse_qs(urlsplit(url).query)
    if query.get("studyUID"):
        return query["studyUID"][0]
    try:
        return read_instance(path).study_instance_uid
    except (NotDicom, ImportFailure, OSError, Exception):  # noqa: BLE001 - zips and junk
        return None


def download_url(call: Call) -> dict:
    """Download a DICOM file or zip over http(s) and import it (job); Display opens it after."""
    ws, params = call.workstation, call.params
    url = check_url(params.require("URL"))
    display = params.boolean("Display")
    settings = ws.settings

    def work(job) -> dict:
        database = ws.database
        path = download(url, database.temp_dir, settings.download_max_bytes,
                        settings.download_timeout, job)
        try:
            study_uid = _study_uid_of(path, url)
            job.progress(message="importing")
            report = ws.import_paths([path])
        finally:
            path.unlink(missing_ok=True)
        if not report.imported and not report.already_present:
            reasons = "; ".join(error["reason"] for error in report.errors[:3]) or "no DICOM file in it"
            raise ImportFailure(f"nothing imported from {url}: {reasons}")
        study_uids = report.study_uids or ([study_uid] if study_uid else [])
        job.progress(done=report.imported, total=report.imported + report.already_present,
                     message="imported")
        opened = ""
        if display and study_uids:  # before the job reads "done", so GetJob never runs ahead
            studies = queries.studies_by_uid(ws.database, study_uids[:1])
            if studies and viewing.open_study(ws, studies[0]):
                opened = studies[0]["study_instance_uid"]
        return {"imported": report.imported, "already_present": report.already_present,
                "studies": "\\".join(study_uids), "opened": opened}

    job = ws.jobs.submit("download", f"DownloadURL {url}", work)
    return {"error": "0", "jobID": job.id}


@hookimpl(tryfirst=True)
def viewbox_register_methods(registry: Registry) -> None:
    """DownloadURL."""
    registry.add("DownloadURL", download_url, source="core", params=("URL", "Display"),
                 permission="DownloadURL")
