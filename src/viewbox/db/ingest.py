"""The statements of the ingest hot path (C-STORE, import) as plain SQL for one dialect.

Hand-written because SQLAlchemy Core costs ~0.2 ms per statement in building, cache keys and
result objects, and a C-STORE runs a handful of them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection, select

from . import schema


def existing_sops(conn: Connection, uids: list[str]) -> set[str]:
    """The stored ones among `uids`, asked in chunks (bound-parameter limits)."""
    found: set[str] = set()
    for start in range(0, len(uids), 500):
        found.update(conn.scalars(select(schema.image.c.sop_instance_uid)
                                  .where(schema.image.c.sop_instance_uid.in_(uids[start:start + 500]))))
    return found


class ConcurrentChange(Exception):
    """Another writer changed what this transaction relies on: run the transaction again."""


_MAX_BOUND = 999  # bound parameters per statement: SQLite's lowest limit (older builds)


class IngestStatements:
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

    def _insert(self, table, keys: tuple[str, ...], unique: str) -> tuple[str, list]:
        """INSERT for these keys plus the columns' scalar defaults not given, skipping rows whose
        `unique` column is taken (another writer, maybe another node, created it first) and
        returning (pk, unique) of the rows it did create."""
        cached = self._inserts.get((table.name, keys))
        if cached is None:
            defaults = [(c.name, c.default.arg) for c in table.c
                        if c.name not in keys and c.default is not None and c.default.is_scalar]
            names = [*keys, *(name for name, _ in defaults)]
            sql = (f"INSERT INTO {self._quote(table.name)} ({', '.join(self._quote(n) for n in names)}) "
                   f"VALUES ({', '.join([self._mark] * len(names))})"
                   f" ON CONFLICT ({self._quote(unique)}) DO NOTHING RETURNING pk, {self._quote(unique)}")
            cached = self._inserts[(table.name, keys)] = (sql, [value for _, value in defaults])
        return cached

    def _params(self, table, keys: tuple[str, ...], row: dict, defaults: list) -> tuple:
        return (*(self._bind(table, k, row[k]) for k in keys), *defaults)

    def _select_pk(self, cursor, table, key: str, value: str):
        sql = self._texts.get(("pk", table.name, key))
        if sql is None:
            sql = self._texts[("pk", table.name, key)] = (
                f"SELECT pk FROM {self._quote(table.name)} WHERE {self._quote(key)} = {self._mark}")
        cursor.execute(sql, (value,))
        row = cursor.fetchone()
        return None if row is None else row[0]

    def find_or_create(self, conn: Connection, table, key: str, values: dict) -> tuple[int, bool]:
        """(primary key, created) of the row with this UID, inserting it if absent.

        Safe with concurrent writers: when another transaction creates the same row meanwhile,
        the insert waits for it and does nothing, and the row it made is read back.
        """
        with _cursor(conn) as cursor:
            pk = self._select_pk(cursor, table, key, values[key])
            if pk is not None:
                return pk, False
            folded = schema.with_folds(table, values)
            keys = tuple(folded)
            sql, defaults = self._insert(table, keys, key)
            cursor.execute(sql, self._params(table, keys, folded, defaults))
            row = cursor.fetchone()
            if row is not None:
                return row[0], True
            pk = self._select_pk(cursor, table, key, values[key])
            if pk is None:  # created and deleted again meanwhile: the caller's transaction retries
                raise ConcurrentChange(f"{table.name} {values[key]} changed meanwhile")
            return pk, False

    def series_of(self, conn: Connection, series_uid: str) -> tuple[int, int, str] | None:
        """(pk, study pk, study UID) of a stored series."""
        sql = self._texts.get(("series_of",))
        if sql is None:
            sql = self._texts[("series_of",)] = (
                "SELECT series.pk, study.pk, study.study_instance_uid FROM series JOIN study ON "
                f"study.pk = series.study_pk WHERE series.series_instance_uid = {self._mark}")
        with _cursor(conn) as cursor:
            cursor.execute(sql, (series_uid,))
            row = cursor.fetchone()
            return None if row is None else (row[0], row[1], row[2])

    def insert_new(self, conn: Connection, table, unique: str, rows: list[dict]) -> set[str]:
        """Insert the rows whose `unique` value is not taken; returns the values inserted."""
        by_keys: dict[tuple[str, ...], list[dict]] = {}
        for row in rows:
            by_keys.setdefault(tuple(row), []).append(row)
        inserted: set[str] = set()
        for keys, group in by_keys.items():
            sql, defaults = self._insert(table, keys, unique)
            head, _, values = sql.partition(" VALUES ")
            values, _, tail = values.partition(" ON CONFLICT ")
            per_statement = max(1, _MAX_BOUND // (len(keys) + len(defaults)))
            with _cursor(conn) as cursor:
                # Many rows per statement: one step of the database per statement, not per row
                # (each step lets the import's worker threads take the GIL from this thread).
                for start in range(0, len(group), per_statement):
                    chunk = group[start:start + per_statement]
                    cursor.execute(f"{head} VALUES {', '.join([values] * len(chunk))} ON CONFLICT {tail}",
                                   [p for row in chunk for p in self._params(table, keys, row, defaults)])
                    inserted.update(row[1] for row in cursor.fetchall())
        return inserted

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
