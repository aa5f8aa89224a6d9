"""Generated CT series with known geometry, for volume, MPR and synchronisation tests.

`ct_series` lays out slices from a geometry (in-plane spacing, slice positions, orientation,
tilt) and fills every voxel with `value(point)` evaluated at its patient position, so any
reformat can be checked against the function itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

# Stored values are value * 1/SLOPE: the modality LUT (Rescale Slope) brings them back.
SLOPE = 0.01


@dataclass(frozen=True)
class StackLayout:
    """Where the slices of a generated series lie."""

    rows: int = 48
    columns: int = 40
    row_spacing: float = 0.8
    column_spacing: float = 0.8
    depths: Sequence[float] = tuple(2.5 * k for k in range(24))
    origin: tuple[float, float, float] = (-16.0, -19.0, -30.0)
    row_direction: tuple[float, float, float] = (1.0, 0.0, 0.0)
    column_direction: tuple[float, float, float] = (0.0, 1.0, 0.0)
    tilt_shift: float = 0.0  # mm of shift along column_direction per mm along the normal

    def slice_positions(self) -> list[np.ndarray]:
        row, column = np.array(self.row_direction), np.array(self.column_direction)
        normal = np.cross(row, column)
        return [np.array(self.origin) + d * normal + d * self.tilt_shift * column for d in self.depths]

    def slice_points(self, position: np.ndarray) -> np.ndarray:
        """Patient position of every pixel of a slice: (rows, columns, 3)."""
        rows = np.arange(self.rows)[:, None, None] * self.row_spacing * np.array(self.column_direction)
        columns = np.arange(self.columns)[None, :, None] * self.column_spacing * np.array(self.row_direction)
        return position + rows + columns


def ct_dataset(layout: StackLayout, position: np.ndarray, values: np.ndarray, *, series: Dataset,
               number: int) -> Dataset:
    """One CT slice with the series' identity."""
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = CTImageStorage
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "StudyInstanceUID", "StudyDate",
                    "StudyDescription", "AccessionNumber", "SeriesInstanceUID", "SeriesNumber",
                    "SeriesDescription", "FrameOfReferenceUID", "Modality"):
        setattr(dataset, keyword, getattr(series, keyword))
    dataset.SOPClassUID = CTImageStorage
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.InstanceNumber = number
    dataset.ImagePositionPatient = [float(v) for v in position]
    dataset.ImageOrientationPatient = [*layout.row_direction, *layout.column_direction]
    dataset.PixelSpacing = [layout.row_spacing, layout.column_spacing]
    dataset.SliceThickness = 99.0  # deliberately wrong: spacing must come from positions
    dataset.Rows, dataset.Columns = layout.rows, layout.columns
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
    dataset.PixelRepresentation = 1
    dataset.RescaleSlope, dataset.RescaleIntercept = SLOPE, 0
    dataset.WindowCenter, dataset.WindowWidth = 40, 400
    stored = np.clip(np.rint(values / SLOPE), -32768, 32767).astype("<i2")
    dataset.PixelData = stored.tobytes()
    return dataset


def series_identity(**overrides: str) -> Dataset:
    identity = Dataset()
    identity.PatientName = overrides.get("PatientName", "Phantom^Volume")
    identity.PatientID = overrides.get("PatientID", "VOL-1")
    identity.PatientBirthDate = "19700101"
    identity.StudyInstanceUID = overrides.get("StudyInstanceUID", generate_uid())
    identity.StudyDate = overrides.get("StudyDate", "20260101")
    identity.StudyDescription = overrides.get("StudyDescription", "CT phantom")
    identity.AccessionNumber = overrides.get("AccessionNumber", "ACC-VOL")
    identity.SeriesInstanceUID = overrides.get("SeriesInstanceUID", generate_uid())
    identity.SeriesNumber = int(overrides.get("SeriesNumber", 2))
    identity.SeriesDescription = overrides.get("SeriesDescription", "Axial 2.5")
    identity.FrameOfReferenceUID = overrides.get("FrameOfReferenceUID", generate_uid())
    identity.Modality = "CT"
    return identity


def ct_series(layout: StackLayout, value: Callable[[np.ndarray], np.ndarray],
              identity: Dataset | None = None) -> list[Dataset]:
    """The slices of a series, each pixel holding value(its patient position)."""
    identity = identity or series_identity()
    return [ct_dataset(layout, position, value(layout.slice_points(position)), series=identity, number=k + 1)
            for k, position in enumerate(layout.slice_positions())]


def write_series(datasets: Sequence[Dataset], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for dataset in datasets:
        path = folder / f"{dataset.SOPInstanceUID}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def ramp(point: np.ndarray) -> np.ndarray:
    """A linear function of position: trilinear interpolation reproduces it exactly."""
    return 2.0 * point[..., 0] + 3.0 * point[..., 1] + 5.0 * point[..., 2]


def sphere(center: Sequence[float], radius: float, inside: float = 1000.0,
           outside: float = -1000.0) -> Callable[[np.ndarray], np.ndarray]:
    def value(point: np.ndarray) -> np.ndarray:
        distance = np.linalg.norm(point - np.asarray(center), axis=-1)
        return np.where(distance <= radius, inside, outside)
    return value
