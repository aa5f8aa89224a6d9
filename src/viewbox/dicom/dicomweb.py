"""DICOMweb client for Locations whose retrieve mode is DICOMweb: QIDO-RS to find, WADO-RS to fetch.

Instances are fetched one at a time (bounded memory, real progress) and stored byte-for-byte
through the same path as C-STORE.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import quote

import httpx
from pydicom.dataset import Dataset

from ..config import Location
from ..errors import ImportFailure, RemoteFailure
from ..station import Station
from .receiving import store_part10
from .scu import STUDY_RETURN_KEYS

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(60.0, connect=3.0)
_DICOM_PARTS = 'multipart/related; type="application/dicom"'


def _base(location: Location) -> str:
    if not location.dicomweb_url:
        raise RemoteFailure(f"{location.name} has no DICOMweb base URL (dicomweb_url)")
    return location.dicomweb_url.rstrip("/")


def _get(client: httpx.Client, url: str, location: Location, **kwargs) -> httpx.Response:
    try:
        reply = client.get(url, **kwargs)
    except httpx.HTTPError as exc:
        raise RemoteFailure(f"{location.name}: {type(exc).__name__}: {exc}") from exc
    if reply.status_code >= 400:
        raise RemoteFailure(f"{location.name} answered HTTP {reply.status_code} for {url}")
    return reply


def _datasets(reply: httpx.Response) -> list[Dataset]:
    if reply.status_code == 204 or not reply.content.strip():
        return []
    return [Dataset.from_json(item) for item in reply.json()]


def find_studies(location: Location, filters: dict[str, str]) -> list[Dataset]:
    """QIDO-RS /studies with the filters as query parameters (keywords; `*`/`?` and ranges kept)."""
    params = [(keyword, value) for keyword, value in filters.items()]
    params += [("includefield", keyword) for keyword in STUDY_RETURN_KEYS]
    with httpx.Client(timeout=TIMEOUT) as client:
        reply = _get(client, f"{_base(location)}/studies", location, params=params,
                     headers={"Accept": "application/dicom+json"})
    return [ds for ds in _datasets(reply) if ds.get("StudyInstanceUID")]


def split_multipart(body: bytes, content_type: str) -> list[bytes]:
    """The parts of a multipart/related body (RFC 2046), headers stripped."""
    boundary = None
    for parameter in content_type.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        raise RemoteFailure(f"multipart reply without a boundary: {content_type}")
    # A delimiter is CRLF "--" boundary; the first one may open the body without its CRLF.
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    parts = []
    for chunk in (b"\r\n" + body).split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        _line, _, rest = chunk.partition(b"\r\n")  # transport padding after the boundary
        if rest.startswith(b"\r\n"):  # a part without headers
            parts.append(rest[2:])
            continue
        _head, separator, content = rest.partition(b"\r\n\r\n")
        if separator:
            parts.append(content)
    return parts


def retrieve_study(workstation: Station, location: Location, study_uid: str,
                   progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """WADO-RS every instance of a study; returns (stored, failed)."""
    base = _base(location)
    stored = failed = 0
    with httpx.Client(timeout=TIMEOUT) as client:
        listing = _datasets(_get(client, f"{base}/studies/{quote(study_uid)}/instances", location,
                                 headers={"Accept": "application/dicom+json"}))
        for item in listing:
            url = (f"{base}/studies/{quote(study_uid)}/series/{quote(str(item.SeriesInstanceUID))}"
                   f"/instances/{quote(str(item.SOPInstanceUID))}")
            reply = _get(client, url, location, headers={"Accept": f"{_DICOM_PARTS}; transfer-syntax=*"})
            for part in split_multipart(reply.content, reply.headers.get("content-type", "")):
                try:
                    store_part10(workstation, part)
                    stored += 1
                except ImportFailure as exc:
                    failed += 1
                    log.warning("%s sent an unusable object: %s", location.name, exc.message)
            if progress:
                progress(stored, failed)
    return stored, failed
