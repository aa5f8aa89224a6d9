"""CLI commands of the DICOM node: `viewbox locations`, `viewbox locations echo NAME`,
`viewbox send LOCATION STUDY_UID`; registered on the main click group."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import click

from ..errors import ViewboxError
from ..station import Station

_CONFIG = click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML settings file.")


def register(group: click.Group, settings_from) -> None:
    """Add this layer's commands to `group`; `settings_from(config_file, **overrides)` is the
    CLI's settings loader (it reports configuration errors and exits)."""
    _settings = settings_from

    @group.group("locations", invoke_without_command=True)
    @_CONFIG
    @click.pass_context
    def locations(ctx, config_file) -> None:
        """List the configured Locations (remote DICOM nodes)."""
        ctx.ensure_object(dict)
        ctx.obj["config_file"] = config_file
        if ctx.invoked_subcommand is not None:
            return
        settings = _settings(config_file)
        if not settings.locations:
            click.echo("No Locations configured (add [[locations]] tables to the config file).")
            return
        for loc in settings.locations:
            web = f"  {loc.dicomweb_url}" if loc.dicomweb_url else ""
            click.echo(f"{loc.name}\t{loc.ae_title}@{loc.host}:{loc.port}\t{loc.retrieve_mode}{web}")

    @locations.command("echo")
    @click.argument("name")
    @_CONFIG
    @click.pass_context
    def echo(ctx, name, config_file) -> None:
        """C-ECHO one Location and print the round-trip time."""
        from .retrieve import location_named
        from .scu import echo as send_echo

        settings = _settings(config_file or ctx.obj.get("config_file"))
        # only .settings is used by an echo: no database is opened
        workstation = cast(Station, _OfflineWorkstation(settings))
        try:
            seconds = send_echo(workstation, location_named(workstation, name))
        except ViewboxError as exc:
            click.echo(f"{name}: failed: {exc.message}", err=True)
            sys.exit(1)
        click.echo(f"{name}: OK ({seconds * 1000:.0f} ms)")

    @group.command("send")
    @click.argument("location")
    @click.argument("study_uid")
    @_CONFIG
    @click.option("--data", "data_root", type=click.Path(path_type=Path),
                  help="Folder that holds 'Viewbox Data/' (default: the user's data directory).")
    @click.option("--database-url", help="postgresql://… when the rows live in PostgreSQL.")
    def send(location, study_uid, config_file, data_root, database_url) -> None:
        """Send a local study to a Location (C-STORE)."""
        from ..app import Workstation
        from .retrieve import start_send

        settings = _settings(config_file, data_root=data_root, database_url=database_url)
        workstation = Workstation(settings)
        try:
            job = start_send(workstation, location, study_uid)
            job = workstation.jobs.wait(job.id) or job
        except ViewboxError as exc:
            click.echo(f"viewbox: {exc.message}", err=True)
            sys.exit(1)
        finally:
            workstation.close()
        if job.state != "done":
            click.echo(f"viewbox: send failed: {job.message}", err=True)
            sys.exit(1)
        click.echo(f"sent {job.done} of {job.total} images to {location}"
                   + (f", {job.failed} failed" if job.failed else ""))
        if job.failed:
            sys.exit(1)


class _OfflineWorkstation:
    """Just the settings: what the SCU needs for C-ECHO, without opening a database."""

    def __init__(self, settings):
        self.settings = settings
