// The 2D viewers' area: one ViewerView per viewer of the workspace, tiled as the workspace says
// (empty cells fill the grid), the focused viewer's series strip and the toolbar. It is also the
// host each ViewerView talks to (focus, series details, notices, confirmed versions).

import { post } from "./api.js";
import { $ } from "./dom.js";
import { seriesThumb } from "./series.js";
import { ViewerView } from "./viewer.js";
import { ViewerToolbar } from "./viewer-toolbar.js";
import { installMeasureTools } from "./measure.js";
import { installTagBrowser } from "./tags.js";

export class ViewerArea {
  constructor(app) {
    this.app = app;
    this.grid = $("viewer-grid");
    this.strip = $("series-strip");
    this.views = new Map(); // viewer id → ViewerView
    this.knownIds = new Set(); // every viewer id seen: a new one switches to the viewers
    this.stripKey = null; // what the series strip shows (redrawn only when it changes)
    this.toolbar = new ViewerToolbar(app, this);
  }

  get count() {
    return this.views.size;
  }

  bind(shortcuts) {
    this.toolbar.bind(shortcuts);
    installMeasureTools(this, shortcuts);
    installTagBrowser(this);
    const focused = (action) => () => {
      const view = this.focused();
      if (view) action(view);
    };
    shortcuts.add(
      "viewers",
      ["ArrowDown", "ArrowRight"],
      focused((v) => v.step(1)),
    );
    shortcuts.add(
      "viewers",
      ["ArrowUp", "ArrowLeft"],
      focused((v) => v.step(-1)),
    );
    shortcuts.add(
      "viewers",
      ["PageDown"],
      focused((v) => v.step(10)),
    );
    shortcuts.add(
      "viewers",
      ["PageUp"],
      focused((v) => v.step(-10)),
    );
    shortcuts.add(
      "viewers",
      ["Home"],
      focused((v) => v.toIndex(0)),
    );
    shortcuts.add(
      "viewers",
      ["End"],
      focused((v) => v.toIndex(v.count - 1)),
    );
    shortcuts.add(
      "viewers",
      ["+", "="],
      focused((v) => v.zoomBy(1.25)),
    );
    shortcuts.add(
      "viewers",
      ["-"],
      focused((v) => v.zoomBy(0.8)),
    );
    shortcuts.add("viewers", ["Tab"], (e) => this.focusNext(e.shiftKey ? -1 : 1));
  }

  // The workspace's viewers, tiling and focus (after any workspace change).
  sync(snapshot) {
    const ids = new Set(snapshot.viewers.map((v) => v.id));
    for (const [id, view] of this.views)
      if (!ids.has(id)) {
        view.destroy();
        this.views.delete(id);
      }
    let opened = false;
    for (const state of snapshot.viewers) {
      let view = this.views.get(state.id);
      if (!view) {
        view = new ViewerView(this, state);
        this.views.set(state.id, view);
        if (!this.knownIds.has(state.id)) opened = true;
        this.knownIds.add(state.id);
      } else {
        view.applyServer(state);
      }
      const pk = state.series.series_pk;
      if (!this.app.series.info(pk)) this.app.series.ensure(pk).then(() => view.overlay());
    }
    this.layout(snapshot);
    $("viewer-count").textContent = String(snapshot.viewers.length);
    if (snapshot.viewers.length === 0) this.app.setMode("db");
    else if (opened) this.app.setMode("viewers");
    for (const view of this.views.values()) {
      view.setFocused(view.id === snapshot.focused_viewer);
      view.update();
    }
    this.renderStrip();
    this.toolbar.render();
  }

  layout({ rows, columns, viewers }) {
    const shownRows = Math.max(rows, Math.ceil(viewers.length / columns));
    this.grid.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
    this.grid.style.gridTemplateRows = `repeat(${shownRows}, minmax(0, 1fr))`;
    const cells = [];
    for (const state of viewers) cells.push(this.views.get(state.id).el);
    for (const old of this.grid.querySelectorAll(".viewer.empty"))
      if (cells.length < shownRows * columns) cells.push(old);
    while (cells.length < shownRows * columns) {
      const empty = document.createElement("div");
      empty.className = "viewer empty";
      empty.textContent = "empty";
      cells.push(empty);
    }
    const grid = this.grid;
    const same = cells.length === grid.children.length && cells.every((cell, i) => cell === grid.children[i]);
    if (!same) grid.replaceChildren(...cells);
    this.toolbar.renderTiling(rows, columns);
  }

  // Every viewer redraws (the area was hidden: cells had no size).
  update() {
    for (const view of this.views.values()) view.update();
  }

  focused() {
    const workspace = this.app.workspace;
    return this.views.get(workspace && workspace.focused_viewer) || this.views.values().next().value;
  }

  focusViewer(id) {
    const workspace = this.app.workspace;
    if (!workspace || workspace.focused_viewer === id) return;
    workspace.focused_viewer = id;
    for (const view of this.views.values()) view.setFocused(view.id === id);
    this.renderStrip();
    this.toolbar.render();
    post(`viewers/${id}/focus`).catch((e) => this.app.notices.show(e.message));
  }

  // Tab / Shift+Tab: the next / previous viewer in the workspace's order.
  focusNext(delta) {
    const view = this.focused();
    const ids = this.app.workspace.viewers.map((v) => v.id);
    if (view && ids.length) this.focusViewer(ids[(ids.indexOf(view.id) + delta + ids.length) % ids.length]);
  }

  close(view) {
    post(`viewers/${view.id}/close`).catch((e) => this.app.notices.show(e.message));
  }

  // -- what a ViewerView asks of its host ------------------------------------------------------------
  seriesInfo(pk) {
    return this.app.series.info(pk);
  }

  confirmed(version) {
    this.app.confirmed(version);
  }

  toast(message) {
    this.app.notices.show(message);
  }

  // Measurements changed somewhere (any tab, the RIS, an SR): viewers of that study reload them.
  measurementsChanged(event) {
    for (const view of this.views.values()) view.measure.changed(event);
  }

  // A viewer's frame or cine state changed: the toolbar follows the focused one.
  viewerChanged(view) {
    if (view === this.focused()) this.toolbar.render();
  }

  // -- the series strip ------------------------------------------------------------------------------
  // The library changed: the focused study's series may have too.
  refreshStrip() {
    this.stripKey = null;
    this.renderStrip();
  }

  async renderStrip() {
    const strip = this.strip;
    const view = this.focused();
    if (!view) {
      strip.replaceChildren();
      strip.dataset.study = "";
      this.stripKey = null;
      return;
    }
    const studyPk = view.local.series.study_pk;
    const current = view.local.series.series_pk;
    const key = `${view.id}:${studyPk}:${current}`;
    if (this.stripKey === key) return; // unchanged: keep the thumbnails (no churn while scrolling)
    this.stripKey = key;
    const data = await this.app.series.seriesOfStudy(studyPk);
    if (this.focused() !== view) return;
    strip.dataset.study = String(studyPk);
    strip.replaceChildren(
      ...data.series.map((s) => {
        const el = seriesThumb(s);
        el.classList.toggle("current", s.pk === current);
        if (s.pk === current) el.setAttribute("aria-current", "true");
        el.addEventListener("click", () =>
          post(`viewers/${view.id}/series`, { series_pk: s.pk }).catch((e) =>
            this.app.notices.show(e.message),
          ),
        );
        return el;
      }),
    );
  }
}
