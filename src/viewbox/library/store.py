"""The only write path for studies: stage files durably (files.py), then commit their rows in one
transaction (here), with the derived fields (derived.py); and deletion, its inverse.

Order matters for crash safety: every file is durable under its final name before the
transaction that creates its row commits. A crash leaves at worst a file without a row (which does
not count and is replaced by the next store of the same object), never a row without its file,
and never a half-written file under its final name.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, delete, select, update

from ..db import schema
from ..db.contention import transaction_retried
from ..db.database import Database
from ..db.ingest import ConcurrentChange, IngestStatements, existing_sops
from .albums import Albums
from .derived import Additions
from .durability import fsync_folder, inode_of, prune_empty_dirs, remove_if_same
from .files import FileStore, Staged
from .instance import Instance

StoredListener = Callable[[list[Instance]], None]


def utcnow() -> datetime:
    """Naive UTC now: how every date is stored."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class StoreOutcome:
    """What happened to one object: 'imported', 'already_present' or 'refused' (with a reason)."""

    status: str
    instance: Instance
    study_pk: int | None = None
    reason: str | None = None


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

        Duplicates are reported, not stored; an object whose series belongs to another study is
        refused (its file removed). Any number of writers — threads, processes, nodes on one
        PostgreSQL — may commit at once: rows are created with INSERT … ON CONFLICT DO NOTHING,
        so the one that loses a race counts the object as already present, and a transaction
        that still collides (deadlock, a study deleted meanwhile) runs again.
        """
        if not staged:
            return []
        with self._write_lock:
            outcomes = transaction_retried(self.database, lambda conn: self._commit_rows(conn, staged))
        emptied: set[Path] = set()
        for item, outcome in zip(staged, outcomes, strict=True):
            if outcome.status == "refused" or (outcome.status != "imported" and item.spare is not None):
                item.discard()
                emptied.add(item.final_path.parent)
        for folder in emptied:
            prune_empty_dirs(folder, self.database.files_dir)
        new_instances = [outcome.instance for outcome in outcomes if outcome.status == "imported"]
        if new_instances:
            for listener in list(self._listeners):
                listener(new_instances)
        return outcomes

    def _commit_rows(self, conn: Connection, staged: list[Staged]) -> list[StoreOutcome]:
        sql = self._sql(conn)
        now = utcnow()
        study_pks: dict[str, int] = {}  # a batch is mostly a few series: look each up once
        series: dict[str, tuple[int, int, str]] = {}  # series UID -> (pk, study pk, study UID)
        created_studies: set[int] = set()
        added = Additions()
        placed: dict[str, tuple[Staged, int, int]] = {}
        refusals: dict[str, str] = {}
        image_rows: list[dict] = []
        for item in staged:
            inst = item.instance
            uid = inst.sop_instance_uid
            if uid in placed or uid in refusals:
                continue
            known = series.get(inst.series_instance_uid) or sql.series_of(conn, inst.series_instance_uid)
            if known is None:
                study_pk = study_pks.get(inst.study_instance_uid)
                if study_pk is None:
                    study_pk, made = sql.find_or_create(conn, schema.study, "study_instance_uid",
                                                        {**inst.study, "date_added": now})
                    study_pks[inst.study_instance_uid] = study_pk
                    if made:
                        created_studies.add(study_pk)
                series_pk, made = sql.find_or_create(conn, schema.series, "series_instance_uid",
                                                     {**inst.series, "study_pk": study_pk, "date_added": now})
                if made:
                    added.new_series_in.add(study_pk)
                    known = (series_pk, study_pk, inst.study_instance_uid)
                else:  # another writer created it meanwhile, maybe in another study
                    known = sql.series_of(conn, inst.series_instance_uid)
                    if known is None:
                        raise ConcurrentChange(f"series {inst.series_instance_uid} deleted meanwhile")
            series[inst.series_instance_uid] = known
            if known[2] != inst.study_instance_uid:
                refusals[uid] = (f"its series {inst.series_instance_uid} belongs to another study "
                                 f"({known[2]}), not to {inst.study_instance_uid}")
                continue
            rel_path = item.final_path.relative_to(self.database.files_dir).as_posix()
            image_rows.append(schema.with_folds(schema.image, {
                **inst.image, "series_pk": known[0], "rel_path": rel_path, "file_size": item.size,
            }))
            placed[uid] = (item, known[0], known[1])
        inserted = sql.insert_new(conn, schema.image, "sop_instance_uid", image_rows) if image_rows else set()
        folders: set[Path] = set()
        filled: set[int] = set()
        for uid in inserted:
            item, series_pk, study_pk = placed[uid]
            added.image(series_pk, study_pk, item.instance.image["date"])
            filled.add(study_pk)
            if item.spare is not None:  # this object's row won: its file takes the final name
                os.replace(item.spare, item.final_path)
                item.spare = None
                folders.add(item.final_path.parent)
        for folder in folders:
            fsync_folder(folder)
        if created_studies - filled:  # made for objects then refused: no empty study row
            conn.execute(delete(schema.study).where(schema.study.c.pk.in_(created_studies - filled)))
        added.apply(conn, sql)
        outcomes = []
        for item in staged:
            uid = item.instance.sop_instance_uid
            if uid in refusals:
                outcomes.append(StoreOutcome("refused", item.instance, reason=refusals[uid]))
            elif uid in inserted and placed[uid][0] is item:
                outcomes.append(StoreOutcome("imported", item.instance, placed[uid][2]))
            else:
                outcomes.append(StoreOutcome("already_present", item.instance))
        return outcomes

    def _sql(self, conn: Connection) -> IngestStatements:
        if self._prepared is None or self._prepared.dialect is not conn.dialect:
            self._prepared = IngestStatements(conn.dialect)
        return self._prepared

    # -- deleting --------------------------------------------------------------------------------

    def delete_studies(self, study_pks: Iterable[int]) -> int:
        """Delete studies with their series, images, album memberships and files.

        The study rows are locked first, so a commit adding to one of them (on any node) either
        finishes before (and its images go too) or runs after (and creates the study again). A
        file is removed only if it is still the one the deleted row described: an object stored
        again meanwhile keeps its new file.
        """
        pks = sorted(set(study_pks))
        if not pks:
            return 0
        with self._write_lock:
            files = transaction_retried(self.database, lambda conn: self._delete_rows(conn, pks))
        for path, inode in files:
            remove_if_same(path, inode)
        for folder in {path.parent for path, _ in files}:
            prune_empty_dirs(folder, self.database.files_dir)
        return len(pks)

    def _delete_rows(self, conn: Connection, pks: list[int]) -> list[tuple[Path, int | None]]:
        conn.execute(select(schema.study.c.pk).where(schema.study.c.pk.in_(pks))
                     .order_by(schema.study.c.pk).with_for_update()).all()
        paths = list(conn.scalars(
            select(schema.image.c.rel_path)
            .join(schema.series, schema.series.c.pk == schema.image.c.series_pk)
            .where(schema.series.c.study_pk.in_(pks))))
        series_pks = select(schema.series.c.pk).where(schema.series.c.study_pk.in_(pks))
        conn.execute(delete(schema.image).where(schema.image.c.series_pk.in_(series_pks)))
        conn.execute(delete(schema.series).where(schema.series.c.study_pk.in_(pks)))
        conn.execute(delete(schema.album_study).where(schema.album_study.c.study_pk.in_(pks)))
        conn.execute(delete(schema.study).where(schema.study.c.pk.in_(pks)))
        return [(path, inode_of(path)) for path in (self.database.files_dir / rel for rel in paths)]

    def mark_opened(self, study_pks: Iterable[int]) -> None:
        """Record dateOpened (feeds the 'Just Opened' smart album)."""
        pks = list(set(study_pks))
        if not pks:
            return
        with self._write_lock, self.database.begin_bookkeeping() as conn:
            conn.execute(update(schema.study).where(schema.study.c.pk.in_(pks))
                         .values(date_opened=utcnow()))
