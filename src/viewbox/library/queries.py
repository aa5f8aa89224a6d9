"""Read queries shared by the control API, the web UI and the DICOM node.

Rows come back as plain dicts (column → value), ready for `element()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations

from sqlalchemy import ColumnElement, and_, bindparam, case, func, literal, or_, select

from ..db import schema
from ..db.database import Database

# Series that are not images (reports, structures, plans): a viewer would show nothing.
NON_IMAGE_MODALITIES = frozenset({"SR", "KO", "PR", "RTSTRUCT", "RTPLAN", "RTRECORD", "DOC"})


def _as_dicts(result) -> list[dict]:
    """Rows of a result as plain dicts (column → value): zip over the keys once, not a mapping
    view per row (DBWindowFind replies carry hundreds of rows)."""
    keys = tuple(result.keys())
    return [dict(zip(keys, row, strict=False)) for row in result.all()]  # all(): one fetch, not one per row


def _rows(database: Database, statement, parameters: dict | None = None) -> list[dict]:
    with database.read() as conn:
        return _as_dicts(conn.execute(statement, parameters))


# The columns element structs and the display actions read (no folded shadow columns).
def _element_columns(table: str) -> tuple:
    wanted = {"pk", "study_pk", "series_pk"} | {a.column for a in schema.ATTRIBUTES[table].values()}
    return tuple(column for column in schema.TABLES[table].c if column.name in wanted)


_ELEMENT_COLUMNS = {table: _element_columns(table) for table in schema.TABLES}


_STUDY_KEY_COLUMNS = ("patient_id", "study_instance_uid", "accession_number", "study_id")


def _find_studies_statement(keys: tuple[str, ...]):
    study = schema.study.c
    return (select(*_ELEMENT_COLUMNS["Study"]).where(and_(*(study[key] == bindparam(key) for key in keys)))
            .order_by(study.date.desc(), study.pk))


# DisplayStudy's lookups, built once from the schema for every combination of keys: the hot
# call then skips building and cache-keying a new statement.
_FIND_STUDIES = {keys: _find_studies_statement(keys)
                 for size in range(1, len(_STUDY_KEY_COLUMNS) + 1)
                 for keys in combinations(_STUDY_KEY_COLUMNS, size)}


def find_studies(database: Database, *, patient_id: str | None = None,
                 study_instance_uid: str | None = None, accession_number: str | None = None,
                 study_id: str | None = None) -> list[dict]:
    """DisplayStudy's lookup: the AND of exact matches on the given keys, newest first (the
    columns of the element struct, pk and the UIDs: what replies and opening read)."""
    given = {key: value for key, value in zip(_STUDY_KEY_COLUMNS, (
        patient_id, study_instance_uid, accession_number, study_id), strict=False) if value}
    if not given:
        return []
    return _rows(database, _FIND_STUDIES[tuple(given)], given)


def study_by_pk(database: Database, study_pk: int) -> dict | None:
    rows = _rows(database, select(schema.study).where(schema.study.c.pk == study_pk))
    return rows[0] if rows else None


def studies_by_uid(database: Database, uids: Iterable[str]) -> list[dict]:
    uids = list(uids)
    if not uids:
        return []
    return _rows(database, select(schema.study).where(schema.study.c.study_instance_uid.in_(uids)))


def _first_image_series_statement():
    series, image = schema.series.c, schema.image.c
    frames = (select(func.coalesce(func.sum(func.coalesce(image.number_of_frames, 1)), 0))
              .where(image.series_pk == series.pk).scalar_subquery())
    not_image = or_(*(series.modality == literal(m) for m in sorted(NON_IMAGE_MODALITIES)))
    return (select(schema.series, frames.label("viewbox_frame_count"))
            .where(series.study_pk == bindparam("study_pk"))
            .order_by(case((not_image, 1), else_=0), series.series_number, series.date, series.pk)
            .limit(1))


_FIRST_IMAGE_SERIES = _first_image_series_statement()


def first_image_series(database: Database, study_pk: int) -> tuple[dict, int] | None:
    """The series a study opens on and its frame count, in one query: the first series in
    display order that is an image series (the first of all when none is), or None."""
    rows = _rows(database, _FIRST_IMAGE_SERIES, {"study_pk": study_pk})
    if not rows:
        return None
    row = rows[0]
    return row, int(row.pop("viewbox_frame_count") or 0)


def series_of_study(database: Database, study_pk: int) -> list[dict]:
    """Series of a study in display order (series number, then date)."""
    return _rows(database, select(schema.series).where(schema.series.c.study_pk == study_pk)
                 .order_by(schema.series.c.series_number, schema.series.c.date, schema.series.c.pk))


def series_where(database: Database, *, series_uid: str | None = None,
                 patient_id: str | None = None) -> list[dict]:
    """DisplaySeries' lookup: by Series Instance UID and/or the study's Patient ID."""
    statement = select(schema.series).join(schema.study, schema.study.c.pk == schema.series.c.study_pk)
    if series_uid:
        statement = statement.where(schema.series.c.series_instance_uid == series_uid)
    if patient_id:
        statement = statement.where(schema.study.c.patient_id == patient_id)
    if not series_uid and not patient_id:
        return []
    return _rows(database, statement.order_by(schema.series.c.pk))


def series_by_pk(database: Database, series_pk: int) -> dict | None:
    rows = _rows(database, select(schema.series).where(schema.series.c.pk == series_pk))
    return rows[0] if rows else None


def images_of_series(database: Database, series_pk: int) -> list[dict]:
    """Images of a series in viewing order (instance number, then slice location)."""
    image = schema.image.c
    return _rows(database, select(schema.image).where(image.series_pk == series_pk)
                 .order_by(image.instance_number, image.slice_location, image.pk))


def images_of_study(database: Database, study_pk: int) -> list[dict]:
    image, series = schema.image.c, schema.series.c
    return _rows(database, select(schema.image).join(schema.series, series.pk == image.series_pk)
                 .where(series.study_pk == study_pk).order_by(series.pk, image.instance_number, image.pk))


def albums(database: Database) -> list[dict]:
    """Albums sorted by name, case-insensitively (OsiriX's order)."""
    return _rows(database, select(schema.album).order_by(schema.album.c.name__c))


def album_by_name(database: Database, name: str) -> dict | None:
    rows = _rows(database, select(schema.album).where(schema.album.c.name == name))
    return rows[0] if rows else None


def album_member_condition(album_pk: int) -> ColumnElement[bool]:
    """Condition on Study for members of a regular album."""
    return schema.study.c.pk.in_(select(schema.album_study.c.study_pk)
                                 .where(schema.album_study.c.album_pk == album_pk))


# -- the web UI's database window ------------------------------------------------------------------

STUDY_LIST_SORTS = ("name", "patientID", "dateOfBirth", "date", "modality", "studyName",
                    "accessionNumber", "numberOfImages", "dateAdded")


def study_page(database: Database, conditions: Iterable[ColumnElement[bool] | None] = (), *,
               search: str | None = None, sort: str = "date", descending: bool = True,
               offset: int = 0, limit: int = 500) -> tuple[int, list[dict]]:
    """One page of the study list and the total matching: the UI never loads a whole database.

    `search` matches, case- and diacritic-insensitively, anywhere in the patient's name, patient
    ID, accession number or study description; `sort` is an OsiriX Study attribute name.
    """
    study = schema.study.c
    conditions = [c for c in conditions if c is not None]  # all must hold
    if search and search.strip():
        folded = schema.fold(search.strip(), True, True)
        pattern = "%" + folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        name_with_spaces = func.replace(study.patient_name__cd, "^", " ")
        conditions.append(or_(*(column.like(pattern, escape="\\") for column in (
            study.patient_name__cd, name_with_spaces, study.patient_id__cd,
            study.accession_number__cd, study.study_description__cd))))
    where = and_(*(c for c in conditions if c is not None)) if conditions else None
    attribute = schema.ATTRIBUTES["Study"][sort if sort in STUDY_LIST_SORTS else "date"]
    column = schema.study.c[attribute.column]
    if attribute.foldable:
        column = schema.study.c[f"{attribute.column}__cd"]
    order = column.desc() if descending else column.asc()
    counted = select(func.count()).select_from(schema.study)
    statement = select(schema.study)
    if where is not None:
        counted, statement = counted.where(where), statement.where(where)
    statement = statement.order_by(order.nulls_last(), schema.study.c.pk).offset(max(0, offset)).limit(limit)
    with database.read() as conn:
        total = conn.scalar(counted) or 0
        rows = [dict(row) for row in conn.execute(statement).mappings()]
    return total, rows


def count_studies(database: Database, condition: ColumnElement[bool] | None = None) -> int:
    statement = select(func.count()).select_from(schema.study)
    if condition is not None:
        statement = statement.where(condition)
    with database.read() as conn:
        return conn.scalar(statement) or 0


def patient_filter_condition(field: str | None, value: str | None) -> ColumnElement[bool] | None:
    """DisplayStudyListByPatientName/…ById as a condition: a case-insensitive match anywhere,
    with `^` and spaces in names treated alike (as OsiriX's search field does)."""
    if not field or not value:
        return None
    folded = schema.fold(value.strip(), True, True)
    pattern = "%" + folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    study = schema.study.c
    if field.lower() == "patientid":
        return study.patient_id__cd.like(pattern, escape="\\")
    return or_(study.patient_name__cd.like(pattern, escape="\\"),
               func.replace(study.patient_name__cd, "^", " ").like(pattern.replace("^", " "), escape="\\"))


def series_frame_counts(database: Database, series_pks: Iterable[int]) -> dict[int, int]:
    """Frames per series (a multi-frame image counts each of its frames): what a viewer scrolls."""
    pks = list(series_pks)
    if not pks:
        return {}
    image = schema.image.c
    statement = (select(image.series_pk, func.sum(func.coalesce(image.number_of_frames, 1)))
                 .where(image.series_pk.in_(pks)).group_by(image.series_pk))
    with database.read() as conn:
        counts = {pk: int(total or 0) for pk, total in conn.execute(statement)}
    return {pk: counts.get(pk, 0) for pk in pks}


def element_rows_where(database: Database, table: str, condition: ColumnElement[bool] | None = None,
                       limit: int | None = None) -> list[dict]:
    """Rows of Study, Series, Image or Album matching a condition (DBWindowFind), with only the
    columns element structs and actions need (no folded shadow columns), so replies with
    hundreds of rows stay cheap to fetch."""
    table_obj = schema.TABLES[table]
    statement = select(*_ELEMENT_COLUMNS[table])
    if condition is not None:
        statement = statement.where(condition)
    statement = statement.order_by(table_obj.c.pk)
    if limit:
        statement = statement.limit(limit)
    return _rows(database, statement)
