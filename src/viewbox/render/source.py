"""One opened DICOM image: what display needs to know of its header, and frame decoding on demand.

Decoding goes through pydicom's decoders one frame at a time (colour comes back as RGB, YBR_*
converted, planar configuration undone). The header values the display pipeline needs (rescale,
Modality/VOI LUT Sequences, windows, per-frame functional groups, palettes) are read here once;
what to do with them is `pipeline.py`'s job.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.filereader import read_partial
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, as_pixel_options, get_decoder
from pydicom.tag import BaseTag
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ..errors import NotFound, ViewboxError
from ..pydicom_setup import lenient_pydicom

lenient_pydicom()  # this module reads stored files: leniently, like the importer


class RenderError(ViewboxError):
    """A file whose pixels cannot be decoded or displayed; the web UI shows a placeholder."""

    http_status = 422


@dataclass(frozen=True)
class Window:
    """A VOI window in modality units (Hounsfield for CT)."""

    center: float
    width: float


@dataclass(frozen=True)
class LookupTable:
    """A Modality/VOI LUT: entry i holds the output for input `first_mapped + i`."""

    first_mapped: int
    data: np.ndarray
    bits: int

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Inputs below/above the table take its first/last entry (PS3.3 C.11.1.1)."""
        offsets = np.clip(np.rint(values) - self.first_mapped, 0, len(self.data) - 1)
        return self.data[offsets.astype(np.intp)]

    @property
    def output_max(self) -> float:
        """Output range of a VOI LUT: 2^bits - 1, or the data maximum if a file under-declares bits."""
        return max(float((1 << self.bits) - 1), float(self.data.max()))


@dataclass(frozen=True)
class DecodedFrame:
    """Decoded stored values of one frame plus their range (computed once, reused per window)."""

    index: int
    pixels: np.ndarray
    low: float
    high: float

    @property
    def nbytes(self) -> int:
        return self.pixels.nbytes


class FrameSource:
    """One opened DICOM image: what a viewer needs to know about it, and frame decoding on demand."""

    def __init__(self, dataset: Dataset, name: str = "<dataset>"):
        self.dataset = dataset
        self.name = name
        if not any(k in dataset for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            raise RenderError(f"{name}: no pixel data")
        try:
            self.rows = int(dataset.Rows)
            self.columns = int(dataset.Columns)
            self.number_of_frames = int(dataset.get("NumberOfFrames") or 1)
            self.samples_per_pixel = int(dataset.get("SamplesPerPixel") or 1)
            self.photometric_interpretation = str(dataset.get("PhotometricInterpretation") or "").strip().upper()
            # Low values shown bright: MONOCHROME1, or a Presentation LUT Shape of INVERSE (some DX/MG).
            self.inverse_presentation = (self.photometric_interpretation == "MONOCHROME1"
                                         or str(dataset.get("PresentationLUTShape") or "").strip().upper()
                                         == "INVERSE")
            self.modality = str(dataset.get("Modality") or "")
            self.bits_stored = int(dataset.get("BitsStored") or dataset.get("BitsAllocated") or 8)
            self._functional_groups = _has_functional_groups(dataset)
            self._rescale = _rescale(dataset)
            self.modality_lut = _first_lut(dataset, "ModalityLUTSequence")
            self.voi_lut = _first_lut(dataset, "VOILUTSequence")
            self._decoder = get_decoder(dataset.file_meta.TransferSyntaxUID)
            self._pixel_options = as_pixel_options(dataset)
        except (AttributeError, TypeError, ValueError, KeyError, NotImplementedError, IndexError) as exc:
            raise RenderError(f"{name}: cannot interpret image header: {exc}") from exc
        if self.rows <= 0 or self.columns <= 0 or self.number_of_frames <= 0:
            raise RenderError(f"{name}: empty image ({self.rows}x{self.columns}x{self.number_of_frames})")
        self._palette_table: np.ndarray | None = None

    @property
    def is_color(self) -> bool:
        return self.samples_per_pixel > 1 or self.photometric_interpretation == "PALETTE COLOR"

    def decode(self, index: int = 0) -> DecodedFrame:
        """Decode only frame `index` (0-based); colour comes back as RGB."""
        if not 0 <= index < self.number_of_frames:
            raise NotFound(f"{self.name}: frame {index} out of range (0..{self.number_of_frames - 1})")
        try:
            pixels, _ = self._decoder.as_array(self.dataset, index=index, validate=True, **self._pixel_options)
        except Exception as exc:  # pydicom and its plugins raise many unrelated types for bad data
            raise RenderError(f"{self.name}: cannot decode frame {index}: {exc}") from exc
        if not pixels.dtype.isnative:
            pixels = pixels.astype(pixels.dtype.newbyteorder("="))
        if pixels.ndim != (3 if self.samples_per_pixel > 1 else 2):
            raise RenderError(f"{self.name}: unexpected decoded shape {pixels.shape}")
        if pixels.size == 0:
            raise RenderError(f"{self.name}: frame {index} is empty")
        if self.is_color:
            low, high = 0.0, 255.0
        else:
            low, high = float(np.nanmin(pixels)), float(np.nanmax(pixels))
            if not (np.isfinite(low) and np.isfinite(high)):
                raise RenderError(f"{self.name}: frame {index} has no finite pixel values")
        return DecodedFrame(index, np.ascontiguousarray(pixels), low, high)

    def window_for(self, index: int) -> Window | None:
        """The file's (first) window for a frame."""
        windows = self.windows_for(index)
        return windows[0][0] if windows else None

    def windows_for(self, index: int) -> list[tuple[Window, str]]:
        """Every window the file offers for a frame, with its explanation (the modality's own
        presets, e.g. soft tissue and lung): per-frame or shared Frame VOI LUT (enhanced
        objects), else top level."""
        item = self._functional_group(index, "FrameVOILUTSequence")
        return _windows(item if item is not None else self.dataset)

    def voi_function_for(self, index: int) -> str:
        item = self._functional_group(index, "FrameVOILUTSequence")
        function = (item if item is not None and "VOILUTFunction" in item else self.dataset).get("VOILUTFunction")
        return str(function or "LINEAR").strip().upper()

    def rescale_for(self, index: int) -> tuple[float, float]:
        """(slope, intercept) for a frame: Pixel Value Transformation functional group, else top level."""
        item = self._functional_group(index, "PixelValueTransformationSequence")
        return _rescale(item) if item is not None else self._rescale

    def _functional_group(self, index: int, keyword: str) -> Dataset | None:
        """PS3.3 C.7.6.16: a per-frame item overrides the shared one."""
        if not self._functional_groups:
            return None
        for groups_keyword, item_index in (
            ("PerFrameFunctionalGroupsSequence", index),
            ("SharedFunctionalGroupsSequence", 0),
        ):
            groups = self.dataset.get(groups_keyword)
            if groups and item_index < len(groups) and groups[item_index].get(keyword):
                return groups[item_index].get(keyword)[0]
        return None

    def palette(self) -> np.ndarray:
        """Every possible stored value → 8-bit RGB, built once through pydicom's palette expansion."""
        if self._palette_table is None:
            try:
                domain = np.arange(1 << min(self.bits_stored, 16), dtype=np.uint16 if self.bits_stored > 8 else np.uint8)
                table = apply_color_lut(domain, self.dataset)
                bits = int(self.dataset.RedPaletteColorLookupTableDescriptor[2])
            except Exception as exc:  # malformed or missing LUT elements surface as assorted types
                raise RenderError(f"{self.name}: cannot read palette colour lookup tables: {exc}") from exc
            scale = 255.0 / ((1 << bits) - 1)
            self._palette_table = np.floor(table.astype(np.float64) * scale + 0.5).clip(0, 255).astype(np.uint8)
        return self._palette_table


def load_frames(path: str | os.PathLike[str]) -> FrameSource:
    """Open a stored file once (header and pixel bytes); frames are decoded later, one at a time."""
    try:
        with open(path, "rb") as handle:
            dataset = read_partial(handle, stop_when=_after_pixel_data(), force=True)
    except Exception as exc:  # unreadable files raise OSError, InvalidDicomError, struct errors...
        raise RenderError(f"{path}: not a readable DICOM file: {exc}") from exc
    return source_from_dataset(dataset, name=str(path))


def source_from_dataset(dataset: Dataset, name: str = "<dataset>") -> FrameSource:
    """Wrap an already parsed dataset; files without meta get the transfer syntax pydicom guessed."""
    if "TransferSyntaxUID" not in getattr(dataset, "file_meta", {}):
        implicit, little = dataset.original_encoding
        if implicit is None:
            raise RenderError(f"{name}: unknown transfer syntax")
        guessed = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
        dataset.ensure_file_meta()
        dataset.file_meta.TransferSyntaxUID = guessed
    return FrameSource(dataset, name)


def as_source(source: str | os.PathLike[str] | Dataset | FrameSource) -> FrameSource:
    """A FrameSource for a path, a parsed dataset or one already opened."""
    if isinstance(source, FrameSource):
        return source
    if isinstance(source, Dataset):
        return source_from_dataset(source)
    return load_frames(source)


def _after_pixel_data() -> Callable[[BaseTag, str | None, int], bool]:
    """Stop parsing after Pixel Data: some files carry megabytes of trailing bytes that would
    otherwise be parsed as hundreds of thousands of bogus elements."""
    pixel_data_seen = False

    def stop(tag: BaseTag, vr: str | None, length: int) -> bool:
        nonlocal pixel_data_seen
        if pixel_data_seen:
            return True
        pixel_data_seen = tag in (0x7FE00008, 0x7FE00009, 0x7FE00010)
        return False

    return stop


def _first_value(value: object) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple, MultiValue)):
        if len(value) == 0:
            return None
        value = value[0]
    return float(value)  # type: ignore[arg-type]


def _windows(dataset: Dataset) -> list[tuple[Window, str]]:
    """Window Center/Width pairs with their explanations; a zero or negative width (seen in the
    wild) or a value that is not a number is left out."""
    centers, widths = _values(dataset.get("WindowCenter")), _values(dataset.get("WindowWidth"))
    names = _values(dataset.get("WindowCenterWidthExplanation"))
    windows = []
    for position, (center, width) in enumerate(zip(centers, widths, strict=False)):
        try:
            center, width = float(center), float(width)
        except (TypeError, ValueError):
            continue
        if np.isfinite(center) and np.isfinite(width) and width > 0:
            name = str(names[position]).strip() if position < len(names) else ""
            windows.append((Window(center, width), name))
    return windows


def _values(value: object) -> list:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]


def _has_functional_groups(dataset: Dataset) -> bool:
    return "PerFrameFunctionalGroupsSequence" in dataset or "SharedFunctionalGroupsSequence" in dataset


def _rescale(dataset: Dataset) -> tuple[float, float]:
    slope = _first_value(dataset.get("RescaleSlope"))
    intercept = _first_value(dataset.get("RescaleIntercept"))
    return (1.0 if slope is None or slope == 0 else slope, 0.0 if intercept is None else intercept)


def _first_lut(dataset: Dataset, keyword: str) -> LookupTable | None:
    """First item of a Modality/VOI LUT Sequence (PS3.3 C.11.1 / C.11.2)."""
    items = dataset.get(keyword)
    if not items:
        return None
    item = items[0]
    entries, first_mapped, bits = (int(v) for v in item.LUTDescriptor)
    entries = entries or 65536
    if int(dataset.get("PixelRepresentation") or 0) == 1 and first_mapped >= 32768:
        first_mapped -= 65536
    raw = item["LUTData"].value
    if isinstance(raw, (bytes, bytearray)):
        little = dataset.original_encoding[1] is not False
        dtype = ("<u2" if little else ">u2") if len(raw) >= 2 * entries else "u1"
        data = np.frombuffer(raw, dtype=dtype)
    else:
        data = np.atleast_1d(np.asarray(raw))
    if len(data) == 0:
        raise ValueError(f"{keyword} has no LUT Data")
    return LookupTable(first_mapped, data[:entries].astype(np.float64), bits)
