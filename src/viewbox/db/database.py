"""One study database: its engine, its data folder, and how it is created.

A `Database` is a `Viewbox Data/` folder (files, INCOMING, QUARANTINE, TEMP) plus the rows, which
live in `viewbox.sqlite` inside it (WAL) or in PostgreSQL when a URL is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine, event, insert, select
from sqlalchemy.engine import Engine

from . import schema, schema_upgrade

# OsiriX's default albums (docs/osirix-names.md): created once, when a database is new.
_TODAY_MODALITIES = ("MR", "CT", "US", "MG", "CR", "XA", "RF")
DEFAULT_ALBUMS: tuple[tuple[str, str | None], ...] = (
    ("Just Added (last hour)", "dateAdded >= $NSDATE_LASTHOUR"),
    ("Just Acquired (last hour)", "date >= $NSDATE_LASTHOUR"),
    ("Just Opened", "dateOpened >= $NSDATE_LAST6HOURS"),
    *((f"Today {m}", f"(modality CONTAINS[cd] '{m}') AND (date >= $NSDATE_TODAY)") for m in _TODAY_MODALITIES),
    *(
        (f"Yesterday {m}",
         f"(modality CONTAINS[cd] '{m}') AND (date >= $NSDATE_YESTERDAY) AND (date <= $NSDATE_TODAY)")
        for m in _TODAY_MODALITIES
    ),
    ("Cases with comments", "(comment != '') AND (comment != NIL)"),
    ("Interesting Cases", None),
)


class Database:
    """The rows and the folders of one `Viewbox Data/` directory."""

    def __init__(self, data_dir: Path, url: str | None = None, *, upgrade: bool = True):
        """`upgrade=False` opens without creating or upgrading the schema (`viewbox db current`);
        otherwise the schema is brought to head first (schema_upgrade.py), or the open refused."""
        self.data_dir = Path(data_dir)
        for folder in (self.files_dir, self.incoming_dir, self.quarantine_dir, self.temp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.url = url or f"sqlite:///{self.sqlite_file}"
        self.engine = _make_engine(self.url)
        self.schema_outcome: schema_upgrade.Outcome | None = None
        if upgrade:
            try:
                self.schema_outcome = self.upgrade()
            except BaseException:
                self.engine.dispose()
                raise

    @property
    def is_new(self) -> bool:
        return self.schema_outcome is not None and self.schema_outcome.action == "created"

    @property
    def sqlite_file(self) -> Path:
        return self.data_dir / "viewbox.sqlite"

    @property
    def where(self) -> str:
        """The database as messages name it: the SQLite file, or the server URL without credentials."""
        return str(self.sqlite_file) if self.dialect == "sqlite" else redacted(self.url)

    def upgrade(self) -> schema_upgrade.Outcome:
        """Create, stamp or upgrade the schema to the head revision (SchemaTooNew if it is newer)."""
        sqlite_file = self.sqlite_file if self.dialect == "sqlite" else None
        return schema_upgrade.bring_to_head(self.engine, self.where, sqlite_file, create_default_albums)

    def schema_state(self) -> schema_upgrade.SchemaState:
        with self.read() as conn:
            return schema_upgrade.read_state(conn)

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "DATABASE"

    @property
    def incoming_dir(self) -> Path:
        return self.data_dir / "INCOMING"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "QUARANTINE"

    @property
    def temp_dir(self) -> Path:
        return self.data_dir / "TEMP"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection inside one transaction, committed on success."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def begin_bookkeeping(self) -> Iterator[Connection]:
        """A transaction for bookkeeping (dateOpened …) whose commit need not reach the disk at
        once: on SQLite it skips the WAL fsync (a power cut may lose it, never corrupt it)."""
        with self.engine.connect() as conn:
            relaxed = self.dialect == "sqlite"
            if relaxed:
                conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
                conn.commit()
            try:
                with conn.begin():
                    yield conn
            finally:
                if relaxed:
                    conn.exec_driver_sql("PRAGMA synchronous=FULL")
                    conn.commit()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads."""
        with self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()


def create_default_albums(conn: Connection) -> None:
    """Add OsiriX's default albums whose names are not taken yet."""
    existing = set(conn.scalars(select(schema.album.c.name)))
    rows = [
        schema.with_folds(schema.album, {
            "name": name, "smart_album": predicate is not None, "predicate_string": predicate,
            "index": index,
        })
        for index, (name, predicate) in enumerate(DEFAULT_ALBUMS)
        if name not in existing
    ]
    if rows:
        conn.execute(insert(schema.album), rows)


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=8, max_overflow=16)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001 - DBAPI hook
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_size=8, max_overflow=16, pool_pre_ping=True)


def redacted(url: str) -> str:
    """A database URL without its credentials, for messages and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
