"""DownloadURL: a DICOM file and a zip from a local HTTP server, Display, and hostile input."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from test_control_support import make_study, proxy, serve, wait_for, write_instance
from viewbox.config import Settings


@pytest.fixture
def server(tmp_path):
    settings = Settings(data_root=tmp_path / "root", download_max_bytes=200_000,
                        zip_max_unpacked_bytes=300_000)
    with serve(settings) as running:
        yield running


def finished_job(client, job_id) -> dict:
    return wait_for(lambda: (lambda job: job if job["state"] in ("done", "failed") else None)(
        client.GetJob({"jobID": job_id})["job"]))


def test_download_a_dicom_file_and_display_it(server, files_server):
    path, ds = write_instance(files_server.root, patient_id="DL1")
    client = proxy(server)
    reply = client.DownloadURL({"URL": f"{files_server.url}/{path.name}", "Display": "YES"})
    assert reply["error"] == "0" and reply["jobID"]
    job = finished_job(client, reply["jobID"])
    assert job["state"] == "done" and job["imported"] == "1"
    shown = client.GetDisplayed2DViewerStudies()["elements"]
    assert [e["studyInstanceUID"] for e in shown] == [ds.StudyInstanceUID]


def test_download_a_zip_without_display(server, files_server, tmp_path):
    study = make_study(tmp_path / "zipped", n_series=2, images=2, patient_id="DLZ")
    with zipfile.ZipFile(files_server.root / "study.zip", "w") as zf:
        for file in sorted((tmp_path / "zipped").iterdir()):
            zf.write(file, f"dir/{file.name}")
    client = proxy(server)
    reply = client.DownloadURL({"url": f"{files_server.url}/study.zip"})
    job = finished_job(client, reply["jobID"])
    assert job["state"] == "done" and job["imported"] == "4" and job["studies"] == study["study"]
    assert client.GetDisplayed2DViewerStudies()["elements"] == []
    assert client.DisplayStudy({"PatientID": "DLZ"})["error"] == "0"
    assert list(server.workstation.database.temp_dir.iterdir()) == []  # nothing left behind


def _outside_writes(tmp_path: Path, data_dir: Path, www: Path) -> list[Path]:
    return [p for p in tmp_path.rglob("*") if p.is_file()
            and data_dir not in p.parents and www not in p.parents and "zipped" not in p.parts]


def test_hostile_zips_are_refused_and_nothing_escapes(server, files_server, tmp_path):
    dicom, _ = write_instance(tmp_path / "zipped", patient_id="EVIL")
    with zipfile.ZipFile(files_server.root / "slip.zip", "w") as zf:
        zf.writestr("../../../../escaped.dcm", dicom.read_bytes())
        zf.writestr("ok/../../escaped2.dcm", dicom.read_bytes())
    with zipfile.ZipFile(files_server.root / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.dcm", bytes(250_000))
        zf.writestr("zeros2.dcm", bytes(250_000))
    link = zipfile.ZipInfo("link.dcm")
    link.external_attr = (0o120777 << 16)
    with zipfile.ZipFile(files_server.root / "link.zip", "w") as zf:
        zf.writestr(link, "/etc/passwd")
    client = proxy(server)
    for name, reason in (("slip.zip", "escapes"), ("bomb.zip", "zip refused"), ("link.zip", "link")):
        job = finished_job(client, client.DownloadURL({"URL": f"{files_server.url}/{name}", "Display": 1})["jobID"])
        assert job["state"] == "failed" and reason in job["message"], (name, job)
    data_dir = server.workstation.database.data_dir
    assert _outside_writes(tmp_path, data_dir, files_server.root) == []
    assert not (tmp_path / "escaped.dcm").exists()
    assert client.DBWindowFind({"request": "TRUEPREDICATE", "table": "Image"})["error"] == "-1"
    assert list(server.workstation.database.temp_dir.iterdir()) == []


def test_download_limits_and_bad_urls(server, files_server):
    (files_server.root / "big.bin").write_bytes(bytes(300_000))
    client = proxy(server)
    job = finished_job(client, client.DownloadURL({"URL": f"{files_server.url}/big.bin"})["jobID"])
    assert job["state"] == "failed" and "limit" in job["message"]
    job = finished_job(client, client.DownloadURL({"URL": f"{files_server.url}/missing.dcm"})["jobID"])
    assert job["state"] == "failed" and "404" in job["message"]
    (files_server.root / "junk.txt").write_text("not dicom")
    job = finished_job(client, client.DownloadURL({"URL": f"{files_server.url}/junk.txt"})["jobID"])
    assert job["state"] == "failed" and "nothing imported" in job["message"]
    import xmlrpc.client
    for url in ("file:///etc/passwd", "ftp://example.org/x.dcm", "not a url", "http:///nohost"):
        with pytest.raises(xmlrpc.client.ProtocolError) as info:
            client.DownloadURL({"URL": url})
        assert info.value.errcode == 400
    assert list(server.workstation.database.temp_dir.iterdir()) == []
