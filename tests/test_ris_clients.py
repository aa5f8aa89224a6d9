"""Issue 11's OsiriX semantics, with the bytes real RIS clients send: names copied from a reply,
smart-album variables in DBWindowFind, on SQLite and PostgreSQL."""

from __future__ import annotations

import xmlrpc.client
from dataclasses import replace
from datetime import datetime

import httpx
import pytest

from test_control_support import make_study, parse_reply, post_xml, proxy, serve
from viewbox.library import dicom_query

# What PHP's xmlrpc_encode_request() sends (a common RIS back end): ISO-8859-1 declared,
# pretty-printed, typed strings.
PHP_FIND = """<?xml version="1.0" encoding="iso-8859-1"?>
<methodCall>
<methodName>DBWindowFind</methodName>
<params>
 <param>
  <value>
   <struct>
    <member>
     <name>request</name>
     <value>
      <string>{request}</string>
     </value>
    </member>
    <member>
     <name>table</name>
     <value>
      <string>Study</string>
     </value>
    </member>
    <member>
     <name>execute</name>
     <value>
      <string>Select</string>
     </value>
    </member>
   </struct>
  </value>
 </param>
</params>
</methodCall>
"""


@pytest.fixture
def server(settings, tmp_path):
    with serve(replace(settings, data_root=tmp_path / "root")) as running:
        files = tmp_path / "files"
        today = datetime.now().strftime("%Y%m%d")
        running.peter = make_study(files / "peter", patient_name="Doe^Peter^^^", patient_id="P1",
                                   study_date=today)
        running.jane = make_study(files / "jane", patient_name="DOE^JANE", patient_id="P2",
                                  study_date="20200101")
        running.workstation.import_paths([files])
        yield running


def uids(reply) -> set[str]:
    return {e["studyInstanceUID"] for e in reply["elements"]}


def test_a_name_copied_from_a_reply_finds_its_study_again(server):
    client = proxy(server)
    shown = client.DisplayStudy({"PatientID": "P1"})["elements"][0]["name"]
    assert shown == "Doe Peter"  # as OsiriX shows it: `^` as spaces, trimmed
    reply = parse_reply(post_xml(server, PHP_FIND.format(request=f"name == '{shown}'").encode("latin-1")))
    assert reply["error"] == "0" and uids(reply) == {server.peter["study"]}
    assert list(server.workstation.workspace.db_window.selected_study_uids) == [server.peter["study"]]
    # a smart album's spelling, through a GET as a web RIS builds it
    response = httpx.get(server.base_url + "/", params={
        "methodName": "DBWindowFind", "request": 'name LIKE[cd] "*doe peter*"', "table": "Study"})
    assert uids(parse_reply(response)) == {server.peter["study"]}
    # the DICOM form still works, and a stored name's raw value is what DICOM gets
    assert uids(client.DBWindowFind({"request": "name == 'Doe^Peter'", "table": "Study"})) == {server.peter["study"]}
    assert uids(client.DBWindowFind({"request": "name BEGINSWITH[c] 'doe '", "table": "Study"})) == {
        server.peter["study"], server.jane["study"]}
    rows = dicom_query.find(server.workstation.database, "STUDY", {"PatientID": "P1"})
    assert [row["patient_name"] for row in rows] == ["Doe^Peter^^^"]


def test_smart_album_variables_are_bound_in_db_window_find(server):
    client = proxy(server)
    assert uids(client.DBWindowFind({"request": "date >= $TODAY", "table": "Study"})) == {server.peter["study"]}
    assert uids(client.DBWindowFind({"request": "dateAdded >= $LASTHOUR AND date < $NSDATE_YEAR",
                                     "table": "Study"})) == {server.jane["study"]}
    for variable in ("YESTERDAY", "2DAYS", "WEEK", "MONTH", "2MONTHS", "3MONTHS"):
        reply = client.FindObject({"request": f"date >= ${variable.lower()}", "table": "Study"})
        assert uids(reply) == {server.peter["study"]}, variable
    for variable in ("LAST6HOURS", "LAST12HOURS"):  # both studies were added just now
        reply = client.FindObject({"request": f"dateAdded >= ${variable}", "table": "Study"})
        assert uids(reply) == {server.peter["study"], server.jane["study"]}, variable
    series = client.DBWindowFind({"request": "study.date >= $TODAY", "table": "Series"})["elements"]
    assert len(series) == 1
    with pytest.raises(xmlrpc.client.ProtocolError) as refused:
        client.DBWindowFind({"request": "date >= $TOMORROW", "table": "Study"})
    assert refused.value.errcode == 400


# What Apache XML-RPC (Java RIS back ends) sends: its own User-Agent, the struct untyped.
APACHE_CALL = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><methodCall><methodName>DisplayStudy</methodName>"
               "<params><param><value><struct><member><name>PatientID</name><value>P1</value></member>"
               "</struct></value></param></params></methodCall>")


@pytest.mark.parametrize("path", ["/RPC2/", "/RPC", "/xmlrpc", "/osirix/rpc"])
def test_xml_rpc_is_answered_on_any_path_no_route_owns(server, path):
    client = xmlrpc.client.ServerProxy(server.base_url + path)
    assert client.DisplayStudy({"PatientID": "P2"})["elements"][0]["patientID"] == "P2"
    response = post_xml(server, APACHE_CALL, path=path,
                        headers={"User-Agent": "Apache XML RPC 3.1.3 (Sun HTTP Transport)"})
    assert response.status_code == 200 and parse_reply(response)["error"] == "0"


def test_the_web_ui_and_the_other_apis_keep_their_paths(server):
    base = server.base_url
    assert httpx.post(base + "/api/methods/GetJob", json={"jobID": "none"}).json()["error"] == "-1"
    assert httpx.post(base + "/ui/", content=APACHE_CALL).status_code == 405
    assert httpx.post(base + "/static/app.js", content=APACHE_CALL).status_code == 405
    assert httpx.post(base + "/api/ui/albums", json={"name": "From the UI"}).status_code == 200
    assert httpx.post(base + "/IHEInvokeImageDisplay", content=APACHE_CALL).status_code == 405
