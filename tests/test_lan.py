"""The one-line LAN setup, tried as a hospital would: the workstation and the RIS in two network
namespaces joined by a veth pair (root and iproute2, which scripts/setup.sh installs), the
workstation started exactly as the README says, the RIS speaking plain XML-RPC and HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from helpers.netns import Serve, link, namespaces, run_in
from test_control_support import make_study

WORKSTATION, RIS, STRANGER = "10.231.7.1", "10.231.7.2", "10.231.7.3"

# Runs inside the RIS's namespace; prints one JSON object of what it saw.
RIS_SCRIPT = r"""
import http.client, json, socket, sys, xmlrpc.client
ws, hostname = sys.argv[1], sys.argv[2]
seen = {}
seen["display"] = xmlrpc.client.ServerProxy(f"http://{ws}:8080/").DisplayStudy({"PatientID": "LAN1"})["error"]

def get(host_header, source=None):
    conn = http.client.HTTPConnection(ws, 8080, timeout=30, source_address=(source, 0) if source else None)
    conn.putrequest("GET", "/?methodName=GetDisplayed2DViewerStudies", skip_host=True)
    conn.putheader("Host", host_header)
    conn.endheaders()
    response = conn.getresponse()
    return response.status, response.read().decode()

for name in (hostname, hostname + ".local", socket.getfqdn(hostname)):
    seen["host " + name] = get(f"{name}:8080")[0]
seen["host evil"] = get("radiology-ws.evil.example:8080")
seen["stranger"] = get(f"{ws}:8080", source=sys.argv[3])
body = ("<?xml version='1.0'?><methodCall><methodName>DownloadURL</methodName><params><param><value>"
        "<struct><member><name>URL</name><value>http://10.231.7.2/x.dcm</value></member></struct>"
        "</value></param></params></methodCall>")
conn = http.client.HTTPConnection(ws, 8080, timeout=30)
conn.request("POST", "/RPC2", body, {"Content-Type": "text/xml"})
response = conn.getresponse()
seen["download"] = [response.status, response.read().decode()]
print(json.dumps(seen))
"""


def test_a_ris_on_another_machine_with_the_one_line_setup(tmp_path):
    env = {**os.environ, "VIEWBOX_CONFIG": "", "HOME": str(tmp_path)}
    data = tmp_path / "data"
    make_study(tmp_path / "files", patient_id="LAN1", patient_name="LAN^TEST")
    subprocess.run([sys.executable, "-m", "viewbox", "import", "--data", str(data), str(tmp_path / "files")],
                   check=True, env=env, capture_output=True)
    script = tmp_path / "ris.py"
    script.write_text(RIS_SCRIPT)
    hostname = socket.gethostname().lower()
    with namespaces("ws", "ris") as lan:
        link(lan["ws"], [WORKSTATION], lan["ris"], [RIS, STRANGER])
        # the README's command, plus where to keep the data
        serve = Serve(lan["ws"], f"viewbox serve --allow-client {RIS} --data {data}", env)
        try:
            startup = serve.output
            assert f"reachable at: http://{hostname}:8080/" in startup
            assert f"clients admitted: this computer and {RIS}" in startup
            assert "refused from other computers: KillOsiriX, DBWindowFind:Delete" in startup
            assert "DICOM: AE title VIEWBOX, port 11112, no calling AE title" in startup  # on the LAN: known only
            ris = run_in(lan["ris"], [sys.executable, str(script), WORKSTATION, hostname, STRANGER], env=env,
                         timeout=120)
        finally:
            printed = serve.stop()
    assert ris.returncode == 0, ris.stderr
    seen = json.loads(ris.stdout)
    assert seen["display"] == "0"
    for name in (hostname, f"{hostname}.local", socket.getfqdn(hostname)):
        assert seen[f"host {name}"] == 200, (name, seen)
    status, text = seen["host evil"]
    assert status == 403 and "allowed_hosts" in text
    status, text = seen["stranger"]
    assert status == 403 and f"client {STRANGER} is not in allow_clients" in text
    status, text = seen["download"]
    assert status == 403 and f"DownloadURL is not allowed from {RIS}" in text
    assert "--allow-method DownloadURL" in text and 'remote_methods = ["DownloadURL"]' in text
    assert "Viewbox stopped." in printed
    assert Path(data, "Viewbox Data", "audit.log").read_text().count('"status": 403') >= 3
