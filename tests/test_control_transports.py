"""Transports and wire format (docs/control-api.md) through a real HTTP server.

xmlrpc.client, raw bodies in the shapes real integrations send, GET, the JSON mirror and
introspection; every protocol error path; hostile XML refused while the server keeps answering.
"""

from __future__ import annotations

import xmlrpc.client

import httpx
import pytest

from test_control_support import make_study, parse_reply, post_xml, proxy, serve
from viewbox.config import Settings


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("transports")
    settings = Settings(data_root=root / "root", max_body_bytes=64 * 1024)
    with serve(settings) as running:
        ws = running.workstation
        incoming = root / "files"
        study = make_study(incoming, patient_name="MÜLLER^JOSÉ", patient_id="PÉ1", accession="ACC&<1>",
                           study_description="O'Brien & <Sons> \"x\"")
        other = make_study(incoming / "b", patient_name="SMITH^ANNA", patient_id="P2", accession="A2")
        ws.import_paths([incoming])
        running.study, running.other = study, other
        yield running


def test_xmlrpc_client_display_study_and_displayed_studies(server):
    client = proxy(server)
    reply = client.DisplayStudy({"PatientID": "P2"})
    assert reply["error"] == "0"
    assert [e["studyInstanceUID"] for e in reply["elements"]] == [server.other["study"]]
    # the effect is applied before the reply: the very next call sees the viewer
    shown = client.GetDisplayed2DViewerStudies()
    assert shown["error"] == "0"
    assert [e["studyInstanceUID"] for e in shown["elements"]] == [server.other["study"]]
    assert shown["elements"][0]["dateOpened"]
    assert all(isinstance(v, str) for e in reply["elements"] for v in e.values())
    assert reply["elements"][0]["name"] == "SMITH ANNA"


def test_method_and_parameter_names_are_case_insensitive_with_aliases(server):
    client = proxy(server)
    assert client.displaystudy({"patientid": "P2"})["error"] == "0"
    assert client.FINDOBJECT({"REQUEST": "patientID == 'P2'", "Table": "study"})["error"] == "0"
    assert client.dbWindowFind({"request": "patientID == 'nobody'", "table": "Study"}) == \
        {"error": "-1", "elements": []}


def test_values_are_escaped_exactly_once_and_unicode_survives(server):
    reply = proxy(server).DBWindowFind({"request": "patientID == 'PÉ1'", "table": "Study"})
    element = reply["elements"][0]
    assert element["accessionNumber"] == "ACC&<1>"
    assert element["studyName"] == "O'Brien & <Sons> \"x\""
    assert element["name"] == "MÜLLER JOSÉ"
    raw = post_xml(server, xmlrpc.client.dumps(({"request": "patientID == 'PÉ1'", "table": "Study"},),
                                               "DBWindowFind"))
    assert b"ACC&amp;&lt;1&gt;" in raw.content and b"&amp;amp;" not in raw.content
    assert raw.headers["content-type"] == "text/xml; charset=utf-8"
    assert int(raw.headers["content-length"]) == len(raw.content)


UNTYPED = """<?xml version="1.0"?>
<methodCall>
  <methodName>DisplayStudy</methodName>
  <params>
    <param>
      <value>
        <struct>
          <member>
            <name>PatientID</name>
            <value>P2</value>
          </member>
        </struct>
      </value>
    </param>
  </params>
</methodCall>
"""


def test_pretty_printed_untyped_values(server):
    reply = parse_reply(post_xml(server, UNTYPED))
    assert reply["error"] == "0" and reply["elements"][0]["patientID"] == "P2"


def test_several_struct_params_are_merged_as_horos_487(server):
    body = ("<?xml version='1.0'?><methodCall><methodName>DBWindowFind</methodName><params>"
            "<param><value><struct><member><name>request</name><value><string>patientID == 'P2'"
            "</string></value></member></struct></value></param>"
            "<param><value><struct><member><name>table</name><value>Study</value></member>"
            "</struct></value></param>"
            "<param><value><struct><member><name>execute</name><value>Nothing</value></member>"
            "</struct></value></param></params></methodCall>")
    reply = parse_reply(post_xml(server, body))
    assert reply["error"] == "0" and len(reply["elements"]) == 1


def test_iso_8859_1_body_with_accents(server):
    body = ('<?xml version="1.0" encoding="ISO-8859-1"?><methodCall><methodName>DBWindowFind'
            "</methodName><params><param><value><struct>"
            "<member><name>request</name><value>name == 'MÜLLER^JOSÉ' OR comment == 'é ç ä'</value></member>"
            "<member><name>table</name><value>Study</value></member>"
            "</struct></value></param></params></methodCall>").encode("iso-8859-1")
    reply = parse_reply(post_xml(server, body))
    assert reply["error"] == "0"
    assert reply["elements"][0]["patientID"] == "PÉ1"


def test_curl_form_content_type_and_rpc2_path(server):
    body = xmlrpc.client.dumps(({"uid": "1.2.840.113745.101000.1008000.37915.4331.5559218"},),
                               "Close2DViewerWithStudyUID")
    response = httpx.post(server.base_url + "/RPC2", content=body,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200 and parse_reply(response) == {"error": "0"}


def test_seed_examples_from_the_osirix_page(server):
    seed = ('<?xml version="1.0"?><methodCall><methodName>Close2DViewerWithStudyUID</methodName>'
            "<params><param><value><struct><member><name>uid</name><value><string>"
            "1.2.840.113745.101000.1008000.37915.4331.5559218</string></value></member></struct>"
            "</value></param></params></methodCall>")
    assert parse_reply(post_xml(server, seed)) == {"error": "0"}
    retrieve = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><methodCall><methodName>Retrieve</methodName>"
                "<params><param><value><struct>"
                "<member><name>serverName</name><value><string>MainPACS</string></value></member>"
                "<member><name>filterKey</name><value><string>PatientID</string></value></member>"
                "<member><name>filterValue</name><value><string>296228</string></value></member>"
                "<member><name>then</name><value><string>display</string></value></member>"
                "<member><name>retrieveOnlyIfNeeded</name><value><string>yes</string></value></member>"
                "</struct></value></param></params></methodCall>")
    assert parse_reply(post_xml(server, retrieve))["error"] == "-2"  # no Location called MainPACS
    find = xmlrpc.client.dumps(({"request": "(name LIKE '*SMITH*')", "table": "Study", "execute": "Open"},),
                               "DBWindowFind")
    reply = parse_reply(post_xml(server, find))
    assert reply["error"] == "0"
    assert proxy(server).GetDisplayed2DViewerStudies()["elements"][0]["patientID"] == "P2"


def test_typed_numbers_and_booleans_are_used_as_text(server):
    body = ("<?xml version='1.0'?><methodCall><methodName>PathToFrontDCM</methodName><params><param>"
            "<value><struct><member><name>onlyfilename</name><value><boolean>1</boolean></value></member>"
            "</struct></value></param></params></methodCall>")
    proxy(server).DisplayStudy({"PatientID": "P2"})
    reply = parse_reply(post_xml(server, body))
    assert reply["error"] == "0" and "/" not in reply["currentDCMPath"]
    assert reply["currentDCMPath"].endswith(".dcm")
    body = ("<?xml version='1.0'?><methodCall><methodName>DisplayStudy</methodName><params><param>"
            "<value><struct><member><name>StudyID</name><value><i8>42</i8></value></member>"
            "</struct></value></param></params></methodCall>")
    assert parse_reply(post_xml(server, body)) == {"error": "-1", "elements": []}


def test_get_query_string_xml_and_json(server):
    response = httpx.get(server.base_url + "/?methodName=displayStudy&PatientID=P2")
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert parse_reply(response)["elements"][0]["patientID"] == "P2"
    response = httpx.get(server.base_url + "/",
                         params={"methodName": "findObject", "request": "(name CONTAINS[cd] 'smith')",
                                 "table": "Study", "format": "json"})
    assert response.json()["elements"][0]["patientID"] == "P2"
    # the seed's GET form with an encoded accession number containing & and <>
    response = httpx.get(server.base_url + "/?methodName=displayStudy&AccessionNumber=ACC%26%3C1%3E&format=json")
    assert response.json()["error"] == "0"


def test_get_root_without_method_redirects_to_the_ui(server):
    response = httpx.get(server.base_url + "/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/ui/"


def test_json_mirror(server):
    response = httpx.post(server.base_url + "/api/methods/displaystudy", json={"patientid": "P2"})
    assert response.status_code == 200
    assert response.json()["elements"][0]["studyInstanceUID"] == server.other["study"]
    response = httpx.post(server.base_url + "/api/methods/GetDisplayed2DViewerSeries", content=b"")
    assert response.json()["elements"][0]["seriesInstanceUID"] == server.other["series"][0]
    response = httpx.post(server.base_url + "/api/methods/DisplayStudy", content=b"[1, 2]")
    assert response.status_code == 400 and response.json()["error"] == "400"
    response = httpx.post(server.base_url + "/api/methods/DisplayStudy", content=b"{nope")
    assert response.status_code == 400 and "JSON" in response.json()["message"]


def test_introspection_lists_plugin_methods(server):
    client = proxy(server)
    names = client.system.listMethods()
    for name in ("DisplayStudy", "FindObject", "GetJob", "exportSelectedToPath", "openSelectedWithTiling",
                 "system.methodHelp"):
        assert name in names
    assert "DisplayStudy" in client.system.methodHelp("displaystudy")
    assert client.system.methodSignature("DisplayStudy") == [["struct", "struct"]]
    with pytest.raises(xmlrpc.client.ProtocolError) as info:
        client.system.methodHelp("NoSuchMethod")
    assert info.value.errcode == 404


def _protocol_error(response, status):
    assert response.status_code == status
    reply = parse_reply(response)
    assert reply["error"] == str(status) and reply["message"]
    return reply


def test_protocol_errors(server):
    # missing parameter
    reply = _protocol_error(post_xml(server, xmlrpc.client.dumps(({},), "DisplayStudy")), 400)
    assert "PatientID" in reply["message"]
    _protocol_error(post_xml(server, xmlrpc.client.dumps(({},), "Close2DViewerWithSeriesUID")), 400)
    # unknown method: no Horos-style fallback to internals
    _protocol_error(post_xml(server, xmlrpc.client.dumps(({},), "NoSuchMethod")), 404)
    _protocol_error(post_xml(server, xmlrpc.client.dumps(({},), "__init__")), 404)
    # malformed and empty XML, wrong root, unsupported type
    _protocol_error(post_xml(server, "<methodCall><methodName>DisplayStudy</methodName>"), 400)
    _protocol_error(post_xml(server, b""), 400)
    _protocol_error(post_xml(server, "<foo/>"), 400)
    _protocol_error(post_xml(server, "<methodCall><methodName>DisplayStudy</methodName><params><param>"
                                     "<value><weird>1</weird></value></param></params></methodCall>"), 400)
    # predicate syntax error and unknown attribute: 400 with the parser's message and position
    reply = _protocol_error(post_xml(server, xmlrpc.client.dumps(
        ({"request": "name == ", "table": "Study"},), "DBWindowFind")), 400)
    assert "column" in reply["message"]
    reply = _protocol_error(post_xml(server, xmlrpc.client.dumps(
        ({"request": "noSuchKey == 'x'", "table": "Study"},), "DBWindowFind")), 400)
    assert "noSuchKey" in reply["message"]
    _protocol_error(post_xml(server, xmlrpc.client.dumps(
        ({"request": "name == 'x'", "table": "Patients"},), "DBWindowFind")), 400)
    # python's client sees a ProtocolError with the status
    with pytest.raises(xmlrpc.client.ProtocolError) as info:
        proxy(server).DisplaySeries({})
    assert info.value.errcode == 400


def test_body_too_large_is_413_and_the_server_keeps_answering(server):
    big = "<methodCall><methodName>DisplayStudy</methodName>" + " " * (70 * 1024) + "</methodCall>"
    _protocol_error(post_xml(server, big), 413)

    def chunks():
        for _ in range(100):
            yield b" " * 1024

    response = httpx.post(server.base_url + "/", content=chunks())  # chunked, no Content-Length
    assert response.status_code == 413
    assert proxy(server).CloseAllWindows() == {"error": "0"}


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol9 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
]>
<methodCall><methodName>DisplayStudy</methodName><params><param><value><struct>
<member><name>PatientID</name><value>&lol9;</value></member></struct></value></param></params></methodCall>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<methodCall><methodName>DisplayStudy</methodName><params><param><value><struct>
<member><name>PatientID</name><value>&xxe;</value></member></struct></value></param></params></methodCall>"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE methodCall SYSTEM "http://127.0.0.1:9/evil.dtd">
<methodCall><methodName>CloseAllWindows</methodName></methodCall>"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, XXE, EXTERNAL_DTD], ids=["laughs", "xxe", "dtd"])
def test_hostile_xml_is_refused(server, document):
    reply = _protocol_error(post_xml(server, document), 400)
    assert "root:" not in reply["message"]
    assert proxy(server).CloseAllWindows() == {"error": "0"}


def test_unexpected_exception_gives_an_incident_id_not_a_traceback(server, monkeypatch):
    from viewbox.library import queries

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(queries, "find_studies", broken)
    response = post_xml(server, xmlrpc.client.dumps(({"PatientID": "P2"},), "DisplayStudy"))
    reply = _protocol_error(response, 500)
    assert reply["incident"] in reply["message"]
    assert "secret" not in response.text and "Traceback" not in response.text
    monkeypatch.undo()
    assert proxy(server).DisplayStudy({"PatientID": "P2"})["error"] == "0"


def test_keep_alive_connection_serves_many_calls(server):
    with httpx.Client(base_url=server.base_url) as client:
        for _ in range(20):
            response = client.post("/", content=xmlrpc.client.dumps(({},), "CloseAllWindows"))
            assert parse_reply(response) == {"error": "0"}
        assert response.headers.get("connection", "keep-alive") != "close"
