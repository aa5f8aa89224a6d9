"""Pixel data → displayable 8-bit image, following the DICOM display pipeline (PS3.3 C.11, PS3.4 N).

Grayscale: stored value → Modality LUT (Rescale Slope/Intercept or Modality LUT Sequence) → VOI
(window with LINEAR / LINEAR_EXACT / SIGMOID, or VOI LUT Sequence, or the full range) →
MONOCHROME1 / user inversion → uint8. Colour: pydicom decodes to RGB (YBR_* converted, planar
configuration undone); PALETTE COLOR goes through its (possibly segmented) lookup tables.

Speed comes from composing the whole grayscale pipeline into one table over the frame's
stored-value range: a new window costs a table of a few thousand entries and one gather over
the pixels, instead of several float passes over every pixel.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.filereader import read_partial
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, as_pixel_options, get_decoder
from pydicom.tag import BaseTag
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from viewbox.errors import BadRequest, NotFound, ViewboxError
from viewbox.pydicom_setup import lenient_pydicom

ImageFormat = Literal["jpeg", "png"]

lenient_pydicom()  # this module reads stored files: leniently, like the importer

MEDIA_TYPES: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png"}

# Above this many distinct stored values a lookup table costs more than computing per pixel.
MAX_TABLE_SPAN = 1 << 20


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
            self._modality_lut = _first_lut(dataset, "ModalityLUTSequence")
            self._voi_lut = _first_lut(dataset, "VOILUTSequence")
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

    def modality_values(self, stored: np.ndarray, index: int = 0) -> np.ndarray:
        """Stored values → modality units (Modality LUT Sequence wins over rescale, as in PS3.3 C.11.1)."""
        if self._modality_lut is not None:
            return self._modality_lut.apply(stored).astype(np.float64)
        slope, intercept = self.rescale_for(index)
        # float64 for lookup-table domains (small); float32 when applied to a whole float frame
        values = stored.astype(np.float64 if stored.size <= MAX_TABLE_SPAN else np.float32)
        if slope != 1.0:
            values *= slope
        if intercept != 0.0:
            values += intercept
        return values

    def range_window(self, frame: DecodedFrame) -> Window:
        """The window that maps the frame's lowest modality value to black and highest to white."""
        if self.is_color:
            return Window(128.0, 256.0)
        if self._modality_lut is not None:  # a LUT need not be monotonic: look at every entry used
            ends = self.modality_values(np.arange(int(frame.low), int(frame.high) + 1))
        else:
            ends = self.modality_values(np.array([frame.low, frame.high]), frame.index)
        low, high = float(ends.min()), float(ends.max())
        return Window((low + high + 1) / 2, high - low + 1)

    def default_window(self, frame: DecodedFrame | None = None) -> Window:
        """The file's first Window Center/Width for the frame, else the range of its modality values."""
        index = 0 if frame is None else frame.index
        file_window = self.window_for(index)
        if file_window is not None and not self.is_color:
            return file_window
        return self.range_window(frame if frame is not None else self.decode(0))

    def display(self, frame: DecodedFrame, window: Window | None = None, invert: bool = False) -> np.ndarray:
        """Decoded frame → uint8 (H, W) or (H, W, 3) for the screen; `window` overrides the file's VOI."""
        if self.is_color:
            return self._display_color(frame, window, invert)
        invert_output = self.inverse_presentation != invert
        pixels = frame.pixels
        span = frame.high - frame.low + 1
        if pixels.dtype.kind in "iu" and span <= MAX_TABLE_SPAN:
            low = int(frame.low)
            domain = np.arange(low, low + int(span), dtype=np.int64)
            table = self._gray_to_display(domain, frame, window, invert_output)
            unsigned = pixels.view(f"u{pixels.itemsize}")
            offsets = unsigned - unsigned.dtype.type(low % (1 << (8 * pixels.itemsize)))
            return table.take(offsets)
        return self._gray_to_display(pixels, frame, window, invert_output)

    def _gray_to_display(
        self, stored: np.ndarray, frame: DecodedFrame, window: Window | None, invert_output: bool
    ) -> np.ndarray:
        values = self.modality_values(stored, frame.index)
        if window is None:
            window = self.window_for(frame.index)
        if window is not None:
            levels = apply_window(values, window, self.voi_function_for(frame.index))
        elif self._voi_lut is not None:
            levels = self._voi_lut.apply(values) * (255.0 / max(_table_max(self._voi_lut), 1))
        else:
            levels = apply_window(values, self.range_window(frame), "LINEAR")
        if invert_output:
            levels = 255.0 - levels
        return np.floor(levels + 0.5).astype(np.uint8)

    def _display_color(self, frame: DecodedFrame, window: Window | None, invert: bool) -> np.ndarray:
        if self.photometric_interpretation == "PALETTE COLOR":
            rgb = self._palette().take(frame.pixels, axis=0, mode="clip")
        elif frame.pixels.dtype == np.uint8:
            rgb = frame.pixels
        else:
            scale = 255.0 / ((1 << self.bits_stored) - 1)
            rgb = np.floor(frame.pixels.astype(np.float32) * scale + 0.5).clip(0, 255).astype(np.uint8)
        if window is None and not invert:
            return rgb
        levels = np.arange(256, dtype=np.float64)
        if window is not None:
            levels = apply_window(levels, window, "LINEAR")
        if invert:
            levels = 255.0 - levels
        return np.floor(levels + 0.5).astype(np.uint8).take(rgb)

    def _palette(self) -> np.ndarray:
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


def apply_window(values: np.ndarray, window: Window, function: str = "LINEAR") -> np.ndarray:
    """VOI windowing to 0..255 floats with the formulas of PS3.3 C.11.2.1.2 and C.11.2.1.3."""
    center, width = float(window.center), float(window.width)
    if function == "SIGMOID":
        with np.errstate(over="ignore"):  # exp overflowing to inf correctly gives 0
            return 255.0 / (1.0 + np.exp(-4.0 * (values - center) / max(width, 1e-9)))
    if function == "LINEAR_EXACT":
        width = max(width, 1e-9)
        return np.clip(((values - center) / width + 0.5) * 255.0, 0.0, 255.0)
    # LINEAR: the half-unit offsets make integer inputs land exactly on the window edges.
    if width <= 1.0:
        return np.where(values > center - 0.5, 255.0, 0.0)
    scaled = ((values - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
    return np.clip(scaled, 0.0, 255.0)


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


def render_frame(
    source: str | os.PathLike[str] | Dataset | FrameSource,
    frame: int = 0,
    *,
    window_center: float | None = None,
    window_width: float | None = None,
    invert: bool = False,
) -> np.ndarray:
    """One frame as uint8 (H, W) grayscale or (H, W, 3) RGB, with an optional window override."""
    frame_source = _as_source(source)
    decoded = frame_source.decode(frame)
    window = requested_window(frame_source, decoded, window_center, window_width)
    return frame_source.display(decoded, window, invert)


def encode_png(array: np.ndarray, compress_level: int = 1) -> bytes:
    """Lossless PNG (8-bit grey or RGB), written directly: every row uses the "Up" filter, which
    suits medical images, and zlib level 1; about twice as fast as Pillow's adaptive filtering
    for a smaller file."""
    if array.dtype != np.uint8:
        raise ValueError(f"PNG encoding expects uint8 display values, got {array.dtype}")
    pixels = np.ascontiguousarray(array)
    if pixels.ndim == 2:
        colour_type = 0
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        colour_type = 2
    else:
        raise ValueError(f"cannot encode an array of shape {pixels.shape} as PNG")
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # filter type Up (PNG spec 9.2): difference with the row above
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(filtered.tobytes(), compress_level)),
            _png_chunk(b"IEND", b""),
        ]
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_jpeg(array: np.ndarray, quality: int = 90) -> bytes:
    """Lossy but the fastest to encode and transfer; 4:4:4 so colour edges stay sharp."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, "JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def encode(array: np.ndarray, fmt: ImageFormat = "jpeg", quality: int = 90) -> bytes:
    """Encode for the browser in `fmt` (a key of MEDIA_TYPES)."""
    if fmt == "jpeg":
        return encode_jpeg(array, quality)
    if fmt == "png":
        return encode_png(array)
    raise BadRequest(f"unknown image format {fmt!r} (expected one of {', '.join(MEDIA_TYPES)})")


def thumbnail(
    source: str | os.PathLike[str] | Dataset | FrameSource, size: int = 128, quality: int = 85
) -> bytes:
    """A JPEG of the middle frame, default window, fitting in size×size (the caller caches it)."""
    frame_source = _as_source(source)
    array = render_frame(frame_source, frame_source.number_of_frames // 2)
    image = Image.fromarray(array)
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


class Renderer:
    """Renders stored files for the web UI, keeping recently opened files and decoded frames.

    Scrolling and window/level re-render the same frames many times; the caches make that a
    table lookup plus an encode. Entries are keyed by (path, mtime, size) so a replaced file is
    never served stale.
    """

    def __init__(self, cache_bytes: int = 256 * 2**20, cached_files: int = 16):
        self.cache_bytes = cache_bytes
        self.cached_files = cached_files
        self._lock = threading.Lock()
        self._sources: OrderedDict[tuple, FrameSource] = OrderedDict()
        self._frames: OrderedDict[tuple, DecodedFrame] = OrderedDict()
        self._frame_bytes = 0

    def open(self, path: str | os.PathLike[str]) -> FrameSource:
        """The parsed file, from cache when unchanged on disk."""
        return self._open(path, _file_key(path))

    def _open(self, path: str | os.PathLike[str], key: tuple[str, int, int]) -> FrameSource:
        with self._lock:
            source = self._sources.get(key)
            if source is not None:
                self._sources.move_to_end(key)
                return source
        source = load_frames(path)
        with self._lock:
            self._sources[key] = source
            while len(self._sources) > self.cached_files:
                self._sources.popitem(last=False)
        return source

    def frame(self, path: str | os.PathLike[str], index: int = 0) -> tuple[FrameSource, DecodedFrame]:
        """The file and one decoded frame, each from cache when possible."""
        file_key = _file_key(path)
        source = self._open(path, file_key)
        key = (*file_key, index)
        with self._lock:
            decoded = self._frames.get(key)
            if decoded is not None:
                self._frames.move_to_end(key)
                return source, decoded
        decoded = source.decode(index)
        with self._lock:
            if key not in self._frames:
                self._frames[key] = decoded
                self._frame_bytes += decoded.nbytes
            while self._frame_bytes > self.cache_bytes and len(self._frames) > 1:
                _, evicted = self._frames.popitem(last=False)
                self._frame_bytes -= evicted.nbytes
        return source, decoded

    def default_window(self, path: str | os.PathLike[str]) -> Window:
        """What the viewer starts with: the file's window, else the range of frame 0."""
        source = self.open(path)
        file_window = source.window_for(0)
        if file_window is not None and not source.is_color:
            return file_window
        return source.default_window(self.frame(path, 0)[1])

    def render_array(
        self,
        path: str | os.PathLike[str],
        frame: int = 0,
        *,
        window_center: float | None = None,
        window_width: float | None = None,
        invert: bool = False,
    ) -> np.ndarray:
        """As render_frame, through the caches."""
        source, decoded = self.frame(path, frame)
        window = requested_window(source, decoded, window_center, window_width)
        return source.display(decoded, window, invert)

    def render(
        self,
        path: str | os.PathLike[str],
        frame: int = 0,
        *,
        window_center: float | None = None,
        window_width: float | None = None,
        invert: bool = False,
        fmt: ImageFormat = "jpeg",
        quality: int = 90,
    ) -> bytes:
        """Encoded image bytes for the browser (media type: MEDIA_TYPES[fmt])."""
        array = self.render_array(
            path, frame, window_center=window_center, window_width=window_width, invert=invert
        )
        return encode(array, fmt, quality)

    @property
    def cached_frames(self) -> int:
        """How many decoded frames are held (for tests and the status page)."""
        return len(self._frames)

    @property
    def cached_bytes(self) -> int:
        """Memory held by decoded frames, kept at or under cache_bytes (unless one frame is larger)."""
        return self._frame_bytes

    def clear(self) -> None:
        """Forget every cached file and frame (the next render is cold)."""
        with self._lock:
            self._sources.clear()
            self._frames.clear()
            self._frame_bytes = 0


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


def _as_source(source: str | os.PathLike[str] | Dataset | FrameSource) -> FrameSource:
    if isinstance(source, FrameSource):
        return source
    if isinstance(source, Dataset):
        return source_from_dataset(source)
    return load_frames(source)


def requested_window(
    source: FrameSource, decoded: DecodedFrame, center: float | None, width: float | None
) -> Window | None:
    """A window from the request; a missing half comes from the file's default."""
    if center is None and width is None:
        return None
    if center is None or width is None:
        fallback = source.default_window(decoded)
        center = fallback.center if center is None else center
        width = fallback.width if width is None else width
    if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
        raise BadRequest(f"invalid window center={center} width={width}")
    return Window(float(center), float(width))


def _file_key(path: str | os.PathLike[str]) -> tuple[str, int, int]:
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise RenderError(f"{path}: cannot open: {exc}") from exc
    return (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


def _first_value(value: object) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple, MultiValue)):
        if len(value) == 0:  # type: ignore[arg-type]
            return None
        value = value[0]  # type: ignore[index]
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


def _table_max(table: LookupTable) -> float:
    """Output range of a VOI LUT: 2^bits - 1, or the data maximum if a file under-declares bits."""
    return max(float((1 << table.bits) - 1), float(table.data.max()))
