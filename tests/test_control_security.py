"""Security (docs/configuration.md): binding rules, token and Basic auth, per-method permissions, Host and
Origin checks, allow-list, TLS, and the audit log — all through real sockets."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import xmlrpc.client

import httpx
import pytest
from click.testing import CliRunner

from test_control_support import parse_reply, post_xml, serve, wait_for
from viewbox.config import Settings, load_settings
from viewbox.errors import ConfigError

CLOSE_ALL = xmlrpc.client.dumps(({},), "CloseAllWindows")
KILL = xmlrpc.client.dumps(({},), "KillOsiriX")


def lan_address() -> str:
    """This machine's own non-loopback address (the route a LAN client would use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
        except OSError:
            address = "127.0.0.1"
    if address.startswith("127."):
        message = "this machine has no non-loopback IPv4 address to connect from"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI machines have one: never let the remote-peer tests vanish there
        pytest.skip(message)
    return address


def test_remote_bind_without_credentials_is_refused_at_start(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(environ={}, overrides={"host": "0.0.0.0", "data_root": tmp_path})
    assert "without authentication" in info.value.message
    from viewbox.cli import main

    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "0", "--data", str(tmp_path)],
                                env={"VIEWBOX_CONFIG": ""})
    assert result.exit_code == 2 and "refusing to listen" in result.output
    assert load_settings(environ={}, overrides={"host": "0.0.0.0", "token": "t", "data_root": tmp_path})


def test_token_is_required_when_configured(tmp_path):
    with serve(Settings(data_root=tmp_path / "root", token="s3cret")) as server:
        response = post_xml(server, CLOSE_ALL)
        assert response.status_code == 401 and parse_reply(response)["error"] == "401"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert post_xml(server, CLOSE_ALL, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(server.base_url + "/?methodName=CloseAllWindows").status_code == 401
        assert httpx.post(server.base_url + "/api/methods/CloseAllWindows").json()["error"] == "401"
        ui = httpx.get(server.base_url + "/ui/")  # the web UI too: sent to sign in, page withheld
        assert ui.status_code == 303 and ui.headers["location"] == "/ui/login"
        ok = post_xml(server, CLOSE_ALL, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and parse_reply(ok) == {"error": "0"}
        with pytest.raises(xmlrpc.client.ProtocolError) as info:
            xmlrpc.client.ServerProxy(server.base_url).CloseAllWindows({})
        assert info.value.errcode == 401


def test_basic_credentials(tmp_path):
    with serve(Settings(data_root=tmp_path / "root", basic_users={"ris": "pw"})) as server:
        assert httpx.post(server.base_url + "/", content=CLOSE_ALL, auth=("ris", "bad")).status_code == 401
        response = httpx.post(server.base_url + "/", content=CLOSE_ALL)
        assert response.headers["www-authenticate"].startswith("Basic")
        client = xmlrpc.client.ServerProxy(server.base_url.replace("http://", "http://ris:pw@"))
        assert client.CloseAllWindows({}) == {"error": "0"}
        audit = [json.loads(line) for line in server.workstation.controller.audit.path.read_text().splitlines()]
        assert audit[-1]["user"] == "ris" and audit[-1]["method"] == "CloseAllWindows"


def test_destructive_methods_are_forbidden_from_the_network(tmp_path):
    address = lan_address()
    settings = Settings(data_root=tmp_path / "root", host="0.0.0.0", token="t",
                        remote_methods=("OpenDB",))
    with serve(settings) as server:
        remote = f"http://{address}:{server.http_port}"
        auth = {"Authorization": "Bearer t", "Content-Type": "text/xml"}
        response = httpx.post(remote + "/", content=KILL, headers=auth)
        assert response.status_code == 403 and "KillOsiriX" in parse_reply(response)["message"]
        delete = xmlrpc.client.dumps(({"request": "TRUEPREDICATE", "table": "Study", "execute": "Delete"},),
                                     "DBWindowFind")
        assert httpx.post(remote + "/", content=delete, headers=auth).status_code == 403
        find = xmlrpc.client.dumps(({"request": "TRUEPREDICATE", "table": "Study"},), "DBWindowFind")
        assert parse_reply(httpx.post(remote + "/", content=find, headers=auth))["error"] == "-1"
        for name in ("DownloadURL", "exportSelectedToPath", "SendStudy"):
            body = xmlrpc.client.dumps(({"URL": "http://x/", "path": "/tmp/x", "location": "x",
                                         "studyInstanceUID": "1"},), name)
            assert httpx.post(remote + "/", content=body, headers=auth).status_code == 403, name
        # listed in remote_methods: allowed from the network
        body = xmlrpc.client.dumps(({"path": str(tmp_path / "missing")},), "OpenDB")
        assert parse_reply(httpx.post(remote + "/", content=body, headers=auth)) == {"error": "-1"}
        # from loopback the same call is allowed
        local = f"http://127.0.0.1:{server.http_port}"
        assert parse_reply(httpx.post(local + "/", content=KILL, headers=auth)) == {"error": "0"}
        wait_for(lambda: server.workstation.shutdown_requested.is_set())
        entries = [json.loads(line) for line in server.workstation.controller.audit.path.read_text().splitlines()]
        refused = [e for e in entries if e["status"] == 403]
        assert {e["method"] for e in refused} >= {"KillOsiriX", "DBWindowFind", "DownloadURL"}
        assert all(e["peer"] == address for e in refused)


def test_the_web_uis_delete_send_and_retrieve_follow_the_same_rule(tmp_path):
    """From another computer the UI may look, open and query, but delete, send and retrieve only when listed."""
    address = lan_address()
    settings = Settings(data_root=tmp_path / "root", host="0.0.0.0", token="t", remote_methods=("SendStudy",))
    with serve(settings) as server:
        auth = {"Authorization": "Bearer t"}
        remote = f"http://{address}:{server.http_port}/api/ui"
        assert httpx.get(remote + "/studies", headers=auth).status_code == 200
        refused = httpx.post(remote + "/delete", json={"study_pks": [1]}, headers=auth)
        assert refused.status_code == 403 and "DBWindowFind:Delete" in refused.json()["message"]
        listed = httpx.post(remote + "/send", json={"location": "Nowhere", "study_pks": [1]}, headers=auth)
        assert listed.status_code == 404  # allowed: it got as far as looking the Location up
        refused = httpx.post(remote + "/retrieve", json={"location": "Nowhere", "study_uids": ["1.2"]}, headers=auth)
        assert refused.status_code == 403 and "Retrieve" in refused.json()["message"]
        query = httpx.post(remote + "/query", json={"location": "Nowhere", "filters": {"PatientID": "1"}}, headers=auth)
        assert query.status_code == 404  # querying writes nothing: allowed from the network
        local = f"http://127.0.0.1:{server.http_port}/api/ui"
        assert httpx.post(local + "/delete", json={"study_pks": [1]}, headers=auth).status_code == 404
        assert httpx.post(local + "/retrieve", json={"location": "Nowhere", "study_uids": ["1.2"]}, headers=auth).status_code == 404


def test_user_methods_give_one_user_more_from_the_network(tmp_path):
    """The RIS account may download and delete from its own computer; a reading-room account may not."""
    address = lan_address()
    settings = Settings(data_root=tmp_path / "root", host="0.0.0.0",
                        basic_users={"ris": "r1s", "reader": "r3ad"},
                        user_methods={"ris": ("DownloadURL", "DBWindowFind:Delete")})
    with serve(settings) as server:
        remote = f"http://{address}:{server.http_port}"
        download = xmlrpc.client.dumps(({"URL": "ftp://example.org/x.zip"},), "DownloadURL")
        headers = {"Content-Type": "text/xml"}
        as_ris = httpx.post(remote + "/", content=download, headers=headers, auth=("ris", "r1s"))
        assert as_ris.status_code == 400 and "user_methods" not in as_ris.text  # allowed; ftp: refused
        as_reader = httpx.post(remote + "/", content=download, headers=headers, auth=("reader", "r3ad"))
        assert as_reader.status_code == 403 and "user_methods" in parse_reply(as_reader)["message"]
        delete = {"study_pks": [1]}
        assert httpx.post(remote + "/api/ui/delete", json=delete, auth=("ris", "r1s")).status_code == 404
        assert httpx.post(remote + "/api/ui/delete", json=delete, auth=("reader", "r3ad")).status_code == 403


def test_user_methods_must_name_known_users(tmp_path):
    config = tmp_path / "viewbox.toml"
    config.write_text('[basic_users]\nris = "x"\n[user_methods]\nris = ["DownloadURL"]\nghost = ["OpenDB"]\n')
    with pytest.raises(ConfigError, match="user_methods: 'ghost'"):
        load_settings(config)
    settings = load_settings(environ={"VIEWBOX_BASIC_USERS": "ris:x", "VIEWBOX_USER_METHODS": "ris:DownloadURL|OpenDB"})
    assert settings.user_methods == {"ris": ("DownloadURL", "OpenDB")}
    config.write_text('[basic_users]\nris = "x"\n[user_methods]\nris = ["DownloadURL"]\n')
    assert load_settings(config).user_methods == {"ris": ("DownloadURL",)}


def test_client_allow_list(tmp_path):
    address = lan_address()
    with serve(Settings(data_root=tmp_path / "root", host="0.0.0.0", allow_clients=("10.99.0.0/16",))) as server:
        response = httpx.post(f"http://{address}:{server.http_port}/", content=CLOSE_ALL)
        assert response.status_code == 403 and "allow_clients" in parse_reply(response)["message"]
        assert httpx.post(f"http://127.0.0.1:{server.http_port}/", content=CLOSE_ALL).status_code == 200
    with serve(Settings(data_root=tmp_path / "root2", host="0.0.0.0",
                        allow_clients=(f"{address}/32",))) as server:
        assert httpx.post(f"http://{address}:{server.http_port}/", content=CLOSE_ALL).status_code == 200


def test_foreign_host_header_and_origin_are_refused(tmp_path):
    settings = Settings(data_root=tmp_path / "root", allowed_hosts=("viewbox.example",),
                        allowed_origins=("https://ris.example",))
    with serve(settings) as server:
        port = server.http_port
        assert post_xml(server, CLOSE_ALL, headers={"Host": "evil.example"}).status_code == 403
        assert httpx.get(server.base_url + "/ui/", headers={"Host": f"rebind.attacker.test:{port}"}).status_code == 403
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"viewbox.example:{port}", "[::1]"):
            assert post_xml(server, CLOSE_ALL, headers={"Host": host}).status_code == 200, host
        # cross-site POSTs from web pages
        response = post_xml(server, CLOSE_ALL, headers={"Origin": "http://evil.example"})
        assert response.status_code == 403 and "cross-origin" in parse_reply(response)["message"]
        assert post_xml(server, CLOSE_ALL, headers={"Origin": "null"}).status_code == 403
        assert post_xml(server, CLOSE_ALL, headers={"Origin": "https://ris.example"}).status_code == 200
        assert post_xml(server, CLOSE_ALL, headers={"Origin": f"http://127.0.0.1:{port}"}).status_code == 200
        json_post = httpx.post(server.base_url + "/api/methods/CloseAllWindows", json={},
                               headers={"Origin": "http://evil.example"})
        assert json_post.status_code == 403 and json_post.json()["error"] == "403"
        # a cross-site link may display, never kill
        cross = {"Sec-Fetch-Site": "cross-site"}
        assert httpx.get(server.base_url + "/?methodName=CloseAllWindows", headers=cross).status_code == 200
        assert httpx.get(server.base_url + "/?methodName=KillOsiriX", headers=cross).status_code == 403
        assert not server.workstation.shutdown_requested.is_set()


def test_audit_log_records_every_call(tmp_path):
    audit_path = tmp_path / "logs" / "audit.jsonl"
    with serve(Settings(data_root=tmp_path / "root", audit_log=audit_path, token="tok")) as server:
        auth = {"Authorization": "Bearer tok"}
        post_xml(server, xmlrpc.client.dumps(({"PatientID": "X1", "password": "hidden"},), "DisplayStudy"),
                 headers=auth)
        httpx.get(server.base_url + "/?methodName=NoSuchMethod&a=b", headers=auth)
        httpx.post(server.base_url + "/api/methods/CloseAllWindows", json={}, headers=auth)
        httpx.get(server.base_url + "/?methodName=CloseAllWindows")  # no token
        post_xml(server, "<broken", headers=auth)
    entries = [json.loads(line) for line in audit_path.read_text().splitlines()]
    assert [(e["transport"], e["method"], e["status"], e["error"]) for e in entries] == [
        ("xmlrpc", "DisplayStudy", 200, "-1"),
        ("get", "NoSuchMethod", 404, "404"),
        ("json", "CloseAllWindows", 200, "0"),
        ("http", "CloseAllWindows", 401, "401"),
        ("http", "-", 400, "400"),
    ]
    first = entries[0]
    assert first["peer"] == "127.0.0.1" and first["user"] == "token" and first["time"]
    assert first["params"] == {"PatientID": "X1", "password": "***"}


def test_tls(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    with serve(Settings(data_root=tmp_path / "root", tls_cert=cert, tls_key=key)) as server:
        assert server.base_url.startswith("https://")
        response = httpx.post(server.base_url + "/", content=CLOSE_ALL, verify=ssl.create_default_context(cafile=str(cert)))
        assert parse_reply(response) == {"error": "0"}
        with pytest.raises(httpx.HTTPError):
            httpx.post(server.base_url.replace("https", "http") + "/", content=CLOSE_ALL)
