"""Pixel data → what a screen shows, in the manner of pydicom's `pixels/` package: one job per module.

- `source.py`: one opened file, its display-relevant header and frame decoding (`FrameSource`).
- `pipeline.py`: the display pipeline of PS3.3 C.11 / PS3.4 N as steps callable on their own —
  modality LUT (`modality_values`: stored values → modality units, what ROI statistics and volume
  reslicing need), VOI (`apply_window`, `voi_levels`), presentation (`present`: MONOCHROME1 and user
  inversion) — and `render_decoded`, the one path every rendered frame takes.
- `encoders.py`: PNG (written directly), JPEG and thumbnails for the browser.
- `cache.py`: `FrameCache`, the opened files and decoded frames scrolling re-uses.
"""

from .cache import FrameCache
from .encoders import MEDIA_TYPES, ImageFormat, encode, encode_jpeg, encode_png, thumbnail_jpeg
from .pipeline import (
    apply_window,
    default_window,
    display,
    modality_values,
    present,
    range_window,
    render_decoded,
    render_frame,
    requested_window,
    thumbnail,
    voi_levels,
)
from .source import (
    DecodedFrame,
    FrameSource,
    LookupTable,
    RenderError,
    Window,
    load_frames,
    source_from_dataset,
)

__all__ = [
    "FrameCache", "MEDIA_TYPES", "ImageFormat", "encode", "encode_jpeg", "encode_png", "thumbnail_jpeg",
    "apply_window", "default_window", "display", "modality_values", "present", "range_window",
    "render_decoded", "render_frame", "requested_window", "thumbnail", "voi_levels", "DecodedFrame",
    "FrameSource", "LookupTable", "RenderError", "Window", "load_frames", "source_from_dataset",
]
