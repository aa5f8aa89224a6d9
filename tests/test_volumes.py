"""Volumes and reformats checked against generated series of known geometry.

The generated voxels hold a linear function of patient position (or a sphere), so the truth at
any point is the function itself: an independent check of sorting, spacing, tilt, gaps,
orientation and every plane's geometry.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers.volumes import StackLayout, ct_series, ramp, sphere, write_series
from viewbox.render import source_from_dataset
from viewbox.volumes import (
    PLANE_NAMES,
    VolumeCache,
    VolumeError,
    build_volume,
    reslice,
    standard_plane,
)
from viewbox.volumes.geometry import FramePlacement
from viewbox.volumes.reslice import rotation_matrix
from viewbox.volumes.stacks import (
    depth_between,
    load_volume,
    position_at,
    read_placements,
    reference_line,
    slice_center,
)

TOLERANCE = 0.02  # stored values are quantised to Rescale Slope 0.01


def volume_of(layout: StackLayout, value=ramp, shuffle: bool = True):
    datasets = ct_series(layout, value)
    order = np.random.default_rng(7).permutation(len(datasets)) if shuffle else range(len(datasets))
    frames = [(source_from_dataset(datasets[i]), 0, str(datasets[i].SOPInstanceUID)) for i in order]
    return build_volume(frames), datasets


def assert_matches_function(reformat, volume, value=ramp):
    """Every pixel inside the stack (the half-voxel rim beyond the outer slices shows the outer
    slice itself) holds the function at its patient position."""
    rows, columns = np.nonzero(~np.isnan(reformat.values))
    points = np.stack([reformat.point_at(r, c) for r, c in zip(rows, columns, strict=True)])
    voxels = volume.geometry.to_voxel(points)
    inner = np.all((voxels >= -1e-6) & (voxels <= np.array(volume.values.shape) - 1 + 1e-6), axis=1)
    rows, columns, points = rows[inner], columns[inner], points[inner]
    assert len(rows) > 50, "the reformat shows almost nothing of the volume"
    np.testing.assert_allclose(reformat.values[rows, columns], value(points), atol=TOLERANCE)


def test_slices_sorted_by_position_spacing_measured_not_slice_thickness():
    volume, datasets = volume_of(StackLayout())
    assert volume.values.shape == (24, 48, 40)
    assert volume.geometry.slice_spacing == pytest.approx(2.5)
    depths = [float(d.ImagePositionPatient[2]) for d in datasets]
    assert list(volume.sources) == [str(datasets[i].SOPInstanceUID) for i in np.argsort(depths)]
    assert volume.geometry.warnings == ()


@pytest.mark.parametrize("plane", PLANE_NAMES)
def test_standard_planes_of_an_anisotropic_volume_hold_the_function(plane):
    volume, _ = volume_of(StackLayout())
    reformat = reslice(volume, standard_plane(plane, volume.center))
    assert reformat.pixel_mm == pytest.approx(0.8)  # square pixels at the finest spacing
    assert_matches_function(reformat, volume)


def test_coronal_reformat_has_the_physical_aspect_ratio():
    layout = StackLayout()
    volume, _ = volume_of(layout)
    coronal = reslice(volume, standard_plane("coronal", volume.center))
    covered_rows = np.nonzero(~np.isnan(coronal.values).all(axis=1))[0]
    height_mm = (covered_rows.max() - covered_rows.min()) * coronal.pixel_mm
    assert height_mm == pytest.approx(layout.depths[-1], abs=coronal.pixel_mm)  # 57.5 mm of slices
    top, bottom = volume.center + [0, 0, 20], volume.center - [0, 0, 20]
    (row_top, column_top), (row_bottom, column_bottom) = coronal.pixel_of(top), coronal.pixel_of(bottom)
    distance = np.hypot(row_top - row_bottom, column_top - column_bottom) * coronal.pixel_mm
    assert distance == pytest.approx(40.0, abs=1e-6)
    assert row_top < row_bottom  # head up


def test_crosshair_point_is_the_same_patient_position_in_every_plane():
    volume, _ = volume_of(StackLayout())
    point = volume.center + np.array([3.3, -4.1, 7.7])
    for name in PLANE_NAMES:
        reformat = reslice(volume, standard_plane(name, point))
        row, column = reformat.pixel_of(point)
        np.testing.assert_allclose(reformat.point_at(row, column), point, atol=1e-9)
        r, c = int(round(row)), int(round(column))
        np.testing.assert_allclose(reformat.values[r, c], ramp(reformat.point_at(r, c)), atol=TOLERANCE)
    assert volume.value_at(point) == pytest.approx(float(ramp(point)), abs=TOLERANCE)


def test_gantry_tilt_is_corrected_and_reported():
    layout = StackLayout(tilt_shift=np.tan(np.radians(15)))
    volume, _ = volume_of(layout)
    assert volume.geometry.tilt_degrees == pytest.approx(15, abs=0.01)
    assert any("tilt" in warning for warning in volume.geometry.warnings)
    for name in PLANE_NAMES:
        assert_matches_function(reslice(volume, standard_plane(name, volume.center)), volume)


def test_missing_slice_is_reported_and_bridged_by_real_positions():
    depths = [2.5 * k for k in range(24) if k != 11]
    volume, _ = volume_of(StackLayout(depths=tuple(depths)))
    assert volume.geometry.warnings == ("1 missing slice (gap in the positions)",)
    assert_matches_function(reslice(volume, standard_plane("sagittal", volume.center)), volume)


def test_irregular_spacing_is_reported():
    depths = np.cumsum([0] + [2.0, 3.0] * 10)
    volume, _ = volume_of(StackLayout(depths=tuple(depths)))
    assert any("irregular" in warning for warning in volume.geometry.warnings)
    assert_matches_function(reslice(volume, standard_plane("coronal", volume.center)), volume)


def test_oblique_acquisition_and_oblique_planes():
    rotation = rotation_matrix(np.array([1.0, 0.0, 0.0]), 30)
    layout = StackLayout(row_direction=tuple(rotation @ [1, 0, 0]), column_direction=tuple(rotation @ [0, 1, 0]))
    volume, _ = volume_of(layout)
    assert_matches_function(reslice(volume, standard_plane("axial", volume.center)), volume)
    oblique = standard_plane("coronal", volume.center).rotated(np.array([0.0, 0.0, 1.0]), 25)
    reformat = reslice(volume, oblique)
    assert_matches_function(reformat, volume)
    np.testing.assert_allclose(np.linalg.norm(oblique.right), 1.0)
    assert abs(float(oblique.right @ oblique.down)) < 1e-12


def test_mip_shows_a_bright_sphere_where_it_is():
    center = np.array([2.0, -5.0, 25.0])
    volume, _ = volume_of(StackLayout(), value=sphere(center, radius=6.0))
    axial = standard_plane("axial", volume.center)  # the slab centre is 25 mm away from the sphere
    thin = reslice(volume, axial)
    assert np.nanmax(thin.values) < 0  # a thin slice through the centre misses it
    slab = reslice(volume, axial, slab_mm=60, mode="mip")
    rows, columns = np.nonzero(slab.values > 0)
    found = slab.point_at(rows.mean(), columns.mean())
    np.testing.assert_allclose(found[:2], center[:2], atol=slab.pixel_mm)
    diameter_mm = (columns.max() - columns.min() + 1) * slab.pixel_mm
    assert diameter_mm == pytest.approx(12.0, abs=2 * slab.pixel_mm)
    minip = reslice(volume, axial, slab_mm=60, mode="minip")
    assert np.nanmax(minip.values) < 0
    average = reslice(volume, axial, slab_mm=60, mode="average")
    inside = average.values[int(rows.mean()), int(columns.mean())]
    assert -1000 < inside < 1000


def test_non_parallel_or_stacked_slices_are_refused_with_a_reason():
    datasets = ct_series(StackLayout(depths=(0.0, 2.5, 5.0)), ramp)
    datasets[1].ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    with pytest.raises(VolumeError, match="not parallel"):
        build_volume([(source_from_dataset(d), 0, i) for i, d in enumerate(datasets)])
    repeated = ct_series(StackLayout(depths=(0.0, 2.5, 2.5, 5.0)), ramp)
    with pytest.raises(VolumeError, match="share a position"):
        build_volume([(source_from_dataset(d), 0, i) for i, d in enumerate(repeated)])
    missing = ct_series(StackLayout(depths=(0.0, 2.5)), ramp)
    del missing[0].ImagePositionPatient
    with pytest.raises(VolumeError, match="no Image Position"):
        build_volume([(source_from_dataset(d), 0, i) for i, d in enumerate(missing)])


def test_cache_keeps_recent_volumes_within_its_budget():
    volume, _ = volume_of(StackLayout(), shuffle=False)
    cache = VolumeCache(max_bytes=int(volume.nbytes * 2.5))
    builds = []

    def build(key):
        builds.append(key)
        return volume

    for key in ("a", "b", "a", "c", "a", "b"):
        cache.get(key, lambda key=key: build(key))
    assert builds == ["a", "b", "c", "b"]  # "b" was the oldest when "c" arrived
    assert cache.cached_bytes <= cache.max_bytes


@pytest.mark.parametrize("plane", PLANE_NAMES)
def test_fast_axis_aligned_path_equals_the_general_sampler(plane):
    volume, _ = volume_of(StackLayout(depths=tuple(2.5 * k for k in range(24) if k != 5)), value=sphere(
        [1.0, -2.0, 30.0], radius=9.0))
    reformat = reslice(volume, standard_plane(plane, volume.center + [0.3, 0.2, 0.7]))
    rows, columns = reformat.values.shape
    grid = np.stack([[reformat.point_at(r, c) for c in range(columns)] for r in range(rows)])
    np.testing.assert_allclose(reformat.values, volume.sample(grid), atol=1e-3)


def placement(position, row=(1.0, 0.0, 0.0), column=(0.0, 1.0, 0.0), rows=100, columns=80, spacing=0.5):
    return FramePlacement(np.array(position, dtype=float), np.array(row), np.array(column), spacing, spacing,
                          rows, columns)


def test_reference_line_of_a_coronal_slice_on_an_axial_image():
    axial = placement((-20.0, -25.0, 10.0))
    coronal = placement((-30.0, -5.0, 40.0), column=(0.0, 0.0, -1.0))  # the plane y = -5
    (row0, column0), (row1, column1) = reference_line(axial, coronal)
    assert row0 == pytest.approx(40.0) and row1 == pytest.approx(40.0)  # (-5 - -25) / 0.5
    assert sorted((column0, column1)) == pytest.approx([0.0, 79.0])
    assert reference_line(axial, placement((0.0, 0.0, 50.0))) is None  # parallel: no line
    assert reference_line(axial, placement((-30.0, 500.0, 40.0), column=(0.0, 0.0, -1.0))) is None  # misses it


def test_scrolling_in_step_goes_by_patient_position_not_index():
    first = [placement((0.0, 0.0, 2.5 * k)) for k in range(40)]  # z 0 … 97.5
    second = [placement((0.0, 0.0, 50.0 + 5.0 * k)) for k in range(10)]  # z 50 … 95, coarser
    normal = np.array([0.0, 0.0, 1.0])
    assert position_at(second, slice_center(first[24]), normal) == 2  # z 60
    assert position_at(second, slice_center(first[4]), normal) is None  # z 10: not in the second series
    sagittal = [placement((5.0 * k, 0.0, 0.0), row=(0.0, 1.0, 0.0), column=(0.0, 0.0, -1.0)) for k in range(5)]
    assert position_at(sagittal, slice_center(first[10]), normal) is None  # not parallel: does not follow
    offset = depth_between(first[0], second[0])  # line the two up where they start
    assert offset == pytest.approx(50.0)
    assert position_at(second, slice_center(first[2]), normal, offset) == 1  # z 5 + 50 = 55


def test_series_volume_and_placements_from_stored_files(tmp_path):
    datasets = ct_series(StackLayout(depths=tuple(2.5 * k for k in range(12))), ramp)
    paths = write_series(datasets[::-1], tmp_path)  # stored in reverse order
    images = [{"rel_path": path.name, "number_of_frames": 1} for path in paths]
    placements = read_placements(images + [{"rel_path": "missing.dcm", "number_of_frames": 1}], tmp_path)
    assert placements[-1] is None
    assert [p.position[2] for p in placements[:-1]] == pytest.approx([2.5 * k - 30 for k in range(11, -1, -1)])
    volume = load_volume(images, tmp_path)
    assert volume.sources == tuple(range(11, -1, -1))  # slice k is viewer position 11 - k
    assert volume.value_at(volume.center) == pytest.approx(float(ramp(volume.center)), abs=TOLERANCE)


def test_plain_pixel_bytes_and_the_decoder_give_the_same_volume():
    layout = StackLayout(depths=(0.0, 2.5, 5.0, 7.5))
    fast, _ = volume_of(layout, value=sphere([0, 0, -25], 8.0, inside=10.0, outside=-10.0), shuffle=False)
    datasets = ct_series(layout, sphere([0, 0, -25], 8.0, inside=10.0, outside=-10.0))
    for dataset in datasets:
        dataset.BitsStored, dataset.HighBit = 12, 11  # sign extension needed: the decoder's path
    slow = build_volume([(source_from_dataset(d), 0, i) for i, d in enumerate(datasets)])
    np.testing.assert_array_equal(fast.values, slow.values)
    assert np.unique(fast.values).tolist() == [-10.0, 10.0]
