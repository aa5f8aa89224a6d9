"""Helpers for the predicate tests: one engine per module and back end, records → rows.

Not a conftest (the lead owns tests/conftest.py); the predicate test modules import it.
PostgreSQL tables live in their own schema so that other modules' resets do not touch them.
"""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime

from sqlalchemy import Column, MetaData, Table, create_engine, delete, insert, select, text

from helpers.postgres import postgres_url
from viewbox.db import schema
from viewbox.db.schema import Attribute
from viewbox.predicates import DEFAULT_CATALOG, Catalog, compile_filter
from viewbox.predicates.values import as_utc, parse_iso_date

_uids = itertools.count(1)
_schemas = itertools.count(1)
_pg_schemas: dict[int, str] = {}


def make_engine(kind: str, tmp_path_factory, metadatas: list[MetaData]):
    """An engine with every table of `metadatas` created; call `drop(engine, metadatas)` after."""
    if kind == "sqlite":
        path = tmp_path_factory.mktemp("predicates") / "predicates.sqlite"
        engine = create_engine(f"sqlite:///{path}")
    else:
        url = postgres_url()
        name = f"viewbox_predicates_{os.getpid()}_{next(_schemas)}"
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {name}"))
        admin.dispose()
        engine = create_engine(url, connect_args={"options": f"-c search_path={name}"})
        _pg_schemas[id(engine)] = name
    for md in metadatas:
        md.create_all(engine)
    return engine


def drop(engine, metadatas: list[MetaData]) -> None:
    for md in reversed(metadatas):
        md.drop_all(engine)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {_pg_schemas.pop(id(engine))} CASCADE"))
    engine.dispose()


# ---------------------------------------------------------------- records → rows


def db_value(value):
    """A record value as the database stores it (dates: naive UTC)."""
    if isinstance(value, dict) and set(value) == {"$date"}:
        value = parse_iso_date(value["$date"], 1)
    if isinstance(value, datetime):
        return as_utc(value).astimezone(UTC).replace(tzinfo=None)
    return value


def _row(catalog: Catalog, entity: str, record: dict) -> dict:
    table = catalog.tables[entity]
    row = {}
    for key, value in record.items():
        attr = catalog.attribute(entity, key)
        if attr is not None:
            row[attr.column] = db_value(value)
        elif catalog.relationship(entity, key) is None:
            raise AssertionError(f"record key {key!r} is not in the catalog for {entity}")
    uid = next(_uids)
    if entity == "Study":
        row.setdefault("study_instance_uid", f"1.2.{uid}")
    if entity == "Series":
        row.setdefault("series_instance_uid", f"1.3.{uid}")
    if entity == "Image":
        row.setdefault("sop_instance_uid", f"1.4.{uid}")
        row.setdefault("rel_path", f"f/{uid}.dcm")
    return schema.with_folds(table, row)


def insert_study(conn, catalog: Catalog, record: dict) -> int:
    """Insert a Study record with its series (and their images)."""
    row = _row(catalog, "Study", record)
    pk = conn.execute(insert(catalog.tables["Study"]).values(row)).inserted_primary_key[0]
    for series in record.get("series") or []:
        _insert_series_row(conn, catalog, series, pk)
    return pk


def insert_series(conn, catalog: Catalog, record: dict) -> int:
    """Insert a Series record under its `study` (a new study row) and return the series pk."""
    study_pk = insert_study(conn, catalog, record.get("study") or {})
    return _insert_series_row(conn, catalog, record, study_pk)


def _insert_series_row(conn, catalog: Catalog, record: dict, study_pk: int) -> int:
    row = _row(catalog, "Series", record)
    row["study_pk"] = study_pk
    pk = conn.execute(insert(catalog.tables["Series"]).values(row)).inserted_primary_key[0]
    for image in record.get("images") or []:
        image_row = _row(catalog, "Image", image)
        image_row["series_pk"] = pk
        conn.execute(insert(catalog.tables["Image"]).values(image_row))
    return pk


def clear(conn, catalog: Catalog) -> None:
    for name in ("Image", "Series", "Study"):
        if name in catalog.tables:
            conn.execute(delete(catalog.tables[name]))


def matching_pks(conn, predicate, entity: str, *, now=None, catalog: Catalog = DEFAULT_CATALOG) -> set[int]:
    table = catalog.tables[entity]
    expr = compile_filter(predicate, entity, now=now, catalog=catalog)
    return {pk for (pk,) in conn.execute(select(table.c.pk).where(expr))}


# ---------------------------------------------------------------- extra attributes


_KINDS = {bool: "bool", int: "int", float: "float", str: "string"}


def extended_catalog(extra: dict[str, str]) -> tuple[Catalog, MetaData]:
    """A Study-only catalog with the schema's Study columns plus `extra` {key: kind} attributes.

    Some conformance records carry keys that are not Viewbox attributes (`lockedStudy`, `size`,
    `like`); the spec's rule is that record keys are known attributes, so they get columns here.
    """
    from sqlalchemy import Boolean, DateTime, Float, Integer

    md = MetaData()
    columns = [
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.primary_key is False)
        for c in schema.study.columns
    ]
    attrs = dict(schema.ATTRIBUTES["Study"])
    types = {"bool": Boolean, "int": Integer, "float": Float, "date": DateTime}
    for key, kind in extra.items():
        name = f"x_{key.lower()}"
        if kind == "string":
            columns += [Column(name, schema.Text()), *(Column(f"{name}__{s}", schema.Text()) for s in schema.FOLDS)]
        else:
            columns.append(Column(name, types[kind]()))
        attrs[key] = Attribute("Study", key, name, kind)
    table = Table("pred_ext_study", md, *columns)
    return Catalog(tables={"Study": table}, attributes={"Study": attrs}, relationships={}), md


def kind_of_record_value(value) -> str:
    if isinstance(value, dict) and set(value) == {"$date"}:
        return "date"
    return _KINDS[type(value)]
