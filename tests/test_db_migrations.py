"""Schema migrations: a real Viewbox 0.1.0 data folder (and PostgreSQL dump) opens upgraded with
everything intact; new databases are created at head; a newer schema is refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, create_engine, text

from helpers.postgres import postgres_url
from viewbox.app import Workstation
from viewbox.config import Settings
from viewbox.db import schema, schema_upgrade
from viewbox.db.database import Database, _make_engine
from viewbox.errors import SchemaTooNew, SchemaUnknown
from viewbox.library import queries
from viewbox.predicates.albums import smart_album_filter

RELEASE = Path(__file__).parent / "data" / "viewbox-0.1.0"
TABLES_0_1_0 = ("study", "series", "image", "album", "album_study")


def _rows(engine) -> dict[str, list[dict]]:
    """Every row of 0.1.0's tables, in primary-key order: what must survive the upgrade."""
    with engine.connect() as conn:
        return {table: [dict(row) for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2")).mappings()]
                for table in TABLES_0_1_0}


def _sqlite_rows(path: Path) -> dict[str, list[dict]]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        return _rows(engine)
    finally:
        engine.dispose()


def _release_folder(tmp_path: Path) -> Path:
    """A copy of the 0.1.0 data folder (the test must not change the committed one)."""
    root = tmp_path / "root"
    shutil.copytree(RELEASE / "sqlite" / "Viewbox Data", root / "Viewbox Data")
    return root


def _check_contents(ws: Workstation, before: dict[str, list[dict]]) -> None:
    """Every row as 0.1.0 wrote it, every file in place, albums (regular and smart) still working."""
    assert _rows(ws.database.engine) == before
    assert len(before["study"]) == 4 and len(before["image"]) == 6 and len(before["album"]) == 22
    for image in before["image"]:
        assert (ws.database.files_dir / image["rel_path"]).is_file()
    teaching = queries.album_by_name(ws.database, "Teaching")
    members = queries.count_studies(ws.database, queries.album_member_condition(teaching["pk"]))
    assert members == 2
    mr = queries.album_by_name(ws.database, "MR studies")
    assert mr["smart_album"] and queries.count_studies(ws.database, smart_album_filter(mr["predicate_string"])) == 2
    assert ws.database.schema_state().current


def test_a_0_1_0_sqlite_folder_opens_upgraded_with_everything_intact(tmp_path):
    root = _release_folder(tmp_path)
    sqlite_file = root / "Viewbox Data" / "viewbox.sqlite"
    before = _sqlite_rows(sqlite_file)
    ws = Workstation(Settings(data_root=root, port=0, dicom_port=0))
    try:
        outcome = ws.database.schema_outcome
        assert (outcome.action, outcome.before, outcome.after) == ("upgraded", "0001", schema_upgrade.head_revision())
        assert outcome.backup.parent == sqlite_file.parent and outcome.backup.name.startswith("viewbox-backup-r0001-")
        assert _sqlite_rows(outcome.backup) == before  # the backup is the database as 0.1.0 left it
        _check_contents(ws, before)
    finally:
        ws.close()
    again = Database(root / "Viewbox Data")
    try:
        assert again.schema_outcome.action == "current"
        assert sorted(p.name for p in sqlite_file.parent.glob("viewbox-backup-*")) == [outcome.backup.name]
    finally:
        again.close()


@pytest.mark.postgres
def test_a_0_1_0_postgresql_database_opens_upgraded_with_everything_intact(tmp_path):
    url = postgres_url()
    engine = _make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    loaded = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f",
                             str(RELEASE / "postgresql" / "viewbox-0.1.0.sql")],
                            capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    engine = _make_engine(url)
    before = _rows(engine)
    engine.dispose()
    root = _release_folder(tmp_path)  # the same files, imported the same way
    ws = Workstation(Settings(data_root=root, database_url=url, port=0, dicom_port=0))
    try:
        outcome = ws.database.schema_outcome
        assert (outcome.action, outcome.before, outcome.backup) == ("upgraded", "0001", None)
        _check_contents(ws, before)
    finally:
        ws.close()
    again = Database(root / "Viewbox Data", url)
    try:
        assert again.schema_outcome.action == "current"
    finally:
        again.close()


def test_the_migrations_build_exactly_the_schema_a_new_database_gets(tmp_path, database_url):
    """Upgrading from nothing through every migration gives what `create_all` gives a new database:
    a migration that forgets a column (or a model change without its migration) fails here."""
    url = database_url or f"sqlite:///{tmp_path / 'migrated.sqlite'}"
    engine = _make_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(schema_upgrade._config(conn), "head")
            # Alembic cannot compare expression indexes (the server rewrites their text): those
            # are compared by name below, everything else by Alembic.
            context = MigrationContext.configure(conn, opts={"include_object": _not_an_expression_index})
            differences = compare_metadata(context, schema.metadata)
            indexes = set(conn.execute(text(
                "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index'" if conn.dialect.name == "sqlite"
                else "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public'")).tuples())
        assert differences == []
        expected = {(table.name, index.name) for table in schema.metadata.tables.values() for index in table.indexes}
        assert expected <= indexes
    finally:
        engine.dispose()


EXPRESSION_INDEXES = {index.name for table in schema.metadata.tables.values() for index in table.indexes
                      if any(not isinstance(e, Column) for e in index.expressions)}


def _not_an_expression_index(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def test_the_revision_chain_is_what_alembic_reads():
    """Opening a database knows the revisions from the file names (no Alembic import at head)."""
    scripts = ScriptDirectory.from_config(schema_upgrade._config())
    assert {script.revision for script in scripts.walk_revisions()} == schema_upgrade._revisions()
    assert scripts.get_current_head() == schema_upgrade.head_revision()


def test_a_new_database_is_created_at_head_with_the_default_albums(tmp_path, database_url):
    database = Database(tmp_path / "Viewbox Data", database_url)
    try:
        assert database.is_new and database.schema_outcome.action == "created"
        state = database.schema_state()
        assert state.current and state.written_by == __import__("viewbox").__version__
        assert len(queries.albums(database)) == 19
    finally:
        database.close()
    again = Database(tmp_path / "Viewbox Data", database_url)
    try:
        assert not again.is_new and again.schema_outcome.action == "current"
    finally:
        again.close()


def test_a_schema_newer_than_the_code_is_refused_and_left_alone(tmp_path):
    data = tmp_path / "root" / "Viewbox Data"
    Database(data).close()
    engine = create_engine(f"sqlite:///{data / 'viewbox.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
        conn.execute(text("INSERT INTO schema_history (revision, viewbox_version, applied_at) "
                          "VALUES ('0999', '7.3.0', '2030-01-01 00:00:00')"))
    engine.dispose()
    with pytest.raises(SchemaTooNew) as refused:
        Database(data)
    assert "revision 0999" in refused.value.message and "Viewbox 7.3.0" in refused.value.message
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    serve = subprocess.run([sys.executable, "-m", "viewbox", "serve", "--data", str(tmp_path / "root"),
                            "--port", "0", "--dicom-port", "0"], capture_output=True, text=True, timeout=60, env=env)
    assert serve.returncode == 1
    assert "revision 0999" in serve.stderr and "use that version or a newer one" in serve.stderr
    current = subprocess.run([sys.executable, "-m", "viewbox", "db", "current", "--data", str(tmp_path / "root")],
                             capture_output=True, text=True, timeout=60, env=env)
    assert current.returncode == 0 and "newer than this Viewbox knows" in current.stdout
    assert not list(data.glob("viewbox-backup-*"))


def test_db_commands_on_a_0_1_0_folder(tmp_path):
    root = _release_folder(tmp_path)

    def viewbox_db(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "viewbox", "db", *args, "--data", str(root)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "Viewbox 0.1.0 schema, not yet stamped" in viewbox_db("current")
    upgraded = viewbox_db("upgrade")
    head = schema_upgrade.head_revision()
    assert f"upgraded from revision 0001 to {head}" in upgraded and "viewbox-backup-r0001-" in upgraded
    assert f"already at revision {head}" in viewbox_db("upgrade")
    assert '"up_to_date": true' in viewbox_db("current", "--json")


def test_tables_that_are_not_viewbox_are_left_alone(tmp_path):
    data = tmp_path / "Viewbox Data"
    data.mkdir()
    engine = create_engine(f"sqlite:///{data / 'viewbox.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE study (pk INTEGER PRIMARY KEY, something TEXT)"))
    engine.dispose()
    with pytest.raises(SchemaUnknown, match="missing: album, album_study, image, series"):
        Database(data)
