"""What the parts of a workstation may use of it: the typed face of `app.Workstation`.

The control API, the web UI, the DICOM node, viewing and the plugins all receive the running
workstation. They sit below `app.py` in the import order, so they name it through this Protocol
instead of importing the concrete class; `app.Workstation` is its one implementation (mypy checks
that wherever one is passed for the other).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from .config import Settings
from .db.database import Database
from .jobs import JobRunner
from .library import ImportReport, Library
from .measure import Measurements
from .volumes.stacks import SeriesVolumes
from .workspace import Workspace


class Station(Protocol):
    """A running (or offline, for the CLI) workstation: settings, active database, library,
    display state and background jobs, plus the few operations that change them as a whole."""

    settings: Settings
    database: Database
    library: Library
    workspace: Workspace
    jobs: JobRunner
    measurements: Measurements
    volumes: SeriesVolumes  # stacks of parallel slices, cached for MPR and linked scrolling
    shutdown_requested: threading.Event

    @property
    def default_data_dir(self) -> Path: ...

    @property
    def is_default_database(self) -> bool: ...

    def on_stored(self, listener: Callable[[list[str]], None]) -> None: ...

    def stored(self, study_uids: list[str]) -> None: ...

    def on_database_opened(self, listener: Callable[[Database], None]) -> None: ...

    def on_deleted(self, listener: Callable[[list[str]], None]) -> None: ...

    def deleted(self, study_uids: list[str], *, by_peer: bool = False) -> None: ...

    def open_database(self, data_dir: Path) -> None: ...

    def switch_to_default_database(self) -> None: ...

    def import_paths(self, paths: list[Path], *, move: bool = False, link: bool = False,
                     progress: Callable[[ImportReport], None] | None = None) -> ImportReport: ...

    def on_shutdown(self, callback: Callable[[], None]) -> None: ...

    def request_shutdown(self) -> None: ...

    def close(self) -> None: ...
