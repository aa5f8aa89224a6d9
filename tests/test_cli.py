"""The `viewbox` command as a user runs it: import, info, serve (with INCOMING), configuration."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile

import httpx
import pytest
from sqlalchemy import delete, select

from helpers.polling import eventually
from viewbox.app import Workstation
from viewbox.config import Location, Settings, load_settings
from viewbox.db import schema
from viewbox.errors import ConfigError


def viewbox(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "viewbox", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_import_json_and_info(tmp_path, samples):
    result = viewbox("import", "--data", str(tmp_path), "--json",
                     str(samples / "pydicom/test_files/dicomdirtests"),
                     str(samples / "pydicom/test_files/MR_truncated.dcm"), str(samples / "README.md"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {k: report[k] for k in ("imported", "already_present", "not_dicom", "quarantined")} == {
        "imported": 31, "already_present": 0, "not_dicom": 3, "quarantined": 1}
    assert report["errors"][0]["path"].endswith("MR_truncated.dcm")
    again = json.loads(viewbox("import", "--data", str(tmp_path), "--json",
                               str(samples / "pydicom/test_files/dicomdirtests")).stdout)
    assert again["already_present"] == 31 and again["imported"] == 0
    info = json.loads(viewbox("info", "--data", str(tmp_path), "--json").stdout)
    assert {k: info[k] for k in ("patients", "studies", "series", "images", "albums")} == {
        "patients": 2, "studies": 6, "series": 13, "images": 31, "albums": 19}
    assert info["data"] == str(tmp_path / "Viewbox Data")


def test_import_link_stores_the_users_files_by_hard_link(tmp_path, samples):
    """`--link` (OsiriX's "do not copy"): the stored file is the user's file, not a copy; deleting
    the study in Viewbox leaves the user's file alone."""
    folder = tmp_path / "archive"
    shutil.copytree(samples / "pydicom/test_files/dicomdirtests", folder)
    originals = {p.stat().st_ino: p for p in folder.rglob("*") if p.is_file() and p.name != "DICOMDIR"}
    result = viewbox("import", "--data", str(tmp_path), "--json", "--link", str(folder))
    assert json.loads(result.stdout)["imported"] == 31, result.stderr
    stored = list((tmp_path / "Viewbox Data" / "DATABASE").rglob("*.dcm"))
    assert len(stored) == 31 and all(p.stat().st_ino in originals for p in stored)
    again = json.loads(viewbox("import", "--data", str(tmp_path), "--json", "--link", str(folder)).stdout)
    assert (again["imported"], again["already_present"]) == (0, 31)
    assert all(p.stat().st_ino in originals for p in stored)  # nothing copied over them

    # a name left by a crash (no row) is replaced by a link to the user's file, not by a copy
    leftover = stored[0]
    source = originals[leftover.stat().st_ino]
    workstation = Workstation(Settings(data_root=tmp_path))
    try:
        with workstation.database.begin() as conn:
            conn.execute(delete(schema.image).where(schema.image.c.rel_path == leftover.relative_to(
                workstation.database.files_dir).as_posix()))
    finally:
        workstation.close()
    leftover.unlink()
    leftover.write_bytes(b"half-written")
    healed = json.loads(viewbox("import", "--data", str(tmp_path), "--json", "--link", str(source)).stdout)
    assert healed["imported"] == 1 and leftover.stat().st_ino == source.stat().st_ino

    workstation = Workstation(Settings(data_root=tmp_path))
    try:
        with workstation.database.read() as conn:
            study_pks = list(conn.scalars(select(schema.study.c.pk)))
        workstation.library.delete_studies(study_pks)
    finally:
        workstation.close()
    assert all(p.exists() for p in originals.values())  # only Viewbox's names are gone


def test_bad_configuration_lists_every_problem(tmp_path):
    config = tmp_path / "viewbox.toml"
    config.write_text('port = "eighty"\naet = "A_TITLE_THAT_IS_FAR_TOO_LONG"\nfrobnicate = 1\n')
    result = viewbox("info", "--config", str(config), "--data", str(tmp_path))
    assert result.returncode == 2
    for fragment in ("port", "aet", "frobnicate"):
        assert fragment in result.stderr


def test_settings_precedence_file_env_flags(tmp_path):
    config = tmp_path / "viewbox.toml"
    config.write_text('port = 9000\ndicom_port = 11113\naet = "FROMFILE"\n'
                      '[[locations]]\nname = "PACS"\nae_title = "ORTHANC"\nhost = "127.0.0.1"\nport = 4242\n')
    settings = load_settings(config, environ={"VIEWBOX_PORT": "9100", "VIEWBOX_AET": "FROMENV"},
                             overrides={"aet": "FROMFLAG"})
    assert (settings.port, settings.dicom_port, settings.aet) == (9100, 11113, "FROMFLAG")
    assert settings.location("PACS") == Location("PACS", "ORTHANC", "127.0.0.1", 4242)
    with pytest.raises(ConfigError) as problem:
        load_settings(None, environ={"VIEWBOX_HOST": "0.0.0.0"})
    assert "without authentication" in problem.value.message
    assert load_settings(None, environ={"VIEWBOX_HOST": "0.0.0.0", "VIEWBOX_TOKEN": "s3cret"}).host == "0.0.0.0"


def test_serve_imports_incoming_and_stops_on_sigterm(tmp_path, samples):
    process = subprocess.Popen(
        [sys.executable, "-m", "viewbox", "serve", "--data", str(tmp_path), "--port", "0",
         "--dicom-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        url = None
        while url is None:
            line = process.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
            if "control API" in line:
                url = line.split(": ", 1)[1].strip()
        assert httpx.get(url, follow_redirects=False).status_code < 500
        incoming = tmp_path / "Viewbox Data" / "INCOMING"
        shutil.copy(samples / "pydicom/test_files/CT_small.dcm", incoming / "ct.dcm")
        (incoming / "note.txt").write_text("not DICOM")
        with zipfile.ZipFile(tmp_path / "mr.zip", "w") as archive:
            archive.write(samples / "pydicom/test_files/MR_small.dcm", "mr.dcm")
        shutil.move(tmp_path / "mr.zip", incoming / "mr.zip")
        eventually(lambda: not any(incoming.iterdir()), message="INCOMING to empty")
        stored = list((tmp_path / "Viewbox Data" / "DATABASE").rglob("*.dcm"))
        quarantined = {p.name for p in (tmp_path / "Viewbox Data" / "QUARANTINE").iterdir()}
        assert quarantined == {"not-dicom-note.txt"}  # an imported zip is not kept aside as "not DICOM"
        assert len(stored) == 2
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0
        assert "Viewbox stopped." in output
    finally:
        if process.poll() is None:
            process.kill()


def test_settings_defaults_are_loopback_and_osirix_ports():
    settings = Settings()
    assert (settings.host, settings.port, settings.dicom_port, settings.aet) == ("127.0.0.1", 8080, 11112, "VIEWBOX")
    assert settings.data_dir.name == "Viewbox Data"
