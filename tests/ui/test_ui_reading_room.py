"""Two nodes of a reading room (one PostgreSQL database, one data folder): what node A stores
appears live in a tab of node B, and a delete on node A closes node B's viewer of that study."""

from __future__ import annotations

import xmlrpc.client

import pytest
from pydicom.uid import generate_uid

from helpers.polling import eventually
from helpers.postgres import postgres_url, reset_postgres
from helpers.reading_room import generated_series

pytestmark = [pytest.mark.postgres, pytest.mark.ui]


@pytest.fixture
def two_nodes(tmp_path):
    from viewbox.config import Settings
    from viewbox.server import RunningWorkstation

    url = postgres_url()
    reset_postgres(url)
    nodes = []
    for aet in ("NODEA", "NODEB"):
        settings = Settings(data_root=tmp_path / "shared", database_url=url, port=0, dicom_port=0, aet=aet)
        nodes.append(RunningWorkstation(settings).start_in_thread())
    yield nodes
    for node in nodes:
        node.stop()


def rows_with(page, patient_id: str, count: int, timeout: float = 5_000) -> None:
    page.wait_for_function("([id, count]) => [...document.querySelectorAll('#study-rows tr td:nth-child(2)')]"
                           ".filter((td) => td.textContent === id).length === count",
                           arg=[patient_id, count], timeout=timeout)


def album_count(page, name: str, count: int, timeout: float = 5_000) -> None:
    page.wait_for_function("([name, count]) => [...document.querySelectorAll('#album-list li')]"
                           ".some((li) => li.dataset.album === name && li.querySelector('.count').textContent === String(count))",
                           arg=[name, count], timeout=timeout)


def test_a_study_stored_on_node_a_appears_in_node_b_and_its_delete_closes_b_viewers(browser, two_nodes,
                                                                                     tmp_path):
    node_a, node_b = two_nodes
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(node_b.base_url + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=10_000)
        page.wait_for_selector("#connection.live", timeout=10_000)
        album_count(page, "Just Added (last hour)", 0)

        folder = tmp_path / "from-modality"
        generated_series(folder, 3, patient_id="ROOMLIVE", study_uid=generate_uid(),
                         series_uid=generate_uid(), modality="CT", series_number=1)
        assert node_a.workstation.import_paths([folder]).imported == 3
        rows_with(page, "ROOMLIVE", 1)  # no reload: the page was told through node B
        album_count(page, "Just Added (last hour)", 1)
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

        rpc_b = xmlrpc.client.ServerProxy(node_b.base_url + "/RPC2")
        assert rpc_b.DisplayStudy({"PatientID": "ROOMLIVE"})["error"] == "0"
        eventually(node_b.workstation.workspace.open_viewers, message="a viewer on node B")
        rpc_a = xmlrpc.client.ServerProxy(node_a.base_url + "/RPC2")
        reply = rpc_a.DBWindowFind({"request": "patientID == 'ROOMLIVE'", "table": "Study", "execute": "Delete"})
        assert reply["error"] == "0"
        eventually(lambda: not node_b.workstation.workspace.open_viewers(),
                   message="node B's viewer of the deleted study to close")
        rows_with(page, "ROOMLIVE", 0)
        album_count(page, "Just Added (last hour)", 0)
    finally:
        context.close()
    assert not errors, errors
