"""CLI commands of the DICOM node (locations, send); registered on the main click group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add this layer's commands to `group`."""
