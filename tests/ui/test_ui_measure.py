"""Measurements in the web UI, in Chromium: drawn with the mouse on a real CT, values from the
server shown on the image and in the panel, kept across a reload, and one added through the
control API appearing live."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread

from helpers.polling import eventually
from helpers.samples import SAMPLES
from helpers.ui import CANVAS, wait_drawn
from viewbox.library import queries

pytestmark = pytest.mark.ui

CT = "1CT1"  # pydicom's CT_small.dcm: 128×128, Pixel Spacing 0.661468 mm
DOCS = Path(__file__).resolve().parents[2] / "docs"


def screen_point(page, x: float, y: float) -> tuple[float, float]:
    """Where image pixel coordinates (column, row) are on the page."""
    box = page.locator(CANVAS).bounding_box()
    rect = page.locator(CANVAS).evaluate("(c) => c.dataset.rect.split(',').map(Number)")
    ratio = page.evaluate("devicePixelRatio")
    return box["x"] + (rect[0] + x * rect[2] / 128) / ratio, box["y"] + (rect[1] + y * rect[3] / 128) / ratio


def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*screen_point(page, *start))
    page.mouse.down()
    page.mouse.move(*screen_point(page, *end), steps=5)
    page.mouse.up()


def shown(page, count: int) -> None:
    page.wait_for_function(f"() => document.querySelector('{CANVAS}').dataset.measurements === '{count}'")


def test_draw_a_length_and_an_ellipse_read_them_reload_and_see_an_api_one_live(open_page, workspace, rpc,
                                                                                 ui_server):
    ws = ui_server.workstation
    study = queries.find_studies(ws.database, patient_id=CT)[0]
    for m in ws.measurements.of_study(study["study_instance_uid"]):
        ws.measurements.delete([m["uid"]])
    page = open_page()
    rpc.DisplayStudy({"PatientID": CT})
    wait_drawn(page)
    page.keyboard.press("l")
    assert page.locator("#measure-length").get_attribute("aria-pressed") == "true"
    drag(page, (20, 64), (100, 64))
    shown(page, 1)
    page.keyboard.press("e")
    drag(page, (40, 40), (80, 80))
    shown(page, 2)
    page.keyboard.press("b")
    drag(page, (10, 10), (30, 30))
    shown(page, 3)
    page.keyboard.press("u")  # undo: the rectangle goes again
    shown(page, 2)
    page.keyboard.press("m")
    panel = page.locator(".viewer .measure-panel")
    panel.wait_for(state="visible")
    page.wait_for_function("() => document.querySelectorAll('.viewer .measure-panel li').length === 2")
    text = panel.inner_text()
    stored = eventually(lambda: len(ws.measurements.of_study(study["study_instance_uid"])) == 2 and
                        ws.measurements.of_study(study["study_instance_uid"]), message="two kept")
    assert [m["type"] for m in stored] == ["length", "ellipse"]
    spacing = float(dcmread(SAMPLES / "pydicom/test_files/CT_small.dcm", stop_before_pixels=True).PixelSpacing[1])
    length = stored[0]["values"]["length"]
    assert length["unit"] == "mm" and length["value"] == pytest.approx(80 * spacing, rel=0.03)  # mouse rounding
    assert f"{length['value']:.1f} mm" in text
    mean = stored[1]["values"]["mean"]
    assert mean["unit"] == "HU" and f"{mean['value']:.1f} HU" in text
    DOCS.mkdir(exist_ok=True)
    page.locator(".viewer").first.screenshot(path=str(DOCS / "screenshot-measurements.png"))

    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    wait_drawn(page)
    shown(page, 2)  # kept by the workstation, drawn again

    uid = dcmread(SAMPLES / "pydicom/test_files/CT_small.dcm", stop_before_pixels=True).SOPInstanceUID
    reply = rpc.AddMeasurement({"SOPInstanceUID": str(uid), "type": "probe", "points": [[64, 64]],
                                "label": "from the RIS"})
    assert reply["error"] == "0"
    shown(page, 3)  # live, without a reload



def test_the_tag_browser_lists_searches_and_nests(open_page, workspace, rpc):
    page = open_page()
    rpc.DisplayStudy({"PatientID": CT})
    wait_drawn(page)
    page.keyboard.press("g")
    tags = page.locator(".viewer .tag-panel")
    tags.wait_for(state="visible")
    page.wait_for_function("() => document.querySelectorAll('.viewer .tag-panel .tag-row').length > 50")
    assert "(0008,0016)" in tags.inner_text() and "SOPClassUID" in tags.inner_text()  # with its tag and VR
    page.locator(".viewer .tag-panel input").fill("patientname")
    page.wait_for_function("() => document.querySelectorAll('.viewer .tag-panel .tag-row').length === 1")
    row = tags.locator(".tag-row").inner_text()
    assert "(0010,0010)" in row and "PN" in row and "CompressedSamples^CT1" in row
    page.locator(".viewer .tag-panel input").fill("")
    page.wait_for_function("() => document.querySelectorAll('.viewer .tag-panel .tag-row').length > 50")
    page.locator(".viewer").first.screenshot(path=str(DOCS / "screenshot-tags.png"))
