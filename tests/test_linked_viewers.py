"""Viewers that move together, MPR and comparison viewers, on a real workstation with generated
series of known geometry."""

from __future__ import annotations

import pytest

from helpers.volumes import StackLayout, ct_series, ramp, series_identity, write_series
from viewbox import linked_viewers, viewing
from viewbox.app import Workstation
from viewbox.config import Settings
from viewbox.library import queries

STUDY = "1.2.826.0.1.3680043.8.498.41"
PRIOR = "1.2.826.0.1.3680043.8.498.42"
FRAME = "1.2.826.0.1.3680043.8.498.43"


@pytest.fixture(scope="module")
def reading(tmp_path_factory):
    """A CT study (thin axial, thick axial and sagittal series on one Frame of Reference) and the
    patient's prior CT (its own Frame of Reference, positions shifted by 100 mm)."""
    folder = tmp_path_factory.mktemp("series")
    study = {"StudyInstanceUID": STUDY, "FrameOfReferenceUID": FRAME, "StudyDate": "20260301"}
    thin = ct_series(StackLayout(depths=tuple(2.5 * k for k in range(24))), ramp,
                     series_identity(**study, SeriesNumber="2", SeriesDescription="Thorax 2.5"))
    thick = ct_series(StackLayout(depths=tuple(5.0 * k for k in range(12))), ramp,
                      series_identity(**study, SeriesNumber="3", SeriesDescription="Thorax 5.0"))
    sagittal = ct_series(StackLayout(depths=tuple(4.0 * k for k in range(8)), origin=(14.0, -19.0, 30.0),
                                     row_direction=(0.0, 1.0, 0.0), column_direction=(0.0, 0.0, -1.0)), ramp,
                         series_identity(**study, SeriesNumber="4", SeriesDescription="Sagittal"))
    prior = ct_series(StackLayout(depths=tuple(2.5 * k for k in range(24)), origin=(-16.0, -19.0, 70.0)), ramp,
                      series_identity(StudyInstanceUID=PRIOR, StudyDate="20250301", SeriesNumber="2",
                                      SeriesDescription="THORAX 2.5"))
    paths = [p for i, datasets in enumerate((thin, thick, sagittal, prior))
             for p in write_series(datasets, folder / str(i))]
    workstation = Workstation(Settings(data_root=tmp_path_factory.mktemp("root"), port=0, dicom_port=0))
    assert workstation.import_paths(paths).imported == 24 + 12 + 8 + 24
    yield workstation
    workstation.close()


def series_by_number(workstation, study_uid: str) -> dict[int, dict]:
    study = queries.studies_by_uid(workstation.database, [study_uid])[0]
    return {s["series_number"]: s for s in queries.series_of_study(workstation.database, study["pk"])}


@pytest.fixture
def series(reading):
    reading.workspace.close_all()
    reading.workspace.set_links(sync_scroll=False, link_window=False, link_zoom=False, reference_lines=True)
    return series_by_number(reading, STUDY)


def test_scrolling_in_step_follows_patient_position_and_skips_other_orientations(reading, series):
    thin, thick, sagittal = viewing.open_series(reading, [series[2], series[3], series[4]])
    linked_viewers.change_viewer(reading, thin.id, {"image_index": 8})
    assert reading.workspace.viewer(thick.id).image_index == 0  # not linked yet
    reading.workspace.set_links(sync_scroll=True)
    linked_viewers.change_viewer(reading, thin.id, {"image_index": 12})  # z = 0 mm
    assert reading.workspace.viewer(thick.id).image_index == 6  # z = 0 mm in 5 mm steps
    assert reading.workspace.viewer(sagittal.id).image_index == 0  # another orientation stays put
    linked_viewers.change_viewer(reading, thick.id, {"image_index": 2})  # z = -20
    assert reading.workspace.viewer(thin.id).image_index == 4


def test_linked_window_and_zoom(reading, series):
    thin, thick = viewing.open_series(reading, [series[2], series[3]])
    reading.workspace.set_links(link_window=True, link_zoom=True)
    linked_viewers.change_viewer(reading, thin.id, {"window_center": -600.0, "window_width": 1500.0, "zoom": 2.0})
    other = reading.workspace.viewer(thick.id)
    assert (other.window_center, other.window_width, other.zoom) == (-600.0, 1500.0, 2.0)


def test_reference_lines_show_where_the_other_slices_cut(reading, series):
    thin, sagittal = viewing.open_series(reading, [series[2], series[4]])
    linked_viewers.change_viewer(reading, sagittal.id, {"image_index": 5})  # normal -x: the plane x = 14 - 20 = -6 mm
    lines = linked_viewers.reference_lines(reading, thin.id)
    assert len(lines) == 1 and lines[0]["viewer"] == sagittal.id
    columns = {round(lines[0]["start"][1], 6), round(lines[0]["end"][1], 6)}
    assert columns == {12.5}  # (-6 - -16) / 0.8: a vertical line
    reading.workspace.set_links(reference_lines=False)
    assert reading.workspace.snapshot()["links"]["reference_lines"] is False


def test_comparison_pairs_the_prior_and_scrolls_in_step_once_linked(reading):
    study = queries.studies_by_uid(reading.database, [STUDY])[0]
    viewers = viewing.open_comparison(reading, study)
    assert [v.series.study_uid for v in viewers] == [STUDY, PRIOR]
    assert (reading.workspace.rows, reading.workspace.columns) == (1, 2)
    now, before = viewers
    linked_viewers.change_viewer(reading, now.id, {"image_index": 10})
    assert reading.workspace.viewer(before.id).image_index == 0  # other Frame of Reference: no guess
    linked_viewers.change_viewer(reading, before.id, {"image_index": 3})
    assert linked_viewers.link_here(reading) == 2
    linked_viewers.change_viewer(reading, now.id, {"image_index": 14})  # 10 mm further
    assert reading.workspace.viewer(before.id).image_index == 7


def test_mpr_viewer_opens_on_the_series_with_the_most_slices(reading):
    study = queries.studies_by_uid(reading.database, [STUDY])[0]
    series = viewing.volume_series(reading, study)
    assert series["series_number"] == 2
    (viewer,) = viewing.open_mpr(reading, series)
    assert viewer.mode == "mpr"
    assert reading.workspace.snapshot()["viewers"][0]["mode"] == "mpr"


def test_a_ris_asks_for_mpr_or_the_prior(reading):
    from viewbox.control.dispatch import Controller

    controller = Controller(reading, entry_points=False)

    def call(method, **params):
        outcome = controller.invoke(method, params, transport="xmlrpc", peer="127.0.0.1")
        return outcome.reply

    assert call("DisplayStudy", StudyInstanceUID=STUDY, viewer="mpr")["error"] == "0"
    assert [(v.mode, v.series.study_uid) for v in reading.workspace.open_viewers()] == [("mpr", STUDY)]
    call("DisplayStudy", StudyInstanceUID=STUDY, viewer="PRIOR")
    assert [v.series.study_uid for v in reading.workspace.open_viewers()] == [STUDY, PRIOR]
    series_uid = series_by_number(reading, STUDY)[3]["series_instance_uid"]
    call("DisplaySeries", SeriesInstanceUID=series_uid, viewer="MPR")
    assert [(v.mode, v.series.series_uid) for v in reading.workspace.open_viewers()] == [("mpr", series_uid)]
    displayed = call("GetDisplayed2DViewerSeries")
    assert [e["seriesInstanceUID"] for e in displayed["elements"]] == [series_uid]
    refused = call("DisplayStudy", StudyInstanceUID=STUDY, viewer="3D")
    assert refused["error"] == "400" and "unknown viewer '3D'" in refused["message"]
    call("IHEInvokeImageDisplay", requestType="STUDY", studyUID=STUDY, viewerType="MPR")
    assert [v.mode for v in reading.workspace.open_viewers()] == ["mpr"]
    call("IHEInvokeImageDisplay", requestType="STUDY", studyUID=STUDY, viewerType="IHE_BIR")
    assert [v.mode for v in reading.workspace.open_viewers()] == ["2d"]
    controller.close()
