"""The display pipeline (PS3.3 C.11, PS3.4 N): each step callable on its own, and the one path
every rendered frame takes (`render_decoded`).

Grayscale: stored value → Modality LUT (`modality_values`: Rescale Slope/Intercept or Modality LUT
Sequence; modality units such as Hounsfield, what ROI statistics and volume reslicing use) → VOI
(`voi_levels`: window with LINEAR / LINEAR_EXACT / SIGMOID, or VOI LUT Sequence, or the full range;
`apply_window` alone for values already in modality units) → presentation (`present`:
MONOCHROME1 / Presentation LUT INVERSE / user inversion) → uint8. Colour: pydicom decodes to RGB;
PALETTE COLOR goes through its (possibly segmented) lookup tables.

Speed comes from composing the whole grayscale pipeline into one table over the frame's
stored-value range: a new window costs a table of a few thousand entries and one gather over
the pixels, instead of several float passes over every pixel.
"""

from __future__ import annotations

import os

import numpy as np
from pydicom.dataset import Dataset

from ..errors import BadRequest
from .encoders import thumbnail_jpeg
from .source import DecodedFrame, FrameSource, Window, as_source

# Above this many distinct stored values a lookup table costs more than computing per pixel.
MAX_TABLE_SPAN = 1 << 20


# -- the steps ---------------------------------------------------------------------------------------

def modality_values(source: FrameSource, stored: np.ndarray, index: int = 0) -> np.ndarray:
    """Stored values → modality units (Modality LUT Sequence wins over rescale, as in PS3.3 C.11.1)."""
    if source.modality_lut is not None:
        return source.modality_lut.apply(stored).astype(np.float64)
    slope, intercept = source.rescale_for(index)
    # float64 for lookup-table domains (small); float32 when applied to a whole float frame
    values: np.ndarray = stored.astype(np.float64 if stored.size <= MAX_TABLE_SPAN else np.float32)
    if slope != 1.0:
        values *= slope
    if intercept != 0.0:
        values += intercept
    return values


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


def voi_levels(source: FrameSource, values: np.ndarray, frame: DecodedFrame,
               window: Window | None = None) -> np.ndarray:
    """Modality values → 0..255 floats: `window` if given, else the file's window (with its VOI
    LUT Function), else its VOI LUT Sequence, else the frame's full range."""
    if window is None:
        window = source.window_for(frame.index)
    if window is not None:
        return apply_window(values, window, source.voi_function_for(frame.index))
    if source.voi_lut is not None:
        return source.voi_lut.apply(values) * (255.0 / max(source.voi_lut.output_max, 1))
    return apply_window(values, range_window(source, frame), "LINEAR")


def present(levels: np.ndarray, invert_output: bool) -> np.ndarray:
    """0..255 floats → uint8 as shown: inverted when the file says low is bright (MONOCHROME1,
    Presentation LUT INVERSE) or the user asked, not both."""
    if invert_output:
        levels = 255.0 - levels
    return np.floor(levels + 0.5).astype(np.uint8)


# -- windows -----------------------------------------------------------------------------------------

def range_window(source: FrameSource, frame: DecodedFrame) -> Window:
    """The window that maps the frame's lowest modality value to black and highest to white."""
    if source.is_color:
        return Window(128.0, 256.0)
    if source.modality_lut is not None:  # a LUT need not be monotonic: look at every entry used
        ends = modality_values(source, np.arange(int(frame.low), int(frame.high) + 1))
    else:
        ends = modality_values(source, np.array([frame.low, frame.high]), frame.index)
    low, high = float(ends.min()), float(ends.max())
    return Window((low + high + 1) / 2, high - low + 1)


def default_window(source: FrameSource, frame: DecodedFrame | None = None) -> Window:
    """The file's first Window Center/Width for the frame, else the range of its modality values."""
    index = 0 if frame is None else frame.index
    file_window = source.window_for(index)
    if file_window is not None and not source.is_color:
        return file_window
    return range_window(source, frame if frame is not None else source.decode(0))


def requested_window(source: FrameSource, decoded: DecodedFrame, center: float | None,
                     width: float | None) -> Window | None:
    """A window from the request; a missing half comes from the file's default."""
    if center is None and width is None:
        return None
    if center is None or width is None:
        fallback = default_window(source, decoded)
        center = fallback.center if center is None else center
        width = fallback.width if width is None else width
    if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
        raise BadRequest(f"invalid window center={center} width={width}")
    return Window(float(center), float(width))


# -- whole frames ------------------------------------------------------------------------------------

def display(source: FrameSource, frame: DecodedFrame, window: Window | None = None,
            invert: bool = False) -> np.ndarray:
    """Decoded frame → uint8 (H, W) or (H, W, 3) for the screen; `window` overrides the file's VOI."""
    if source.is_color:
        return _display_color(source, frame, window, invert)
    invert_output = source.inverse_presentation != invert
    pixels = frame.pixels
    span = frame.high - frame.low + 1
    if pixels.dtype.kind in "iu" and span <= MAX_TABLE_SPAN:
        low = int(frame.low)
        domain = np.arange(low, low + int(span), dtype=np.int64)
        table = _gray(source, domain, frame, window, invert_output)
        unsigned = pixels.view(f"u{pixels.itemsize}")
        offsets = unsigned - unsigned.dtype.type(low % (1 << (8 * pixels.itemsize)))
        return table.take(offsets)
    return _gray(source, pixels, frame, window, invert_output)


def _gray(source: FrameSource, stored: np.ndarray, frame: DecodedFrame, window: Window | None,
          invert_output: bool) -> np.ndarray:
    """The grayscale steps in order, over stored values (a whole frame or a table's domain)."""
    return present(voi_levels(source, modality_values(source, stored, frame.index), frame, window), invert_output)


def _display_color(source: FrameSource, frame: DecodedFrame, window: Window | None, invert: bool) -> np.ndarray:
    if source.photometric_interpretation == "PALETTE COLOR":
        rgb = source.palette().take(frame.pixels, axis=0, mode="clip")
    elif frame.pixels.dtype == np.uint8:
        rgb = frame.pixels
    else:
        scale = 255.0 / ((1 << source.bits_stored) - 1)
        rgb = np.floor(frame.pixels.astype(np.float32) * scale + 0.5).clip(0, 255).astype(np.uint8)
    if window is None and not invert:
        return rgb
    levels = np.arange(256, dtype=np.float64)
    if window is not None:
        levels = apply_window(levels, window, "LINEAR")
    return present(levels, invert).take(rgb)


def render_decoded(source: FrameSource, decoded: DecodedFrame, *, window_center: float | None = None,
                   window_width: float | None = None, invert: bool = False) -> tuple[np.ndarray, Window]:
    """The one rendering path (the viewers' frames, thumbnails, tests): a decoded frame as uint8
    (H, W) grayscale or (H, W, 3) RGB, and the window it was shown with (a requested one, a
    missing half taken from the file's default)."""
    window = requested_window(source, decoded, window_center, window_width)
    return display(source, decoded, window, invert), window or default_window(source, decoded)


def render_frame(source: str | os.PathLike[str] | Dataset | FrameSource, frame: int = 0, *,
                 window_center: float | None = None, window_width: float | None = None,
                 invert: bool = False) -> np.ndarray:
    """One frame of a file or dataset, uncached (`render_decoded` after decoding it)."""
    frame_source = as_source(source)
    pixels, _ = render_decoded(frame_source, frame_source.decode(frame), window_center=window_center,
                               window_width=window_width, invert=invert)
    return pixels


def thumbnail(source: str | os.PathLike[str] | Dataset | FrameSource, size: int = 128,
              quality: int = 85) -> bytes:
    """A JPEG of the middle frame, default window, fitting in size×size (the caller caches it)."""
    frame_source = as_source(source)
    return thumbnail_jpeg(render_frame(frame_source, frame_source.number_of_frames // 2), size, quality)
