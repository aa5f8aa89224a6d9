"""Shared helpers for the control-API tests: synthetic studies and a real server on port 0.

(Imported by the other test_control_* modules; holds no tests of its own.)
"""

from __future__ import annotations

import contextlib
import xmlrpc.client
from dataclasses import replace
from pathlib import Path

import httpx
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from helpers.polling import eventually

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def write_instance(folder: Path, *, patient_name="DOE^JOHN", patient_id="P1", study_uid=None,
                   series_uid=None, sop_uid=None, accession="A1", study_id="S1", modality="CT",
                   study_description="CHEST", series_description="AXIAL", series_number=1,
                   instance_number=1, study_date="20240102") -> tuple[Path, Dataset]:
    """A small valid CT instance (4×4 pixels) written to `folder`."""
    ds = Dataset()
    ds.SOPClassUID = CT_IMAGE
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName, ds.PatientID = patient_name, patient_id
    ds.AccessionNumber, ds.StudyID = accession, study_id
    ds.Modality, ds.StudyDescription, ds.SeriesDescription = modality, study_description, series_description
    ds.SeriesNumber, ds.InstanceNumber = series_number, instance_number
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = study_date
    ds.StudyTime = "101010"
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = bytes(32)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CT_IMAGE, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ds.SOPInstanceUID}.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path, ds


def make_study(folder: Path, n_series: int = 1, images: int = 2, **fields) -> dict:
    """Write one study (n_series × images) and return its UIDs."""
    study_uid = str(fields.pop("study_uid", None) or generate_uid())
    series_uids = []
    for s in range(n_series):
        series_uid = str(generate_uid())
        series_uids.append(series_uid)
        for i in range(images):
            write_instance(folder, study_uid=study_uid, series_uid=series_uid, series_number=s + 1,
                           instance_number=i + 1, **fields)
    return {"study": study_uid, "series": series_uids}


@contextlib.contextmanager
def serve(settings):
    """A RunningWorkstation on free ports (no DICOM node: these tests are about HTTP)."""
    from viewbox.server import RunningWorkstation

    server = RunningWorkstation(replace(settings, dicom_enabled=False, port=0)).start_in_thread()
    try:
        yield server
    finally:
        server.stop()


def proxy(server, **kwargs) -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy(server.base_url + "/", allow_none=True, **kwargs)


def post_xml(server, body: bytes | str, path="/", headers=None) -> httpx.Response:
    if isinstance(body, str):
        body = body.encode("utf-8")
    return httpx.post(server.base_url + path, content=body,
                      headers={"Content-Type": "text/xml", **(headers or {})}, timeout=30)


def parse_reply(response: httpx.Response):
    """The value of a methodResponse (xmlrpc.client's own parser, as real clients use)."""
    params, _ = xmlrpc.client.loads(response.content)
    return params[0]


def wait_for(predicate, timeout=20.0, interval=0.02):
    """Poll until predicate() is truthy (no fixed sleeps); return its value."""
    return eventually(predicate, timeout=timeout, interval=interval)


def test_the_job_list_stays_newest_first_and_bounded_while_an_old_job_runs():
    """A long job at the head of the list must neither be shown as the newest nor stop pruning."""
    import threading

    from viewbox.jobs import JobRunner

    release = threading.Event()
    runner = JobRunner(workers=2, keep=3)
    try:
        slow = runner.submit("download", "slow", lambda job: release.wait(30) and {})
        quick = []
        for index in range(5):
            quick.append(runner.submit("import", f"quick {index}", lambda job: {}))
            runner.wait(quick[-1].id, timeout=30)
            listed = runner.recent(10)
            assert listed[0] is quick[-1] and len(listed) <= 3, [job.description for job in listed]
        listed = [job.description for job in runner.recent(10)]
        assert listed == ["quick 4", "quick 3", "slow"]  # three kept, the running one too
        assert runner.get(slow.id) is slow
    finally:
        release.set()
        runner.shutdown()
