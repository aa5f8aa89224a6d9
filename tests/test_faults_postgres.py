"""Fault suite: PostgreSQL restarted in the middle of a C-STORE ingest. The workstation reconnects
by itself and nothing it acknowledged is lost. Marked `fault` and `postgres`."""

from __future__ import annotations

import pytest

from helpers.instances import assert_stored_once, sop_uid, stored_objects, write_images
from helpers.postgres import postgres_url, reset_postgres, restart_postgres
from helpers.serve_process import ServeProcess, resend_all, send_watching

pytestmark = [pytest.mark.fault, pytest.mark.postgres]


def test_postgres_restarted_during_c_store(tmp_path):
    url = postgres_url()
    reset_postgres(url)
    files = write_images(tmp_path / "in", 60, pixels=10_000)
    server = ServeProcess(tmp_path / "root", database_url=url).start()
    try:
        acknowledged = send_watching(server.dicom_port, files,
                                     lambda count: restart_postgres(url) if count == 15 else None)
        assert len(acknowledged) >= 15
        stored = stored_objects(tmp_path / "root", url)
        for path in acknowledged:
            copies = stored.get(sop_uid(path))
            assert copies and len(copies) == 1, path
        resend_all(server.dicom_port, files)
    finally:
        server.stop()
    assert_stored_once(tmp_path / "root", files, url)
