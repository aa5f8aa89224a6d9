"""Every built-in method (docs/control-api.md), but Retrieve/CMove's DICOM work, through a real HTTP server."""

from __future__ import annotations

import xmlrpc.client
from pathlib import Path

import httpx
import pytest

from test_control_support import make_study, proxy, serve, wait_for
from viewbox.config import Location, Settings


@pytest.fixture
def server(tmp_path):
    settings = Settings(data_root=tmp_path / "root", allowed_db_roots=(str(tmp_path / "dbs"),),
                        locations=(Location("PACS", "PACSAE", "127.0.0.1", 9),))
    with serve(settings) as running:
        files = tmp_path / "files"
        running.a = make_study(files / "a", n_series=2, images=3, patient_name="DOE^JANE", patient_id="PA",
                               accession="ACC-A", study_id="11", study_date="20240105")
        running.b = make_study(files / "b", n_series=1, images=2, patient_name="DOE^JOHN", patient_id="PB",
                               accession="ACC-B", study_id="22", study_date="20240101")
        running.c = make_study(files / "c", n_series=1, images=1, patient_name="ROE^RICHARD", patient_id="PA",
                               accession="ACC-C", study_id="33", modality="MR", study_date="20230101")
        running.workstation.import_paths([files])
        yield running


def displayed(client) -> list[str]:
    return [e["studyInstanceUID"] for e in client.GetDisplayed2DViewerStudies()["elements"]]


def test_display_study_keys_are_anded_and_exact(server):
    client = proxy(server)
    reply = client.DisplayStudy({"PatientID": "PA"})
    assert reply["error"] == "0" and len(reply["elements"]) == 2  # both of PA's studies described
    assert displayed(client) == [server.a["study"]]  # the first (newest) one opened
    reply = client.DisplayStudy({"PatientID": "PA", "AccessionNumber": "ACC-C"})
    assert [e["studyInstanceUID"] for e in reply["elements"]] == [server.c["study"]]
    assert displayed(client) == [server.c["study"]]  # close_all_before_open
    assert client.DisplayStudy({"StudyID": "22"})["elements"][0]["id"] == "22"
    assert client.DisplayStudy({"studyInstanceUID": server.b["study"]})["error"] == "0"
    assert client.DisplayStudy({"PatientID": "PA", "AccessionNumber": "ACC-B"}) == {"error": "-1", "elements": []}
    assert client.DisplayStudy({"PatientID": "pa"})["error"] == "-1"  # exact, case-sensitive
    assert displayed(client) == [server.b["study"]]


def test_display_series_and_displayed_series(server):
    client = proxy(server)
    uid = server.a["series"][1]
    reply = client.DisplaySeries({"SeriesInstanceUID": uid})
    assert reply["error"] == "0" and reply["elements"][0]["seriesDICOMUID"] == uid
    series = client.GetDisplayed2DViewerSeries()["elements"]
    assert [s["seriesInstanceUID"] for s in series] == [uid]
    assert series[0]["numberOfImages"] == "3"
    assert client.DisplaySeries({"PatientID": "PB"})["elements"][0]["seriesInstanceUID"] == server.b["series"][0]
    assert client.DisplaySeries({"SeriesInstanceUID": "1.2.3"}) == {"error": "-1", "elements": []}


def test_close_viewers_by_series_study_and_all(server):
    client = proxy(server)
    ws = server.workstation
    client.DisplayStudy({"PatientID": "PB"})
    client.openSelectedWithTiling({"rowsTiling": 1, "columnsTiling": 2})  # nothing selected yet
    client.DBWindowFind({"request": f"studyInstanceUID == '{server.a['study']}'", "table": "Study",
                         "execute": "Select"})
    assert client.openSelectedWithTiling({"rowsTiling": "1", "columnsTiling": "2"}) == {"error": "0"}
    assert len(ws.workspace.open_viewers()) == 2 and (ws.workspace.rows, ws.workspace.columns) == (1, 2)
    assert client.Close2DViewerWithSeriesUID({"uid": server.a["series"][0]}) == {"error": "0"}
    assert [v.series.series_uid for v in ws.workspace.open_viewers()] == [server.a["series"][1]]
    assert client.Close2DViewerWithSeriesUID({"uid": "9.9.9"}) == {"error": "0"}
    assert client.Close2DViewerWithStudyUID({"uid": server.a["study"]}) == {"error": "0"}
    assert ws.workspace.open_viewers() == []
    client.DisplayStudy({"PatientID": "PB"})
    assert client.CloseAllWindows() == {"error": "0"}
    assert client.GetDisplayed2DViewerStudies() == {"error": "0", "elements": []}


def test_duplicates_are_kept_in_displayed_studies(server):
    client = proxy(server)
    client.DBWindowFind({"request": f"studyInstanceUID == '{server.a['study']}'", "table": "Study",
                         "execute": "Select"})
    client.openSelectedWithTiling({"rowsTiling": 1, "columnsTiling": 2})
    assert displayed(client) == [server.a["study"], server.a["study"]]


def test_db_window_find_tables_and_actions(server):
    client = proxy(server)
    ws = server.workstation
    reply = client.DBWindowFind({"request": "name BEGINSWITH 'DOE'", "table": "Study"})
    assert {e["patientID"] for e in reply["elements"]} == {"PA", "PB"}
    assert ws.workspace.open_viewers() == []  # Nothing is the default
    reply = client.DBWindowFind({"request": "study.patientID == 'PA'", "table": "Series", "execute": "select"})
    assert len(reply["elements"]) == 3
    assert set(ws.workspace.db_window.selected_study_uids) == {server.a["study"], server.c["study"]}
    assert len(ws.workspace.db_window.selected_series_uids) == 3
    reply = client.DBWindowFind({"request": "series.study.accessionNumber == 'ACC-A' AND instanceNumber == 3",
                                 "table": "Image", "execute": "OPEN"})
    assert len(reply["elements"]) == 2 and reply["elements"][0]["path"].endswith(".dcm")
    viewer = ws.workspace.front_viewer()
    assert viewer.series.study_uid == server.a["study"] and viewer.image_index == 2
    assert client.PathToFrontDCM({})["currentDCMPath"] == reply["elements"][0]["path"]
    reply = client.DBWindowFind({"request": "name == 'Interesting Cases'", "table": "Album", "execute": "Select"})
    assert reply["elements"] == [{"name": "Interesting Cases", "smartAlbum": "0"}]
    assert ws.workspace.db_window.album == "Interesting Cases"
    reply = client.FindObject({"request": "modality == 'MR'", "table": "Study", "execute": "Open"})
    assert displayed(client) == [server.c["study"]]


def test_db_window_find_delete_removes_whole_studies_and_files(server):
    client = proxy(server)
    ws = server.workstation
    told: list[list[str]] = []
    ws.on_deleted(told.append)
    client.DisplayStudy({"PatientID": "PB"})
    client.DBWindowFind({"request": "TRUEPREDICATE", "table": "Study", "execute": "Select"})
    assert ws.workspace.db_window.selected_study_uids
    files_before = list(ws.database.files_dir.rglob("*.dcm"))
    reply = client.DBWindowFind({"request": "id == 1", "table": "Series", "execute": "Delete"})  # series no. 1
    assert reply["error"] == "0" and len(reply["elements"]) == 3
    assert not ws.workspace.db_window.selected_study_uids  # deleted studies leave the selection
    assert len(told) == 1 and len(told[0]) == 3  # and the web UI's tabs are told (EventHub listens)
    assert client.DBWindowFind({"request": "TRUEPREDICATE", "table": "Study"})["error"] == "-1"
    assert list(ws.database.files_dir.rglob("*.dcm")) == []
    assert len(files_before) == 3 * 2 + 2 + 1
    assert ws.workspace.open_viewers() == []  # viewers of deleted studies closed
    with pytest.raises(xmlrpc.client.ProtocolError) as info:
        client.DBWindowFind({"request": "name != ''", "table": "Album", "execute": "Delete"})
    assert info.value.errcode == 400


def test_select_album_and_study_list_filters(server):
    client = proxy(server)
    window = lambda: server.workstation.workspace.db_window  # noqa: E731
    assert client.SelectAlbum({"name": "Interesting Cases"}) == {"error": "0"}
    assert window().album == "Interesting Cases"
    assert client.SelectAlbum({"name": "Database"}) == {"error": "0"} and window().album == "Database"
    assert client.SelectAlbum({"name": "No Such Album"}) == {"error": "-1"}
    assert client.SelectAlbum({"name": "interesting cases"}) == {"error": "-1"}  # exact name
    assert client.DisplayStudyListByPatientName({"PatientName": "DOE"}) == {"error": "0"}
    assert (window().filter_field, window().filter_value) == ("PatientName", "DOE")
    assert client.DisplayStudyListByPatientId({"PatientID": "PA"}) == {"error": "0"}
    assert (window().filter_field, window().filter_value) == ("PatientID", "PA")


def test_workspace_change_events_are_emitted(server):
    events = []
    server.workstation.workspace.add_listener(lambda kind, snapshot: events.append((kind, snapshot["version"])))
    proxy(server).DisplayStudy({"PatientID": "PB"})
    proxy(server).SelectAlbum({"name": "Database"})
    assert [kind for kind, _ in events] == ["viewers", "db_window"]


def test_path_to_front_dcm(server):
    client = proxy(server)
    assert client.PathToFrontDCM({}) == {"error": "0", "currentDCMPath": ""}
    client.DisplayStudy({"PatientID": "PB"})
    path = client.PathToFrontDCM({})["currentDCMPath"]
    assert Path(path).is_file() and path.startswith(str(server.workstation.database.files_dir))
    assert client.PathToFrontDCM({"onlyfilename": "yes"})["currentDCMPath"] == Path(path).name


def test_open_db_and_switch_back(server, tmp_path):
    client = proxy(server)
    ws = server.workstation
    assert client.OpenDB({"path": str(tmp_path / "dbs" / "missing")}) == {"error": "-1"}
    target = tmp_path / "dbs" / "second"
    target.mkdir(parents=True)
    client.DisplayStudy({"PatientID": "PB"})
    assert client.OpenDB({"path": str(target)}) == {"error": "0"}
    assert ws.database.data_dir == target / "Viewbox Data" and (target / "Viewbox Data" / "DATABASE").is_dir()
    assert ws.workspace.open_viewers() == []
    assert client.DisplayStudy({"PatientID": "PB"})["error"] == "-1"  # the new database is empty
    assert client.OpenDB({"path": str(target / "Viewbox Data" / "DATABASE")}) == {"error": "0"}
    assert ws.database.data_dir == target / "Viewbox Data"  # cut at the data folder
    with pytest.raises(xmlrpc.client.ProtocolError) as info:
        client.OpenDB({"path": str(tmp_path)})  # outside allowed_db_roots
    assert info.value.errcode == 403
    assert client.SwitchToDefaultDBIfNeeded({}) == {"error": "0"}
    assert ws.database.data_dir == ws.settings.data_dir
    assert client.DisplayStudy({"PatientID": "PB"})["error"] == "0"


def test_get_job_unknown_and_remote_methods_without_dicom(server):
    client = proxy(server)
    assert client.GetJob({"jobID": "nope"})["error"] == "-1"
    with pytest.raises(xmlrpc.client.ProtocolError):
        client.GetJob({})
    # unknown Location: Retrieve -2, CMove -1, SendStudy -2 (decided before any DICOM work)
    assert client.Retrieve({"serverName": "Nowhere", "filterKey": "PatientID", "filterValue": "1"})["error"] == "-2"
    assert client.CMove({"accessionNumber": 123, "server": "Nowhere"})["error"] == "-1"
    assert client.SendStudy({"location": "Nowhere", "studyInstanceUID": "1.2"})["error"] == "-2"
    with pytest.raises(xmlrpc.client.ProtocolError):
        client.Retrieve({"serverName": "PACS"})  # no filter


def test_retrieve_parameters_reach_the_dicom_layer(server, monkeypatch):
    import sys
    import types

    calls = []
    fake = types.ModuleType("viewbox.dicom.retrieve")

    def start_retrieve(ws, server_name, filters, then, only_if_needed, retrieve_mode):
        calls.append((server_name, filters, then, only_if_needed, retrieve_mode))
        return ws.jobs.submit("retrieve", "fake", lambda job: {})

    fake.start_retrieve = start_retrieve
    monkeypatch.setitem(sys.modules, "viewbox.dicom.retrieve", fake)
    import viewbox.dicom
    monkeypatch.setattr(viewbox.dicom, "retrieve", fake, raising=False)
    reply = httpx.get(server.base_url + "/?methodName=retrieve&serverName=PACS&filterKey=PatientID"
                      "&filterValue=296228&filterKey3=Modality&filterValue3=CT&then=open"
                      "&retrieveOnlyIfNeeded=yes&retrieveMode=1&format=json").json()
    assert reply["error"] == "0" and reply["jobID"]
    assert calls == [("PACS", [("PatientID", "296228"), ("Modality", "CT")], "open", True, "C-GET")]
    assert proxy(server).GetJob({"jobID": reply["jobID"]})["job"]["kind"] == "retrieve"


def test_kill_osirix_answers_then_shuts_down(server):
    assert proxy(server).KillOsiriX({}) == {"error": "0"}
    wait_for(lambda: server.workstation.shutdown_requested.is_set())
    wait_for(lambda: not server._thread.is_alive())


def test_ihe_invoke_image_display(server):
    base = server.base_url + "/IHEInvokeImageDisplay"
    response = httpx.get(base, params={"requestType": "STUDY", "studyUID": f"{server.b['study']},{server.a['study']}"})
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert server.b["study"] in response.text
    assert displayed(proxy(server)) == [server.b["study"], server.a["study"]]
    response = httpx.get(base, params={"requestType": "STUDY", "accessionNumber": "ACC-C"})
    assert displayed(proxy(server)) == [server.c["study"]]
    response = httpx.get(base, params={"requestType": "PATIENT", "patientID": "PA^^^HOSP",
                                       "mostRecentResults": "1"})
    assert displayed(proxy(server)) == [server.a["study"]]
    response = httpx.get(base, params={"requestType": "PATIENT", "patientID": "PA", "modalitiesInStudy": "MR",
                                       "lowerDateTime": "2022-12-31T00:00:00", "upperDateTime": "2023-06-01"})
    assert displayed(proxy(server)) == [server.c["study"]]
    response = httpx.get(base, params={"requestType": "STUDY", "studyUID": "1.2.3"})
    assert response.status_code == 404
    response = httpx.get(base, params={"requestType": "SERIES"})
    assert response.status_code == 400


def test_display_study_falls_back_to_retrieve_on_display(tmp_path, monkeypatch):
    import sys
    import types

    from viewbox.errors import NoMatch

    calls = []
    fake = types.ModuleType("viewbox.dicom.retrieve")

    def start_retrieve(ws, server_name, filters, then, only_if_needed, retrieve_mode):
        calls.append((server_name, sorted(filters), then))
        if server_name == "FIRST":
            raise NoMatch("not here")
        return ws.jobs.submit("retrieve", "fake", lambda job: {})

    fake.start_retrieve = start_retrieve
    monkeypatch.setitem(sys.modules, "viewbox.dicom.retrieve", fake)
    import viewbox.dicom
    monkeypatch.setattr(viewbox.dicom, "retrieve", fake, raising=False)
    locations = (Location("FIRST", "A", "127.0.0.1", 9), Location("SECOND", "B", "127.0.0.1", 9))
    settings = Settings(data_root=tmp_path / "root", locations=locations, retrieve_on_display=("FIRST", "SECOND"))
    with serve(settings) as server:
        reply = proxy(server).DisplayStudy({"PatientID": "REMOTE", "AccessionNumber": "X9"})
        assert reply["error"] == "0" and reply["jobID"] and reply["elements"] == []
    expected = [("AccessionNumber", "X9"), ("PatientID", "REMOTE")]
    assert calls == [("FIRST", expected, "open"), ("SECOND", expected, "open")]


def test_retrieve_and_cmove_through_the_dicom_layer_with_an_unreachable_location(server):
    """The real viewbox.dicom.retrieve: a configured Location nobody listens on → -1."""
    client = proxy(server)
    reply = client.Retrieve({"serverName": "PACS", "filterKey": "PatientID", "filterValue": "1"})
    assert reply["error"] == "-1" and reply["message"]
    assert client.CMove({"accessionNumber": "A1", "server": "PACS"})["error"] == "-1"
    assert client.Retrieve({"serverName": "Nowhere", "filterKey": "PatientID", "filterValue": "1"})["error"] == "-2"


def test_an_image_opens_at_its_first_frame_in_a_series_of_multi_frame_images():
    """DBWindowFind Open on an Image: viewer positions count frames, not images."""
    from viewbox.viewing import image_at, position_of

    images = [{"pk": 11, "number_of_frames": 3}, {"pk": 12, "number_of_frames": None}, {"pk": 13, "number_of_frames": 2}]
    assert [position_of(images, pk) for pk in (11, 12, 13)] == [0, 3, 4]
    for image in images:
        assert image_at(images, position_of(images, image["pk"])) == (image, 0)
    assert position_of(images, 99) == 0
