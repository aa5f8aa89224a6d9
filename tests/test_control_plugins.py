"""Plugins: a plugin folder, the pre-dispatch hook overriding a built-in, the shipped example."""

from __future__ import annotations

import textwrap
import xmlrpc.client

import httpx
import pytest

from test_control_support import make_study, proxy, serve
from viewbox.config import Settings

FOLDER_PLUGIN = '''
"""A test plugin installed by dropping this file in the plugins folder."""
from viewbox.plugins.hooks import hookimpl

SEEN = []


def hello(call):
    """Greets; proves folder plugins register methods."""
    return {"error": 0, "greeting": "hello " + call.params.require("name"),
            "transport": call.transport, "peer": call.peer or "", "user": call.user or ""}


def explode(call):
    raise RuntimeError("plugin secret")


@hookimpl
def viewbox_register_methods(registry):
    registry.add("sayHello", hello, aliases=("greet",), params=("name",))
    registry.add("explode", explode)
    registry.add("DisplayStudy", hello)  # taken by core: ignored


@hookimpl
def viewbox_before_call(call):
    if call.method_name.lower() == "displaystudy" and call.params.text("PatientID") == "OVERRIDE":
        return {"error": "0", "answeredBy": "plugin", "methodName": call.method_name}
    if call.method_name == "legacyPing":  # a name only the hook knows, as OsiriX plugins do
        return {"error": "0", "pong": "1"}
    return None


@hookimpl
def viewbox_after_call(call, reply, status):
    SEEN.append((call.method_name, status, reply.get("error") if isinstance(reply, dict) else None))
'''


@pytest.fixture
def server(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "greeter.py").write_text(textwrap.dedent(FOLDER_PLUGIN))
    (plugins / "broken.py").write_text("raise ImportError('this plugin is broken')\n")
    (plugins / "notes.txt").write_text("not a plugin")
    with serve(Settings(data_root=tmp_path / "root", plugins_dir=plugins)) as running:
        yield running


def test_folder_plugin_method_over_xmlrpc(server):
    client = proxy(server)
    assert client.sayHello({"name": "Ada"}) == {"error": "0", "greeting": "hello Ada", "transport": "xmlrpc",
                                               "peer": "127.0.0.1", "user": ""}
    assert client.GREET({"NAME": "Bob"})["greeting"] == "hello Bob"
    assert "sayHello" in client.system.listMethods()
    assert "Greets" in client.system.methodHelp("sayHello")
    response = httpx.post(server.base_url + "/api/methods/sayhello", json={"name": "Cy"})
    assert response.json()["transport"] == "json"


def test_pre_dispatch_hook_overrides_a_builtin(server, tmp_path):
    make_study(tmp_path / "f", patient_id="REAL")
    server.workstation.import_paths([tmp_path / "f"])
    client = proxy(server)
    assert client.DisplayStudy({"PatientID": "OVERRIDE"}) == {"error": "0", "answeredBy": "plugin",
                                                              "methodName": "DisplayStudy"}
    assert client.GetDisplayed2DViewerStudies()["elements"] == []  # the built-in did not run
    assert client.DisplayStudy({"PatientID": "REAL"})["error"] == "0"  # other calls reach core
    assert client.legacyPing({}) == {"error": "0", "pong": "1"}


def test_plugin_failure_is_an_incident_and_after_hook_sees_calls(server):
    client = proxy(server)
    with pytest.raises(xmlrpc.client.ProtocolError) as info:
        client.explode({})
    assert info.value.errcode == 500
    import sys
    seen = sys.modules["viewbox_plugin_greeter"].SEEN
    assert ("explode", 500, "500") in seen


def test_example_plugin_ships_through_the_entry_point(server, tmp_path):
    controller = server.workstation.controller
    assert controller.registry.get("exportselectedtopath").source == "example plugin"
    assert any(name.startswith("entry-point:viewbox.plugins.example") for name, _ in
               controller.plugins.list_name_plugin())
    study = make_study(tmp_path / "f", n_series=2, images=2, patient_id="EXP")
    server.workstation.import_paths([tmp_path / "f"])
    client = proxy(server)
    assert client.exportSelectedToPath({"path": str(tmp_path / "out")})["error"] == "-1"  # nothing selected
    client.DBWindowFind({"request": "patientID == 'EXP'", "table": "Study", "execute": "Select"})
    assert client.exportSelectedToPath({"path": str(tmp_path / "out")}) == {"error": "0", "exported": "4"}
    assert len(list((tmp_path / "out").glob("*.dcm"))) == 4
    assert client.openSelectedWithTiling({"rowsTiling": 2, "columnsTiling": 1}) == {"error": "0"}
    assert [e["studyInstanceUID"] for e in client.GetDisplayed2DViewerStudies()["elements"]] == [study["study"]] * 2
