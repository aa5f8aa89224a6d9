"""Reading a volume in Chromium: a loaded series scrolls from memory."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ui

BRAIN = "123565"  # MR, one series of 20 single-frame images (tests/ui/conftest.py)
CANVAS = ".viewer:not(.empty) canvas"


def test_a_shown_series_is_loaded_whole_and_scrolls_without_asking_the_server(page, rpc):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url) if "/api/ui/image/" in request.url else None)
    rpc.DisplayStudy({"PatientID": BRAIN})
    page.wait_for_function(f"() => document.querySelector('{CANVAS}')?.dataset.drawn === 'current'")
    page.wait_for_function(
        """() => performance.getEntriesByType('resource')
              .filter((e) => e.name.includes('/api/ui/image/')).length >= 20""", timeout=20_000)
    frames = {entry.split("/api/ui/image/")[1].split("?")[0] for entry in page.evaluate(
        "() => performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/api/ui/image/'))")}
    assert len(frames) == 20, sorted(frames)
    before = len(requested)
    canvas = page.locator(CANVAS)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(19):
        page.mouse.wheel(0, 100)
    page.wait_for_function(
        f"() => (c => c.dataset.drawn === 'current' && /\\/19(\\?|$)/.test(c.dataset.url))(document.querySelector('{CANVAS}'))")
    assert len(requested) == before  # every frame came from the tab's memory
