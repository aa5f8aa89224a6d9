"""What a hostile web page or a guessing client can do (issue 10): destructive GETs from pages of
other sites or ports, sign-in guessing, framing, and DICOM text shown as HTML."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from test_control_support import make_study, serve
from viewbox.config import Settings


@pytest.fixture
def studies(tmp_path):
    make_study(tmp_path / "f", images=1, patient_id="KEEP")
    return tmp_path / "f"


def _count(base: str) -> int:
    reply = httpx.get(base + "/", params={"methodName": "DBWindowFind", "request": "patientID == 'KEEP'",
                                          "table": "Study", "format": "json"})
    return len(reply.json().get("elements", []))


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
def test_pages_of_other_sites_or_ports_cannot_run_destructive_gets(tmp_path, studies, site):
    """0.1.0: `Sec-Fetch-Site: same-site` (a page on another localhost port) deleted studies."""
    settings = Settings(data_root=tmp_path / "root", dicom_enabled=False)
    with serve(settings) as server:
        server.workstation.import_paths([studies])
        base, page = server.base_url, {"Sec-Fetch-Site": site, "Sec-Fetch-Mode": "no-cors"}
        delete = {"methodName": "DBWindowFind", "request": "patientID == 'KEEP'", "table": "Study",
                  "execute": "Delete"}
        for url, params in ((base + "/", delete), (base + "/api/methods/DBWindowFind",
                                                   {k: v for k, v in delete.items() if k != "methodName"}),
                            (base + "/?methodName=KillOsiriX", {}), (base + "/api/methods/OpenDB",
                                                                      {"path": str(tmp_path / "other")})):
            reply = httpx.get(url, params=params or None, headers=page)
            assert reply.status_code == 403 and "another site or port" in reply.text, url
        assert _count(base) == 1 and not server.workstation.shutdown_requested.is_set()
        # harmless methods still work from such pages (a RIS link may display a study)
        assert httpx.get(base + "/?methodName=CloseAllWindows", headers=page).status_code == 200
        # a RIS program sends no Fetch Metadata, and the UI itself is same-origin: both may delete
        assert httpx.get(base + "/", params=delete, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
        assert _count(base) == 0


def test_destructive_methods_over_get_can_be_refused_entirely(tmp_path, studies):
    settings = Settings(data_root=tmp_path / "root", dicom_enabled=False, destructive_over_get=False)
    with serve(settings) as server:
        server.workstation.import_paths([studies])
        base = server.base_url
        params = {"request": "patientID == 'KEEP'", "table": "Study", "execute": "Delete"}
        reply = httpx.get(base + "/api/methods/DBWindowFind", params=params)
        assert reply.status_code == 403 and "destructive_over_get" in reply.json()["message"]
        assert _count(base) == 1
        assert httpx.post(base + "/api/methods/DBWindowFind", json=params).json()["error"] == "0"
        assert _count(base) == 0


def test_sign_in_guessing_is_throttled(tmp_path):
    """0.1.0: 200 wrong tokens in 0.14 s, each one answered."""
    settings = Settings(data_root=tmp_path / "root", dicom_enabled=False, token="the-right-token",
                        sign_in_attempts=5)
    with serve(settings) as server:
        base = server.base_url
        with httpx.Client(base_url=base, follow_redirects=False, headers={"Origin": base}) as browser:
            answers = [browser.post("/ui/login", data={"token": f"guess{i}"}).status_code for i in range(8)]
            assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}
            locked = browser.post("/ui/login", data={"token": "the-right-token"})
            assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
            assert "viewbox_session" not in locked.headers.get("set-cookie", "")
        bearer = httpx.get(base + "/?methodName=CloseAllWindows", headers={"Authorization": "Bearer the-right-token"})
        assert bearer.status_code == 429  # the same client address guessing through the API
    with serve(replace(settings, data_root=tmp_path / "other")) as server:
        for _ in range(3):
            assert httpx.get(server.base_url + "/?methodName=CloseAllWindows",
                             headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(server.base_url + "/?methodName=CloseAllWindows",
                         headers={"Authorization": "Bearer the-right-token"}).status_code == 200


def test_every_answer_forbids_framing_and_sniffing(tmp_path):
    """0.1.0: no security headers; any page could frame the UI (clickjacking of Delete, Send)."""
    settings = Settings(data_root=tmp_path / "root", dicom_enabled=False)
    with serve(settings) as server:
        base = server.base_url
        for reply in (httpx.get(base + "/ui/"), httpx.get(base + "/?methodName=GetJob"),
                      httpx.get(base + "/api/ui/state"), httpx.get(base + "/static/app.js"),
                      httpx.get(base + "/IHEInvokeImageDisplay?requestType=STUDY&studyUID=1.2.3"),
                      httpx.post(base + "/", content=b"<methodCall><methodName>GetJob</methodName></methodCall>")):
            headers = reply.headers
            assert "frame-ancestors 'none'" in headers["content-security-policy"], reply.url
            assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
