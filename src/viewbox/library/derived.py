"""Derived fields of series and studies (counts, dates, the study's modality list), kept up to
date by each commit instead of recomputed from every image."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from ..db import schema
from ..db.ingest import IngestStatements

_HIDDEN_UNLESS_ALONE = {"SR", "SC", "PR", "OT", "KO"}


def study_modality(modalities: list[str]) -> str:
    """OsiriX's Study.modality: distinct series modalities joined by '\\', SR/SC/PR/OT/KO last resort."""
    distinct: list[str] = []
    for modality in modalities:
        modality = "RT" if modality == "RTSTRUCT" else modality
        if modality and modality not in distinct:
            distinct.append(modality)
    shown = [m for m in distinct if m not in _HIDDEN_UNLESS_ALONE] or distinct
    return "\\".join(shown) or "OT"


class Additions:
    """What a commit adds to each series and study, applied as increments.

    Counting up and taking the earlier date is exact and costs one UPDATE per series and study,
    where recounting would scan every image of the study on each C-STORE. Study.modality is
    recomputed only where a series was created (the only way the modality list changes).

    Safe with concurrent writers (other nodes on one PostgreSQL): increments add up whatever the
    order; rows are updated in primary-key order (fewer deadlocks); and the modality list is read
    after this transaction's UPDATE has locked the study row, so of two writers adding series to
    one study the later one sees the other's series and writes the full list.
    """

    def __init__(self) -> None:
        self.series: dict[int, list] = {}
        self.studies: dict[int, list] = {}
        self.new_series_in: set[int] = set()

    def image(self, series_pk: int, study_pk: int, date: datetime | None) -> None:
        for totals, pk in ((self.series, series_pk), (self.studies, study_pk)):
            entry = totals.setdefault(pk, [0, None])
            entry[0] += 1
            if date is not None and (entry[1] is None or date < entry[1]):
                entry[1] = date

    def apply(self, conn: Connection, sql: IngestStatements) -> None:
        ser, stu = schema.series, schema.study
        for table, totals in ((ser, self.series), (stu, self.studies)):
            for pk, (count, first) in sorted(totals.items()):
                sql.add_images(conn, table, pk, count, first)
        for study_pk in sorted(self.new_series_in):
            modalities = list(conn.scalars(select(ser.c.modality).where(ser.c.study_pk == study_pk)
                                           .order_by(ser.c.date, ser.c.series_number, ser.c.pk)))
            conn.execute(update(stu).where(stu.c.pk == study_pk).values(
                schema.with_folds(stu, {"modality": study_modality(modalities)})))
