// The page: database window, tiled 2D viewers, activity panel. It draws the workstation's
// workspace as the server reports it and sends every user action back, so a RIS call and a click
// are the same kind of change and every open tab follows both.

import { esc, get, listen, post, upload } from "./api.js";
import { Menu } from "./menu.js";
import { QueryPanel } from "./query.js";
import { presetsFor, ViewerView } from "./viewer.js";

const $ = (id) => document.getElementById(id);
const FILTER_NAMES = { PatientName: "Patient name", PatientID: "Patient ID" };
const ALL_STUDIES = "Database"; // the album list's entry for every study (not an album)
const isRegularAlbum = (album) => !!album && !album.smart && album.name !== ALL_STUDIES;

class App {
  constructor() {
    this.workspace = null;
    this.seenVersion = 0; // the workspace version our own last change produced
    this.studies = { rows: [], total: 0, offset: 0 };
    this.query = { q: "", sort: "date", order: "desc", offset: 0 };
    this.series = new Map(); // series pk → info (with its study)
    this.studySeries = new Map(); // study pk → promise of its series list
    this.viewers = new Map(); // viewer id → ViewerView
    this.knownViewerIds = new Set();
    this.jobs = new Map();
    this.mode = "db";
    this.panelStudyPk = null; // whose series the database window shows
    this.anchor = null; // for shift-click ranges
    this.albums = []; // the album list as last loaded (name, smart, count)
    this.locations = []; // DICOM Locations the studies can be sent to
    this.menu = new Menu($("context-menu"));
    this.queryPanel = new QueryPanel(this);
  }

  async start() {
    this.bind();
    this.setMode("db");
    listen(
      {
        workspace: (data) => this.applyWorkspace(data.workspace),
        job: (job) => this.applyJob(job),
        library: () => this.libraryChanged(),
        resync: () => this.refresh(),
      },
      (live) => {
        $("connection").classList.toggle("live", live);
        if (live) this.refresh();
      },
    );
    await this.refresh();
  }

  async refresh() {
    try {
      const state = await get("state", this.listParams());
      for (const [pk, info] of Object.entries(state.series)) this.series.set(Number(pk), info);
      for (const job of state.jobs.slice().reverse()) this.jobs.set(job.jobID, job);
      this.renderJobs();
      this.workspace = null;
      this.seenVersion = 0;
      this.applyWorkspace(state.workspace);
      this.setStudies(state.studies);
      this.loadAlbums();
      this.loadLocations();
      document.body.dataset.ready = "1";
    } catch (error) {
      this.toast(`Cannot reach the workstation: ${error.message}`);
    }
  }

  // -- workspace -------------------------------------------------------------------------------
  applyWorkspace(snapshot) {
    const old = this.workspace;
    // an older event overtaken by a newer one, or by our own change's reply (events and replies
    // travel separately: a drag's early step must not undo its last one)
    if ((old && snapshot.version < old.version) || snapshot.version < this.seenVersion) return;
    if (old && (this.selectionInFlight || this.pendingSelection)) {
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
    if (
      !oldDb ||
      oldDb.album !== db.album ||
      oldDb.filter_field !== db.filter_field ||
      oldDb.filter_value !== db.filter_value ||
      oldDb.database !== db.database
    ) {
      if (oldDb) {
        this.query.offset = 0;
        this.loadStudies();
        this.loadAlbums();
      }
      this.renderFilter();
    }
    this.renderSelection();
    this.syncViewers();
  }

  syncViewers() {
    const snapshot = this.workspace;
    const ids = new Set(snapshot.viewers.map((v) => v.id));
    for (const [id, view] of this.viewers)
      if (!ids.has(id)) {
        view.destroy();
        this.viewers.delete(id);
      }
    let opened = false;
    for (const state of snapshot.viewers) {
      let view = this.viewers.get(state.id);
      if (!view) {
        view = new ViewerView(this, state);
        this.viewers.set(state.id, view);
        if (!this.knownViewerIds.has(state.id)) opened = true;
        this.knownViewerIds.add(state.id);
      } else {
        view.applyServer(state);
      }
      if (!this.series.has(state.series.series_pk))
        this.ensureSeries(state.series.series_pk).then(() => view.overlay());
    }
    this.layoutGrid();
    $("viewer-count").textContent = String(snapshot.viewers.length);
    if (snapshot.viewers.length === 0) this.setMode("db");
    else if (opened) this.setMode("viewers");
    for (const view of this.viewers.values()) {
      view.setFocused(view.id === snapshot.focused_viewer);
      view.update();
    }
    this.renderStrip();
    this.renderViewerTools();
    this.renderOpenedMarks();
  }

  layoutGrid() {
    const grid = $("viewer-grid");
    const { rows, columns, viewers } = this.workspace;
    const shownRows = Math.max(rows, Math.ceil(viewers.length / columns));
    grid.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
    grid.style.gridTemplateRows = `repeat(${shownRows}, minmax(0, 1fr))`;
    const cells = [];
    for (const state of viewers) cells.push(this.viewers.get(state.id).el);
    for (const old of grid.querySelectorAll(".viewer.empty"))
      if (cells.length < shownRows * columns) cells.push(old);
    while (cells.length < shownRows * columns) {
      const empty = document.createElement("div");
      empty.className = "viewer empty";
      empty.textContent = "empty";
      cells.push(empty);
    }
    const same = cells.length === grid.children.length && cells.every((cell, i) => cell === grid.children[i]);
    if (!same) grid.replaceChildren(...cells);
    document
      .querySelectorAll("#tiling button")
      .forEach((b) => b.classList.toggle("active", b.dataset.tiling === `${rows}x${columns}`));
  }

  focusedView() {
    return (
      this.viewers.get(this.workspace && this.workspace.focused_viewer) || this.viewers.values().next().value
    );
  }

  focusViewer(id) {
    if (!this.workspace || this.workspace.focused_viewer === id) return;
    this.workspace.focused_viewer = id;
    for (const view of this.viewers.values()) view.setFocused(view.id === id);
    this.renderStrip();
    this.renderViewerTools();
    post(`viewers/${id}/focus`).catch((e) => this.toast(e.message));
  }

  seriesInfo(pk) {
    return this.series.get(pk);
  }

  async ensureSeries(pk) {
    if (this.series.has(pk)) return this.series.get(pk);
    try {
      const info = await get(`series/${pk}`);
      this.series.set(pk, info);
      return info;
    } catch {
      return null;
    }
  }

  seriesOfStudy(studyPk) {
    if (!this.studySeries.has(studyPk)) {
      this.studySeries.set(
        studyPk,
        get(`studies/${studyPk}/series`).catch(() => {
          this.studySeries.delete(studyPk);
          return { series: [] };
        }),
      );
    }
    return this.studySeries.get(studyPk);
  }

  async renderStrip() {
    const strip = $("series-strip");
    const view = this.focusedView();
    if (!view) {
      strip.replaceChildren();
      strip.dataset.study = "";
      this.stripKey = null;
      return;
    }
    const studyPk = view.local.series.study_pk;
    const current = view.local.series.series_pk;
    const key = `${view.id}:${studyPk}:${current}:${this.libraryVersion || 0}`;
    if (this.stripKey === key) return; // unchanged: keep the thumbnails (no churn while scrolling)
    this.stripKey = key;
    const data = await this.seriesOfStudy(studyPk);
    if (this.focusedView() !== view) return;
    strip.dataset.study = String(studyPk);
    strip.replaceChildren(
      ...data.series.map((s) => {
        const el = thumb(s);
        el.classList.toggle("current", s.pk === current);
        el.addEventListener("click", () =>
          post(`viewers/${view.id}/series`, { series_pk: s.pk }).catch((e) => this.toast(e.message)),
        );
        return el;
      }),
    );
  }

  renderViewerTools() {
    const view = this.focusedView();
    const select = $("preset");
    const modality = view ? view.local.series.modality || "" : "";
    const fileWindows = (view && view.frame && view.frame.fileWindows) || [];
    const presets = presetsFor(modality, fileWindows);
    const signature = JSON.stringify(presets);
    if (this.presetSignature !== signature) this.presetSignature = signature;
    else if (select.options.length) {
      $("invert").classList.toggle("active", !!(view && view.local.invert));
      this.cineChanged();
      return;
    }
    select.replaceChildren(
      new Option("Window presets…", ""),
      ...presets.map(
        ([name, c, w], i) =>
          new Option(`${i + 1}  ${name}${typeof c === "number" ? ` (${c}/${w})` : ""}`, String(i)),
      ),
    );
    this.presets = presets;
    $("invert").classList.toggle("active", !!(view && view.local.invert));
    this.cineChanged();
  }

  cineChanged() {
    const view = this.focusedView();
    $("cine").textContent = view && view.cine ? "■ Stop" : "▶ Play";
  }

  applyPreset(index) {
    const view = this.focusedView();
    const preset = this.presets && this.presets[index];
    if (view && preset) view.applyPreset(preset[1], preset[2]);
  }

  setMode(mode) {
    if (mode === "viewers" && this.viewers.size === 0) mode = "db";
    this.modeChanges = (this.modeChanges || 0) + 1;
    this.mode = mode;
    document.body.classList.toggle("mode-db", mode === "db");
    document.body.classList.toggle("mode-viewers", mode === "viewers");
    document.body.dataset.mode = mode;
    $("db-window").hidden = mode !== "db";
    $("viewer-area").hidden = mode !== "viewers";
    $("mode-db").classList.toggle("active", mode === "db");
    $("mode-viewers").classList.toggle("active", mode === "viewers");
    if (mode === "viewers") for (const view of this.viewers.values()) view.update();
  }

  // -- database window -------------------------------------------------------------------------
  listParams() {
    return { q: this.query.q, sort: this.query.sort, order: this.query.order, offset: this.query.offset };
  }

  async loadStudies() {
    const token = (this.studiesToken = (this.studiesToken || 0) + 1);
    try {
      const studies = await get("studies", this.listParams());
      if (token === this.studiesToken) this.setStudies(studies);
    } catch (error) {
      this.toast(error.message);
    }
  }

  setStudies(studies) {
    this.studies = studies;
    const body = $("study-rows");
    body.innerHTML = studies.rows
      .map(
        (s, i) => `<tr data-index="${i}" data-pk="${s.pk}" data-uid="${esc(s.uid)}">
      <td>${esc(s.name)}</td><td>${esc(s.patient_id)}</td><td>${esc(s.birth_date)}</td><td>${esc(s.date)}</td>
      <td>${esc(s.modality)}</td><td>${esc(s.description)}</td><td>${esc(s.accession)}</td><td class="num">${s.images}</td></tr>`,
      )
      .join("");
    $("study-empty").hidden = studies.rows.length > 0;
    const end = studies.offset + studies.rows.length;
    $("page-text").textContent = studies.total
      ? `${studies.offset + 1}–${end} of ${studies.total} studies`
      : "0 studies";
    $("page-prev").disabled = studies.offset === 0;
    $("page-next").disabled = end >= studies.total;
    document.querySelectorAll("#study-table th").forEach((th) => {
      th.classList.toggle("sorted", th.dataset.sort === this.query.sort);
      th.classList.toggle("asc", this.query.order === "asc");
      th.classList.toggle("desc", this.query.order !== "asc");
    });
    this.renderSelection();
    this.renderOpenedMarks();
  }

  selectedUids() {
    return this.workspace ? this.workspace.db_window.selected_study_uids : [];
  }

  renderSelection() {
    const selected = new Set(this.selectedUids());
    let first = null;
    for (const row of $("study-rows").rows) {
      const on = selected.has(row.dataset.uid);
      row.classList.toggle("selected", on);
      if (on && first === null) first = Number(row.dataset.pk);
    }
    const panelStillSelected = this.studies.rows.some(
      (s) => s.pk === this.panelStudyPk && selected.has(s.uid),
    );
    const target = panelStillSelected ? this.panelStudyPk : first;
    if (target !== this.renderedPanel) this.renderSeriesPanel(target);
    const selectedSeries = new Set(this.workspace ? this.workspace.db_window.selected_series_uids : []);
    document
      .querySelectorAll("#series-thumbs .thumb")
      .forEach((el) => el.classList.toggle("selected", selectedSeries.has(el.dataset.uid)));
  }

  renderOpenedMarks() {
    const open = new Set((this.workspace ? this.workspace.viewers : []).map((v) => v.series.study_uid));
    for (const row of $("study-rows").rows) row.classList.toggle("opened", open.has(row.dataset.uid));
  }

  async renderSeriesPanel(studyPk) {
    this.renderedPanel = studyPk;
    this.panelStudyPk = studyPk;
    const title = $("series-title"),
      box = $("series-thumbs");
    if (studyPk === null || studyPk === undefined) {
      title.textContent = "Select a study to see its series";
      box.replaceChildren();
      return;
    }
    const data = await this.seriesOfStudy(studyPk);
    if (this.renderedPanel !== studyPk) return;
    const s = data.study;
    title.textContent = s
      ? `${s.name || "(no name)"} — ${s.description || "study"} — ${data.series.length} series`
      : "";
    const selectedSeries = new Set(this.workspace.db_window.selected_series_uids);
    box.replaceChildren(
      ...data.series.map((series) => {
        const el = thumb(series);
        el.classList.toggle("selected", selectedSeries.has(series.uid));
        el.addEventListener("click", () =>
          this.sendSelection({ study_uids: [s.uid], series_uids: [series.uid] }),
        );
        el.addEventListener("dblclick", () => this.openSeries([series.pk]));
        return el;
      }),
    );
  }

  clickRow(row, event) {
    const index = Number(row.dataset.index);
    const uid = row.dataset.uid;
    let uids;
    if (event.shiftKey && this.anchor !== null) {
      const [a, b] = [Math.min(this.anchor, index), Math.max(this.anchor, index)];
      uids = this.studies.rows.slice(a, b + 1).map((s) => s.uid);
    } else if (event.ctrlKey || event.metaKey) {
      const current = new Set(this.selectedUids());
      current.has(uid) ? current.delete(uid) : current.add(uid);
      uids = [...current];
      this.anchor = index;
    } else {
      uids = [uid];
      this.anchor = index;
    }
    this.panelStudyPk = Number(row.dataset.pk);
    this.select(uids);
  }

  select(uids) {
    this.workspace.db_window.selected_study_uids = uids; // drawn now, confirmed by the event
    this.workspace.db_window.selected_series_uids = [];
    this.renderSelection();
    this.sendSelection({ study_uids: uids });
  }

  // One selection request in flight, the latest waiting: fast clicks cannot arrive out of order,
  // and live events meanwhile do not undo the selection the user is making (applyWorkspace).
  async sendSelection(body) {
    this.pendingSelection = body;
    if (this.selectionInFlight) return;
    while (this.pendingSelection) {
      const next = this.pendingSelection;
      this.pendingSelection = null;
      this.selectionInFlight = true;
      try {
        const reply = await post("select", next);
        this.seenVersion = Math.max(this.seenVersion, reply.version || 0);
      } catch (error) {
        this.toast(error.message);
      } finally {
        this.selectionInFlight = false;
      }
    }
  }

  moveSelection(delta) {
    const rows = this.studies.rows;
    if (!rows.length) return;
    const selected = this.selectedUids();
    const last = selected.length ? rows.findIndex((s) => s.uid === selected[selected.length - 1]) : -1;
    const index = Math.max(0, Math.min(rows.length - 1, last + delta));
    this.anchor = index;
    this.panelStudyPk = rows[index].pk;
    this.select([rows[index].uid]);
    const row = $("study-rows").rows[index];
    if (row) row.scrollIntoView({ block: "nearest" });
  }

  selectedStudies() {
    const selected = new Set(this.selectedUids());
    return this.studies.rows.filter((s) => selected.has(s.uid));
  }

  async openStudies(pks) {
    if (!pks.length) return;
    await this.openThenShow(pks.length === 1 ? { study_pk: pks[0] } : { study_pks: pks });
  }

  async openSeries(pks) {
    await this.openThenShow({ series_pks: pks });
  }

  // The live event usually shows the new viewers first; the reply switches only if nothing (the
  // event, or the user pressing Esc meanwhile) has changed the mode since the request.
  async openThenShow(body) {
    const before = this.modeChanges;
    try {
      await post("open", body);
      if (this.modeChanges === before) this.setMode("viewers");
    } catch (error) {
      this.toast(`Cannot open: ${error.message}`);
    }
  }

  async deleteSelected() {
    const studies = this.selectedStudies();
    if (!studies.length) return;
    const names = studies
      .slice(0, 3)
      .map((s) => s.name || s.patient_id || s.uid)
      .join(", ");
    const text =
      `Delete ${studies.length} ${studies.length === 1 ? "study" : "studies"} (${names}${studies.length > 3 ? ", …" : ""})? ` +
      "Their images are removed from the database and from the disk.";
    if (!(await confirmDialog(text))) return;
    await this.attempt("delete", () => post("delete", { study_pks: studies.map((s) => s.pk) }));
  }

  // Runs an API call; a refusal becomes a notice ("Cannot <what>: <reason>") and null.
  async attempt(what, call) {
    try {
      return await call();
    } catch (error) {
      this.toast(`Cannot ${what}: ${error.message}`);
      return null;
    }
  }

  // -- context menu, albums, sending -------------------------------------------------------------
  // The menu of the selected studies (right-click, M or Shift+F10); at the first selected row when
  // opened from the keyboard.
  openStudyMenu(x, y, fromKeyboard) {
    const studies = this.selectedStudies();
    if (!studies.length) return;
    if (x === undefined) {
      const row = $("study-rows").querySelector("tr.selected");
      const box = (row || $("study-table-wrap")).getBoundingClientRect();
      [x, y] = row ? [box.left + 40, box.bottom] : [box.left + box.width / 2, box.top + box.height / 2];
    }
    this.menu.open(this.studyMenuItems(studies.map((s) => s.pk)), x, y, { fromKeyboard });
  }

  studyMenuItems(pks) {
    const current = this.albums.find((a) => a.name === this.workspace.db_window.album);
    const regular = this.albums.filter(isRegularAlbum);
    const noLocations = !this.locations.length;
    return [
      { label: "Open", action: () => this.openStudies(pks) },
      {
        label: "Add to album",
        items: [
          ...regular.map((album) => ({ label: album.name, action: () => this.addToAlbum(album.name, pks) })),
          ...(regular.length ? [{ separator: true }] : []),
          { label: "New album…", action: () => this.addToNewAlbum(pks) },
        ],
      },
      ...(isRegularAlbum(current)
        ? [
            {
              label: `Remove from album “${current.name}”`,
              action: () => this.removeFromAlbum(current.name, pks),
            },
          ]
        : []),
      {
        label: "Send to",
        disabled: noLocations,
        title: noLocations ? "No DICOM Locations are configured (locations in the settings)" : "",
        items: this.locations.map((loc) => ({
          label: loc.name,
          title: `${loc.ae_title}@${loc.host}:${loc.port}`,
          action: () => this.sendTo(loc.name, pks),
        })),
      },
      { separator: true },
      { label: "Delete…", action: () => this.deleteSelected() },
    ];
  }

  // Album changes come back as a `library` event, which reloads the counts and the list in every tab.
  addToAlbum(album, pks) {
    return this.attempt(`add to ${album}`, () => post("albums/add", { album, study_pks: pks }));
  }

  removeFromAlbum(album, pks) {
    return this.attempt(`remove from ${album}`, () => post("albums/remove", { album, study_pks: pks }));
  }

  async newAlbum() {
    const name = await promptDialog("Name of the new album:");
    if (name === null) return null; // cancelled; an empty name is the server's to refuse, with its reason
    const reply = await this.attempt("create the album", () => post("albums", { name }));
    return reply && reply.name;
  }

  async addToNewAlbum(pks) {
    const name = await this.newAlbum();
    if (name) await this.addToAlbum(name, pks);
  }

  async sendTo(location, pks) {
    $("activity").hidden = false;
    const reply = await this.attempt(`send to ${location}`, () => post("send", { location, study_pks: pks }));
    if (reply) for (const job of reply.jobs) this.applyJob(job);
  }

  async loadLocations() {
    try {
      this.locations = await get("locations");
    } catch (error) {
      this.toast(error.message);
    }
  }

  async loadAlbums() {
    try {
      const data = await get("albums");
      this.albums = data.albums;
      const current = this.workspace ? this.workspace.db_window.album : data.selected;
      $("album-list").innerHTML = data.albums
        .map(
          (
            a,
          ) => `<li class="${a.smart ? "smart" : ""} ${a.name === ALL_STUDIES ? "database" : ""} ${a.name === current ? "selected" : ""}"
        data-album="${esc(a.name)}" title="${esc(a.error || a.name)}"><span class="label">${esc(a.name)}</span><span class="count">${a.count ?? "?"}</span></li>`,
        )
        .join("");
    } catch (error) {
      this.toast(error.message);
    }
  }

  renderFilter() {
    const db = this.workspace.db_window;
    $("filter-bar").hidden = !db.filter_field;
    $("filter-text").textContent = db.filter_field
      ? `${FILTER_NAMES[db.filter_field] || db.filter_field} contains “${db.filter_value}”`
      : "";
    document
      .querySelectorAll("#album-list li")
      .forEach((li) => li.classList.toggle("selected", li.dataset.album === db.album));
  }

  libraryChanged() {
    clearTimeout(this.libraryTimer);
    this.libraryTimer = setTimeout(() => {
      this.libraryVersion = (this.libraryVersion || 0) + 1;
      this.studySeries.clear();
      this.renderedPanel = undefined;
      this.loadStudies();
      this.loadAlbums();
      this.renderStrip();
    }, 250);
  }

  // -- activity ------------------------------------------------------------------------------
  applyJob(job) {
    const known = this.jobs.get(job.jobID);
    this.jobs.set(job.jobID, job);
    this.queryPanel.jobChanged(job);
    if (job.state === "failed" && (!known || known.state !== "failed"))
      this.toast(`${job.description} failed: ${job.message}`);
    this.renderJobs();
  }

  renderJobs() {
    const jobs = [...this.jobs.values()].reverse().slice(0, 50);
    const running = jobs.filter((j) => j.state === "queued" || j.state === "running").length;
    $("activity-count").textContent = running ? String(running) : "";
    if (!jobs.length) return;
    $("job-list").innerHTML = jobs
      .map((j) => {
        const total = Number(j.total || 0),
          done = Number(j.done || 0);
        const bar =
          j.state === "running" || j.state === "queued"
            ? `<progress ${total ? `max="${total}" value="${done}"` : ""}></progress>`
            : "";
        return `<li data-job="${esc(j.jobID)}" data-state="${esc(j.state)}"><span class="state ${esc(j.state)}">${esc(j.state)}</span>
        <div>${esc(j.description)}</div>${bar}<div class="message">${esc(j.kind)} · ${done}${total ? "/" + total : ""} done${Number(j.failed) ? `, ${esc(j.failed)} failed` : ""}${j.message ? " · " + esc(j.message) : ""}</div></li>`;
      })
      .join("");
  }

  async importFiles(files) {
    if (!files.length) return;
    const batch = [...crypto.getRandomValues(new Uint8Array(8))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    $("activity").hidden = false;
    try {
      for (const [file, name] of files) await upload(batch, file, name);
      const reply = await post(`import/${batch}`);
      this.applyJob(reply.job);
    } catch (error) {
      this.toast(`Import failed: ${error.message}`);
    }
  }

  toast(message) {
    const el = $("toast");
    el.textContent = message;
    el.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => {
      el.hidden = true;
    }, 5000);
  }

  // -- wiring ----------------------------------------------------------------------------------
  bind() {
    $("mode-db").addEventListener("click", () => this.setMode("db"));
    $("mode-viewers").addEventListener("click", () => this.setMode("viewers"));
    $("open-selected").addEventListener("click", () =>
      this.openStudies(this.selectedStudies().map((s) => s.pk)),
    );
    $("delete-selected").addEventListener("click", () => this.deleteSelected());
    $("import-button").addEventListener("click", () => $("import-input").click());
    $("import-input").addEventListener("change", (e) => {
      this.importFiles([...e.target.files].map((f) => [f, f.name]));
      e.target.value = "";
    });
    let searchTimer;
    $("search").addEventListener("input", (e) => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => {
        this.query.q = e.target.value;
        this.query.offset = 0;
        this.loadStudies();
      }, 200);
    });
    document.querySelectorAll("#study-table th").forEach((th) =>
      th.addEventListener("click", () => {
        if (this.query.sort === th.dataset.sort)
          this.query.order = this.query.order === "asc" ? "desc" : "asc";
        else {
          this.query.sort = th.dataset.sort;
          this.query.order = ["date", "numberOfImages"].includes(th.dataset.sort) ? "desc" : "asc";
        }
        this.query.offset = 0;
        this.loadStudies();
      }),
    );
    const rows = $("study-rows");
    rows.addEventListener("click", (e) => {
      const row = e.target.closest("tr");
      if (row) this.clickRow(row, e);
    });
    rows.addEventListener("dblclick", (e) => {
      const row = e.target.closest("tr");
      if (row) this.openStudies([Number(row.dataset.pk)]);
    });
    rows.addEventListener("contextmenu", (e) => {
      const row = e.target.closest("tr");
      if (!row) return;
      e.preventDefault();
      if (!this.selectedUids().includes(row.dataset.uid)) this.clickRow(row, {}); // acts on what was clicked
      this.openStudyMenu(e.clientX, e.clientY, false);
    });
    $("page-prev").addEventListener("click", () => {
      this.query.offset = Math.max(0, this.query.offset - 500);
      this.loadStudies();
    });
    $("page-next").addEventListener("click", () => {
      this.query.offset += 500;
      this.loadStudies();
    });
    $("album-list").addEventListener("click", (e) => {
      const li = e.target.closest("li");
      if (li) post("db-window", { album: li.dataset.album }).catch((err) => this.toast(err.message));
    });
    $("new-album").addEventListener("click", () => this.newAlbum());
    this.queryPanel.bind();
    $("filter-clear").addEventListener("click", () =>
      post("db-window", { filter_field: null, filter_value: null }).catch((e) => this.toast(e.message)),
    );

    document.querySelectorAll("#tiling button").forEach((b) =>
      b.addEventListener("click", () => {
        const [r, c] = b.dataset.tiling.split("x").map(Number);
        post("tiling", { rows: r, columns: c }).catch((e) => this.toast(e.message));
      }),
    );
    $("preset").addEventListener("change", (e) => {
      if (e.target.value !== "") this.applyPreset(Number(e.target.value));
      e.target.value = "";
    });
    $("invert").addEventListener("click", () => this.focusedView()?.toggleInvert());
    $("reset").addEventListener("click", () => this.focusedView()?.reset());
    $("cine").addEventListener("click", () => this.focusedView()?.toggleCine());
    $("close-viewer").addEventListener("click", () => this.closeFocused());
    $("close-all").addEventListener("click", () =>
      post("viewers/close-all").catch((e) => this.toast(e.message)),
    );
    $("activity-button").addEventListener("click", () => {
      $("activity").hidden = !$("activity").hidden;
    });
    $("help-button").addEventListener("click", () => {
      $("help").hidden = false;
    });
    document.querySelectorAll("button.close").forEach((b) =>
      b.addEventListener("click", () => {
        $(b.dataset.close).hidden = true;
      }),
    );
    document.addEventListener("keydown", (e) => this.key(e));
    this.bindDrop();
  }

  closeFocused() {
    const view = this.focusedView();
    if (view) post(`viewers/${view.id}/close`).catch((e) => this.toast(e.message));
  }

  key(e) {
    if (!$("confirm").hidden || !$("prompt").hidden) return;
    if (!$("help").hidden) {
      if (e.key === "Escape" || e.key === "?") {
        $("help").hidden = true;
        e.preventDefault();
      }
      return;
    }
    const typing = e.target.matches && e.target.matches("input[type=search], input[type=text]");
    if (typing) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    if (e.key === "?") {
      $("help").hidden = false;
      e.preventDefault();
      return;
    }
    if (e.key === "Escape" && this.queryPanel.isOpen) {
      this.queryPanel.close();
      e.preventDefault();
      return;
    }
    if (e.key === "Escape") {
      this.setMode(this.mode === "db" ? "viewers" : "db");
      e.preventDefault();
      return;
    }
    if (this.mode === "db") {
      const actions = {
        ArrowDown: () => this.moveSelection(1),
        ArrowUp: () => this.moveSelection(-1),
        Enter: () => this.openStudies(this.selectedStudies().map((s) => s.pk)),
        Delete: () => this.deleteSelected(),
        Backspace: () => this.deleteSelected(),
        m: () => this.openStudyMenu(undefined, undefined, true),
        M: () => this.openStudyMenu(undefined, undefined, true),
        ContextMenu: () => this.openStudyMenu(undefined, undefined, true),
        q: () => this.queryPanel.open(),
        Q: () => this.queryPanel.open(),
      };
      const key = e.key === "F10" && e.shiftKey ? "ContextMenu" : e.key;
      if (actions[key] && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        actions[key]();
      }
      return;
    }
    const view = this.focusedView();
    if (!view || e.ctrlKey || e.metaKey || e.altKey) return;
    const actions = {
      ArrowDown: () => view.step(1),
      ArrowRight: () => view.step(1),
      ArrowUp: () => view.step(-1),
      ArrowLeft: () => view.step(-1),
      PageDown: () => view.step(10),
      PageUp: () => view.step(-10),
      Home: () => view.toIndex(0),
      End: () => view.toIndex(view.count - 1),
      "+": () => view.zoomBy(1.25),
      "=": () => view.zoomBy(1.25),
      "-": () => view.zoomBy(0.8),
      i: () => view.toggleInvert(),
      r: () => view.reset(),
      0: () => view.reset(),
      " ": () => view.toggleCine(),
      w: () => this.closeFocused(),
      Tab: () => {
        const ids = this.workspace.viewers.map((v) => v.id);
        if (ids.length)
          this.focusViewer(ids[(ids.indexOf(view.id) + (e.shiftKey ? ids.length - 1 : 1)) % ids.length]);
      },
    };
    if (actions[e.key]) {
      e.preventDefault();
      actions[e.key]();
      return;
    }
    if (/^[1-9]$/.test(e.key)) {
      e.preventDefault();
      this.applyPreset(Number(e.key) - 1);
    }
  }

  bindDrop() {
    const overlay = $("drop-overlay");
    let depth = 0;
    const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
    window.addEventListener("dragenter", (e) => {
      if (hasFiles(e)) {
        depth++;
        overlay.hidden = false;
        e.preventDefault();
      }
    });
    window.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) overlay.hidden = true;
    });
    window.addEventListener("dragover", (e) => {
      if (hasFiles(e)) e.preventDefault();
    });
    window.addEventListener("drop", async (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      overlay.hidden = true;
      const entries = [...e.dataTransfer.items]
        .map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry())
        .filter(Boolean);
      const files = entries.length
        ? (await Promise.all(entries.map((entry) => filesOf(entry, "")))).flat()
        : [...e.dataTransfer.files].map((f) => [f, f.name]);
      this.importFiles(files);
    });
  }
}

// Every file under a dropped folder (or the dropped file itself), with its relative name.
async function filesOf(entry, prefix) {
  if (entry.isFile) return [[await new Promise((ok, fail) => entry.file(ok, fail)), prefix + entry.name]];
  const reader = entry.createReader();
  const children = [];
  for (;;) {
    const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
    if (!batch.length) break;
    children.push(...batch);
  }
  return (await Promise.all(children.map((child) => filesOf(child, `${prefix}${entry.name}_`)))).flat();
}

function thumb(series) {
  const el = document.createElement("div");
  el.className = "thumb";
  el.dataset.pk = series.pk;
  el.dataset.uid = series.uid;
  const count = series.frames > series.images ? `${series.frames} fr` : `${series.images} im`;
  el.title = `${series.description || "(no description)"} — ${series.modality} — ${count}`;
  el.innerHTML = `<img loading="lazy" alt="" src="${series.thumbnail}"><div class="caption">${esc(series.number ?? "")} ${esc(series.description || series.modality)}</div><div class="caption">${esc(series.modality)} · ${count}</div>`;
  return el;
}

// A modal dialog `id` (with #id-ok and #id-cancel): resolves with answer() on OK (or Enter in
// `input`), with null on Cancel or Esc. `focus` gets the focus first.
function modal(id, focus, answer, input = null) {
  return new Promise((resolve) => {
    const box = $(id),
      ok = $(`${id}-ok`),
      cancel = $(`${id}-cancel`);
    box.hidden = false;
    const done = (result) => {
      box.hidden = true;
      ok.onclick = cancel.onclick = null;
      document.removeEventListener("keydown", keys, true);
      resolve(result);
    };
    const keys = (e) => {
      // handled here only: the Esc that closes a dialog does not also switch modes
      const result =
        e.key === "Escape" ? null : e.key === "Enter" && input && e.target === input ? answer() : undefined;
      if (result !== undefined) {
        e.preventDefault();
        e.stopPropagation();
        done(result);
      }
    };
    document.addEventListener("keydown", keys, true);
    ok.onclick = () => done(answer());
    cancel.onclick = () => done(null);
    focus.focus();
  });
}

function confirmDialog(text) {
  $("confirm-text").textContent = text;
  return modal("confirm", $("confirm-cancel"), () => true); // Cancel has the focus: Enter does not delete
}

function promptDialog(text) {
  const input = $("prompt-input");
  $("prompt-text").textContent = text;
  input.value = "";
  return modal("prompt", input, () => input.value, input);
}

const app = new App();
window.viewbox = app; // for the UI tests and for debugging in the console
app.start();
