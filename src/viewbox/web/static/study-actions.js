// What can be done to studies of the database window (buttons, keys, the context menu): open,
// add to or remove from an album, send to a DICOM Location, delete.

import { post } from "./api.js";
import { isRegularAlbum } from "./albums.js";
import { $ } from "./dom.js";
import { Menu } from "./menu.js";

export class StudyActions {
  constructor(app) {
    this.app = app;
    this.menu = new Menu($("context-menu"));
  }

  bind(shortcuts) {
    const list = this.app.studyList;
    const openSelection = () => this.open(list.selectedStudies().map((s) => s.pk));
    const menuFromKeyboard = () => this.openMenu(undefined, undefined, true);
    $("open-selected").addEventListener("click", openSelection);
    $("delete-selected").addEventListener("click", () => this.deleteSelected());
    shortcuts.add("db", ["Enter"], openSelection);
    shortcuts.add("db", ["Delete", "Backspace"], () => this.deleteSelected());
    shortcuts.add("db", ["m", "M", "ContextMenu"], menuFromKeyboard);
  }

  async open(pks) {
    if (!pks.length) return;
    await this.openThenShow(pks.length === 1 ? { study_pk: pks[0] } : { study_pks: pks });
  }

  async openSeries(pks) {
    await this.openThenShow({ series_pks: pks });
  }

  // The live event usually shows the new viewers first; the reply switches only if nothing (the
  // event, or the user pressing Esc meanwhile) has changed the mode since the request.
  async openThenShow(body) {
    const before = this.app.modeChanges;
    try {
      await post("open", body);
      if (this.app.modeChanges === before) this.app.setMode("viewers");
    } catch (error) {
      this.app.notices.show(`Cannot open: ${error.message}`);
    }
  }

  async deleteSelected() {
    const studies = this.app.studyList.selectedStudies();
    if (!studies.length) return;
    const names = studies
      .slice(0, 3)
      .map((s) => s.name || s.patient_id || s.uid)
      .join(", ");
    const count = `${studies.length} ${studies.length === 1 ? "study" : "studies"}`;
    const text =
      `Delete ${count} (${names}${studies.length > 3 ? ", …" : ""})? ` +
      "Their images are removed from the database and from the disk.";
    if (!(await this.app.dialogs.confirm(text))) return;
    await this.app.notices.attempt("delete", () => post("delete", { study_pks: studies.map((s) => s.pk) }));
  }

  async sendTo(location, pks) {
    this.app.activity.show();
    const reply = await this.app.notices.attempt(`send to ${location}`, () =>
      post("send", { location, study_pks: pks }),
    );
    if (reply) for (const job of reply.jobs) this.app.activity.applyJob(job);
  }

  // The menu of the selected studies (right-click, M or Shift+F10); at the first selected row when
  // opened from the keyboard.
  openMenu(x, y, fromKeyboard) {
    const studies = this.app.studyList.selectedStudies();
    if (!studies.length) return;
    if (x === undefined) {
      const row = $("study-rows").querySelector("tr.selected");
      const box = (row || $("study-table-wrap")).getBoundingClientRect();
      [x, y] = row ? [box.left + 40, box.bottom] : [box.left + box.width / 2, box.top + box.height / 2];
    }
    this.menu.open(this.menuItems(studies.map((s) => s.pk)), x, y, { fromKeyboard });
  }

  menuItems(pks) {
    const albums = this.app.albums;
    const current = albums.find(this.app.workspace.db_window.album);
    const regular = albums.regular();
    const locations = this.app.locations;
    const noLocations = !locations.length;
    return [
      { label: "Open", action: () => this.open(pks) },
      {
        label: "Add to album",
        items: [
          ...regular.map((album) => ({ label: album.name, action: () => albums.add(album.name, pks) })),
          ...(regular.length ? [{ separator: true }] : []),
          { label: "New album…", action: () => albums.addToNew(pks) },
        ],
      },
      ...(isRegularAlbum(current)
        ? [{ label: `Remove from album “${current.name}”`, action: () => albums.remove(current.name, pks) }]
        : []),
      {
        label: "Send to",
        disabled: noLocations,
        title: noLocations ? "No DICOM Locations are configured (locations in the settings)" : "",
        items: locations.map((loc) => ({
          label: loc.name,
          title: `${loc.ae_title}@${loc.host}:${loc.port}`,
          action: () => this.sendTo(loc.name, pks),
        })),
      },
      { separator: true },
      { label: "Delete…", action: () => this.deleteSelected() },
    ];
  }
}
