"""Counts of what a database holds (viewbox info, the UI's header)."""

from __future__ import annotations

from sqlalchemy import func, select

from ..db import schema
from ..db.database import Database


def counts(database: Database) -> dict[str, int]:
    """Patients (distinct patientUID), studies, series, images and albums."""
    with database.read() as conn:
        return {
            "patients": conn.scalar(select(func.count(func.distinct(schema.study.c.patient_uid)))) or 0,
            "studies": conn.scalar(select(func.count()).select_from(schema.study)) or 0,
            "series": conn.scalar(select(func.count()).select_from(schema.series)) or 0,
            "images": conn.scalar(select(func.count()).select_from(schema.image)) or 0,
            "albums": conn.scalar(select(func.count()).select_from(schema.album)) or 0,
        }
