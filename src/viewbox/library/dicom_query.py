"""DICOM query matching (C-FIND, C-MOVE, C-GET) over the local database.

The DICOM node receives identifiers as keyword → string; this module turns them into SQL over the
Study/Series/Image tables (wildcards `*`/`?`, UID lists, date/time ranges) and returns plain rows,
so pynetdicom stays in dicom/ and SQLAlchemy stays here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from ..db import schema
from ..db.database import Database

LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")


@dataclass(frozen=True)
class Key:
    """Where a DICOM attribute lives in the database and how it is matched and returned."""

    level: str
    column: str
    kind: str  # text | pn | uid | date | time | int | modalities | count


_study, _series, _image = schema.study.c, schema.series.c, schema.image.c

KEYS: dict[str, Key] = {
    "PatientName": Key("PATIENT", "patient_name", "pn"),
    "PatientID": Key("PATIENT", "patient_id", "text"),
    "PatientBirthDate": Key("PATIENT", "patient_birth_date", "date"),
    "PatientSex": Key("PATIENT", "patient_sex", "text"),
    "NumberOfPatientRelatedStudies": Key("PATIENT", "", "count"),
    "StudyInstanceUID": Key("STUDY", "study_instance_uid", "uid"),
    "StudyDate": Key("STUDY", "date", "date"),
    "StudyTime": Key("STUDY", "date", "time"),
    "StudyID": Key("STUDY", "study_id", "text"),
    "AccessionNumber": Key("STUDY", "accession_number", "text"),
    "StudyDescription": Key("STUDY", "study_description", "text"),
    "ReferringPhysicianName": Key("STUDY", "referring_physician_name", "pn"),
    "InstitutionName": Key("STUDY", "institution_name", "text"),
    "ModalitiesInStudy": Key("STUDY", "modality", "modalities"),
    "NumberOfStudyRelatedInstances": Key("STUDY", "number_of_images", "count"),
    "NumberOfStudyRelatedSeries": Key("STUDY", "", "count"),
    "SeriesInstanceUID": Key("SERIES", "series_instance_uid", "uid"),
    "Modality": Key("SERIES", "modality", "text"),
    "SeriesNumber": Key("SERIES", "series_number", "int"),
    "SeriesDescription": Key("SERIES", "series_description", "text"),
    "SeriesDate": Key("SERIES", "date", "date"),
    "SeriesTime": Key("SERIES", "date", "time"),
    "NumberOfSeriesRelatedInstances": Key("SERIES", "number_of_images", "count"),
    "SOPInstanceUID": Key("IMAGE", "sop_instance_uid", "uid"),
    "SOPClassUID": Key("IMAGE", "sop_class_uid", "uid"),
    "InstanceNumber": Key("IMAGE", "instance_number", "int"),
    "Rows": Key("IMAGE", "rows", "int"),
    "Columns": Key("IMAGE", "columns", "int"),
    "NumberOfFrames": Key("IMAGE", "number_of_frames", "int"),
}

_TABLES = {"PATIENT": schema.study, "STUDY": schema.study, "SERIES": schema.series, "IMAGE": schema.image}


def _column(key: Key):
    return _TABLES[key.level].c[key.column]


def _like_pattern(value: str) -> str:
    escaped = value.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return escaped.replace("*", "%").replace("?", "_")


def _text_condition(column, value: str, fold: bool) -> ColumnElement[bool]:
    if fold:
        column = column.table.c[f"{column.name}__c"]
        value = schema.fold(value, True, False)
    if "*" in value or "?" in value:
        if value.strip("*") == "":
            return column.is_not(None) | column.is_(None)
        return column.like(_like_pattern(value), escape="!")
    return column == value


def parse_date(text: str) -> datetime | None:
    text = text.strip().replace(".", "").replace("-", "")
    try:
        return datetime.strptime(text[:8], "%Y%m%d")
    except ValueError:
        return None


def date_range(value: str) -> tuple[datetime | None, datetime | None]:
    """A DICOM DA value or range ('A', 'A-B', 'A-', '-B') → [start, end) datetimes."""
    value = value.strip()
    if "-" in value:
        low, high = value.split("-", 1)
        start = parse_date(low) if low.strip() else None
        end = parse_date(high) if high.strip() else None
    else:
        start = end = parse_date(value)
    return start, (end + timedelta(days=1)) if end else None


def parse_time(text: str, upper: bool = False) -> time | None:
    digits = text.strip().replace(":", "").split(".")[0]
    if not digits.isdigit():
        return None
    hour = int(digits[0:2]) if len(digits) >= 2 else 0
    minute = int(digits[2:4]) if len(digits) >= 4 else (59 if upper else 0)
    second = int(digits[4:6]) if len(digits) >= 6 else (59 if upper else 0)
    try:
        return time(min(hour, 23), min(minute, 59), min(second, 59))
    except ValueError:
        return None


def time_range(value: str) -> tuple[time | None, time | None]:
    """A DICOM TM value or range → inclusive [start, end] times of day."""
    if "-" in value:
        low, high = value.split("-", 1)
        return (parse_time(low) if low.strip() else None,
                parse_time(high, upper=True) if high.strip() else None)
    return parse_time(value), parse_time(value, upper=True)


def _fuzzy_name_condition(column, value: str) -> ColumnElement[bool]:
    """Fuzzy person-name matching (QIDO-RS `fuzzymatching=true`): case and diacritics ignored,
    and a value without wildcards matches any name whose family, given or middle name starts
    with it ("smi" finds "Smith^John" and "Doe^Smilla")."""
    column = column.table.c[f"{column.name}__cd"]
    value = schema.fold(value, True, True)
    if "*" in value or "?" in value:
        return column.like(_like_pattern(value), escape="!")
    start = _like_pattern(value) + "%"
    return or_(column.like(start, escape="!"), column.like("%^" + start, escape="!"),
               column.like("% " + start, escape="!"))


def condition_for(keyword: str, value: str, fuzzy: bool = False) -> ColumnElement[bool] | None:
    """SQL condition for one identifier element; None for universal matching or unknown keys.
    `fuzzy` applies to person names (QIDO-RS fuzzymatching)."""
    key = KEYS.get(keyword)
    value = (value or "").strip()
    if key is None or not value or key.kind in ("count", "time"):
        return None
    if key.kind == "uid":
        uids = [uid.strip() for uid in value.split("\\") if uid.strip()]
        return _column(key).in_(uids) if len(uids) > 1 else _column(key) == uids[0]
    if key.kind in ("text", "pn"):
        values = [v for v in value.split("\\") if v] if key.kind == "text" else [value]
        if fuzzy and key.kind == "pn":
            return _fuzzy_name_condition(_column(key), value)
        parts = [_text_condition(_column(key), v, fold=key.kind == "pn") for v in values]
        return or_(*parts) if len(parts) > 1 else parts[0]
    if key.kind == "int":
        try:
            return _column(key) == int(value)
        except ValueError:
            return _column(key).is_(None) & _column(key).is_not(None)
    if key.kind == "date":
        start, end = date_range(value)
        parts = []
        if start is not None:
            parts.append(_column(key) >= start)
        if end is not None:
            parts.append(_column(key) < end)
        return and_(*parts) if parts else None
    if key.kind == "modalities":
        wanted = [m.strip() for m in value.split("\\") if m.strip()]
        return exists().where(_series.study_pk == _study.pk).where(
            or_(*[_text_condition(_series.modality, m, fold=False) for m in wanted]))
    return None


def time_matches(keyword: str, value: str, when: datetime | None) -> bool:
    """Time-of-day matching, done in Python because SQL back ends disagree on time extraction."""
    start, end = time_range(value)
    if start is None and end is None:
        return True
    if when is None:
        return False
    moment = when.time()
    return (start is None or moment >= start) and (end is None or moment <= end)


def find(database: Database, level: str, identifier: dict[str, str], limit: int | None = None,
         *, offset: int = 0, fuzzy: bool = False) -> list[dict]:
    """Rows matching an identifier at a query level, each a dict with the columns of its level
    and above, the computed counts and `rel_path` (one stored file, for other return keys).

    C-FIND and QIDO-RS both ask here; `offset` skips that many matches (QIDO paging) and
    `fuzzy` turns on fuzzy person-name matching."""
    level = level.upper()
    if level not in LEVELS:
        raise ValueError(f"unknown query level {level!r}")
    depth = LEVELS.index(level)
    # Keys below the query level are not matched (C-FIND matches on its level and above).
    usable = {k: v for k, v in identifier.items() if k in KEYS and LEVELS.index(KEYS[k].level) <= depth}
    conditions = [c for k, v in usable.items() if (c := condition_for(k, v, fuzzy)) is not None]
    time_filters = [(k, v) for k, v in usable.items() if KEYS[k].kind == "time" and (v or "").strip()]
    first_image = (select(_image.rel_path).join(schema.series, _series.pk == _image.series_pk)
                   .where(_series.study_pk == _study.pk).order_by(_image.pk).limit(1))
    if level == "PATIENT":
        statement = (select(_study.patient_id, func.max(_study.patient_name).label("patient_name"),
                            func.max(_study.patient_birth_date).label("patient_birth_date"),
                            func.max(_study.patient_sex).label("patient_sex"),
                            func.count(_study.pk).label("number_of_patient_related_studies"),
                            func.min(_study.pk).label("study_pk"))
                     .group_by(_study.patient_id).order_by(_study.patient_id))
        if conditions:
            statement = statement.where(and_(*conditions))
        rows = _rows(database, statement, limit, offset)
        paths: dict[int, str] = {}
        study_pks = [row["study_pk"] for row in rows]
        with database.read() as conn:  # each patient's first file, one query per 500 patients
            for start in range(0, len(study_pks), 500):
                paths.update(conn.execute(select(_study.pk, first_image.scalar_subquery())
                                          .where(_study.pk.in_(study_pks[start:start + 500]))).all())
        for row in rows:
            row["rel_path"] = paths.get(row["study_pk"])
        return rows
    if level == "STUDY":
        series_count = (select(func.count(_series.pk)).where(_series.study_pk == _study.pk)
                        .scalar_subquery())
        statement = select(schema.study, series_count.label("number_of_study_related_series"),
                           first_image.scalar_subquery().label("rel_path"))
    elif level == "SERIES":
        series_image = (select(_image.rel_path).where(_image.series_pk == _series.pk)
                        .order_by(_image.pk).limit(1).scalar_subquery())
        statement = (select(*_prefixed(schema.study, "study_"), schema.series,
                            series_image.label("rel_path"))
                     .join(schema.study, _study.pk == _series.study_pk))
    else:
        statement = (select(*_prefixed(schema.study, "study_"), *_prefixed(schema.series, "series_"),
                            schema.image)
                     .select_from(schema.image)
                     .join(schema.series, _series.pk == _image.series_pk)
                     .join(schema.study, _study.pk == _series.study_pk))
    if conditions:
        statement = statement.where(and_(*conditions))
    statement = statement.order_by(*([_study.pk] + ([_series.pk] if depth >= 2 else [])
                                     + ([_image.pk] if depth >= 3 else [])))
    if not time_filters:
        return _rows(database, statement, limit, offset)
    rows = [row for row in _rows(database, statement, None) if all(
        time_matches(k, v, row.get(_row_key(KEYS[k], level))) for k, v in time_filters)]
    return rows[offset:offset + limit] if limit else rows[offset:]


def _prefixed(table, prefix: str) -> list:
    return [column.label(prefix + column.name) for column in table.c]


def _row_key(key: Key, level: str) -> str:
    """Name of a key's column in a row of `level` (upper tables are prefixed below their level)."""
    if key.level in ("PATIENT", "STUDY"):
        return key.column if level in ("PATIENT", "STUDY") else "study_" + key.column
    if key.level == "SERIES":
        return key.column if level == "SERIES" else "series_" + key.column
    return key.column


def value_of(keyword: str, row: dict, level: str):
    """The stored value of a mapped key in a `find` row (None when the row lacks it)."""
    key = KEYS[keyword]
    if keyword == "NumberOfPatientRelatedStudies":
        return row.get("number_of_patient_related_studies")
    if keyword == "NumberOfStudyRelatedSeries":
        return row.get("number_of_study_related_series")
    return row.get(_row_key(key, level))


def modalities_by_study(database: Database, study_pks: list[int]) -> dict[int, list[str]]:
    """Each study's distinct series modalities in series order, for a whole C-FIND answer at
    once (asked in chunks: bound-parameter limits)."""
    found: dict[int, dict[str, None]] = {}
    with database.read() as conn:
        for start in range(0, len(study_pks), 500):
            rows = conn.execute(select(_series.study_pk, _series.modality)
                                .where(_series.study_pk.in_(study_pks[start:start + 500]))
                                .order_by(_series.study_pk, _series.pk))
            for study_pk, modality in rows:
                if modality:
                    found.setdefault(study_pk, {})[modality] = None
    return {pk: list(modalities) for pk, modalities in found.items()}


def images_matching(database: Database, level: str, identifier: dict[str, str]) -> list[dict]:
    """Stored files selected by a C-MOVE/C-GET or WADO identifier (UIDs at the level and above),
    with what senders need besides the file: SOP class and instance, transfer syntax, size of the
    picture and the UIDs above."""
    conditions = [c for k, v in identifier.items() if (c := condition_for(k, v)) is not None]
    if not conditions:
        return []
    statement = (select(_image.rel_path, _image.sop_class_uid, _image.sop_instance_uid,
                        _image.transfer_syntax_uid, _image.rows, _image.number_of_frames,
                        _series.series_instance_uid, _study.study_instance_uid)
                 .select_from(schema.image)
                 .join(schema.series, _series.pk == _image.series_pk)
                 .join(schema.study, _study.pk == _series.study_pk)
                 .where(and_(*conditions))
                 .order_by(_study.pk, _series.series_number, _series.pk, _image.instance_number, _image.pk))
    return _rows(database, statement, None)


def study_instance_counts(database: Database, study_uids: list[str]) -> dict[str, int]:
    """Number of stored instances per Study Instance UID (retrieveOnlyIfNeeded)."""
    if not study_uids:
        return {}
    with database.read() as conn:
        rows = conn.execute(select(_study.study_instance_uid, _study.number_of_images)
                            .where(_study.study_instance_uid.in_(study_uids))).all()
    return {uid: count or 0 for uid, count in rows}


def _rows(database: Database, statement, limit: int | None, offset: int = 0) -> list[dict]:
    if limit:
        statement = statement.limit(limit)
    if offset:
        statement = statement.offset(offset)
    with database.read() as conn:
        return [dict(row) for row in conn.execute(statement).mappings()]
