"""The web UI's Query panel API: a second Viewbox node is the PACS (real C-FIND, C-MOVE, C-GET)."""

from __future__ import annotations

import dataclasses
import time

import httpx
import pytest

from helpers.polling import eventually
from helpers.samples import SAMPLES
from viewbox.config import Location, Settings
from viewbox.library import queries
from viewbox.server import RunningWorkstation

ARCHIBALD = SAMPLES / "pydicom" / "test_files" / "dicomdirtests" / "77654033"  # Doe^Archibald: CR (3, 20010101), CT (4, 19950903)
MISTER = SAMPLES / "fo-dicom" / "benchmark" / "mr.dcm"  # MISTER^MR, 832040, MR, 20010108
DOG = SAMPLES / "highdicom" / "dx_image.dcm"  # Dog^AVeryGood, 123456, DX, 20200125


@pytest.fixture(scope="module")
def pacs(tmp_path_factory, viewbox_dicom_port):
    """A Viewbox node holding four studies that answers C-FIND from anyone and C-MOVEs to the
    node under test (VIEWBOX at viewbox_dicom_port)."""
    destination = Location("Viewbox", "VIEWBOX", "127.0.0.1", viewbox_dicom_port)
    node = RunningWorkstation(Settings(data_root=tmp_path_factory.mktemp("pacs"), port=0, dicom_port=0,
                                       aet="TESTPACS", accept_calling_aets="any",
                                       locations=(destination,))).start_in_thread()
    report = node.workstation.import_paths([ARCHIBALD, MISTER, DOG])
    assert report.imported == 9, report.as_dict()
    yield node
    node.stop()


@pytest.fixture
def node(sqlite_settings, pacs, dead_port, viewbox_dicom_port):
    """The workstation under test, receiving C-MOVEs on viewbox_dicom_port; the PACS a Location."""
    locations = (Location("Test PACS", "TESTPACS", "127.0.0.1", pacs.dicom_port),
                 Location("Test PACS by C-GET", "TESTPACS", "127.0.0.1", pacs.dicom_port, retrieve_mode="C-GET"),
                 Location("Dead PACS", "DEADAE", "127.0.0.1", dead_port))
    server = RunningWorkstation(dataclasses.replace(sqlite_settings, dicom_port=viewbox_dicom_port,
                                                    locations=locations)).start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def client(node):
    with httpx.Client(base_url=node.base_url, timeout=30) as client:
        yield client


def found(client, location: str = "Test PACS", **filters) -> httpx.Response:
    return client.post("/api/ui/query", json={"location": location, "filters": filters})


def patients(reply: httpx.Response) -> list[tuple[str, str]]:
    assert reply.status_code == 200, reply.text
    return sorted((study["patient_id"], study["description"]) for study in reply.json()["studies"])


def test_query_by_patient_id_returns_what_the_list_shows(client, pacs):
    reply = found(client, PatientID="832040")
    assert patients(reply) == [("832040", "BRAIN SELLA")]
    study = reply.json()["studies"][0]
    assert study["name"] == "MISTER MR" and study["date"] == "2001-01-08" and study["modalities"] == "MR"
    assert study["accession"] == "0000000002" and study["instances"] == 1
    assert (study["local"], study["local_images"]) == (False, None)
    assert study["uid"] == queries.find_studies(pacs.workstation.database, patient_id="832040")[0]["study_instance_uid"]


def test_a_plain_name_matches_anywhere_and_wildcards_as_typed(client):
    archibald = [("77654033", "CT, HEAD/BRAIN WO CONTRAST"), ("77654033", "XR C Spine Comp Min 4 Views")]
    assert patients(found(client, PatientName="doe")) == archibald
    assert patients(found(client, PatientName="ARCHI")) == archibald
    assert patients(found(client, PatientName="doe archibald")) == archibald
    assert patients(found(client, PatientName="doe*")) == archibald
    assert patients(found(client, PatientName="archi*")) == []  # a wildcard means: as typed
    assert [s["instances"] for s in sorted(found(client, PatientName="doe").json()["studies"], key=lambda s: s["date"])] == [4, 3]


def test_query_by_date_range_modality_accession_and_description(client):
    assert patients(found(client, StudyDate="20010101-20010131")) == [
        ("77654033", "XR C Spine Comp Min 4 Views"), ("832040", "BRAIN SELLA")]
    assert patients(found(client, StudyDate="2001-01-05-2001-01-31")) == [("832040", "BRAIN SELLA")]
    assert patients(found(client, StudyDate="20200101-")) == [("123456", "CHEST")]
    assert patients(found(client, ModalitiesInStudy="ct")) == [("77654033", "CT, HEAD/BRAIN WO CONTRAST")]
    assert patients(found(client, AccessionNumber="16387a")) == [("123456", "CHEST")]
    assert patients(found(client, StudyDescription="Spine")) == [("77654033", "XR C Spine Comp Min 4 Views")]
    dates = [s["date"] for s in found(client, PatientName="*").json()["studies"]]
    assert dates == sorted(dates, reverse=True) and len(dates) == 4  # newest first


def test_no_match_is_an_empty_list_and_bad_queries_are_refused(client):
    reply = found(client, PatientID="nobody")
    assert reply.status_code == 200 and reply.json()["studies"] == [] and reply.json()["total"] == 0
    for filters in ({}, {"PatientID": "  "}, {"PatientSex": "F"}, {"StudyDate": "last week"}, {"PatientID": 5}):
        assert client.post("/api/ui/query", json={"location": "Test PACS", "filters": filters}).status_code == 400
    assert client.post("/api/ui/query", json={"filters": {"PatientID": "1"}}).status_code == 400


def test_unknown_and_unreachable_locations_answer_with_the_reason_promptly(client, dead_port):
    reply = found(client, "Nowhere", PatientID="1")
    assert reply.status_code == 404 and "Nowhere" in reply.json()["message"]
    started = time.monotonic()
    reply = found(client, "Dead PACS", PatientID="1")
    assert reply.status_code == 502
    assert reply.json()["message"] == f"Dead PACS (DEADAE@127.0.0.1:{dead_port}) cannot be reached"
    assert time.monotonic() - started < 5


def test_retrieve_one_job_per_study_then_the_studies_are_local(client, node, pacs):
    doe = found(client, PatientName="doe").json()["studies"]
    reply = client.post("/api/ui/retrieve", json={"location": "Test PACS", "study_uids": [s["uid"] for s in doe]})
    assert reply.status_code == 200, reply.text
    jobs = reply.json()["jobs"]
    assert [job["kind"] for job in jobs] == ["retrieve", "retrieve"]
    for job in jobs:
        ended = eventually(lambda job=job: (j := node.workstation.jobs.get(job["jobID"])).state in ("done", "failed") and j,
                           message="the retrieve job to end")
        assert ended.state == "done", ended.message
        assert ended.total == ended.done and ended.failed == 0
    for study in doe:
        local = queries.studies_by_uid(node.workstation.database, [study["uid"]])
        remote = queries.studies_by_uid(pacs.workstation.database, [study["uid"]])
        assert local[0]["number_of_images"] == remote[0]["number_of_images"] == study["instances"]
    again = found(client, PatientName="doe").json()["studies"]
    assert [(s["local"], s["local_images"]) for s in again] == [(True, s["instances"]) for s in again]
    assert client.get("/api/ui/studies").json()["total"] == 2


def test_retrieve_by_c_get_from_a_pacs_that_prefers_a_syntax_it_cannot_send(client, node, pacs):
    """The PACS (a Viewbox) takes lossless JPEG for every class while its files are stored
    uncompressed: the failed sub-operations are asked for again uncompressed, and all arrive."""
    study = found(client, "Test PACS by C-GET", PatientID="832040").json()["studies"][0]
    reply = client.post("/api/ui/retrieve", json={"location": "Test PACS by C-GET", "study_uids": [study["uid"]]})
    assert reply.status_code == 200, reply.text
    job = reply.json()["jobs"][0]
    ended = eventually(lambda: (j := node.workstation.jobs.get(job["jobID"])).state in ("done", "failed") and j,
                       message="the C-GET job to end")
    assert (ended.state, ended.failed) == ("done", 0), ended.message
    local = queries.studies_by_uid(node.workstation.database, [study["uid"]])
    assert local[0]["number_of_images"] == study["instances"]


def test_retrieve_and_open_opens_the_study_when_its_job_ends(client, node):
    study = found(client, PatientID="123456").json()["studies"][0]
    reply = client.post("/api/ui/retrieve", json={"location": "Test PACS", "study_uids": [study["uid"]], "then": "open"})
    assert reply.status_code == 200, reply.text
    viewers = eventually(node.workstation.workspace.open_viewers, message="the retrieved study open")
    assert viewers[0].series.study_uid == study["uid"]


def test_retrieve_refusals(client, node, dead_port):
    jobs = node.workstation.jobs
    started = len(jobs.recent(50))
    uid = found(client, PatientID="832040").json()["studies"][0]["uid"]
    assert client.post("/api/ui/retrieve", json={"location": "Nowhere", "study_uids": [uid]}).status_code == 404
    assert client.post("/api/ui/retrieve", json={"location": "Test PACS", "study_uids": [uid, "1.2.3.4"]}).status_code == 404
    assert client.post("/api/ui/retrieve", json={"location": "Test PACS", "study_uids": []}).status_code == 400
    assert client.post("/api/ui/retrieve", json={"location": "Test PACS", "study_uids": [uid], "then": "x"}).status_code == 400
    reply = client.post("/api/ui/retrieve", json={"location": "Dead PACS", "study_uids": [uid]})
    assert reply.status_code == 502 and "cannot be reached" in reply.json()["message"]
    assert len(jobs.recent(50)) == started  # refused before any job
