"""The measurement rows: what was drawn on which image (frame), and the values it measured.

Only SQL lives here; computing values is `viewbox.measure`'s job. Rows reference their study and
image with ON DELETE CASCADE, so deleting a study (or an image) takes its measurements along.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select

from ..db import schema
from ..db.database import Database


def add(database: Database, rows: Iterable[dict]) -> list[dict]:
    """Insert measurements (uid, study_pk, image_pk, frame, kind, points, label, measured,
    source) in one transaction; returns them as `rows_of` lists them."""
    now = datetime.now(UTC).replace(tzinfo=None)
    values = [{**row, "points": json.dumps(row["points"]), "measured": json.dumps(row["measured"]),
               "created": now} for row in rows]
    if not values:
        return []
    with database.begin() as conn:
        conn.execute(insert(schema.measurement), values)
    return of_uids(database, [row["uid"] for row in values])


def image_with_study(database: Database, sop_instance_uid: str) -> dict | None:
    """The image row of a SOP Instance UID plus its series' `study_pk`."""
    statement = (select(schema.image, schema.series.c.study_pk)
                 .join(schema.series, schema.series.c.pk == schema.image.c.series_pk)
                 .where(schema.image.c.sop_instance_uid == sop_instance_uid))
    with database.read() as conn:
        row = conn.execute(statement).first()
    return dict(row._mapping) if row else None


def _listing():
    m, image, series = schema.measurement.c, schema.image.c, schema.series.c
    return (select(schema.measurement, image.sop_instance_uid, image.sop_class_uid, image.rel_path,
                   series.series_instance_uid, schema.study.c.study_instance_uid)
            .join(schema.image, image.pk == m.image_pk)
            .join(schema.series, series.pk == image.series_pk)
            .join(schema.study, schema.study.c.pk == m.study_pk)
            .order_by(m.pk))


def _decoded(rows) -> list[dict]:
    out = []
    for row in rows:
        item = dict(row._mapping)
        item["points"] = json.loads(item["points"])
        item["measured"] = json.loads(item["measured"])
        out.append(item)
    return out


def of_study(database: Database, study_pk: int) -> list[dict]:
    with database.read() as conn:
        return _decoded(conn.execute(_listing().where(schema.measurement.c.study_pk == study_pk)))


def of_uids(database: Database, uids: list[str]) -> list[dict]:
    with database.read() as conn:
        return _decoded(conn.execute(_listing().where(schema.measurement.c.uid.in_(uids))))


def remove(database: Database, uids: Iterable[str]) -> list[dict]:
    """Delete measurements by uid; returns the rows deleted (their study tells whom to notify)."""
    uids = list(uids)
    gone = of_uids(database, uids)
    with database.begin() as conn:
        conn.execute(delete(schema.measurement).where(schema.measurement.c.uid.in_(uids)))
    return gone


def reports_of_studies(database: Database, study_uids: list[str], sop_classes: set[str]) -> list[dict]:
    """The images of these studies whose SOP class is one of `sop_classes` (structured reports)."""
    image, series, study = schema.image.c, schema.series.c, schema.study.c
    statement = (select(image.sop_instance_uid, image.rel_path)
                 .join(schema.series, series.pk == image.series_pk)
                 .join(schema.study, study.pk == series.study_pk)
                 .where(study.study_instance_uid.in_(study_uids), image.sop_class_uid.in_(sorted(sop_classes))))
    with database.read() as conn:
        return [dict(row._mapping) for row in conn.execute(statement)]
