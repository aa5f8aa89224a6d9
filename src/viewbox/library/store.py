"""The only write path for studies: stage files durably, then commit their rows in one unit.

Order matters for crash safety: a file is written without a name (O_TMPFILE, in its final folder
or, for network objects, in TEMP; a named file in TEMP where the system has none), fsynced,
linked under its final name in DATABASE/ and that folder fsynced, all before the transaction
that creates its row commits. A crash leaves at worst a file without a row (which does not count
and is overwritten by the next import of the same object), never a row without its file, and
never a half-written file under its final name.
"""

from __future__ import annotations

import errno
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Connection, delete, insert, select, update

from ..db import schema
from ..db.database import Database
from ..errors import BadRequest, NotFound
from .instance import Instance

StoredListener = Callable[[list[Instance]], None]


def utcnow() -> datetime:
    """Naive UTC now: how every date is stored."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class Copy:
    """An object's bytes copied under their final name, or beside it when that name is taken,
    not yet durable: `Library.place` decides on the taken names and syncs a whole batch at once.

    A name taken means the object is stored already (the copy is dropped) or the name is a
    leftover of a crash (the copy replaces it); the copy waits as an unnamed file (O_TMPFILE)
    held open, as a hidden named file where the system has none, or as the user's file itself
    (`source`: not copied yet, since the name was taken before the copy began; linked over the
    leftover for `import --link`, else copied then).
    """

    instance: Instance
    final_path: Path
    size: int
    fd: int | None = None
    tmp: Path | None = None
    source: Path | None = None
    link_source: bool = False

    def discard(self) -> None:
        """Close or remove what is left of the copy (nothing once it is named)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None
        self.source = None  # the user's: never removed


@dataclass
class Staged:
    """A file already durable under its final name, waiting for its row."""

    instance: Instance
    final_path: Path
    size: int


@dataclass
class StoreOutcome:
    """What happened to one object: 'imported' or 'already_present'."""

    status: str
    instance: Instance
    study_pk: int | None = None


class Library:
    """Stores, indexes and deletes studies of one Database; fires `stored` listeners."""

    def __init__(self, database: Database):
        self.database = database
        self._listeners: list[StoredListener] = []
        self._write_lock = threading.Lock()
        self._prepared: _PreparedSQL | None = None
        self._unnamed_files = hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")
        self._early_writes = True

    def add_listener(self, listener: StoredListener) -> None:
        """Call `listener(instances)` after each commit of new instances (UI, jobs, plugins)."""
        self._listeners.append(listener)

    # -- staging ---------------------------------------------------------------------------------

    def stage_bytes(self, instance: Instance, *parts: bytes | memoryview) -> Staged | None:
        """Store bytes received from the network (C-STORE, C-GET, WADO-RS) as they came: the file
        is `parts` one after the other (a C-STORE's file meta and its data set, never joined)."""
        def write(handle) -> None:
            for part in parts:
                handle.write(part)

        return self.stage(instance, write)

    def stage(self, instance: Instance, write: Callable[[BinaryIO], object]) -> Staged | None:
        """Write an object's bytes with `write(tmp)`, fsync, and give it its final name.

        `write(handle)` writes into an open file that has no name yet (O_TMPFILE, in the final
        folder; a named file in TEMP where the system has none); one descriptor serves the write,
        the fsync and the size, and one descriptor of the folder its link and fsync.

        The final name is taken with link(), which never replaces: if the name exists and its
        object is in the database, this is a duplicate (None) and the stored file is untouched;
        if no row owns it, it is a leftover of a crash and is replaced.
        """
        final = self.database.files_dir / instance.relative_path()
        folder = _open_folder(final.parent)
        try:
            if self._stored_already(instance, final, folder):
                return None  # do not even write the copy
            fd = _open_unnamed(folder) if self._unnamed_files else None
            if fd is None:
                return self._stage_named(instance, write, final, folder)
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(fd)
                size = handle.tell()
                try:
                    if not self._link_unnamed(fd, instance, final.name, folder):
                        return None
                except _NoProc:
                    return self._stage_named(instance, write, final, folder)
            os.fsync(folder)
        finally:
            os.close(folder)
        return Staged(instance, final, size)

    def stage_received(self, parts: Sequence[bytes | memoryview],
                       identify: Callable[[], Instance]) -> tuple[Instance, Staged | None]:
        """`stage_bytes` for an object whose header is read by `identify()`, written first.

        The bytes go into an unnamed file in TEMP and the kernel starts writing them out
        (sync_file_range) while `identify` parses the header, so the fsync then waits less.
        Nothing is left behind when `identify` raises (ImportFailure) or the object is stored
        already. Same order as `stage`: file fsynced, linked, folder fsynced.
        """
        fd = None
        if self._unnamed_files and self._early_writes:
            fd = _open_unnamed(self.database.temp_dir)
            self._early_writes = fd is not None
        if fd is None:
            instance = identify()
            return instance, self.stage_bytes(instance, *parts)
        try:
            size = 0
            for part in parts:
                view = memoryview(part)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                    size += written
            _start_writeback(fd)
            instance = identify()
            final = self.database.files_dir / instance.relative_path()
            folder = _open_folder(final.parent)
            try:
                if self._stored_already(instance, final, folder):
                    return instance, None
                os.fsync(fd)
                try:
                    if not self._link_unnamed(fd, instance, final.name, folder):
                        return instance, None
                except (_NoProc, OSError) as exc:
                    if not isinstance(exc, _NoProc) and exc.errno != errno.EXDEV:
                        raise
                    self._early_writes = False  # TEMP on another file system (or no /proc)
                    return instance, self.stage_bytes(instance, *parts)
                os.fsync(folder)
            finally:
                os.close(folder)
        finally:
            os.close(fd)
        return instance, Staged(instance, final, size)

    def _stored_already(self, instance: Instance, final: Path, folder: int) -> bool:
        """Its final name is taken and a row owns the object (a name alone may be a leftover)."""
        return _exists_in(folder, final.name) and bool(self.known_sop_uids([instance.sop_instance_uid]))

    def _link_unnamed(self, fd: int, instance: Instance, name: str, folder: int) -> bool:
        """Give an unnamed file its final name; False if a stored object already has it.

        A name without a row is a leftover of a crash: it is replaced. Raises _NoProc where
        /proc is missing (the caller then names files the portable way from now on).
        """
        try:
            _link_fd(fd, name, folder)
        except FileExistsError:
            if self.known_sop_uids([instance.sop_instance_uid]):
                return False
            spare = f".{name}.{uuid.uuid4().hex}.part"
            _link_fd(fd, spare, folder)
            os.replace(spare, name, src_dir_fd=folder, dst_dir_fd=folder)
        except FileNotFoundError:
            if os.path.isdir("/proc/self/fd"):
                raise
            self._unnamed_files = False
            raise _NoProc from None
        return True

    def _stage_named(self, instance: Instance, write: Callable[[BinaryIO], object], final: Path,
                     folder: int) -> Staged | None:
        """`stage` through a named file in TEMP (file systems without O_TMPFILE)."""
        fd, tmp_name = tempfile.mkstemp(dir=self.database.temp_dir, suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
                size = handle.tell()
            try:
                os.link(tmp, final)
            except FileExistsError:
                if self.known_sop_uids([instance.sop_instance_uid]):
                    return None
                os.replace(tmp, final)
            os.fsync(folder)
        finally:
            tmp.unlink(missing_ok=True)
        return Staged(instance, final, size)

    def copy_in(self, instance: Instance, source: Path, source_fd: int, size: int) -> Copy:
        """Copy an open file's bytes (kernel to kernel) under the object's final name, never
        replacing a file there; runs in the importer's worker threads.

        A file under its final name without a row does not count (see the module docstring), so
        naming it before `place` and `commit` is safe, and keeps that work off the thread that
        commits. A name already taken (mostly: the object is stored; a re-imported folder) is
        left to `place` before anything is copied.
        """
        final = self.database.files_dir / instance.relative_path()
        folder = _open_folder(final.parent)
        try:
            if _exists_in(folder, final.name):
                return Copy(instance, final, size, source=source)
            fd = _open_unnamed(folder) if self._unnamed_files else None
            if fd is None:
                fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=".", suffix=".part")
                copy = Copy(instance, final, size, fd=fd, tmp=Path(tmp_name))
            else:
                copy = Copy(instance, final, size, fd=fd)
            try:
                _copy_file(source_fd, copy.fd, size)
                _start_writeback(copy.fd)  # the disk works while we go on; place's sync waits less
                try:
                    if copy.tmp is None:
                        _link_fd(copy.fd, final.name, folder)
                    else:
                        os.link(copy.tmp.name, final.name, src_dir_fd=folder, dst_dir_fd=folder)
                except FileExistsError:
                    if copy.tmp is not None:
                        os.close(copy.fd)
                        copy.fd = None
                    return copy  # place decides: stored already, or a leftover to replace
                copy.discard()
            except BaseException:
                copy.discard()
                raise
        finally:
            os.close(folder)
        return copy

    def link_in(self, instance: Instance, source: Path, size: int, *, ours: bool) -> Copy | None:
        """Store a file by a hard link under its final name instead of a copy, never replacing;
        a taken name is settled by `place` as for copies.

        For our own files in TEMP (unpacked from a zip, uploaded, downloaded) this just saves the
        copy. For a user's file (`viewbox import --link`) the stored object is the user's file:
        no time, no space, but an edit of it in place changes the stored object too. None when
        no link can be made (another file system, not allowed): the caller copies.
        """
        final = self.database.files_dir / instance.relative_path()
        final.parent.mkdir(parents=True, exist_ok=True)
        if ours:
            os.chmod(source, 0o600)  # as private as a copy
        try:
            os.link(source, final)
        except FileExistsError:  # place settles it; our own file may be moved, a user's only linked
            return (Copy(instance, final, size, tmp=source) if ours
                    else Copy(instance, final, size, source=source, link_source=True))
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES):
                return None
            raise
        return Copy(instance, final, size)

    def place(self, copies: list[Copy]) -> list[Staged | None]:
        """Settle a batch of copies and make them durable with one sync.

        None marks an object already stored (or twice in the batch); its copy is dropped. A name
        that exists without a row is a leftover of a crash and is replaced.
        """
        known = self.known_sop_uids(copy.instance.sop_instance_uid for copy in copies)
        placed: list[Staged | None] = []
        try:
            for copy in copies:
                uid = copy.instance.sop_instance_uid
                if uid in known:
                    placed.append(None)
                    continue
                known.add(uid)
                if copy.fd is not None:
                    folder = _open_folder(copy.final_path.parent)
                    try:
                        spare = f".{uuid.uuid4().hex}.part"
                        _link_fd(copy.fd, spare, folder)
                        os.replace(spare, copy.final_path.name, src_dir_fd=folder, dst_dir_fd=folder)
                    finally:
                        os.close(folder)
                elif copy.tmp is not None:
                    os.replace(copy.tmp, copy.final_path)
                    copy.tmp = None
                elif copy.source is not None:
                    spare = copy.final_path.with_name(f".{uuid.uuid4().hex}.part")
                    try:
                        if copy.link_source:
                            os.link(copy.source, spare)
                        else:
                            with open(copy.source, "rb") as source, open(spare, "wb") as target:
                                _copy_file(source.fileno(), target.fileno(), copy.size)
                        os.replace(spare, copy.final_path)
                    finally:
                        spare.unlink(missing_ok=True)
                placed.append(Staged(copy.instance, copy.final_path, copy.size))
            sync_filesystem(self.database.files_dir)
        finally:
            for copy in copies:
                copy.discard()
        return placed

    # -- committing ------------------------------------------------------------------------------

    def known_sop_uids(self, uids: Iterable[str]) -> set[str]:
        """Which of these SOP Instance UIDs are already stored."""
        with self.database.read() as conn:
            return _existing_sops(conn, list(uids))

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

    def _sql(self, conn: Connection) -> _PreparedSQL:
        if self._prepared is None or self._prepared.dialect is not conn.dialect:
            self._prepared = _PreparedSQL(conn.dialect)
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
            _prune_empty_dirs(path.parent, self.database.files_dir)
        return len(pks)

    # -- albums ----------------------------------------------------------------------------------

    ALBUM_NAME_MAX = 64
    # What the album list calls every study (OsiriX's "Database" entry): no album may be named so.
    ALL_STUDIES_NAME = "Database"

    def create_album(self, name: str) -> str:
        """Create an empty regular album and return its name (trimmed).

        BadRequest for an empty or too long name, or one already used: names are how the RIS
        (SelectAlbum) and the UI address albums, so two that differ only in case would be a trap.
        """
        name = (name or "").strip()
        if not name:
            raise BadRequest("an album needs a name")
        if len(name) > self.ALBUM_NAME_MAX:
            raise BadRequest(f"an album name has at most {self.ALBUM_NAME_MAX} characters")
        row = schema.with_folds(schema.album, {"name": name, "smart_album": False})
        if row["name__c"] == schema.fold(self.ALL_STUDIES_NAME, True, False):
            raise BadRequest(f"{self.ALL_STUDIES_NAME!r} is the list of every study, not an album name")
        with self._write_lock, self.database.begin() as conn:
            taken = conn.scalar(select(schema.album.c.name).where(schema.album.c.name__c == row["name__c"]))
            if taken is not None:
                raise BadRequest(f"an album named {taken!r} already exists")
            conn.execute(insert(schema.album).values(row))
        return name

    def add_to_album(self, album_name: str, study_pks: Iterable[int]) -> int:
        """Add studies to a regular album; returns how many were not in it yet.

        NotFound for an unknown album, BadRequest for a smart one (its predicate decides its studies).
        """
        with self._write_lock, self.database.begin() as conn:
            album_pk = self._regular_album_pk(conn, album_name)
            present = set(conn.scalars(select(schema.album_study.c.study_pk)
                                       .where(schema.album_study.c.album_pk == album_pk)))
            rows = [{"album_pk": album_pk, "study_pk": pk} for pk in set(study_pks) - present]
            if rows:
                conn.execute(insert(schema.album_study), rows)
            return len(rows)

    def remove_from_album(self, album_name: str, study_pks: Iterable[int]) -> int:
        """Take studies out of a regular album (the studies stay); returns how many were in it."""
        pks = sorted(set(study_pks))
        with self._write_lock, self.database.begin() as conn:
            album_pk = self._regular_album_pk(conn, album_name)
            return conn.execute(delete(schema.album_study).where(
                schema.album_study.c.album_pk == album_pk, schema.album_study.c.study_pk.in_(pks))).rowcount

    @staticmethod
    def _regular_album_pk(conn: Connection, name: str) -> int:
        album = conn.execute(select(schema.album.c.pk, schema.album.c.smart_album)
                             .where(schema.album.c.name == name)).first()
        if album is None:
            raise NotFound(f"no album named {name!r}")
        if album.smart_album:
            raise BadRequest(f"{name!r} is a smart album: its predicate decides which studies it holds")
        return album.pk

    def mark_opened(self, study_pks: Iterable[int]) -> None:
        """Record dateOpened (feeds the 'Just Opened' smart album)."""
        pks = list(set(study_pks))
        if not pks:
            return
        with self._write_lock, self.database.begin_bookkeeping() as conn:
            conn.execute(update(schema.study).where(schema.study.c.pk.in_(pks))
                         .values(date_opened=utcnow()))


def _existing_sops(conn: Connection, uids: list[str]) -> set[str]:
    """The stored ones among `uids`, asked in chunks (bound-parameter limits)."""
    found: set[str] = set()
    for start in range(0, len(uids), 500):
        found.update(conn.scalars(select(schema.image.c.sop_instance_uid)
                                  .where(schema.image.c.sop_instance_uid.in_(uids[start:start + 500]))))
    return found


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

    def apply(self, conn: Connection, sql: _PreparedSQL) -> None:
        ser, stu = schema.series, schema.study
        for table, totals in ((ser, self.series), (stu, self.studies)):
            for pk, (count, first) in totals.items():
                sql.add_images(conn, table, pk, count, first)
        for study_pk in self.new_series_in:
            modalities = list(conn.scalars(select(ser.c.modality).where(ser.c.study_pk == study_pk)
                                           .order_by(ser.c.date, ser.c.series_number, ser.c.pk)))
            conn.execute(update(stu).where(stu.c.pk == study_pk).values(
                schema.with_folds(stu, {"modality": study_modality(modalities)})))


_MAX_BOUND = 999  # bound parameters per statement: SQLite's lowest limit (older builds)


class _PreparedSQL:
    """The statements of the C-STORE hot path as plain SQL for one dialect, built once.

    SQLAlchemy Core costs ~0.2 ms per statement in building, cache-key generation, compiled-cache
    lookups and result objects; these run on the transaction's own DBAPI cursor, with the
    columns' own bind processors (so dates are stored exactly as Core stores them) and positional
    parameters in the driver's style.
    """

    def __init__(self, dialect) -> None:
        self.dialect = dialect
        self._mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._quote = dialect.identifier_preparer.quote
        self._returning = dialect.name != "sqlite"  # SQLite has cursor.lastrowid
        self._processors: dict[tuple[str, str], Callable | None] = {}
        self._inserts: dict[tuple[str, tuple[str, ...]], tuple[str, list]] = {}
        self._texts: dict[tuple, str] = {}

    def _processor(self, table, name: str):
        key = (table.name, name)
        if key not in self._processors:
            column = table.c[name]
            self._processors[key] = column.type.dialect_impl(self.dialect).bind_processor(self.dialect)
        return self._processors[key]

    def _bind(self, table, name: str, value):
        processor = self._processor(table, name)
        return value if processor is None or value is None else processor(value)

    def existing_sops(self, conn: Connection, uids: list[str]) -> set[str]:
        if len(uids) != 1:
            return _existing_sops(conn, uids)
        sql = self._texts.get(("existing",))
        if sql is None:
            sql = self._texts[("existing",)] = (
                f"SELECT sop_instance_uid FROM image WHERE sop_instance_uid = {self._mark}")
        with _cursor(conn) as cursor:
            cursor.execute(sql, (uids[0],))
            return {row[0] for row in cursor.fetchall()}

    def _insert(self, table, keys: tuple[str, ...]) -> tuple[str, list]:
        """INSERT statement for these keys plus the columns' scalar defaults not given."""
        cached = self._inserts.get((table.name, keys))
        if cached is None:
            defaults = [(c.name, c.default.arg) for c in table.c
                        if c.name not in keys and c.default is not None and c.default.is_scalar]
            names = [*keys, *(name for name, _ in defaults)]
            sql = (f"INSERT INTO {self._quote(table.name)} ({', '.join(self._quote(n) for n in names)}) "
                   f"VALUES ({', '.join([self._mark] * len(names))})")
            if self._returning:
                sql += " RETURNING pk"
            cached = self._inserts[(table.name, keys)] = (sql, [value for _, value in defaults])
        return cached

    def _params(self, table, keys: tuple[str, ...], row: dict, defaults: list) -> tuple:
        return (*(self._bind(table, k, row[k]) for k in keys), *defaults)

    def upsert(self, conn: Connection, table, key: str, values: dict) -> tuple[int, bool]:
        """(primary key, created) of the row with this UID, inserting it if absent."""
        select_sql = self._texts.get(("pk", table.name, key))
        if select_sql is None:
            select_sql = self._texts[("pk", table.name, key)] = (
                f"SELECT pk FROM {self._quote(table.name)} WHERE {self._quote(key)} = {self._mark}")
        with _cursor(conn) as cursor:
            cursor.execute(select_sql, (values[key],))
            row = cursor.fetchone()
            if row is not None:
                return row[0], False
            folded = schema.with_folds(table, values)
            keys = tuple(folded)
            sql, defaults = self._insert(table, keys)
            cursor.execute(sql, self._params(table, keys, folded, defaults))
            return (cursor.fetchone()[0] if self._returning else cursor.lastrowid), True

    def insert_many(self, conn: Connection, table, rows: list[dict]) -> None:
        by_keys: dict[tuple[str, ...], list[dict]] = {}
        for row in rows:
            by_keys.setdefault(tuple(row), []).append(row)
        for keys, group in by_keys.items():
            sql, defaults = self._insert(table, keys)
            if self._returning:
                sql = sql[: -len(" RETURNING pk")]
            head, _, values = sql.partition(" VALUES ")
            per_statement = max(1, _MAX_BOUND // (len(keys) + len(defaults)))
            with _cursor(conn) as cursor:
                # Many rows per statement: one step of the database per statement, not per row
                # (each step lets the import's worker threads take the GIL from this thread).
                for start in range(0, len(group), per_statement):
                    chunk = group[start:start + per_statement]
                    cursor.execute(f"{head} VALUES {', '.join([values] * len(chunk))}",
                                   [p for row in chunk for p in self._params(table, keys, row, defaults)])

    def add_images(self, conn: Connection, table, pk: int, count: int, first: datetime | None) -> None:
        """number_of_images += count; date = the earlier of date and `first` (when given)."""
        dated = first is not None
        sql = self._texts.get(("add", table.name, dated))
        if sql is None:
            t, m, date = self._quote(table.name), self._mark, self._quote("date")
            assign = "number_of_images = number_of_images + " + m
            if dated:
                assign += (f", {date} = CASE WHEN {date} IS NULL THEN {m} WHEN {date} > {m} "
                           f"THEN {m} ELSE {date} END")
            sql = self._texts[("add", table.name, dated)] = f"UPDATE {t} SET {assign} WHERE pk = {m}"
        if dated:
            first = self._bind(table, "date", first)
        with _cursor(conn) as cursor:
            cursor.execute(sql, (count, first, first, first, pk) if dated else (count, pk))


@contextmanager
def _cursor(conn: Connection):
    """A DBAPI cursor of the connection's current transaction."""
    cursor = conn.connection.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def sync_filesystem(folder: Path) -> None:
    """Flush every written file and directory entry of the file system holding `folder`.

    One syncfs per batch costs far less than an fsync per file and gives the same guarantee
    before the batch's rows commit.
    """
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _LIBC is not None and _LIBC.syncfs(fd) == 0:
            return
        os.sync()
    finally:
        os.close(fd)


def _load_libc():
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc if hasattr(libc, "syncfs") else None
    except OSError:
        return None


_LIBC = _load_libc()
_SYNC_FILE_RANGE = None
if _LIBC is not None and hasattr(_LIBC, "sync_file_range"):
    import ctypes

    _SYNC_FILE_RANGE = _LIBC.sync_file_range
    _SYNC_FILE_RANGE.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)


def _exists_in(folder: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _open_unnamed(folder: int | Path) -> int | None:
    """A new file without a name in `folder` (a descriptor or a path; O_TMPFILE): a failed write
    leaves nothing behind. None where the file system (or kernel) has no O_TMPFILE."""
    where, dir_fd = (".", folder) if isinstance(folder, int) else (folder, None)
    try:
        return os.open(where, os.O_TMPFILE | os.O_WRONLY, 0o600, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return None  # this file system (or kernel) has no O_TMPFILE
        raise


def _link_fd(fd: int, name: str, folder: int) -> None:
    """Give an O_TMPFILE file `name` in `folder` (linkat with AT_SYMLINK_FOLLOW on /proc)."""
    os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=folder, follow_symlinks=True)


def _copy_file(source_fd: int, target_fd: int, size: int) -> None:
    """Copy `size` bytes from the start of one file to another inside the kernel."""
    offset = 0
    try:
        while offset < size:
            copied = os.copy_file_range(source_fd, target_fd, size - offset, offset, offset)
            if copied == 0:
                break
            offset += copied
    except OSError as exc:  # no copy_file_range between these files (old kernels, some file systems)
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
        while offset < size:
            os.lseek(target_fd, offset, os.SEEK_SET)
            copied = os.sendfile(target_fd, source_fd, offset, size - offset)
            if copied == 0:
                break
            offset += copied
    if offset != size:
        raise OSError(errno.EIO, f"the file shrank while it was copied ({offset} of {size} bytes)")


class _NoProc(Exception):
    """/proc/self/fd is missing: unnamed files cannot be linked."""


def _open_folder(folder: Path) -> int:
    """A descriptor of `folder`, created (with its parents) when missing."""
    try:
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)


def _start_writeback(fd: int) -> None:
    """Ask the kernel to start writing the file's dirty pages out now, without waiting."""
    if _LIBC is not None and _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, 0, 0, 2)  # SYNC_FILE_RANGE_WRITE; best effort, fsync follows


def _prune_empty_dirs(directory: Path, stop: Path) -> None:
    while directory != stop and stop in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
