"""Hostile or broken input (issue 10): stored attributes never steer file names, one bad file never
stops an import, and every reader path sets aside what it cannot read and goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pydicom
import pytest
from click.testing import CliRunner
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from sqlalchemy import text

from helpers.instances import dataset_bytes
from test_control_support import make_study, proxy, serve
from viewbox.cli import main


def hostile_instance(path: Path, *, sop_uid: str | None = None, study_uid: str | None = None,
                     unknown_vr: bool = False) -> Path:
    """A small Secondary Capture object; `unknown_vr`: its (empty) Study Date has the VR 'Sj'."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "HOSTILE^TEST", "HOSTILE", "OT"
    ds.StudyDate = ""
    ds.InstitutionName = "SJ INSTITUTE"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    if unknown_vr:
        path.write_bytes(path.read_bytes().replace(b"\x08\x00\x20\x00DA\x00\x00", b"\x08\x00\x20\x00Sj\x00\x00"))
    return path


def test_a_file_with_an_unknown_vr_is_quarantined_and_the_import_goes_on(tmp_path):
    """0.1.0: NotImplementedError out of `viewbox import`, rc 1, no report, later files unread."""
    folder = tmp_path / "in"
    hostile_instance(folder / "a.dcm")
    hostile_instance(folder / "b.dcm", unknown_vr=True)
    hostile_instance(folder / "c.dcm")
    result = subprocess.run([sys.executable, "-m", "viewbox", "import", "--data", str(tmp_path / "root"),
                             "--json", str(folder)], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["imported"], report["quarantined"]) == (2, 1)
    assert "Sj" in report["errors"][0]["reason"]
    quarantine = tmp_path / "root" / "Viewbox Data" / "QUARANTINE"
    notes = [json.loads(p.read_text()) for p in quarantine.glob("*.reason.json")]
    assert len(notes) == 1 and "Sj" in notes[0]["reason"] and notes[0]["source"].endswith("b.dcm")


def test_objects_whose_uids_are_not_uids_are_quarantined(workstation, tmp_path):
    """A 'UID' with a path in it is junk or an attack: set aside with the reason, not stored."""
    folder = tmp_path / "in"
    hostile_instance(folder / "escape.dcm", sop_uid="../../escaped")
    hostile_instance(folder / "absolute.dcm", study_uid="/etc/viewbox")
    hostile_instance(folder / "fine.dcm", sop_uid="1.2.840.99.1")
    report = workstation.import_paths([folder])
    assert (report.imported, report.quarantined) == (1, 2)
    assert all("is not a UID" in error["reason"] for error in report.errors)


def test_export_names_stay_in_the_folder_whatever_the_stored_uid_says(sqlite_settings, tmp_path):
    """Rows written by an older version (or any other way) may hold any SOP Instance UID."""
    make_study(tmp_path / "f", images=3, patient_id="EXPORT")
    with serve(sqlite_settings) as server:
        workstation = server.workstation
        workstation.import_paths([tmp_path / "f"])
        planted = ["../../escaped", str(tmp_path / "absolute-escape"), "sub/dir"]
        with workstation.database.begin() as conn:
            pks = [row[0] for row in conn.execute(text("SELECT pk FROM image ORDER BY pk"))]
            for pk, uid in zip(pks, planted, strict=True):
                conn.execute(text("UPDATE image SET sop_instance_uid = :uid WHERE pk = :pk"),
                             {"uid": uid, "pk": pk})
        client = proxy(server)
        client.DBWindowFind({"request": "patientID == 'EXPORT'", "table": "Study", "execute": "Select"})
        target = tmp_path / "deep" / "er" / "out"
        assert client.exportSelectedToPath({"path": str(target)}) == {"error": "0", "exported": "3"}
    exported = sorted(p.name for p in target.iterdir())
    assert len(exported) == 3 and all(name.endswith(".dcm") and "/" not in name for name in exported)
    assert not (tmp_path / "deep" / "escaped.dcm").exists()
    assert sorted(p.name for p in tmp_path.rglob("*.dcm") if target not in p.parents
                  and (tmp_path / "f") not in p.parents and "Viewbox Data" not in p.parts) == []


@pytest.mark.parametrize("url", ["osirix:///?methodName=%00", "osirix://?methodName=a/b",
                                 "horos://?methodName=%0aDisplayStudy", "viewbox://?methodName=x%3Fy"])
def test_a_malformed_url_is_a_parse_error_not_an_unreachable_workstation(url, dead_port):
    """0.1.0: 'cannot reach the workstation' (exit 1) for a method name with a NUL in it."""
    result = CliRunner().invoke(main, ["url", "--port", str(dead_port), url], env={"VIEWBOX_CONFIG": ""})
    assert result.exit_code == 2 and "not a method name" in result.output, result.output


def test_deep_xmlrpc_and_huge_predicates_are_answered_not_500(sqlite_settings, tmp_path):
    """0.1.0: 500 for values nested 500 deep (RecursionError) and for 1,000 AND-ed terms (SQLite's
    expression depth). Now: a 400 that says why, and the right answer for the long predicates."""
    make_study(tmp_path / "a", images=1, patient_id="LONG1")
    make_study(tmp_path / "b", images=1, patient_id="LONG2")
    with serve(sqlite_settings) as server:
        server.workstation.import_paths([tmp_path / "a", tmp_path / "b"])
        deep = "<value><array><data>" * 500 + "<value>x</value>" + "</data></array></value>" * 500
        body = (f"<?xml version='1.0'?><methodCall><methodName>DBWindowFind</methodName><params><param>"
                f"{deep}</param></params></methodCall>")
        reply = httpx.post(server.base_url + "/", content=body, timeout=30)
        assert reply.status_code == 400 and "nested more than" in reply.text
        every = " AND ".join(f"patientID != 'none{i}'" for i in range(1000))
        one = " OR ".join([f"patientID == 'none{i}'" for i in range(999)] + ["patientID == 'LONG2'"])
        for predicate, expected in ((every, {"LONG1", "LONG2"}), (one, {"LONG2"})):
            reply = httpx.get(server.base_url + "/", timeout=30, params={
                "methodName": "DBWindowFind", "request": predicate, "table": "Study", "format": "json"})
            assert reply.status_code == 200, reply.text
            assert {e["patientID"] for e in reply.json()["elements"]} == expected
        assert proxy(server).DBWindowFind({"request": one, "table": "Study"})["error"] == "0"



def test_received_data_sets_with_an_unknown_vr_are_refused_with_the_reason(tmp_path):
    """The C-STORE, C-GET and WADO-RS readers: an ImportFailure the node answers with its
    status and reason (0.1.0: NotImplementedError, answered 0110 'internal error')."""
    from io import BytesIO

    from viewbox.errors import ImportFailure
    from viewbox.library.instance import read_part10, read_received

    data = hostile_instance(tmp_path / "b.dcm", unknown_vr=True).read_bytes()
    with pytest.raises(ImportFailure, match="Sj"):
        read_part10(data)
    with pytest.raises(ImportFailure, match="Sj"):
        read_received(BytesIO(dataset_bytes(data)), "1.2.840.10008.1.2.1")
