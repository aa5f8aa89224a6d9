"""DICOM text is shown as text (issue 10, defect 14): HTML in a patient name or a description never
becomes markup in the UI, and the Content-Security-Policy lets the UI itself work untouched."""

from __future__ import annotations

import pytest

from test_control_support import make_study, serve
from viewbox.config import Settings

pytestmark = pytest.mark.ui

NAME = '<img src=x onerror="window.__injected=1">^EVIL'
DESCRIPTION = "<b id=bold>CHEST</b><script>window.__injected=2</script>"


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    make_study(folder / "f", n_series=1, images=2, patient_name=NAME, patient_id="HTML1",
               study_description=DESCRIPTION, series_description='"><svg onload=alert(1)>')
    settings = Settings(data_root=folder / "root", dicom_enabled=False)
    with serve(settings) as server:
        assert server.workstation.import_paths([folder / "f"]).imported == 2
        yield server


def test_html_in_dicom_attributes_stays_text_under_the_csp(browser, hostile_server):
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    violations, errors = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    try:
        page.goto(hostile_server.base_url + "/ui/")
        row = page.locator("#study-rows tr", has_text="HTML1")
        row.wait_for()
        assert NAME.split("^")[0] in row.inner_text()  # the markup, shown as characters
        assert "<b id=bold>CHEST</b>" in row.inner_text()
        row.click()
        page.locator("#series-thumbs").get_by_text("<svg onload", exact=False).first.wait_for()
        assert page.locator("#study-rows img, #study-rows b, #study-rows script, #series-thumbs svg").count() == 0
        assert page.evaluate("window.__injected") is None
        assert not errors and not violations, (errors, violations)
    finally:
        context.close()
