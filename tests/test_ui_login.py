"""With a token configured, a browser signs in once and the UI (pages, API, live stream) works."""

from __future__ import annotations

import httpx
import pytest

from viewbox.config import Settings
from viewbox.server import RunningWorkstation


@pytest.fixture
def secured(tmp_path):
    settings = Settings(data_root=tmp_path / "root", port=0, dicom_enabled=False, token="s3cret-token")
    server = RunningWorkstation(settings).start_in_thread()
    yield server
    server.stop()


def test_browser_is_sent_to_sign_in_and_the_cookie_opens_the_ui(secured):
    base = secured.base_url
    with httpx.Client(base_url=base, follow_redirects=False) as browser:
        first = browser.get("/ui/")
        assert first.status_code == 303 and first.headers["location"] == "/ui/login"
        assert browser.get("/").headers["location"] == "/ui/login"
        form = browser.get("/ui/login")
        assert form.status_code == 200 and 'name="token"' in form.text
        wrong = browser.post("/ui/login", data={"token": "guess"}, headers={"Origin": base})
        assert wrong.status_code == 401 and "viewbox_session" not in wrong.headers.get("set-cookie", "")
        assert browser.get("/api/ui/state").status_code == 401
        signed = browser.post("/ui/login", data={"token": "s3cret-token"}, headers={"Origin": base})
        assert signed.status_code == 303 and signed.headers["location"] == "/ui/"
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "s3cret-token" not in cookie
        assert browser.get("/ui/").status_code == 200
        assert browser.get("/api/ui/state").status_code == 200
    # the control API still wants the token itself; the cookie is for browsers only
    assert httpx.get(f"{base}/?methodName=CloseAllWindows&format=json").status_code == 401
    assert httpx.get(f"{base}/?methodName=CloseAllWindows&format=json",
                     headers={"Authorization": "Bearer s3cret-token"}).json()["error"] == "0"


def test_cross_site_sign_in_is_refused(secured):
    reply = httpx.post(f"{secured.base_url}/ui/login", data={"token": "s3cret-token"},
                       headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert reply.status_code == 403
