"""Read queries shared by the control API, the web UI and the DICOM node.

Rows come back as plain dicts (column → value), ready for `element()`.
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import ColumnElement, and_, select

from ..db import schema
from ..db.database import Database


def _rows(database: Database, statement) -> list[dict]:
    with database.read() as conn:
        return [dict(row) for row in conn.execute(statement).mappings()]


def studies_where(database: Database, condition: ColumnElement[bool] | None = None,
                  limit: int | None = None) -> list[dict]:
    """Study rows matching a condition, newest study date first (OsiriX's default order)."""
    statement = select(schema.study)
    if condition is not None:
        statement = statement.where(condition)
    statement = statement.order_by(schema.study.c.date.desc(), schema.study.c.pk)
    if limit:
        statement = statement.limit(limit)
    return _rows(database, statement)


def rows_where(database: Database, table: str, condition: ColumnElement[bool] | None = None,
               limit: int | None = None) -> list[dict]:
    """Rows of Study, Series, Image or Album matching a condition (DBWindowFind)."""
    table_obj = schema.TABLES[table]
    statement = select(table_obj)
    if condition is not None:
        statement = statement.where(condition)
    statement = statement.order_by(table_obj.c.pk)
    if limit:
        statement = statement.limit(limit)
    return _rows(database, statement)


def find_studies(database: Database, *, patient_id: str | None = None,
                 study_instance_uid: str | None = None, accession_number: str | None = None,
                 study_id: str | None = None) -> list[dict]:
    """DisplayStudy's lookup: the AND of exact matches on the given keys."""
    study = schema.study.c
    conditions = [column == value for column, value in (
        (study.patient_id, patient_id), (study.study_instance_uid, study_instance_uid),
        (study.accession_number, accession_number), (study.study_id, study_id)) if value]
    if not conditions:
        return []
    return studies_where(database, and_(*conditions))


def study_by_pk(database: Database, study_pk: int) -> dict | None:
    rows = _rows(database, select(schema.study).where(schema.study.c.pk == study_pk))
    return rows[0] if rows else None


def studies_by_uid(database: Database, uids: Iterable[str]) -> list[dict]:
    uids = list(uids)
    if not uids:
        return []
    return _rows(database, select(schema.study).where(schema.study.c.study_instance_uid.in_(uids)))


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
