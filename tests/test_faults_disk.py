"""Fault suite: a full file system during import (and the database on it) and during C-STORE.
Marked `fault`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from helpers.filesystems import fill, small_filesystem
from helpers.instances import assert_stored_once, write_images
from helpers.serve_process import ServeProcess, resend_all, send_watching

pytestmark = pytest.mark.fault


def viewbox_import(*args: str) -> tuple[int, dict]:
    result = subprocess.run([sys.executable, "-m", "viewbox", "import", "--json", *args],
                            capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_import_onto_a_full_disk_reports_and_fails_then_heals(tmp_path):
    """0.1.0: exit 0 with 0 imported when the copies fail (ENOSPC), a traceback when the
    database cannot be written. Now: a JSON report, exit 1, and the next import stores the rest."""
    sources = write_images(tmp_path / "in", 30)
    with small_filesystem(tmp_path / "disk", 1_500_000) as disk:
        code, report = viewbox_import("--data", str(disk), str(tmp_path / "in"))
        assert code == 1 and report["not_stored"] > 0 and report["imported"] < 30
        assert any("No space left" in e["reason"] or "full" in e["reason"] for e in report["errors"])
        stored = report["imported"]
        files = list((disk / "Viewbox Data" / "DATABASE").rglob("*.dcm"))
        assert len(files) >= stored  # every imported object has its file (extra names have no row)
    with small_filesystem(tmp_path / "big", 8_000_000) as disk:
        code, report = viewbox_import("--data", str(disk), str(tmp_path / "in"))
        assert (code, report["imported"], report["not_stored"]) == (0, 30, 0)
        stored_bytes = sorted(p.read_bytes() for p in (disk / "Viewbox Data" / "DATABASE").rglob("*.dcm"))
        assert stored_bytes == sorted(p.read_bytes() for p in sources)


def test_a_database_on_a_full_disk_gives_a_report_not_a_traceback(tmp_path):
    """Linked files need no space, so the first thing to fail is the database's commit."""
    with small_filesystem(tmp_path / "disk", 2_000_000) as disk:
        write_images(disk / "in", 5, pixels=1000)
        code, report = viewbox_import("--data", str(disk / "root"), str(disk / "in"))
        assert (code, report["imported"]) == (0, 5)
        more = write_images(disk / "more", 5, pixels=1000)
        filler = fill(disk)
        code, report = viewbox_import("--link", "--data", str(disk / "root"), str(disk / "more"))
        assert code == 1 and report["imported"] == 0 and report["not_stored"] >= 1, report
        os.unlink(filler)
        code, report = viewbox_import("--link", "--data", str(disk / "root"), str(disk / "more"))
        assert (code, report["imported"]) == (0, len(more)), report


def test_c_store_onto_a_full_disk_refuses_cleanly_then_heals(tmp_path):
    """Objects that do not fit are refused with a failure status (the sender keeps them); what
    was acknowledged is stored whole; with room again, a resend stores the rest, nothing twice."""
    files = write_images(tmp_path / "in", 30, pixels=100_000)
    with small_filesystem(tmp_path / "disk", 6_000_000) as disk:
        server = ServeProcess(disk / "root").start()
        try:
            filler = fill(disk, leave_bytes=1_500_000)
            acknowledged = send_watching(server.dicom_port, files, lambda count: None)
            assert 0 < len(acknowledged) < len(files)
            assert httpx.get(server.base_url + "/?methodName=CloseAllWindows&format=json").status_code == 200
            os.unlink(filler)
            resend_all(server.dicom_port, files)
        finally:
            server.stop()
        assert_stored_once(disk / "root", files)
        assert "Traceback" not in server.log()
