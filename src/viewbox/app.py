"""The Workstation: builds and owns the database, library, workspace and jobs; no global state.

Everything that needs the workstation receives this object. `OpenDB` swaps the active database
(and so the library) in place; listeners registered here follow the switch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .config import DATA_FOLDER_NAME, Settings
from .db.database import Database
from .db.notices import Notice, notifier_for
from .jobs import JobRunner
from .library import Importer, ImportReport, Library, ZipLimits
from .library.instance import Instance
from .measure import Measurements
from .volumes.stacks import SeriesVolumes
from .workspace import Workspace

if TYPE_CHECKING:
    from .control.dispatch import Controller

log = logging.getLogger(__name__)


def data_dir_for(path: Path) -> Path:
    """OpenDB's rule: `<path>/Viewbox Data`, cut at that component if the path already has it."""
    path = Path(path)
    parts = path.parts
    if DATA_FOLDER_NAME in parts:
        return Path(*parts[: parts.index(DATA_FOLDER_NAME) + 1])
    return path / DATA_FOLDER_NAME


class Workstation:
    """One running workstation (also used by the CLI's offline commands)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.controller: Controller | None = None  # set when the HTTP application is built
        self.workspace = Workspace()
        self.volumes = SeriesVolumes(settings.volume_cache_mb * 2**20)
        self.jobs = JobRunner()
        self._stored_listeners: list[Callable[[list[str]], None]] = []
        self._opened_listeners: list[Callable[[Database], None]] = []
        self._deleted_listeners: list[Callable[[list[str]], None]] = []
        self._switch_lock = threading.Lock()
        self.shutdown_requested = threading.Event()
        self._shutdown_callbacks: list[Callable[[], None]] = []
        self._listen_as: str | None = None  # set once serving: then other nodes are heard
        self.database = Database(settings.data_dir, settings.database_url)
        self.notifier = notifier_for(self.database)
        self.library = self._library_for(self.database)
        self.measurements = Measurements(self)
        self.zip_limits = ZipLimits(max_entries=settings.zip_max_entries,
                                    max_unpacked_bytes=settings.zip_max_unpacked_bytes)

    # -- databases -------------------------------------------------------------------------------

    @property
    def default_data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def is_default_database(self) -> bool:
        return self.database.data_dir == self.default_data_dir

    def _library_for(self, database: Database) -> Library:
        library = Library(database)
        library.add_listener(self._forward_stored)
        return library

    def on_stored(self, listener: Callable[[list[str]], None]) -> None:
        """Call `listener(study_uids)` after new instances of these studies are committed, in
        whichever database, by this process, the DICOM node's (`stored`) or (once serving) any other
        node on the same database; [] after a reconnect means "anything may have changed"."""
        self._stored_listeners.append(listener)

    def stored(self, study_uids: list[str]) -> None:
        """Tell the listeners, and the other nodes sharing the database, that objects of these
        studies were stored (by this process or its DICOM node's)."""
        _tell(self._stored_listeners, study_uids)
        self.notifier.publish("stored", study_uids)

    def on_database_opened(self, listener: Callable[[Database], None]) -> None:
        """Call `listener(database)` after OpenDB made another database the active one."""
        self._opened_listeners.append(listener)

    def on_deleted(self, listener: Callable[[list[str]], None]) -> None:
        """Call `listener(study_uids)` after studies are deleted, here (viewing.delete_studies) or
        by another node."""
        self._deleted_listeners.append(listener)

    def deleted(self, study_uids: list[str], *, by_peer: bool = False) -> None:
        """Tell listeners (and, unless another node did it, the other nodes) of deleted studies."""
        _tell(self._deleted_listeners, study_uids)
        if not by_peer:
            self.notifier.publish("deleted", study_uids)

    def _forward_stored(self, instances: list[Instance]) -> None:
        self.stored(sorted({instance.study_instance_uid for instance in instances}))

    def listen_to_peers(self, name: str) -> None:
        """Hear what other nodes sharing the database store and delete (`name`: how they see us)."""
        self._listen_as = name
        self.notifier.subscribe(self._heard)
        self.notifier.listen(name)

    def _heard(self, notice: Notice) -> None:
        """Another node changed the library: lists refresh; its deletes close our viewers."""
        if notice.kind == "deleted":
            from .viewing import forget_studies

            forget_studies(self, list(notice.study_uids))
        else:
            _tell(self._stored_listeners, list(notice.study_uids))

    def open_database(self, data_dir: Path) -> None:
        """Make `data_dir` (a `Viewbox Data` folder) the active database, creating it if needed."""
        data_dir = Path(data_dir)
        with self._switch_lock:
            if data_dir == self.database.data_dir:
                return
            url = self.settings.database_url if data_dir == self.default_data_dir else None
            database = Database(data_dir, url)
            old, self.database = self.database, database
            old_notifier, self.notifier = self.notifier, notifier_for(database)
            self.library = self._library_for(database)
            old_notifier.close()
            old.close()
            if self._listen_as is not None:
                self.listen_to_peers(self._listen_as)
        _tell(self._opened_listeners, database)
        self.workspace.reset("default" if self.is_default_database else str(data_dir))

    def switch_to_default_database(self) -> None:
        if not self.is_default_database:
            self.open_database(self.default_data_dir)

    # -- importing -------------------------------------------------------------------------------

    def import_paths(self, paths: list[Path], *, move: bool = False, link: bool = False,
                     progress: Callable[[ImportReport], None] | None = None) -> ImportReport:
        """Import files, folders, zips and DICOMDIRs into the active database (`link`: hard-link
        the files instead of copying them where the file system allows)."""
        return Importer(self.library, move=move, link=link, zip_limits=self.zip_limits,
                        progress=progress).run([Path(p) for p in paths])

    # -- lifecycle -------------------------------------------------------------------------------

    def on_shutdown(self, callback: Callable[[], None]) -> None:
        """Register what stops the servers when KillOsiriX or a signal asks the process to end."""
        self._shutdown_callbacks.append(callback)

    def request_shutdown(self) -> None:
        self.shutdown_requested.set()
        for callback in list(self._shutdown_callbacks):
            try:
                callback()
            except Exception:  # noqa: BLE001
                log.exception("shutdown callback failed")

    def close(self) -> None:
        self.jobs.shutdown()
        self.notifier.close()
        self.database.close()


def _tell(listeners: list[Callable], news) -> None:
    """Call every listener; one that fails is logged and must not break storing or deleting."""
    for listener in list(listeners):
        try:
            listener(news)
        except Exception:  # noqa: BLE001
            log.exception("listener %r failed", listener)
