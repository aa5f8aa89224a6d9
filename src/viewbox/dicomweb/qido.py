"""QIDO-RS (PS3.18 10.6): search for studies, series and instances.

The query parameters become the same identifier C-FIND uses, answered by the library's one
query layer (`dicom_query.find`, shared with the DICOM node); the rows become DICOM JSON here.
Attributes the database does not keep are read from a representative file's header, as C-FIND
does, only when a client asks for them by `includefield`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BadRequest
from ..library import dicom_query
from ..library.instance import StoredHeaders
from . import json_model
from .json_model import add, attribute, tag_key

# Return keys by level (PS3.18 table 10.6.3-3, 10.6.3-4, 10.6.3-5), besides the matching keys.
DEFAULT_KEYS = {
    "STUDY": ("StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy", "ReferringPhysicianName",
              "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID",
              "StudyDescription", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"),
    "SERIES": ("StudyInstanceUID", "Modality", "SeriesDescription", "SeriesInstanceUID", "SeriesNumber",
               "SeriesDate", "SeriesTime", "NumberOfSeriesRelatedInstances"),
    "IMAGE": ("StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "SOPInstanceUID", "InstanceNumber",
              "Rows", "Columns", "NumberOfFrames"),
}
CONTROL_PARAMETERS = {"includefield", "limit", "offset", "fuzzymatching", "accept", "charset"}
_LEVEL_DEPTH = {level: depth for depth, level in enumerate(dicom_query.LEVELS)}


@dataclass
class Query:
    """A parsed QIDO-RS request: what to match, what to return, which page."""

    level: str
    filters: dict[str, str] = field(default_factory=dict)
    include: list[str] = field(default_factory=list)  # keywords or tags beyond the defaults
    include_all: bool = False
    limit: int | None = None
    offset: int = 0
    fuzzy: bool = False
    unsupported: list[str] = field(default_factory=list)  # matching keys ignored (Warning header)
    impossible: bool = False  # a matching key contradicts the path's UIDs


def _number(name: str, text: str) -> int:
    if not text.strip().isdigit():
        raise BadRequest(f"{name} must be a non-negative integer, not {text!r}")
    return int(text)


def _check_value(keyword: str, value: str) -> None:
    """A date or time range that cannot be read is a bad request, not a silent universal match."""
    kind = dicom_query.KEYS[keyword].kind
    if not value.strip() or value.strip("*") == "":
        return
    if kind == "date":
        start, end = dicom_query.date_range(value)
        bounds = [part for part in value.split("-") if part.strip()]
        if (start is None and end is None) or len([b for b in bounds if dicom_query.parse_date(b)]) != len(bounds):
            raise BadRequest(f"{keyword}: {value!r} is not a date or date range (YYYYMMDD[-YYYYMMDD])")
    elif kind == "time":
        bounds = [part for part in value.split("-") if part.strip()]
        if any(dicom_query.parse_time(b) is None for b in bounds):
            raise BadRequest(f"{keyword}: {value!r} is not a time or time range (HHMMSS[-HHMMSS])")


def parse_query(level: str, items: list[tuple[str, str]], fixed: dict[str, str]) -> Query:
    """Query parameters (in order, repeats kept) → Query; BadRequest for what cannot be read.

    `fixed` are the UIDs of the path (`/studies/{study}/series` …)."""
    query = Query(level, dict(fixed))
    depth = _LEVEL_DEPTH[level]
    for name, value in items:
        lowered = name.lower()
        if lowered == "includefield":
            for part in value.split(","):
                part = part.strip()
                if part.lower() == "all":
                    query.include_all = True
                elif part:
                    attribute(part)  # BadRequest if it is not an attribute
                    query.include.append(part)
        elif lowered == "limit":
            query.limit = _number("limit", value)
        elif lowered == "offset":
            query.offset = _number("offset", value)
        elif lowered == "fuzzymatching":
            if value.lower() not in ("true", "false"):
                raise BadRequest(f"fuzzymatching must be true or false, not {value!r}")
            query.fuzzy = value.lower() == "true"
        elif lowered in CONTROL_PARAMETERS:
            continue
        else:
            _, keyword, _ = attribute(name)
            key = dicom_query.KEYS.get(keyword)
            if key is None or _LEVEL_DEPTH[key.level] > depth or key.kind == "count":
                query.unsupported.append(keyword)
                continue
            if key.kind == "uid":
                value = value.replace(",", "\\")
            _check_value(keyword, value)
            if keyword in fixed:  # the path names it already: a list must include it
                query.impossible |= bool(value) and fixed[keyword] not in value.split("\\")
                continue
            query.filters[keyword] = value
    return query


def _levels_up_to(level: str) -> tuple[str, ...]:
    return dicom_query.LEVELS[: _LEVEL_DEPTH[level] + 1]


def search(workstation, query: Query, base_url: str) -> list[dict]:
    """The JSON answer of a QIDO-RS query: one data set per match."""
    if query.impossible:
        return []
    database = workstation.database
    rows = dicom_query.find(database, query.level, query.filters, query.limit,
                            offset=query.offset, fuzzy=query.fuzzy)
    level = query.level
    levels = _levels_up_to(level)
    keywords = list(DEFAULT_KEYS[level])
    if query.include_all:
        keywords += [k for k, key in dicom_query.KEYS.items()
                     if key.level in levels and k != "NumberOfPatientRelatedStudies"]
    keywords += [k for k in query.filters if k in dicom_query.KEYS]
    from_headers = []
    for name in query.include:
        _, keyword, _ = attribute(name)
        key = dicom_query.KEYS.get(keyword)
        if key is not None and key.level in levels:
            keywords.append(keyword)
        elif key is None:
            from_headers.append(name)
    keywords = list(dict.fromkeys(keywords))
    study_of = (lambda row: row.get("pk")) if level == "STUDY" else (lambda row: row.get("study_pk"))
    modalities = (dicom_query.modalities_by_study(database, sorted({study_of(row) for row in rows}))
                  if "ModalitiesInStudy" in keywords else {})
    headers = StoredHeaders(database.files_dir)
    answers = []
    for row in rows:
        answer: dict = {}
        for keyword in keywords:
            if keyword == "ModalitiesInStudy":
                add(answer, keyword, modalities.get(study_of(row), []))
            else:
                add(answer, keyword, dicom_query.value_of(keyword, row, level))
        add(answer, "InstanceAvailability", "ONLINE")
        add(answer, "RetrieveURL", _retrieve_url(base_url, level, row))
        if from_headers:
            header = headers.get(row.get("rel_path"))
            for name in from_headers:
                tag, _, vr = attribute(name)
                if header is not None and tag in header:
                    answer[tag_key(tag)] = json_model.dataset_json(_only(header, tag))[tag_key(tag)]
                else:
                    answer[tag_key(tag)] = {"vr": vr}
        answers.append(json_model.sorted_dataset(answer))
    return answers


def _only(header, tag: int):
    """A data set holding one element of `header` (to encode it with pydicom's JSON encoder)."""
    from pydicom.dataset import Dataset

    dataset = Dataset()
    dataset.add(header[tag])
    return dataset


def _retrieve_url(base_url: str, level: str, row: dict) -> str:
    study = dicom_query.value_of("StudyInstanceUID", row, level)
    url = f"{base_url}/studies/{study}"
    if level in ("SERIES", "IMAGE"):
        url += f"/series/{dicom_query.value_of('SeriesInstanceUID', row, level)}"
    if level == "IMAGE":
        url += f"/instances/{row.get('sop_instance_uid')}"
    return url
