"""The `viewbox` command: serve, import, info (+ the control and DICOM layers' own commands).

Thin: parse flags, build Settings once, call the workstation. The one place that turns errors
into exit codes and messages for a terminal.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .config import accepted_calling_aets, load_settings
from .errors import ConfigError, ViewboxError

# Flags shared by every command that opens a database.
_DATA_OPTIONS = [
    click.option("--data", "data_root", type=click.Path(path_type=Path),
                 help="Folder that holds 'Viewbox Data/' (default: the user's data directory)."),
    click.option("--config", "config_file", type=click.Path(path_type=Path),
                 help="TOML settings file."),
    click.option("--database-url", help="postgresql://… to keep the rows in PostgreSQL."),
]


def _data_options(func):
    for option in reversed(_DATA_OPTIONS):
        func = option(func)
    return func


def settings_from(config_file: Path | None = None, **overrides):
    """Settings from file, environment and flags; a ConfigError ends the command with its list."""
    try:
        return load_settings(config_file, overrides=overrides)
    except ConfigError as exc:
        click.echo(f"viewbox: {exc.message}", err=True)
        sys.exit(2)


@click.group()
@click.version_option(__version__, prog_name="viewbox")
def main() -> None:
    """Viewbox: a DICOM workstation that hospital software controls remotely."""


@main.command()
@_data_options
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="HTTP port of the control API and web UI (default 8080).")
@click.option("--dicom-port", type=int, help="DICOM port (default 11112).")
@click.option("--aet", help="Our DICOM AE title (default VIEWBOX).")
@click.option("--plugins", "plugins_dir", type=click.Path(path_type=Path), help="Plugins folder.")
@click.option("--allow-client", "allow_clients", multiple=True, metavar="ADDRESS",
              help="Admit this address or CIDR network (repeatable; sets allow_clients). Without "
                   "--host, the workstation then listens on every interface: the one-line LAN setup.")
@click.option("--allow-method", "remote_methods", multiple=True, metavar="NAME",
              help="Allow this destructive method from other computers, e.g. DownloadURL or "
                   "DBWindowFind:Delete (repeatable; sets remote_methods).")
def serve(data_root, config_file, database_url, host, port, dicom_port, aet, plugins_dir, allow_clients,
          remote_methods) -> None:
    """Start the workstation: control API, web UI, DICOM node and INCOMING folder."""
    from .control.access import access_summary
    from .db.database import redacted
    from .server import RunningWorkstation

    settings = settings_from(config_file, data_root=data_root, database_url=database_url,
                             host=host or ("0.0.0.0" if allow_clients else None), port=port,
                             dicom_port=dicom_port, aet=aet, plugins_dir=plugins_dir,
                             allow_clients=allow_clients or None, remote_methods=remote_methods or None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        running = RunningWorkstation(settings)
    except OSError as exc:
        click.echo(f"viewbox: cannot listen on {settings.host}:{settings.port}: {exc}", err=True)
        sys.exit(1)
    click.echo(f"Viewbox {__version__}")
    click.echo(f"  control API and web UI: {running.base_url}/")
    for line in access_summary(settings, running.http_port):
        click.echo(f"  {line}")
    click.echo(f"  data: {running.workstation.database.data_dir}")
    click.echo(f"  database: {redacted(running.workstation.database.url)}")
    if running.node:
        accepted = accepted_calling_aets(settings)
        callers = ("any calling AE title" if accepted is None
                   else f"calling AE titles {', '.join(accepted)}" if accepted
                   else "no calling AE title (configure locations or calling_aets)")
        click.echo(f"  DICOM: AE title {settings.aet}, port {settings.dicom_port}, {callers}")
    click.echo("Press Ctrl-C to stop.")
    running.run()
    click.echo("Viewbox stopped.")


@main.command("import")
@_data_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the counts.")
@click.option("--link", is_flag=True,
              help="Hard-link the files into the database instead of copying them (same file system "
                   "only, else copied): instant and no extra space, but editing an original in place "
                   "changes the stored object. For archives nobody edits.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def import_(data_root, config_file, database_url, as_json, link, paths) -> None:
    """Import files, folders (recursively), zip files and DICOMDIR sets."""
    from .app import Workstation
    from .library.importer import ImportReport

    settings = settings_from(config_file, data_root=data_root, database_url=database_url)
    try:
        workstation = Workstation(settings)
    except Exception as exc:  # noqa: BLE001 - a full disk or an unreachable database, reported
        report = ImportReport(errors=[{"path": str(settings.data_dir),
                                       "reason": f"cannot open the database: {type(exc).__name__}: "
                                                 f"{str(exc).splitlines()[0] if str(exc) else ''}"}])
        report.not_stored = len(paths)
    else:
        try:
            if as_json or not sys.stderr.isatty():
                report = workstation.import_paths(list(paths), link=link)
            else:
                report = _import_with_progress(workstation, list(paths), link)
        finally:
            workstation.close()
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        click.echo(f"{report.imported} imported, {report.already_present} already present, "
                   f"{report.not_dicom} not DICOM, {report.quarantined} quarantined, {report.not_stored} not stored")
        for error in report.errors[:20]:
            click.echo(f"  {error['path']}: {error['reason']}", err=True)
        if len(report.errors) > 20:
            click.echo(f"  … and {len(report.errors) - 20} more", err=True)
    if report.not_stored:  # something could not be stored (full disk, database): scripts must know
        sys.exit(1)


def _import_with_progress(workstation, paths, link: bool):
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("importing", total=None)

        def progress(report):
            bar.update(task, description=f"{report.seen} files: {report.imported} imported, "
                                         f"{report.already_present} present, {report.quarantined} quarantined")

        return workstation.import_paths(paths, link=link, progress=progress)


@main.command()
@_data_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(data_root, config_file, database_url, as_json) -> None:
    """Show the data folder, the database, its counts and the nodes serving it now."""
    from .app import Workstation
    from .db.database import redacted
    from .db.notices import peers
    from .library.statistics import counts

    settings = settings_from(config_file, data_root=data_root, database_url=database_url)
    workstation = Workstation(settings)
    try:
        result: dict[str, Any] = {"data": str(workstation.database.data_dir),
                  "database_url": redacted(workstation.database.url),
                  **counts(workstation.database),
                  "peers": peers(workstation.database)}
    finally:
        workstation.close()
    if as_json:
        click.echo(json.dumps(result))
        return
    for key, value in result.items():
        if key != "peers":
            click.echo(f"{key}: {value}")
    if workstation.database.dialect != "postgresql":
        click.echo("peers: none (an SQLite database belongs to one workstation)")
        return
    click.echo(f"peers: {len(result['peers'])} node(s) serving this database now")
    for peer in result["peers"]:
        click.echo(f"  {peer['node']} from {peer['address']} since {peer['since']}")


@main.group()
def db() -> None:
    """The database's schema: which revision it is at, and upgrading it."""


@db.command("current")
@_data_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def db_current(data_root, config_file, database_url, as_json) -> None:
    """Show the schema revision of the database and the newest this Viewbox knows (changes nothing)."""
    from .db.database import Database

    settings = settings_from(config_file, data_root=data_root, database_url=database_url)
    database = Database(settings.data_dir, settings.database_url, upgrade=False)
    try:
        state = database.schema_state()
    finally:
        database.close()
    result = {"database": database.where, "revision": state.revision, "head": state.head,
              "state": state.describe(), "up_to_date": state.current, "written_by": state.written_by}
    if as_json:
        click.echo(json.dumps(result))
        return
    for key, value in result.items():
        click.echo(f"{key}: {value}")


@db.command("upgrade")
@_data_options
def db_upgrade(data_root, config_file, database_url) -> None:
    """Create or upgrade the database's schema to the newest revision (what `serve` does on start;
    a SQLite database is copied to a backup beside it first)."""
    from .db.database import Database

    settings = settings_from(config_file, data_root=data_root, database_url=database_url)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    database = Database(settings.data_dir, settings.database_url)
    database.close()
    outcome = database.schema_outcome
    assert outcome is not None
    if outcome.action == "current":
        click.echo(f"{database.where}: already at revision {outcome.after}, nothing to do")
    elif outcome.action == "created":
        click.echo(f"{database.where}: created at revision {outcome.after}")
    else:
        click.echo(f"{database.where}: upgraded from revision {outcome.before} to {outcome.after}")
        if outcome.backup:
            click.echo(f"  backup of the database before the upgrade: {outcome.backup}")


def _register_layers() -> None:
    from .control.commands import register as register_control
    from .dicom.commands import register as register_dicom

    register_control(main, settings_from)
    register_dicom(main, settings_from)


_register_layers()


def run() -> None:
    """Entry point that maps unexpected ViewboxErrors to a message and exit code 1."""
    try:
        main()
    except ViewboxError as exc:
        click.echo(f"viewbox: {exc.message}", err=True)
        sys.exit(1)
