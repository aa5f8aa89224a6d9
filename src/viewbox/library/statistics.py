"""Counts of what a database holds (viewbox info, the UI's header)."""

from __future__ import annotations

from sqlalchemy import func, select

from ..db import schema
from ..db.database import Database


def counts(database: Database) -> dict[str, int]:
    """Patients (distinct patientUID), studies, series, images and albums."""
    with database.read() as conn:
        return {
            "patients": conn.scalar(select(func.count(func.distinct(schema.study.c.patient_uid)))),
            "studies": conn.scalar(select(func.count()).select_from(schema.study)),
            "series": conn.scalar(select(func.count()).select_from(schema.series)),
            "images": conn.scalar(select(func.count()).select_from(schema.image)),
            "albums": conn.scalar(select(func.count()).select_from(schema.album)),
        }
