"""Accessibility of the web UI in Chromium: axe-core finds no violation in the database window, the
viewers, the menu, the panels and the dialogs; the study table works from the keyboard alone (an
ARIA grid with aria-selected and aria-sort); dialogs keep the focus inside and give it back;
notices and the connection state are live regions that say what they mean in words."""

from __future__ import annotations

import pytest

from helpers.axe import assert_accessible
from helpers.polling import eventually
from helpers.ui import row, wait_drawn

pytestmark = pytest.mark.ui

CT = "1CT1"  # tests/ui/conftest.py's samples, by Patient ID
MR_SMALL = "4MR1"


def focused_id(page) -> str:
    return page.evaluate("document.activeElement.id")


def selected_rows(page) -> list[str]:
    """Patient IDs of the rows the grid marks aria-selected."""
    return page.evaluate("[...document.querySelectorAll('#study-rows tr[aria-selected=true]')]"
                         ".map((tr) => tr.cells[1].textContent)")


def wait_selected(page, patient_ids: list[str]) -> None:
    page.wait_for_function("(ids) => JSON.stringify([...document.querySelectorAll('#study-rows tr[aria-selected=true]')]"
                           ".map((tr) => tr.cells[1].textContent)) === JSON.stringify(ids)", arg=patient_ids)


def test_axe_finds_no_violation_in_the_database_window_viewers_menu_panels_and_dialogs(page, workspace):
    row(page, CT).click()
    page.wait_for_selector("#series-thumbs .thumb img")
    assert_accessible(page, "the database window")
    row(page, CT).click(button="right")
    page.wait_for_selector("#context-menu:not([hidden])")
    assert_accessible(page, "the context menu")
    page.keyboard.press("Escape")
    page.keyboard.press("Delete")
    page.wait_for_selector("#confirm:not([hidden])")
    assert_accessible(page, "the confirm dialog")
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    page.wait_for_selector("#help:not([hidden])")
    assert_accessible(page, "the help dialog")
    page.keyboard.press("Escape")
    page.keyboard.press("q")
    page.wait_for_selector("#query:not([hidden])")
    page.locator("#activity-button").click()
    page.wait_for_selector("#activity:not([hidden])")
    assert_accessible(page, "the query and activity panels")
    page.locator("#query-close").click()
    page.locator("#activity-close").click()
    row(page, MR_SMALL).click(modifiers=["Control"])
    page.locator("#open-selected").click()
    wait_drawn(page, count=2)
    assert_accessible(page, "two viewers")
    label = page.locator(".viewer:not(.empty) canvas").first.get_attribute("aria-label")
    assert "image 1 of 1" in label and page.locator(".viewer canvas[role=img]").count() == 2


def test_the_study_table_is_a_grid_the_keyboard_moves_through_and_opens(page, workspace):
    table = page.locator("#study-table")
    assert table.get_attribute("role") == "grid" and table.get_attribute("aria-multiselectable") == "true"
    ids = page.locator("#study-rows tr td:nth-child(2)").all_inner_texts()
    assert len(ids) >= 4
    table.focus()
    page.keyboard.press("ArrowDown")  # nothing selected yet: the first row
    wait_selected(page, ids[:1])
    page.keyboard.press("ArrowDown")
    wait_selected(page, ids[1:2])
    page.keyboard.press("Shift+ArrowDown")  # extends from the anchor
    wait_selected(page, ids[1:3])
    active = page.locator("#" + table.get_attribute("aria-activedescendant"))
    assert active.locator("td").nth(1).inner_text() == ids[2]  # the grid's active row: the one moved to
    assert focused_id(page) == "study-table"
    eventually(lambda: len(workspace.db_window.selected_study_uids) == 2, message="two studies selected")
    page.keyboard.press("End")
    wait_selected(page, ids[-1:])
    page.keyboard.press("Home")
    wait_selected(page, ids[:1])
    assert page.locator("#study-rows tr[aria-selected=false]").count() == len(ids) - 1
    page.keyboard.press("ArrowDown")
    wait_selected(page, ids[1:2])
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-mode='viewers'] .viewer:not(.empty) canvas")
    viewers = eventually(workspace.open_viewers, message="a viewer open")
    assert viewers[0].series.study_uid == page.locator("#study-rows tr").nth(1).get_attribute("data-uid")


def test_sorting_from_the_keyboard_sets_aria_sort_and_a_focused_button_keeps_its_enter(page, workspace):
    header = page.locator("#study-table th[data-sort='patientID']")
    assert header.get_attribute("aria-sort") == "none"
    assert page.locator("#study-table th[data-sort='date']").get_attribute("aria-sort") == "descending"
    header.locator("button").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector(\"th[data-sort='patientID']\").ariaSort === 'ascending'")
    assert page.locator("#study-table th[data-sort='date']").get_attribute("aria-sort") == "none"
    ids = page.locator("#study-rows tr td:nth-child(2)").all_inner_texts()
    assert ids == sorted(ids, key=str.casefold)
    page.keyboard.press(" ")
    page.wait_for_function("() => document.querySelector(\"th[data-sort='patientID']\").ariaSort === 'descending'")
    row(page, CT).click()
    page.locator("#help-button").focus()
    page.keyboard.press("Enter")  # presses the button: the help opens, the selected study does not
    page.wait_for_selector("#help:not([hidden])")
    assert page.evaluate("document.body.dataset.mode") == "db" and not workspace.open_viewers()


def test_dialogs_keep_the_focus_inside_and_give_it_back(page, workspace, ui_server):
    page.locator("#new-album").click()
    dialog = page.locator("#prompt [role=dialog]")
    assert dialog.get_attribute("aria-modal") == "true" and dialog.get_attribute("aria-labelledby") == "prompt-text"
    assert focused_id(page) == "prompt-input"
    order = []
    for _ in range(4):
        page.keyboard.press("Tab")
        order.append(focused_id(page))
    assert order == ["prompt-cancel", "prompt-ok", "prompt-input", "prompt-cancel"]  # wraps, never leaves
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert focused_id(page) == "prompt-ok"  # backwards it wraps too
    page.mouse.click(5, 5)  # on the backdrop: the focus stays in the dialog
    assert page.evaluate("document.querySelector('#prompt').contains(document.activeElement)")
    page.keyboard.press("Escape")
    assert page.locator("#prompt").is_hidden() and focused_id(page) == "new-album"  # back to the opener
    row(page, CT).click()
    page.keyboard.press("Delete")
    page.wait_for_selector("#confirm:not([hidden])")
    assert page.locator("#confirm [role=alertdialog]").get_attribute("aria-modal") == "true"
    assert focused_id(page) == "confirm-cancel"  # Enter does not delete
    page.keyboard.press("Tab")
    assert focused_id(page) == "confirm-ok"
    page.keyboard.press("Tab")
    assert focused_id(page) == "confirm-cancel"
    page.keyboard.press("Escape")
    assert page.locator("#confirm").is_hidden() and focused_id(page) == "study-table"
    assert page.evaluate("document.body.dataset.mode") == "db"
    from viewbox.library import queries

    assert queries.find_studies(ui_server.workstation.database, patient_id=CT)  # nothing deleted


def test_notices_and_the_connection_state_are_live_regions_in_words(browser, ui_server, workspace):
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    try:
        page = context.new_page()
        page.route("**/api/ui/events", lambda route: route.abort())  # the live stream cannot connect
        page.goto(ui_server.base_url + "/")
        connection = page.locator("#connection")
        assert connection.get_attribute("role") == "status"
        page.wait_for_function("() => document.querySelector('#connection .label').textContent.startsWith('Offline')")
        assert connection.locator(".label").is_visible()  # said in words, not only by the dot's colour
        page.unroute("**/api/ui/events")  # EventSource retries by itself
        page.wait_for_selector("#connection.live", timeout=15_000)
        assert connection.locator(".label").text_content() == "Live"
        page.wait_for_selector("body[data-ready='1']")
        page.locator("#new-album").click()
        page.locator("#prompt-input").fill("Database")  # a name taken: refused, with the reason
        page.keyboard.press("Enter")
        toast = page.locator("[role=alert] #toast")
        toast.wait_for()
        assert "Cannot create the album" in toast.inner_text()
    finally:
        context.close()
