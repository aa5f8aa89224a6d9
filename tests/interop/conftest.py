"""Fixtures for interoperability tests: a Viewbox node, Orthanc as a PACS Location, DCMTK storescp.

Every peer is started by the fixture, in a temp folder, on free ports, and talked to over
127.0.0.1 only; every process is stopped by its PID at teardown.
"""

from __future__ import annotations

import pytest

from helpers.dicom_peers import Orthanc, StoreSCP
from helpers.interop_samples import PACS_STUDIES, sample_paths


@pytest.fixture
def start_node(tmp_path):
    """Factory: a running workstation (HTTP + DICOM on free ports) with the given settings."""
    from viewbox.config import Settings
    from viewbox.server import RunningWorkstation

    started = []

    def start(**overrides) -> RunningWorkstation:
        values = {"data_root": tmp_path / f"node{len(started)}", "port": 0, "dicom_port": 0, **overrides}
        running = RunningWorkstation(Settings(**values)).start_in_thread()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory, viewbox_dicom_port):
    """Orthanc holding PACS_STUDIES, knowing VIEWBOX at 127.0.0.1:viewbox_dicom_port."""
    server = Orthanc(tmp_path_factory.mktemp("orthanc"),
                     modalities={"viewbox": ["VIEWBOX", "127.0.0.1", viewbox_dicom_port]}).start()
    try:
        for paths in PACS_STUDIES.values():
            server.upload(sample_paths(*paths))
        yield server
    finally:
        server.stop()


@pytest.fixture
def storescp(tmp_path):
    server = StoreSCP(tmp_path / "storescp").start()
    yield server
    server.stop()
