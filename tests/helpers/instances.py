"""Synthetic DICOM instances for the fault suite (one study, random pixels of a chosen size) and
what a workstation stored of them."""

from __future__ import annotations

import os
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from sqlalchemy import text

from viewbox.app import Workstation
from viewbox.config import Settings


def write_images(folder: Path, count: int, pixels: int = 100_000) -> list[Path]:
    """`count` instances of one study, each about `pixels` bytes of pixel data."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    paths = []
    for number in range(count):
        ds = Dataset()
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
        ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), study, series
        ds.PatientName, ds.PatientID, ds.Modality, ds.InstanceNumber = "FULL^DISK", "FULL", "OT", number + 1
        ds.Rows, ds.Columns = 1, pixels // 2
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = os.urandom(pixels)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        path = folder / f"{number:03d}.dcm"
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def stored_objects(data_root: Path, database_url: str | None = None) -> dict[str, list[bytes]]:
    """SOP Instance UID → the bytes of every stored file that has a row (more than one: a duplicate)."""
    workstation = Workstation(Settings(data_root=data_root, database_url=database_url, dicom_enabled=False))
    try:
        with workstation.database.read() as conn:
            rows = conn.execute(text("SELECT sop_instance_uid, rel_path FROM image")).all()
        found: dict[str, list[bytes]] = {}
        for uid, rel_path in rows:
            found.setdefault(uid, []).append((workstation.database.files_dir / rel_path).read_bytes())
        return found
    finally:
        workstation.close()


def dataset_bytes(part10: bytes) -> bytes:
    """A Part 10 file without its preamble and File Meta Information (what C-STORE carries)."""
    group_length = int.from_bytes(part10[140:144], "little")
    return part10[144 + group_length:]


def sop_uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def assert_stored_once(data_root: Path, files: list[Path], database_url: str | None = None) -> None:
    """Every file stored exactly once, its data set byte for byte as sent."""
    stored = stored_objects(data_root, database_url)
    assert len(stored) == len(files) and all(len(copies) == 1 for copies in stored.values())
    for path in files:
        assert dataset_bytes(stored[sop_uid(path)][0]) == dataset_bytes(path.read_bytes()), path
