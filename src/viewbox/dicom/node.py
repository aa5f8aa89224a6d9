"""The DICOM node (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET SCP) as the workstation sees it: a process
of its own (node_process.py) that it starts, follows to another database and stops.

Port 0 binds a free port, exposed as `.port` (tests, several workstations on one host).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from typing import Any

from ..errors import ViewboxError
from ..station import Station
from .node_process import serve

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0


class DicomNode:
    """The node process of one workstation, serving on settings.dicom_port."""

    def __init__(self, workstation: Station):
        self.workstation = workstation
        self.port: int | None = None
        self._process: Any = None  # the node's process and our end of its pipe, once started
        self._pipe: Any = None
        self._sending = threading.Lock()
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        settings = self.workstation.settings
        database = self.workstation.database
        context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(
            target=serve, name="viewbox-dicom", daemon=True,
            args=(settings, database.data_dir, database.url, theirs,
                  logging.getLogger().getEffectiveLevel()))
        self._process.start()
        theirs.close()
        if not self._pipe.poll(START_TIMEOUT):
            self.stop()
            raise ViewboxError(f"the DICOM node did not start within {START_TIMEOUT:.0f} s")
        kind, value = self._receive()
        if kind != "ready":
            self.stop()
            raise ViewboxError(f"the DICOM node cannot start on {settings.host}:{settings.dicom_port}: {value}")
        self.port = value
        self.workstation.on_database_opened(self._follow)
        self._reader = threading.Thread(target=self._read, name="viewbox-dicom-events", daemon=True)
        self._reader.start()
        log.info("DICOM node %s listening on %s:%s (process %s)", settings.aet, settings.host, self.port,
                 self._process.pid)

    def _receive(self) -> tuple:
        try:
            return self._pipe.recv()
        except (EOFError, OSError):
            return ("failed", "the node process ended")

    def _read(self) -> None:
        """Forward what the node stored to the workstation's listeners (the web UI's live list)."""
        while True:
            kind, value = self._receive()
            if kind == "stored":
                self.workstation.stored(value)
            elif kind == "failed":
                if self._process is not None:
                    log.error("the DICOM node process ended unexpectedly (exit code %s)",
                              self._process.exitcode)
                return

    def _follow(self, database) -> None:
        """OpenDB switched the database: the node stores into the new one too."""
        self._send(("open", database.data_dir, database.url))

    def _send(self, message: tuple) -> None:
        with self._sending:
            if self._pipe is not None:
                try:
                    self._pipe.send(message)
                except OSError:
                    pass

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        self._send(("stop",))
        process.join(timeout=15)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=5)  # it ends at the pipe's end
        with self._sending:
            self._pipe.close()
            self._pipe = None
