// The page: database window, tiled 2D viewers, activity panel. It draws the workstation's
// workspace as the server reports it and sends every user action back, so a RIS call and a click
// are the same kind of change and every open tab follows both.
//
// App holds what the page shares (the workspace, the mode, the Locations) and composes the
// components, each a module with its own state: the study list, album list and series panel of
// the database window, the study actions (menu, open, delete, send), the viewer area with its
// toolbar, the activity panel, the importer, the query panel, dialogs, notices and shortcuts.

import { get, listen } from "./api.js";
import { ActivityPanel } from "./activity.js";
import { AlbumList } from "./albums.js";
import { Dialogs } from "./dialogs.js";
import { $ } from "./dom.js";
import { Importer } from "./importer.js";
import { controlOwns, Shortcuts } from "./keyboard.js";
import { Notices } from "./notices.js";
import { QueryPanel } from "./query.js";
import { SeriesCatalog } from "./series.js";
import { SeriesPanel } from "./series-panel.js";
import { StudyActions } from "./study-actions.js";
import { StudyList } from "./study-list.js";
import { ViewerArea } from "./viewers.js";

const LIBRARY_SETTLE_MS = 250; // a burst of library events (an import) reloads the lists once

class App {
  constructor() {
    this.workspace = null; // the workstation's display state, as last received
    this.seenVersion = 0; // the workspace version our own last change produced
    this.mode = "db"; // "db": the database window; "viewers": the 2D viewers
    this.modeChanges = 0; // counts setMode calls (an open's reply switches only if none came between)
    this.locations = []; // DICOM Locations studies can be sent to or queried
    this.libraryTimer = null;
    this.notices = new Notices($("toast"), $("connection"));
    this.dialogs = new Dialogs();
    this.shortcuts = new Shortcuts();
    this.series = new SeriesCatalog();
    this.albums = new AlbumList(this);
    this.studyList = new StudyList(this);
    this.seriesPanel = new SeriesPanel(this);
    this.actions = new StudyActions(this);
    this.viewers = new ViewerArea(this);
    this.activity = new ActivityPanel(this);
    this.importer = new Importer(this);
    this.queryPanel = new QueryPanel(this);
  }

  async start() {
    this.bind();
    this.setMode("db");
    listen(
      {
        workspace: (data) => this.applyWorkspace(data.workspace),
        job: (job) => this.activity.applyJob(job),
        library: () => this.libraryChanged(),
        measurements: (event) => this.viewers.measurementsChanged(event),
        resync: () => this.refresh(),
      },
      (live) => {
        this.notices.setLive(live);
        if (live) this.refresh();
      },
    );
    await this.refresh();
  }

  async refresh() {
    try {
      const state = await get("state", this.studyList.params());
      this.series.remember(state.series);
      this.activity.load(state.jobs);
      this.workspace = null;
      this.seenVersion = 0;
      this.applyWorkspace(state.workspace);
      this.studyList.show(state.studies);
      this.albums.load();
      this.loadLocations();
      document.body.dataset.ready = "1";
    } catch (error) {
      this.notices.show(`Cannot reach the workstation: ${error.message}`);
    }
  }

  async loadLocations() {
    try {
      this.locations = await get("locations");
      if (this.queryPanel.isOpen) this.queryPanel.fillLocations(); // opened before they arrived
    } catch (error) {
      this.notices.show(error.message);
    }
  }

  // The reply to one of our own changes carries the workspace version it produced: events older
  // than that are overtaken and dropped.
  confirmed(version) {
    this.seenVersion = Math.max(this.seenVersion, version || 0);
  }

  applyWorkspace(snapshot) {
    const old = this.workspace;
    // an older event overtaken by a newer one, or by our own change's reply (events and replies
    // travel separately: a drag's early step must not undo its last one)
    if ((old && snapshot.version < old.version) || snapshot.version < this.seenVersion) return;
    if (old && this.studyList.selectionBusy) {
      // the user's selection wins
      snapshot.db_window = {
        ...snapshot.db_window,
        selected_study_uids: old.db_window.selected_study_uids,
        selected_series_uids: old.db_window.selected_series_uids,
      };
    }
    this.workspace = snapshot;
    document.body.dataset.version = snapshot.version;
    const db = snapshot.db_window,
      oldDb = old && old.db_window;
    const listChanged = ["album", "filter_field", "filter_value", "database"].some(
      (k) => !oldDb || oldDb[k] !== db[k],
    );
    if (listChanged) {
      if (oldDb) {
        this.studyList.reload();
        this.albums.load();
      }
      this.studyList.renderFilter(db);
      this.albums.markCurrent(db.album);
    }
    this.studyList.renderSelection();
    this.viewers.sync(snapshot);
    this.studyList.renderOpenedMarks();
  }

  libraryChanged() {
    clearTimeout(this.libraryTimer);
    this.libraryTimer = setTimeout(() => {
      this.series.libraryChanged();
      this.seriesPanel.invalidate();
      this.studyList.load();
      this.albums.load();
      this.viewers.refreshStrip();
    }, LIBRARY_SETTLE_MS);
  }

  setMode(mode) {
    if (mode === "viewers" && this.viewers.count === 0) mode = "db";
    this.modeChanges++;
    this.mode = mode;
    document.body.classList.toggle("mode-db", mode === "db");
    document.body.classList.toggle("mode-viewers", mode === "viewers");
    document.body.dataset.mode = mode;
    $("db-window").hidden = mode !== "db";
    $("viewer-area").hidden = mode !== "viewers";
    for (const [id, on] of [
      ["mode-db", mode === "db"],
      ["mode-viewers", mode === "viewers"],
    ]) {
      $(id).classList.toggle("active", on);
      $(id).setAttribute("aria-pressed", String(on));
    }
    if (mode === "viewers") this.viewers.update();
  }

  bind() {
    $("mode-db").addEventListener("click", () => this.setMode("db"));
    $("mode-viewers").addEventListener("click", () => this.setMode("viewers"));
    $("help-button").addEventListener("click", () => this.dialogs.help());
    $("activity-close").addEventListener("click", () => this.activity.hide());
    this.studyList.bind(this.shortcuts);
    this.albums.bind();
    this.actions.bind(this.shortcuts);
    this.viewers.bind(this.shortcuts);
    this.activity.bind();
    this.importer.bind();
    this.queryPanel.bind(this.shortcuts);
    document.addEventListener("keydown", (e) => this.key(e));
  }

  // Keys for the whole page: Esc switches mode (or closes the query panel), ? opens the help, the
  // rest goes to the current mode's shortcuts. A modal dialog or the menu keeps its keys.
  key(e) {
    if (this.dialogs.isOpen) return;
    const typing = e.target.matches && e.target.matches("input[type=search], input[type=text]");
    if (typing) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    if (controlOwns(e)) return;
    if (e.key === "?") {
      e.preventDefault();
      this.dialogs.help();
    } else if (e.key === "Escape" && this.queryPanel.isOpen) {
      e.preventDefault();
      this.queryPanel.close();
    } else if (e.key === "Escape") {
      e.preventDefault();
      this.setMode(this.mode === "db" ? "viewers" : "db");
    } else {
      this.shortcuts.dispatch(this.mode, e);
    }
  }
}

const app = new App();
window.viewbox = app; // for the UI tests and for debugging in the console
app.start();
