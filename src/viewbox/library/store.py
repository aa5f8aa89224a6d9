"""The only write path for studies: stage files durably (files.py), then commit their rows in one
transaction (here), with the derived fields (derived.py); and deletion, its inverse.

Order matters for crash safety: every file is durable under its final name before the
transaction that creates its row commits. A crash leaves at worst a file without a row (which does
not count and is replaced by the next store of the same object), never a row without its file,
and never a half-written file under its final name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, select, update

from ..db import schema
from ..db.database import Database
from ..db.ingest import IngestStatements, existing_sops
from .albums import Albums
from .derived import Additions
from .durability import prune_empty_dirs
from .files import FileStore, Staged
from .instance import Instance

StoredListener = Callable[[list[Instance]], None]


def utcnow() -> datetime:
    """Naive UTC now: how every date is stored."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class StoreOutcome:
    """What happened to one object: 'imported' or 'already_present'."""

    status: str
    instance: Instance
    study_pk: int | None = None


class Library:
    """Stores, indexes and deletes studies of one Database; fires `stored` listeners.

    Writers stage an object's file with `files` (stage_received, stage_bytes; the importer's
    copy_in/link_in + place), then hand the staged files to `commit`. `albums` shares the
    writers' lock.
    """

    def __init__(self, database: Database):
        self.database = database
        self._listeners: list[StoredListener] = []
        self._write_lock = threading.Lock()
        self._prepared: IngestStatements | None = None
        self.files = FileStore(database.files_dir, database.temp_dir, self.known_sop_uids)
        self.albums = Albums(database, self._write_lock)

    def add_listener(self, listener: StoredListener) -> None:
        """Call `listener(instances)` after each commit of new instances (UI, jobs, plugins)."""
        self._listeners.append(listener)

    # -- committing ------------------------------------------------------------------------------

    def known_sop_uids(self, uids: Iterable[str]) -> set[str]:
        """Which of these SOP Instance UIDs are already stored."""
        with self.database.read() as conn:
            return existing_sops(conn, list(uids))

    def commit(self, staged: list[Staged]) -> list[StoreOutcome]:
        """Create the rows of staged (already durable) files in one transaction.

        Duplicates are reported, not stored.
        """
        if not staged:
            return []
        outcomes: list[StoreOutcome] = []
        new_instances: list[Instance] = []
        with self._write_lock, self.database.begin() as conn:
            sql = self._sql(conn)
            now = utcnow()
            seen: set[str] = set()
            existing = sql.existing_sops(conn, [s.instance.sop_instance_uid for s in staged])
            study_pks: dict[str, int] = {}  # a batch is mostly a few series: look each up once
            series_pks: dict[str, int] = {}
            added = Additions()
            image_rows: list[dict] = []
            for item in staged:
                inst = item.instance
                if inst.sop_instance_uid in existing or inst.sop_instance_uid in seen:
                    outcomes.append(StoreOutcome("already_present", inst))
                    continue
                seen.add(inst.sop_instance_uid)
                study_pk = study_pks.get(inst.study_instance_uid)
                if study_pk is None:
                    study_pk, _ = sql.upsert(conn, schema.study, "study_instance_uid",
                                             {**inst.study, "date_added": now})
                    study_pks[inst.study_instance_uid] = study_pk
                series_pk = series_pks.get(inst.series_instance_uid)
                if series_pk is None:
                    series_pk, created = sql.upsert(conn, schema.series, "series_instance_uid",
                                                    {**inst.series, "study_pk": study_pk, "date_added": now})
                    series_pks[inst.series_instance_uid] = series_pk
                    if created:
                        added.new_series_in.add(study_pk)
                rel_path = item.final_path.relative_to(self.database.files_dir).as_posix()
                image_rows.append(schema.with_folds(schema.image, {
                    **inst.image, "series_pk": series_pk, "rel_path": rel_path, "file_size": item.size,
                }))
                added.image(series_pk, study_pk, inst.image["date"])
                outcomes.append(StoreOutcome("imported", inst, study_pk))
                new_instances.append(inst)
            if image_rows:
                sql.insert_many(conn, schema.image, image_rows)
            added.apply(conn, sql)
        if new_instances:
            for listener in list(self._listeners):
                listener(new_instances)
        return outcomes

    def _sql(self, conn: Connection) -> IngestStatements:
        if self._prepared is None or self._prepared.dialect is not conn.dialect:
            self._prepared = IngestStatements(conn.dialect)
        return self._prepared

    # -- deleting --------------------------------------------------------------------------------

    def delete_studies(self, study_pks: Iterable[int]) -> int:
        """Delete studies with their series, images, album memberships and files."""
        pks = sorted(set(study_pks))
        if not pks:
            return 0
        with self._write_lock, self.database.begin() as conn:
            paths = list(conn.scalars(
                select(schema.image.c.rel_path)
                .join(schema.series, schema.series.c.pk == schema.image.c.series_pk)
                .where(schema.series.c.study_pk.in_(pks))))
            series_pks = select(schema.series.c.pk).where(schema.series.c.study_pk.in_(pks))
            conn.execute(delete(schema.image).where(schema.image.c.series_pk.in_(series_pks)))
            conn.execute(delete(schema.series).where(schema.series.c.study_pk.in_(pks)))
            conn.execute(delete(schema.album_study).where(schema.album_study.c.study_pk.in_(pks)))
            conn.execute(delete(schema.study).where(schema.study.c.pk.in_(pks)))
        for rel in paths:
            path = self.database.files_dir / rel
            path.unlink(missing_ok=True)
            prune_empty_dirs(path.parent, self.database.files_dir)
        return len(pks)

    def mark_opened(self, study_pks: Iterable[int]) -> None:
        """Record dateOpened (feeds the 'Just Opened' smart album)."""
        pks = list(set(study_pks))
        if not pks:
            return
        with self._write_lock, self.database.begin_bookkeeping() as conn:
            conn.execute(update(schema.study).where(schema.study.c.pk.in_(pks))
                         .values(date_opened=utcnow()))
