"""The fast header walk (library/scan.py) and the reading built on it, on hand-made and hostile
files: what it cannot read plainly must go to pydicom, never come out wrong or crash."""

from __future__ import annotations

import os
from io import BytesIO

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

from helpers.samples import SAMPLES
from viewbox.errors import ImportFailure
from viewbox.library import instance as instance_module
from viewbox.library.instance import NotDicom, read_instance, read_part10, read_received
from viewbox.library.scan import NeedMore, Unusual, scan_file

WANTED = instance_module._SCANNED_TAGS


def test_the_header_table_matches_pydicoms_dictionary():
    for keyword, (tag, vr) in instance_module._HEADER.items():
        assert pydicom.datadict.tag_for_keyword(keyword) == tag, keyword
        assert pydicom.datadict.dictionary_VR(tag) == vr, keyword


def code_item(meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "X1", "99TEST", meaning
    return item


def nested_dataset(syntax: str, *, private_bytes: int = 0) -> bytes:
    """A CT header with undefined-length sequences nested three deep before and after the wanted
    elements, a procedure code instead of a study description, and pixel data."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName = "Müller^Hans"
    ds.PatientID = "NEST-1"
    ds.Modality = "CT"
    inner = Dataset()
    inner.ReferencedSOPInstanceUID = generate_uid()
    inner.ReferencedImageSequence = Sequence([code_item("deepest")])
    middle = Dataset()
    middle.ReferencedSeriesSequence = Sequence([inner, inner])
    ds.ReferencedStudySequence = Sequence([middle])
    ds.ProcedureCodeSequence = Sequence([code_item("CT THORAX")])
    if private_bytes:
        ds.add_new(0x00091010, "LO", "PRIVATE")
        ds.add_new(0x00091011, "OB", b"\x00" * private_bytes)
    ds.InstanceNumber = "7"
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = bytes(32)
    for element in (ds["ReferencedStudySequence"], ds["ProcedureCodeSequence"]):
        element.is_undefined_length = True
    for item in (middle, inner, ds.ProcedureCodeSequence[0]):
        item.is_undefined_length_sequence_item = True
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_nested_undefined_length_sequences_are_skipped_and_a_procedure_code_is_read(syntax, tmp_path):
    encoded = nested_dataset(syntax)
    header = scan_file(encoded, WANTED, complete=True)  # the walk itself handles it, no fallback
    assert header.transfer_syntax == syntax and header.pixel_data_at is not None
    assert 0x00081032 in header.elements and 0x00080104 not in header.elements
    path = tmp_path / "nested.dcm"
    path.write_bytes(encoded)
    for read in (read_instance(path), read_part10(encoded)):
        assert read.study["study_description"] == "CT THORAX"
        assert read.study["patient_name"] == "Müller^Hans"
        assert read.image["instance_number"] == 7 and read.image["rows"] == 4
    meta_end = 132 + 12 + pydicom.dcmread(BytesIO(encoded)).file_meta.FileMetaInformationGroupLength
    received = read_received(BytesIO(encoded[meta_end:]), syntax)
    assert received.study == read_instance(path).study


def test_a_header_longer_than_the_first_read_is_read_whole(tmp_path):
    encoded = nested_dataset(ExplicitVRLittleEndian, private_bytes=200_000)
    with pytest.raises(NeedMore):
        scan_file(encoded[:64 * 1024], WANTED, complete=False)
    path = tmp_path / "long-header.dcm"
    path.write_bytes(encoded)
    assert read_instance(path).image["instance_number"] == 7


def test_cut_pixel_data_is_quarantined_with_pydicoms_reason(tmp_path):
    encoded = nested_dataset(ExplicitVRLittleEndian)
    with pytest.raises(Unusual):
        scan_file(encoded[:-8], WANTED, complete=True)
    path = tmp_path / "cut.dcm"
    path.write_bytes(encoded[:-8])
    with pytest.raises(ImportFailure, match="truncated: Pixel Data declares 32 bytes"):
        read_instance(path)


SEEDS = [nested_dataset(ExplicitVRLittleEndian), nested_dataset(ImplicitVRLittleEndian),
         (SAMPLES / "pydicom/test_files/CT_small.dcm").read_bytes()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(SEEDS), cut=st.integers(0, 4000),
       edits=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=6))
def test_mutated_headers_never_crash_the_walk_or_the_reader(seed, cut, edits, tmp_path_factory):
    data = bytearray(seed[: max(cut, 132)] if cut < len(seed) else seed)
    for position, value in edits:
        if position < len(data):
            data[position] = value
    data = bytes(data)
    try:
        scan_file(data, WANTED, complete=True)
    except Unusual:
        pass
    path = tmp_path_factory.mktemp("mutated") / "file.dcm"
    path.write_bytes(data)
    try:
        read = read_instance(path)
    except (NotDicom, ImportFailure):
        return
    assert read.sop_instance_uid  # whatever is stored has its UIDs


def test_no_descriptor_is_left_open_by_an_import_that_fails(workstation, samples, monkeypatch):
    """A failure while committing drops the copies waiting in the pipeline, with their files."""
    def failing_commit(staged):
        raise RuntimeError("database gone")

    before = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(workstation.library, "commit", failing_commit)
    report = workstation.import_paths([samples / "pydicom"])
    assert report.imported == 0 and report.not_stored and "database gone" in report.errors[-1]["reason"]
    assert len(os.listdir("/proc/self/fd")) <= before + 2  # (the database may open its files)
