"""Shared fixtures: sample files, databases on SQLite and PostgreSQL, a running workstation."""

from __future__ import annotations

import http.server
import socket
import threading
from pathlib import Path

import hypothesis
import pytest

from helpers.postgres import postgres_url, reset_postgres
from helpers.samples import SAMPLES

# 8 test runs share 2 cores: a property test is judged by its examples, never by a per-example deadline.
hypothesis.settings.register_profile("shared-machine", deadline=None)
hypothesis.settings.load_profile("shared-machine")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """None for the embedded SQLite default, or a clean PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    url = postgres_url()
    reset_postgres(url)
    yield url


@pytest.fixture
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def settings(tmp_path, database_url):
    """Settings for a workstation on a fresh data folder, both database back ends."""
    from viewbox.config import Settings

    return Settings(data_root=tmp_path / "root", database_url=database_url, port=0, dicom_port=0)


@pytest.fixture
def workstation(settings):
    from viewbox.app import Workstation

    ws = Workstation(settings)
    yield ws
    ws.close()


@pytest.fixture
def sqlite_settings(tmp_path):
    """Settings on SQLite only, for tests that are not about the database back end."""
    from viewbox.config import Settings

    return Settings(data_root=tmp_path / "root", port=0, dicom_port=0)


@pytest.fixture
def running(sqlite_settings):
    """A workstation serving HTTP (and DICOM) on free ports of 127.0.0.1."""
    from viewbox.server import RunningWorkstation

    server = RunningWorkstation(sqlite_settings).start_in_thread()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dead_port() -> int:
    """A port of 127.0.0.1 that refuses connections: bound (so nothing else takes it), never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def viewbox_dicom_port() -> int:
    """A free port for the DICOM node of the module's workstations, so a PACS can be told where to C-MOVE."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def files_server(tmp_path):
    """A plain HTTP server on port 0 serving tmp_path/www."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *_args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.root = root
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
