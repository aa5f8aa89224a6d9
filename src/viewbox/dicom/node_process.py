"""The DICOM node's own process: pynetdicom's server with the service handlers, on the workstation's
database, talking to the workstation process over one pipe.

Why a process of its own: pynetdicom moves every PDU between two threads per association, and
each hop waits for the GIL. In the workstation's process, 32 RIS clients polling over HTTP kept
its worker threads busy and C-STORE ingest fell from ~350 to ~15 files/s; in its own process the
node has its own GIL (docs/architecture.md).

Messages, as tuples: from the node `("ready", port)`, `("failed", reason)`, `("stored",
study_uids)`; to the node `("open", data_dir, database_url)` (OpenDB switched the database) and
`("stop",)`. The node ends when the pipe closes, so it never outlives the workstation.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

from pynetdicom import evt

from ..config import Settings
from ..db.database import Database
from ..library import Library
from . import handlers, tuning
from .entity import build_ae, calling_aet_check, quiet_pynetdicom_logging

log = logging.getLogger(__name__)


class NodeWorkstation:
    """What the service handlers need of a workstation: settings, the database and its library.
    Each object stored is told to the workstation process (its web UI shows it live)."""

    def __init__(self, settings: Settings, data_dir: Path, database_url: str | None, tell):
        self.settings = settings
        self._tell = tell
        self.database = Database(data_dir, database_url)
        self.library = self._library_for(self.database)

    def _library_for(self, database: Database) -> Library:
        library = Library(database)
        library.add_listener(self._stored)
        return library

    def _stored(self, instances) -> None:
        self._tell(("stored", sorted({instance.study_instance_uid for instance in instances})))

    def open_database(self, data_dir: Path, database_url: str | None) -> None:
        if data_dir == self.database.data_dir:
            return
        old, self.database = self.database, Database(data_dir, database_url)
        self.library = self._library_for(self.database)
        old.close()

    def close(self) -> None:
        self.database.close()


def serve(settings: Settings, data_dir: Path, database_url: str | None, pipe, log_level: int) -> None:
    """The node process's main function (multiprocessing target)."""
    logging.basicConfig(level=log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sending = threading.Lock()

    def tell(message: tuple) -> None:
        with sending:
            try:
                pipe.send(message)
            except OSError:  # the workstation is gone; the node ends with the pipe
                pass

    try:
        quiet_pynetdicom_logging()
        workstation = NodeWorkstation(settings, data_dir, database_url, tell)
        ae = build_ae(settings)
        bound = [
            *(tuning.event_handlers() if settings.dicom_tuning else []),
            (evt.EVT_C_ECHO, handlers.handle_echo),
            (evt.EVT_C_STORE, handlers.handle_store, [workstation]),
            (evt.EVT_C_FIND, handlers.handle_find, [workstation]),
            (evt.EVT_C_MOVE, handlers.handle_move, [workstation]),
            (evt.EVT_C_GET, handlers.handle_get, [workstation]),
        ]
        check = calling_aet_check(settings)
        if check is not None:
            bound.append((evt.EVT_REQUESTED, check))
        server = ae.start_server((settings.host, settings.dicom_port), block=False, evt_handlers=bound)
    except Exception as exc:  # noqa: BLE001 - reported to the workstation, which refuses to start
        tell(("failed", f"{type(exc).__name__}: {exc}"))
        return
    tell(("ready", server.server_address[1]))
    try:
        while True:
            try:
                message = pipe.recv()
            except (EOFError, OSError):
                break
            if message[0] == "open":
                workstation.open_database(Path(message[1]), message[2])
            elif message[0] == "stop":
                break
    finally:
        server.shutdown()
        workstation.close()
