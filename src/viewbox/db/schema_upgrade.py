"""Bring a database's schema to the revision this code knows (Alembic, scripts in migrations/).

Opening a database decides once, under a lock:
- no tables: create the schema at head (`create_all`), with the default albums, and stamp it;
- Viewbox 0.1.0's tables and no `alembic_version`: that is the baseline revision; stamp it, then
  upgrade like any older revision;
- an older revision: SQLite first copies `viewbox.sqlite` to a backup beside it (logged), then
  upgrades; PostgreSQL upgrades in the one transaction that took the lock (DDL is transactional
  there), so a failed upgrade leaves the database as it was;
- a revision this code does not know (a newer Viewbox upgraded it): refuse, naming the revision and
  the Viewbox that wrote it.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, insert, inspect, select, text
from sqlalchemy.engine import Engine

from .. import __version__
from ..errors import SchemaTooNew, SchemaUnknown
from . import schema

log = logging.getLogger(__name__)

SCRIPT_LOCATION = "viewbox.db:migrations"
BASELINE = "0001"  # the schema of Viewbox 0.1.0, which had no alembic_version table
_BASELINE_TABLES = frozenset({"study", "series", "image", "album", "album_study"})
_PG_LOCK_KEY = 0x76696577626F78  # "viewbox": one advisory lock for every Viewbox schema change


@dataclass(frozen=True)
class SchemaState:
    """What a database holds: `revision` (None: unversioned), and what this code makes of it."""

    revision: str | None
    head: str
    tables: frozenset[str]
    written_by: str | None = None  # the Viewbox version that last created or upgraded the schema

    @property
    def empty(self) -> bool:
        return self.revision is None and not (self.tables & _BASELINE_TABLES)

    @property
    def unversioned_baseline(self) -> bool:
        return self.revision is None and _BASELINE_TABLES <= self.tables

    @property
    def known(self) -> bool:
        return self.revision is None or self.revision in _revisions()

    @property
    def current(self) -> bool:
        return self.revision == self.head

    def describe(self) -> str:
        if self.empty:
            return "empty (no Viewbox tables yet)"
        if self.unversioned_baseline:
            return f"Viewbox 0.1.0 schema, not yet stamped (baseline revision {BASELINE})"
        if self.revision is None:
            return "not a Viewbox schema"
        if not self.known:
            return f"revision {self.revision}, newer than this Viewbox knows"
        return f"revision {self.revision}" + (" (head)" if self.current else f", older than head {self.head}")


@dataclass(frozen=True)
class Outcome:
    """What opening did: "current", "created" or "upgraded" (from `before`), and any backup."""

    action: str
    before: str | None
    after: str
    backup: Path | None = None


VERSIONS = Path(__file__).with_name("migrations") / "versions"


def _config(connection: Connection | None = None):
    """Alembic's configuration for our scripts, run on `connection` (Alembic is imported only when
    the schema changes: opening a database at head needs none of it, and it is slow to import)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


@functools.cache
def _revisions() -> frozenset[str]:
    """The revisions this code ships, from the file names (`vNNNN_what.py` holds revision NNNN;
    tests check that Alembic reads the same chain)."""
    return frozenset(path.name[1:5] for path in VERSIONS.glob("v[0-9][0-9][0-9][0-9]_*.py"))


def head_revision() -> str:
    return max(_revisions())


def read_state(conn: Connection, head: str | None = None) -> SchemaState:
    """The schema's revision and tables as this connection sees them (reads only)."""
    tables = frozenset(inspect(conn).get_table_names())
    revision = (conn.scalar(text("SELECT version_num FROM alembic_version"))
                if "alembic_version" in tables else None)
    written_by = None
    if "schema_history" in tables:
        written_by = conn.scalar(select(schema.schema_history.c.viewbox_version)
                                 .order_by(schema.schema_history.c.pk.desc()).limit(1))
    return SchemaState(revision, head or head_revision(), tables, written_by)


def bring_to_head(engine: Engine, where: str, sqlite_file: Path | None,
                  populate: Callable[[Connection], None]) -> Outcome:
    """Create, stamp or upgrade the schema to head (see the module docstring); `where` names the
    database in messages; `populate` fills a newly created database (default albums)."""
    head = head_revision()
    with engine.connect() as conn:
        state = read_state(conn, head)
    if state.current:
        return Outcome("current", head, head)
    with engine.connect() as conn, _schema_transaction(conn):
        state = read_state(conn, head)  # again, locked: another process may have done it meanwhile
        if state.current:
            return Outcome("current", head, head)
        _refuse_unless_upgradable(state, where)
        if state.empty:
            schema.metadata.create_all(conn)
            populate(conn)
            _alembic("stamp", conn, head)
            _record(conn, head)
            return Outcome("created", None, head)
        before = state.revision or BASELINE
        backup = _backup(sqlite_file, before) if sqlite_file else None
        if state.unversioned_baseline:
            _alembic("stamp", conn, BASELINE)
        log.info("upgrading the schema of %s from revision %s to %s", where, before, head)
        _alembic("upgrade", conn, head)
        _record(conn, head)
    return Outcome("upgraded", before, head, backup)


def _alembic(action: str, conn: Connection, revision: str) -> None:
    from alembic import command

    getattr(command, action)(_config(conn), revision)


@contextmanager
def _schema_transaction(conn: Connection) -> Iterator[None]:
    """One transaction that holds the database's write lock for the whole schema change.

    PostgreSQL: an advisory lock inside an ordinary transaction (its DDL is transactional).
    SQLite: `BEGIN IMMEDIATE` (the driver would otherwise run each DDL statement on its own), with
    foreign keys off meanwhile, as SQLite prescribes for rebuilding tables: dropping a parent
    table during a batch migration must not cascade into its children. Integrity is checked
    before the commit.
    """
    if conn.dialect.name != "sqlite":
        with conn.begin():
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            yield
        return
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    conn.commit()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise SchemaUnknown(f"the schema change would break {len(broken)} references: undone")
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    finally:
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.commit()


def _refuse_unless_upgradable(state: SchemaState, where: str) -> None:
    if not state.known:
        by = (f"Viewbox {state.written_by} upgraded it: use that version or a newer one"
              if state.written_by else "use a newer Viewbox")
        raise SchemaTooNew(
            f"the database {where} has schema revision {state.revision}, which Viewbox {__version__} "
            f"does not know (its newest is {state.head}); {by}. Nothing was changed.")
    if state.revision is None and not state.empty and not state.unversioned_baseline:
        missing = ", ".join(sorted(_BASELINE_TABLES - state.tables))
        raise SchemaUnknown(
            f"the database {where} has tables but not Viewbox's (missing: {missing}) and no schema "
            "revision: refusing to touch it. Use an empty database or a Viewbox data folder.")


def _record(conn: Connection, revision: str) -> None:
    conn.execute(insert(schema.schema_history).values(
        revision=revision, viewbox_version=__version__, applied_at=datetime.now(UTC).replace(tzinfo=None)))


def _backup(sqlite_file: Path, revision: str) -> Path:
    """A consistent copy of the SQLite database (WAL included) beside it, before it is changed."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = sqlite_file.with_name(f"{sqlite_file.stem}-backup-r{revision}-{stamp}{sqlite_file.suffix}")
    source = sqlite3.connect(sqlite_file)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    log.warning("schema upgrade: copied %s to %s first (revision %s; keep it until the upgraded "
                "database has proven itself)", sqlite_file, target, revision)
    return target
