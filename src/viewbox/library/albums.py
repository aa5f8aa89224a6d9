"""Regular albums: named sets of studies the user keeps (smart albums are predicates: see
predicates/albums.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from sqlalchemy import Connection, delete, insert, select

from ..db import schema
from ..db.database import Database
from ..errors import BadRequest, NotFound


class Albums:
    """Creates albums and changes which studies a regular album holds."""

    ALBUM_NAME_MAX = 64
    # What the album list calls every study (OsiriX's "Database" entry): no album may be named so.
    ALL_STUDIES_NAME = schema.ALL_STUDIES

    def __init__(self, database: Database, write_lock: threading.Lock):
        self._database = database
        self._write_lock = write_lock

    def create(self, name: str) -> str:
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
        with self._write_lock, self._database.begin() as conn:
            taken = conn.scalar(select(schema.album.c.name).where(schema.album.c.name__c == row["name__c"]))
            if taken is not None:
                raise BadRequest(f"an album named {taken!r} already exists")
            conn.execute(insert(schema.album).values(row))
        return name

    def add(self, album_name: str, study_pks: Iterable[int]) -> int:
        """Add studies to a regular album; returns how many were not in it yet.

        NotFound for an unknown album, BadRequest for a smart one (its predicate decides its studies).
        """
        with self._write_lock, self._database.begin() as conn:
            album_pk = self._regular_album_pk(conn, album_name)
            present = set(conn.scalars(select(schema.album_study.c.study_pk)
                                       .where(schema.album_study.c.album_pk == album_pk)))
            rows = [{"album_pk": album_pk, "study_pk": pk} for pk in set(study_pks) - present]
            if rows:
                conn.execute(insert(schema.album_study), rows)
            return len(rows)

    def remove(self, album_name: str, study_pks: Iterable[int]) -> int:
        """Take studies out of a regular album (the studies stay); returns how many were in it."""
        pks = sorted(set(study_pks))
        with self._write_lock, self._database.begin() as conn:
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
