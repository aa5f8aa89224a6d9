"""CLI commands of the control layer (url, url-handler); registered on the main click group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add this layer's commands to `group`."""
