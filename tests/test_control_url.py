"""URL schemes: parsing as Horos does (docs/control-api.md), `viewbox url` against a real server,
and the desktop registration."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from test_control_support import make_study, proxy, serve, wait_for, write_instance
from viewbox.cli import main
from viewbox.config import Settings
from viewbox.control.urls import parse_query, parse_scheme_url
from viewbox.errors import BadRequest


@pytest.mark.parametrize("url, expected", [
    ("osirix://?methodName=displayStudy&PatientID=123819", {"methodName": "displayStudy", "PatientID": "123819"}),
    ("osirix://?methodName=displayStudy&StudyInstanceUID=1.2.8540.",
     {"methodName": "displayStudy", "StudyInstanceUID": "1.2.8540."}),
    ("OsiriX://?methodName=downloadURL&URL='http://pacs/wado?requestType=WADO&studyUID=1.2&seriesUID=3'&Display=YES",
     {"methodName": "downloadURL", "URL": "http://pacs/wado?requestType=WADO&studyUID=1.2&seriesUID=3",
      "Display": "YES"}),
    ("osirix://?methodName=retrieve&serverName=Minipacs&filterKey=PatientID&filterValue=296228",
     {"methodName": "retrieve", "serverName": "Minipacs", "filterKey": "PatientID", "filterValue": "296228"}),
    ("osirix://?methodName=findObject&request=(name CONTAINS[cd] 'KNEE')&table=Study&execute=Open",
     {"methodName": "findObject", "request": "(name CONTAINS[cd] 'KNEE')", "table": "Study", "execute": "Open"}),
    ("Horos://?methodName=retrieve&serverName=PACS&then=open&retrieveOnlyIfNeeded=yes&filterKey=StudyInstanceUID"
     "&filterValue=1.2.3", {"methodName": "retrieve", "serverName": "PACS", "then": "open",
                            "retrieveOnlyIfNeeded": "yes", "filterKey": "StudyInstanceUID", "filterValue": "1.2.3"}),
    ("horos://?methodName=DisplayStudy&PatientID=42&AccessionNumber=A7'",  # Horos issue #485's stray quote
     {"methodName": "DisplayStudy", "PatientID": "42", "AccessionNumber": "A7"}),
    ("VIEWBOX://?methodName=DisplayStudy&PatientName=M%C3%BCller%20Jos%C3%A9&x=a+b&empty=&flag",
     {"methodName": "DisplayStudy", "PatientName": "Müller José", "x": "a+b"}),
    ("osirix://?methodName=DisplayStudy&q=\"quoted value\"&p='%3F%26'&r=a%26b", {"methodName": "DisplayStudy",
                                                                      "q": "quoted value", "p": "?&", "r": "a"}),
    # the host form: the method is the URL's host
    ("horos://displaystudy?studyUID=1.2.3", {"methodName": "displaystudy", "studyUID": "1.2.3"}),
    ("horos://closeallwindows", {"methodName": "closeallwindows"}),
    ("osirix://DisplayStudy/?PatientID=7", {"methodName": "DisplayStudy", "PatientID": "7"}),
    ("horos://findobject?request=(name CONTAINS[cd] 'KNEE')&table=Study",
     {"methodName": "findobject", "request": "(name CONTAINS[cd] 'KNEE')", "table": "Study"}),
])
def test_scheme_urls_parse_like_horos(url, expected):
    assert parse_scheme_url(url) == expected


@pytest.mark.parametrize("url", ["http://localhost:8080/?methodName=x", "osirix://", "osirix://?a=b", "horos:"])
def test_bad_scheme_urls(url):
    with pytest.raises(BadRequest):
        parse_scheme_url(url)


def test_get_query_strings_decode_each_value():
    assert parse_query("methodName=x&v=a%26b&w=c+d&u='q&r'") == {"methodName": "x", "v": "a&b", "w": "c d",
                                                                "u": "q&r"}


@pytest.fixture
def server(tmp_path):
    with serve(Settings(data_root=tmp_path / "root", token="url-token")) as running:
        yield running


def run_url(server, url: str):
    env = {"VIEWBOX_TOKEN": "url-token", "VIEWBOX_CONFIG": ""}
    return CliRunner().invoke(main, ["url", "--port", str(server.http_port), "--print", url], env=env)


def test_viewbox_url_runs_the_seed_forms_on_the_local_server(server, tmp_path):
    study = make_study(tmp_path / "f", patient_id="123819", accession="A23123819", patient_name="KNEE^LEFT")
    server.workstation.import_paths([tmp_path / "f"])
    client = proxy(server, headers=[("Authorization", "Bearer url-token")])
    result = run_url(server, "osirix://?methodName=displayStudy&PatientID=123819")
    assert result.exit_code == 0, result.output
    assert '"error": "0"' in result.output
    shown = client.GetDisplayed2DViewerStudies()["elements"]
    assert [e["studyInstanceUID"] for e in shown] == [study["study"]]
    client.CloseAllWindows()
    result = run_url(server, "horos://?methodName=findObject&request=(name CONTAINS[cd] 'KNEE')&table=Study"
                             "&execute=Open")
    assert result.exit_code == 0 and len(client.GetDisplayed2DViewerStudies()["elements"]) == 1
    result = run_url(server, f"Viewbox://?methodName=Close2DViewerWithStudyUID&uid={study['study']}")
    assert client.GetDisplayed2DViewerStudies()["elements"] == []
    result = run_url(server, f"horos://displaystudy?studyUID={study['study']}")  # the host form
    assert result.exit_code == 0, result.output
    assert [e["studyInstanceUID"] for e in client.GetDisplayed2DViewerStudies()["elements"]] == [study["study"]]
    result = run_url(server, "horos://closeallwindows")
    assert result.exit_code == 0 and client.GetDisplayed2DViewerStudies()["elements"] == []
    result = run_url(server, "osirix://?methodName=retrieve&serverName=Minipacs&filterKey=PatientID"
                             "&filterValue=296228")
    assert result.exit_code == 0 and '"-2"' in result.output
    result = run_url(server, "osirix://?methodName=nonsense")
    assert result.exit_code == 1 and "unknown method" in result.output
    audit = server.workstation.controller.audit.path.read_text()
    assert '"transport": "url"' in audit


def test_viewbox_url_download_with_quoted_wado_url(server, files_server):
    path, ds = write_instance(files_server.root, patient_id="WADO1")
    url = (f"osirix://?methodName=DownloadURL&Display=YES&URL='{files_server.url}"
           f"/{path.name}?requestType=WADO&studyUID={ds.StudyInstanceUID}'")
    result = run_url(server, url)
    assert result.exit_code == 0, result.output
    client = proxy(server, headers=[("Authorization", "Bearer url-token")])
    wait_for(lambda: client.GetDisplayed2DViewerStudies()["elements"])
    assert client.GetDisplayed2DViewerStudies()["elements"][0]["patientID"] == "WADO1"


def test_viewbox_url_kill(server):
    result = run_url(server, "osirix://?methodName=KillOsiriX")
    assert result.exit_code == 0
    wait_for(lambda: server.workstation.shutdown_requested.is_set())


def test_viewbox_url_errors(tmp_path, dead_port):
    env = {"VIEWBOX_CONFIG": ""}
    result = CliRunner().invoke(main, ["url", "http://example.org/?methodName=x"], env=env)
    assert result.exit_code == 2 and "osirix://" in result.output
    result = CliRunner().invoke(main, ["url", "--port", str(dead_port), "osirix://?methodName=CloseAllWindows"],
                                env=env)
    assert result.exit_code == 1 and "cannot reach" in result.output


def test_url_handler_install_registers_the_three_schemes(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "VIEWBOX_CONFIG": ""}
    apps = tmp_path / "data" / "applications"
    result = CliRunner().invoke(main, ["url-handler", "install", "--applications-dir", str(apps),
                                       "--system", "Linux"], env=env)
    assert result.exit_code == 0, result.output
    desktop = (apps / "viewbox-url.desktop").read_text()
    assert " url %u" in desktop
    assert "x-scheme-handler/osirix;x-scheme-handler/horos;x-scheme-handler/viewbox;" in desktop
    assert shutil.which("xdg-mime"), "xdg-utils is part of the test environment"
    for scheme in ("osirix", "horos", "viewbox"):
        query = subprocess.run(["xdg-mime", "query", "default", f"x-scheme-handler/{scheme}"],
                               capture_output=True, text=True, env={**os.environ, **env})
        assert query.stdout.strip() == "viewbox-url.desktop"
    for system, marker in (("Darwin", "CFBundleURLSchemes"), ("Windows", "URL Protocol")):
        result = CliRunner().invoke(main, ["url-handler", "install", "--system", system], env=env)
        assert result.exit_code == 0 and marker in result.output
