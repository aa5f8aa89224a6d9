"""Measurements on generated phantoms of known truth: lengths and areas in mm, HU, SUVbw; kept in
the database (SQLite and PostgreSQL), gone with their study; the control API on its transports."""

from __future__ import annotations

import math

import httpx
import numpy as np
import pytest
from pydicom import dcmread

from helpers.phantoms import F18_HALF_LIFE, PetDose, SpherePhantom, write_ct, write_pet
from viewbox.app import Workstation
from viewbox.errors import BadRequest, NotFound
from viewbox.library import measurements as rows
from viewbox.measure import geometry, statistics
from viewbox.render import load_frames

CT = SpherePhantom(noise=10.0)
MIDDLE = CT.slices // 2


@pytest.fixture(scope="module")
def ct_files(tmp_path_factory):
    return write_ct(CT, tmp_path_factory.mktemp("ct"))


def _uid(path) -> str:
    return str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def _measure(path, kind, points, frame=0):
    source = load_frames(path)
    return statistics.measure(kind, points, source, source.decode(frame))


def test_lengths_across_the_sphere_are_its_chords_in_mm(ct_files):
    c = CT.centre
    for index in range(CT.slices):
        r_px = CT.circle_radius(index) / CT.spacing
        values = _measure(ct_files[index], "length", [(c - r_px, c), (c + r_px, c)])
        assert values["length"]["unit"] == "mm"
        assert values["length"]["value"] == pytest.approx(2 * CT.circle_radius(index), abs=1e-6)
    diagonal = _measure(ct_files[MIDDLE], "length", [(c, c), (c + 30, c + 40)])
    assert diagonal["length"]["value"] == pytest.approx(50 * CT.spacing)


def test_an_ellipse_inside_the_sphere_reads_its_hounsfield_units(ct_files):
    c, r = CT.centre, 0.8 * CT.radius / CT.spacing
    values = _measure(ct_files[MIDDLE], "ellipse", [(c - r, c - r), (c + r, c + r)])
    assert values["mean"]["unit"] == "HU"
    assert values["mean"]["value"] == pytest.approx(CT.inside, abs=0.5)  # 10 HU noise over ~16000 px
    assert values["sd"]["value"] == pytest.approx(CT.noise, rel=0.05)
    truth_area = math.pi * (0.8 * CT.radius) ** 2
    assert values["area"] == {"value": pytest.approx(truth_area, rel=1e-9), "unit": "mm2"}
    assert values["pixels"]["value"] == pytest.approx(truth_area / CT.spacing ** 2, rel=0.01)
    assert values["min"]["value"] < CT.inside < values["max"]["value"]


def test_a_region_across_the_edge_averages_sphere_and_background_by_area(ct_files):
    c = CT.centre
    half = CT.radius / CT.spacing
    values = _measure(ct_files[MIDDLE], "rectangle", [(c, c - half), (c + 2 * half, c + half)])
    # a 2R×2R... square from the centre to the right: a half-disc of sphere in it
    inside_fraction = (math.pi * CT.radius ** 2 / 2) / (2 * CT.radius * 2 * CT.radius)
    truth = inside_fraction * CT.inside + (1 - inside_fraction) * CT.outside
    assert values["mean"]["value"] == pytest.approx(truth, abs=5)
    assert values["area"]["value"] == pytest.approx(4 * CT.radius ** 2)


def test_a_freehand_polygon_and_the_probe(ct_files):
    c, r = CT.centre, 0.5 * CT.radius / CT.spacing
    square = [(c - r, c - r), (c + r, c - r), (c + r, c + r), (c - r, c + r)]
    polygon = _measure(ct_files[MIDDLE], "polygon", square)
    rectangle = _measure(ct_files[MIDDLE], "rectangle", [square[0], square[2]])
    assert polygon["area"]["value"] == pytest.approx(rectangle["area"]["value"])
    assert polygon["mean"]["value"] == pytest.approx(rectangle["mean"]["value"], abs=0.5)
    triangle = _measure(ct_files[MIDDLE], "polygon", [(c - r, c - r), (c + r, c - r), (c - r, c + r)])
    assert triangle["area"]["value"] == pytest.approx(rectangle["area"]["value"] / 2)
    assert triangle["pixels"]["value"] == pytest.approx(rectangle["pixels"]["value"] / 2, rel=0.02)
    probe = _measure(ct_files[MIDDLE], "probe", [(c + 0.3, c + 0.7)])
    stored = load_frames(ct_files[MIDDLE]).decode(0).pixels[int(c), int(c)]
    assert probe["value"] == {"value": pytest.approx(float(stored) - 1024), "unit": "HU"}


def test_angles_and_cobb_in_real_space():
    square = geometry.Spacing(1.0, 1.0, "pixel")
    assert geometry.angle(square, (10, 0), (0, 0), (0, 10)) == pytest.approx(90)
    assert geometry.angle(square, (10, 0), (0, 0), (10, 10)) == pytest.approx(45)
    wide = geometry.Spacing(1.0, 2.0, "pixel")  # columns twice as far apart as rows
    assert geometry.angle(wide, (10, 0), (0, 0), (10, 20)) == pytest.approx(45)
    assert geometry.cobb(square, (0, 0), (10, 0), (0, 5), (10, 15)) == pytest.approx(45)
    assert geometry.cobb(square, (0, 0), (10, 0), (10, 15), (0, 5)) == pytest.approx(45)  # lines, not rays


def test_pet_regions_read_suvbw_with_decay_correction(tmp_path):
    phantom = SpherePhantom(inside=5.0, outside=0.0, size=128, spacing=2.0, radius=50.0)
    dose = PetDose()
    files = write_pet(phantom, dose, tmp_path)
    c, r = phantom.centre, 0.7 * phantom.radius / phantom.spacing
    values = _measure(files[phantom.slices // 2], "ellipse", [(c - r, c - r), (c + r, c + r)])
    assert values["mean"]["unit"] == "BQML"
    assert values["suv_mean"] == {"value": pytest.approx(5.0, rel=1e-3), "unit": "SUVbw"}
    assert values["suv_max"]["value"] == pytest.approx(5.0, rel=1e-3)
    without_decay = dose.weight_kg * 1000 / dose.dose_bq
    decayed = math.exp(-math.log(2) * dose.minutes_before_scan * 60 / F18_HALF_LIFE)  # 60 min of F-18: 0.68
    assert values["mean"]["value"] * without_decay == pytest.approx(5.0 * decayed, rel=1e-3)
    ds = dcmread(files[0])
    del ds.PatientWeight
    assert statistics.suv_factor(ds) is None  # no weight, no SUV: the stored unit alone


def test_spacing_sources_and_their_caveats(tmp_path):
    ds = dcmread(write_ct(SpherePhantom(size=16, slices=1), tmp_path)[0])
    assert geometry.spacing_of(ds).source == "pixel"
    del ds.PixelSpacing
    ds.ImagerPixelSpacing = [0.2, 0.2]
    imager = geometry.spacing_of(ds)
    assert (imager.source, imager.unit) == ("imager", "mm") and "detector" in imager.caveat
    del ds.ImagerPixelSpacing
    none = geometry.spacing_of(ds)
    assert (none.unit, none.caveat) == ("px", "no pixel spacing: values in pixels")


def test_patient_coordinates_of_image_points(ct_files):
    ds = dcmread(ct_files[MIDDLE], stop_before_pixels=True)
    c = CT.centre
    assert geometry.patient_points(ds, 0, [(c, c), (0.5, 0.5)]) == [
        [0.0, 0.0, 0.0], [pytest.approx(-c * CT.spacing + CT.spacing / 2)] * 2 + [0.0]]


# -- kept in the database ------------------------------------------------------------------------------

def test_measurements_are_kept_listed_and_go_with_their_study(settings, ct_files):
    ws = Workstation(settings)
    try:
        ws.import_paths(ct_files)
        heard = []
        ws.measurements.on_change(lambda study, kind, items: heard.append((study, kind, len(items))))
        c = CT.centre
        uid = _uid(ct_files[MIDDLE])
        length = ws.measurements.add(uid, 0, "length", [(c - 80, c), (c + 80, c)], label="diameter")
        ellipse = ws.measurements.add(uid, 0, "ellipse", [(c - 40, c - 40), (c + 40, c + 40)])
        study_uid = length["studyInstanceUID"]
        assert heard == [(study_uid, "added", 1)] * 2
        assert length["values"]["length"] == {"value": pytest.approx(80.0), "unit": "mm"}
        assert length["patientPoints"] == [[-40.0, 0.0, 0.0], [40.0, 0.0, 0.0]]
        assert ellipse["values"]["mean"]["value"] == pytest.approx(CT.inside, abs=1.5)
        with pytest.raises(BadRequest, match="a length needs 2 points"):
            ws.measurements.add(uid, 0, "length", [(1, 1)])
        with pytest.raises(BadRequest, match="frame 3 is outside"):
            ws.measurements.add(uid, 3, "probe", [(1, 1)])
        with pytest.raises(NotFound):
            ws.measurements.add("1.2.3.4", 0, "probe", [(1, 1)])
        assert ws.measurements.add(uid, 0, "text", [(5, 5)], label="note")["values"] == {}
    finally:
        ws.close()
    ws = Workstation(settings)  # a restart: they are still there
    try:
        listed = ws.measurements.of_study(study_uid)
        assert [m["type"] for m in listed] == ["length", "ellipse", "text"]
        assert listed[0]["label"] == "diameter" and listed[0]["values"] == length["values"]
        assert ws.measurements.delete([ellipse["uid"]]) == 1
        assert len(ws.measurements.of_study(study_uid)) == 2
        ws.library.delete_studies([ws.library and _study_pk(ws, study_uid)])
        assert rows.of_uids(ws.database, [length["uid"]]) == []
    finally:
        ws.close()


def _study_pk(ws, study_uid: str) -> int:
    from viewbox.library import queries

    return queries.studies_by_uid(ws.database, [study_uid])[0]["pk"]


def test_the_control_api_lists_and_adds_measurements_on_its_transports(running, ct_files):
    running.workstation.import_paths(ct_files)
    uid = _uid(ct_files[MIDDLE])
    c = CT.centre
    base = running.base_url
    added = httpx.post(f"{base}/api/methods/AddMeasurement", json={
        "SOPInstanceUID": uid, "type": "ellipse", "points": [[c - 40, c - 40], [c + 40, c + 40]],
        "label": "AI nodule"}).json()
    assert added["error"] == "0"
    measurement = added["measurement"]
    assert measurement["values"]["mean"]["value"] == pytest.approx(CT.inside, abs=1.5)
    by_get = httpx.get(f"{base}/", params={"methodName": "AddMeasurement", "SOPInstanceUID": uid,
                                           "type": "length", "points": f"{c - 80},{c};{c + 80},{c}", "format": "json"}).json()
    assert by_get["measurement"]["values"]["length"]["value"] == pytest.approx(80.0)
    study_uid = measurement["studyInstanceUID"]
    listed = httpx.post(f"{base}/api/methods/GetMeasurements", json={"StudyInstanceUID": study_uid}).json()
    assert [m["type"] for m in listed["measurements"]] == ["ellipse", "length"]
    xml = httpx.post(f"{base}/RPC2", content=(
        "<?xml version='1.0'?><methodCall><methodName>GetMeasurements</methodName><params><param><value>"
        f"<struct><member><name>StudyInstanceUID</name><value>{study_uid}</value></member></struct>"
        "</value></param></params></methodCall>"), headers={"Content-Type": "text/xml"}).text
    assert "AI nodule" in xml and "SUVbw" not in xml
    bad = httpx.post(f"{base}/api/methods/AddMeasurement", json={
        "SOPInstanceUID": uid, "type": "ellipse", "points": "nonsense"})
    assert bad.status_code == 400 and "points" in bad.json()["message"]
    assert np.isfinite(measurement["values"]["sd"]["value"])


# -- DICOM SR ------------------------------------------------------------------------------------------

def test_measurements_saved_as_sr_pass_the_readers_and_restore_in_another_database(tmp_path, ct_files):
    """Save as TID 1500 SR (a new series, through the importer), check it with highdicom and DCMTK,
    then import the images and the SR into an empty database: the measurements come back."""
    import subprocess

    import highdicom as hd

    from viewbox.config import Settings

    first = Workstation(Settings(data_root=tmp_path / "one", port=0, dicom_port=0))
    try:
        first.import_paths(ct_files)
        uid, c = _uid(ct_files[MIDDLE]), CT.centre
        shapes = {"length": [(c - 80, c), (c + 80, c)], "ellipse": [(c - 40, c - 30), (c + 40, c + 30)],
                  "rectangle": [(c - 20, c - 20), (c + 20, c + 30)], "polygon": [(c, c), (c + 30, c), (c, c + 40)],
                  "angle": [(c + 10, c), (c, c), (c, c + 10)], "cobb": [(0, 0), (10, 0), (0, 5), (10, 15)],
                  "probe": [(c, c)], "arrow": [(10, 10), (40, 40)], "text": [(20, 20)]}
        made = [first.measurements.add(uid, 0, kind, points, label=f"{kind} label") for kind, points in shapes.items()]
        study_uid = made[0]["studyInstanceUID"]
        saved = first.measurements.save_report(study_uid)
        assert saved["measurements"] == len(shapes)
        report_row = rows.reports_of_studies(first.database, [study_uid], {"1.2.840.10008.5.1.4.1.1.88.34"})
        assert len(report_row) == 1 and len(first.measurements.of_study(study_uid)) == len(shapes)  # no doubles
        report_path = first.database.files_dir / report_row[0]["rel_path"]
        parsed = hd.sr.Comprehensive3DSR.from_dataset(dcmread(report_path))
        groups = parsed.content.get_planar_roi_measurement_groups()
        assert len(groups) == len(shapes)
        lengths = [m for g in groups for m in g.get_measurements() if m.name.meaning == "Length"]
        assert lengths[0].value == pytest.approx(80.0) and lengths[0].unit.value == "mm"
        dump = subprocess.run(["dsrdump", "-Ee", str(report_path)], capture_output=True, text=True, timeout=60)
        assert dump.returncode == 0 and "E:" not in dump.stderr and "W:" not in dump.stderr, dump.stderr
        assert "Imaging Measurement Report" in dump.stdout
        from viewbox.library.tag_tree import tag_tree

        content = next(e for e in tag_tree(report_path) if e["keyword"] == "ContentSequence")
        assert content["vr"] == "SQ" and content["items"] and content["value"].endswith("items")
    finally:
        first.close()
    second = Workstation(Settings(data_root=tmp_path / "two", port=0, dicom_port=0))
    try:
        second.import_paths([*ct_files, report_path])
        restored = {m["uid"]: m for m in second.measurements.of_study(study_uid)}
        assert set(restored) == {m["uid"] for m in made}
        for original in made:
            back = restored[original["uid"]]
            assert (back["type"], back["label"], back["source"]) == (original["type"], original["label"], "sr")
            assert np.allclose(back["points"], original["points"])
            assert back["values"] == original["values"]
    finally:
        second.close()
