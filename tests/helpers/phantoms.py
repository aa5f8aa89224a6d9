"""Generated DICOM series of known geometry and values: the truth measurement tests compare with."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    PositronEmissionTomographyImageStorage,
    generate_uid,
)

F18_HALF_LIFE = 6586.2  # seconds


@dataclass(frozen=True)
class SpherePhantom:
    """A sphere of `radius` mm and value `inside` in a background `outside`, centred on the middle
    slice's centre; `spacing` mm square pixels, `size`×`size` pixels, slices `thickness` apart."""

    radius: float = 40.0
    inside: float = 100.0
    outside: float = -1000.0
    spacing: float = 0.5
    size: int = 512
    slices: int = 5
    thickness: float = 10.0
    noise: float = 0.0

    def z(self, index: int) -> float:
        return (index - self.slices // 2) * self.thickness

    def circle_radius(self, index: int) -> float:
        return math.sqrt(max(self.radius ** 2 - self.z(index) ** 2, 0.0))

    @property
    def centre(self) -> float:
        """The image coordinate (column = row) of the sphere's centre: the middle of the image."""
        return self.size / 2

    def values(self, index: int, seed: int = 0) -> np.ndarray:
        centres = (np.arange(self.size) + 0.5 - self.centre) * self.spacing
        yy, xx = np.meshgrid(centres, centres, indexing="ij")
        out = np.where(xx ** 2 + yy ** 2 <= self.circle_radius(index) ** 2, self.inside, self.outside)
        if self.noise:
            out = out + np.random.default_rng(seed + index).normal(0.0, self.noise, out.shape)
        return out


def _base(sop_class: str, modality: str, study_uid: str, series_uid: str, index: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.Modality = modality
    ds.PatientName, ds.PatientID = "Phantom^Sphere", "PHANTOM-1"
    ds.StudyDate = ds.SeriesDate = "20260102"
    ds.SeriesTime = "100000"
    ds.SeriesNumber, ds.InstanceNumber = 1, index + 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    return ds


def write_ct(phantom: SpherePhantom, folder: Path) -> list[Path]:
    """The phantom as CT slices (Hounsfield through Rescale Intercept -1024, stored unsigned)."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid, series_uid, paths = generate_uid(), generate_uid(), []
    for index in range(phantom.slices):
        ds = _base(CTImageStorage, "CT", study_uid, series_uid, index)
        ds.PixelRepresentation = 0
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1, -1024, "HU"
        _place(ds, phantom, index)
        stored = np.rint(phantom.values(index) + 1024).clip(0, 65535).astype(np.uint16)
        ds.PixelData = stored.tobytes()
        paths.append(folder / f"ct{index}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    return paths


@dataclass(frozen=True)
class PetDose:
    weight_kg: float = 70.0
    dose_bq: float = 370e6
    minutes_before_scan: float = 60.0

    def suv_factor(self) -> float:
        decayed = self.dose_bq * math.exp(-math.log(2) * self.minutes_before_scan * 60 / F18_HALF_LIFE)
        return self.weight_kg * 1000.0 / decayed


def write_pet(phantom: SpherePhantom, dose: PetDose, folder: Path) -> list[Path]:
    """The phantom as PET slices in Bq/ml (`phantom.inside` in SUVbw converted with `dose`),
    decay-corrected to the series start, injected `minutes_before_scan` before it."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid, series_uid, paths = generate_uid(), generate_uid(), []
    slope = 0.5
    for index in range(phantom.slices):
        ds = _base(PositronEmissionTomographyImageStorage, "PT", study_uid, series_uid, index)
        ds.PixelRepresentation = 0
        ds.Units, ds.DecayCorrection = "BQML", "START"
        ds.PatientWeight = dose.weight_kg
        item = Dataset()
        item.RadionuclideTotalDose = dose.dose_bq
        item.RadionuclideHalfLife = F18_HALF_LIFE
        minutes = 10 * 60 - dose.minutes_before_scan  # the series starts at 10:00:00
        item.RadiopharmaceuticalStartTime = f"{int(minutes // 60):02d}{int(minutes % 60):02d}00"
        ds.RadiopharmaceuticalInformationSequence = [item]
        ds.RescaleSlope, ds.RescaleIntercept = slope, 0
        _place(ds, phantom, index)
        bq_per_ml = phantom.values(index) / dose.suv_factor()
        ds.PixelData = np.rint(bq_per_ml / slope).clip(0, 65535).astype(np.uint16).tobytes()
        paths.append(folder / f"pt{index}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    return paths


def _place(ds: Dataset, phantom: SpherePhantom, index: int) -> None:
    ds.Rows = ds.Columns = phantom.size
    ds.PixelSpacing = [phantom.spacing, phantom.spacing]
    ds.SliceThickness = phantom.thickness
    corner = -phantom.centre * phantom.spacing + phantom.spacing / 2  # centre of the first pixel
    ds.ImagePositionPatient = [corner, corner, phantom.z(index)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SliceLocation = phantom.z(index)
