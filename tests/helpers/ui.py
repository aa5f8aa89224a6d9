"""Reading the web UI in Playwright: the study list's rows and the viewers' canvases."""

from __future__ import annotations

CANVAS = ".viewer:not(.empty) canvas"  # the canvas of every open viewer

DRAWN = """(selector) => {
  const canvases = [...document.querySelectorAll(selector)];
  return canvases.length > 0 && canvases.every((c) => c.dataset.drawn === 'current');
}"""


def wait_drawn(page, count: int = 1, timeout: float = 10_000) -> None:
    """`count` viewers are open and each has drawn the frame it should show."""
    page.wait_for_function(f"() => document.querySelectorAll('{CANVAS}').length === {count}", timeout=timeout)
    page.wait_for_function(DRAWN, arg=CANVAS, timeout=timeout)


def row(page, patient_id: str):
    """The study list's row of the study with this Patient ID."""
    return page.locator("#study-rows tr", has_text=patient_id)
