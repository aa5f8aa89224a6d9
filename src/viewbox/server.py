"""Running the workstation: HTTP (control API + web UI), DICOM node and INCOMING watcher together.

Used by `viewbox serve` (main thread, signals handled) and by the tests (a background thread on
port 0), so both exercise exactly the same start-up and shut-down.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time

import uvicorn

from .app import Workstation
from .asgi import build_app
from .config import Settings
from .dicom.node import DicomNode
from .http_connections import guarded_h11
from .incoming import IncomingWatcher

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn's server, but a SIGTERM/SIGINT ends `run()` normally instead of re-raising the
    signal, so the DICOM node, the INCOMING watcher and the database are closed too; and the
    workstation hears of it first, so open live streams (browser tabs) end at once."""

    def __init__(self, config: uvicorn.Config, on_exit):
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig, frame) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


class RunningWorkstation:
    """A started workstation; `http_port`/`dicom_port` are the real ports (even when 0 was asked)."""

    def __init__(self, settings: Settings, workstation: Workstation | None = None):
        self.settings = settings
        self.workstation = workstation or Workstation(settings)
        self.app = build_app(self.workstation)
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP; without it every reply stalls ~40 ms on Nagle + delayed ACK.
        self._socket = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET,
                                     socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((settings.host, settings.port))
        self.http_port = self._socket.getsockname()[1]
        self._socket.listen(2048)  # connections wait in the backlog until uvicorn accepts them
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="on", access_log=False,
            ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
            ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
            timeout_keep_alive=30, limit_concurrency=1000,
            http=guarded_h11(settings.http_request_timeout),  # slow and idle connections end
            timeout_graceful_shutdown=3,  # open UI event streams never end by themselves
        )
        self.server = _Server(config, self.workstation.request_shutdown)
        self.node = DicomNode(self.workstation) if settings.dicom_enabled else None
        self.watcher = IncomingWatcher(self.workstation)
        self.workstation.on_shutdown(self._ask_exit)
        self._thread: threading.Thread | None = None

    @property
    def dicom_port(self) -> int | None:
        return self.node.port if self.node else None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.settings.tls_cert else "http"
        host = self.settings.host if ":" not in self.settings.host else f"[{self.settings.host}]"
        return f"{scheme}://{host}:{self.http_port}"

    def _ask_exit(self) -> None:
        self.server.should_exit = True

    def _start_side_services(self) -> None:
        self.workstation.listen_to_peers(f"{self.settings.aet}@{socket.gethostname()}:{self.http_port}")
        if self.node:
            self.node.start()
        self.watcher.start()

    def run(self) -> None:
        """Serve in this thread until Ctrl-C, SIGTERM or KillOsiriX."""
        self._start_side_services()
        try:
            self.server.run(sockets=[self._socket])
        finally:
            self._stop_side_services()

    def start_in_thread(self, timeout: float = 30.0) -> RunningWorkstation:
        """Start serving in a background thread and return once it accepts connections."""
        self._start_side_services()
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._socket]},
                                        name="viewbox-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.workstation.request_shutdown()  # also ends the web UI's event streams at once
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._stop_side_services()

    def _stop_side_services(self) -> None:
        self.watcher.stop()
        if self.node:
            self.node.stop()
        self._socket.close()
        self.workstation.close()
