"""Retrieve, CMove and SendStudy against Orthanc as the PACS Location (C-MOVE, C-GET, DICOMweb)."""

from __future__ import annotations

import time
import xmlrpc.client
from pathlib import Path

import httpx
import pydicom
import pytest
from click.testing import CliRunner

from helpers.dicom_peers import free_port
from helpers.interop_samples import PACS_STUDIES, pixel_bytes, sample_paths
from helpers.polling import eventually

pytestmark = pytest.mark.interop

PATIENT_ID = "123565"
ACCESSION = "03086212"
STUDY_UID = "1.3.12.2.1107.5.2.32.35131.30000014022817282751500000052"


def pacs_location(orthanc, name: str = "PACS", mode: str = "C-MOVE"):
    from viewbox.config import Location

    return Location(name, orthanc.aet, "127.0.0.1", orthanc.dicom_port, mode, orthanc.dicomweb_url)


@pytest.fixture
def node(start_node, orthanc, viewbox_dicom_port):
    """A workstation on the port Orthanc knows as VIEWBOX, with Orthanc as Location 'PACS'."""
    from viewbox.config import Location

    unreachable = Location("DOWN", "NOBODY", "127.0.0.1", free_port())
    return start_node(dicom_port=viewbox_dicom_port, locations=(pacs_location(orthanc), unreachable))


def wait_job(workstation, job, timeout: float = 120):
    finished = workstation.jobs.wait(job.id, timeout=timeout)
    assert finished.state == "done", finished.message
    return finished


def assert_held_byte_equal(workstation, sources: list[Path]) -> None:
    from viewbox.library import dicom_query

    database = workstation.database
    stored = {row["sop_instance_uid"]: database.files_dir / row["rel_path"]
              for row in dicom_query.find(database, "IMAGE", {})}
    for source in sources:
        uid = str(pydicom.dcmread(source, stop_before_pixels=True).SOPInstanceUID)
        assert uid in stored, f"{source} was not retrieved"
        assert pixel_bytes(stored[uid]) == pixel_bytes(source), f"{source}: pixel data changed"


@pytest.mark.parametrize("mode", ["C-MOVE", "C-GET", "DICOMweb"])
def test_retrieve_by_patient_accession_and_study_uid(node, mode):
    from viewbox.dicom.retrieve import start_retrieve

    ws = node.workstation
    cases = [([("PatientID", PATIENT_ID)], "patient"),
             ([("accessionNumber", ACCESSION)], "accession"),  # OsiriX's spelling, any case
             ([("StudyInstanceUID", STUDY_UID)], "study")]
    for filters, key in cases:
        job = wait_job(ws, start_retrieve(ws, "PACS", filters, None, False, mode))
        sources = sample_paths(*PACS_STUDIES[key])
        assert job.done == len(sources) and job.failed == 0
        assert job.total == len(sources)
        assert_held_byte_equal(ws, sources)


def test_retrieve_over_xmlrpc_then_open_and_only_if_needed(node):
    proxy = xmlrpc.client.ServerProxy(node.base_url + "/RPC2")
    reply = proxy.Retrieve({"serverName": "PACS", "filterKey": "PatientsName", "filterValue": "*",
                            "filterKey2": "PatientID", "filterValue2": PATIENT_ID, "then": "open"})
    assert reply["error"] == "0", reply
    job = eventually(lambda: (j := proxy.GetJob({"jobID": reply["jobID"]})["job"])["state"] in ("done", "failed")
                     and j, timeout=120, message="the Retrieve job to end (GetJob)")
    assert job["state"] == "done", job
    assert job["done"] == "20"
    shown = eventually(lambda: proxy.GetDisplayed2DViewerStudies({}).get("elements"),  # `then` runs at the end
                       message="the retrieved study open")
    assert shown[0]["patientID"] == PATIENT_ID

    again = proxy.Retrieve({"serverName": "PACS", "filterKey": "PatientID", "filterValue": PATIENT_ID,
                            "retrieveOnlyIfNeeded": "yes", "retrieveMode": "1"})
    assert again["error"] == "0"
    job = node.workstation.jobs.wait(again["jobID"], timeout=60)
    assert job.state == "done" and job.done == 0 and job.result["skipped"] == "1"

    assert proxy.Retrieve({"serverName": "Nowhere", "filterKey": "PatientID", "filterValue": "x"})["error"] == "-2"
    assert proxy.Retrieve({"serverName": "PACS", "filterKey": "PatientID",
                           "filterValue": "NO-SUCH-PATIENT"})["error"] == "-3"


def test_unreachable_location_fails_fast_and_the_workstation_keeps_working(node):
    from viewbox.dicom.retrieve import start_retrieve
    from viewbox.errors import RemoteFailure

    started = time.monotonic()
    with pytest.raises(RemoteFailure):
        start_retrieve(node.workstation, "DOWN", [("PatientID", PATIENT_ID)], None, False, None)
    assert time.monotonic() - started < 5
    proxy = xmlrpc.client.ServerProxy(node.base_url + "/RPC2")
    started = time.monotonic()
    assert proxy.Retrieve({"serverName": "DOWN", "filterKey": "PatientID", "filterValue": "1"})["error"] == "-1"
    assert time.monotonic() - started < 5
    assert proxy.CloseAllWindows({})["error"] == "0"
    from viewbox.dicom import scu

    assert scu.echo(node.workstation, node.settings.location("PACS")) < 5


def test_cmove_by_accession(node):
    from viewbox.dicom.retrieve import start_cmove

    job = wait_job(node.workstation, start_cmove(node.workstation, ACCESSION, "PACS"))
    assert job.done == 1
    assert_held_byte_equal(node.workstation, sample_paths(*PACS_STUDIES["accession"]))


def test_send_study_to_orthanc_and_cli(node, orthanc, tmp_path):
    from viewbox.cli import main
    from viewbox.dicom.retrieve import start_send

    source = sample_paths("pydicom/test_files/CT_small.dcm")
    node.workstation.import_paths(source)
    study_uid = str(pydicom.dcmread(source[0], stop_before_pixels=True).StudyInstanceUID)
    job = wait_job(node.workstation, start_send(node.workstation, "PACS", study_uid))
    assert job.done == 1
    found = httpx.post(orthanc.url + "/tools/find", json={"Level": "Study", "Query": {
        "StudyInstanceUID": study_uid}}).json()
    assert len(found) == 1

    config = tmp_path / "viewbox.toml"
    config.write_text(
        f'aet = "VIEWBOX"\n[[locations]]\nname = "PACS"\nae_title = "{orthanc.aet}"\nhost = "127.0.0.1"\n'
        f'port = {orthanc.dicom_port}\nretrieve_mode = "C-GET"\n'
        f'[[locations]]\nname = "DOWN"\nae_title = "NOBODY"\nhost = "127.0.0.1"\nport = {free_port()}\n')
    runner = CliRunner()
    listing = runner.invoke(main, ["locations", "--config", str(config)])
    assert listing.exit_code == 0 and "PACS" in listing.output and "C-GET" in listing.output
    echo = runner.invoke(main, ["locations", "echo", "PACS", "--config", str(config)])
    assert echo.exit_code == 0 and "OK" in echo.output, echo.output
    down = runner.invoke(main, ["locations", "echo", "DOWN", "--config", str(config)])
    assert down.exit_code == 1
    data = tmp_path / "cli-data"
    assert runner.invoke(main, ["import", "--data", str(data), str(source[0])]).exit_code == 0
    sent = runner.invoke(main, ["send", "PACS", study_uid, "--config", str(config), "--data", str(data)])
    assert sent.exit_code == 0 and "sent 1 of 1" in sent.output, sent.output


def test_display_study_falls_back_to_retrieving_from_the_pacs(start_node, orthanc, viewbox_dicom_port):
    node = start_node(dicom_port=viewbox_dicom_port, locations=(pacs_location(orthanc, mode="C-GET"),),
                      retrieve_on_display=("PACS",))
    proxy = xmlrpc.client.ServerProxy(node.base_url + "/RPC2")
    reply = proxy.DisplayStudy({"AccessionNumber": ACCESSION})
    assert reply["error"] == "0" and reply["jobID"], reply
    deadline = time.monotonic() + 60
    while not proxy.GetDisplayed2DViewerStudies({}).get("elements"):
        assert time.monotonic() < deadline, "the study retrieved for DisplayStudy was not opened"
    assert proxy.GetDisplayed2DViewerStudies({})["elements"][0]["accessionNumber"] == ACCESSION
    assert proxy.DisplayStudy({"AccessionNumber": "NOT-AT-THE-PACS"})["error"] == "-1"
