// The database window's study list: one page (PAGE rows) of the current album or filter, searched
// and sorted here. The selection is the workstation's: drawn at once, sent as the user makes it.
// The table is an ARIA grid: rows carry aria-selected, the headers aria-sort, and from the keyboard
// ↑ ↓ Home End move the selection (with Shift: extend it), Enter opens it.

import { esc, get, post } from "./api.js";
import { $ } from "./dom.js";

const PAGE = 500; // rows a page (the server's page size)
const FILTER_NAMES = { PatientName: "Patient name", PatientID: "Patient ID" };
const DESCENDING_FIRST = ["date", "numberOfImages"]; // columns whose first click sorts newest / most first

export class StudyList {
  constructor(app) {
    this.app = app;
    this.table = $("study-table");
    this.body = $("study-rows");
    this.query = { q: "", sort: "date", order: "desc", offset: 0 };
    this.studies = { rows: [], total: 0, offset: 0 }; // the page shown
    this.anchor = null; // row index where Shift ranges start
    this.loadToken = 0; // the latest list request: older answers are dropped
    this.pendingSelection = null; // the latest selection not sent yet
    this.selectionInFlight = false;
    this.searchTimer = null;
  }

  // A selection of the user's is on its way: live events meanwhile do not undo it (App.applyWorkspace).
  get selectionBusy() {
    return this.selectionInFlight || this.pendingSelection !== null;
  }

  params() {
    const { q, sort, order, offset } = this.query;
    return { q, sort, order, offset };
  }

  bind(shortcuts) {
    $("search").addEventListener("input", (e) => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => {
        this.query.q = e.target.value;
        this.query.offset = 0;
        this.load();
      }, 200);
    });
    this.table.querySelectorAll("th[data-sort]").forEach((th) => {
      th.addEventListener("click", () => this.sortBy(th.dataset.sort));
    });
    this.body.addEventListener("click", (e) => {
      const row = e.target.closest("tr");
      if (row) this.clickRow(row, e);
    });
    this.body.addEventListener("dblclick", (e) => {
      const row = e.target.closest("tr");
      if (row) this.app.actions.open([Number(row.dataset.pk)]);
    });
    this.body.addEventListener("contextmenu", (e) => {
      const row = e.target.closest("tr");
      if (!row) return;
      e.preventDefault();
      if (!this.selectedUids().includes(row.dataset.uid)) this.clickRow(row, {}); // acts on what was clicked
      this.app.actions.openMenu(e.clientX, e.clientY, false);
    });
    $("page-prev").addEventListener("click", () => this.turnPage(-1));
    $("page-next").addEventListener("click", () => this.turnPage(1));
    $("filter-clear").addEventListener("click", () =>
      post("db-window", { filter_field: null, filter_value: null }).catch((e) =>
        this.app.notices.show(e.message),
      ),
    );
    shortcuts.add("db", ["ArrowDown"], (e) => this.move(1, e.shiftKey));
    shortcuts.add("db", ["ArrowUp"], (e) => this.move(-1, e.shiftKey));
    shortcuts.add("db", ["Home"], (e) => this.moveTo(0, e.shiftKey));
    shortcuts.add("db", ["End"], (e) => this.moveTo(this.studies.rows.length - 1, e.shiftKey));
  }

  // -- the page of studies -------------------------------------------------------------------------
  async load() {
    const token = ++this.loadToken;
    try {
      const studies = await get("studies", this.params());
      if (token === this.loadToken) this.show(studies);
    } catch (error) {
      this.app.notices.show(error.message);
    }
  }

  // The album or filter changed: from the first page.
  reload() {
    this.query.offset = 0;
    this.load();
  }

  sortBy(column) {
    const query = this.query;
    if (query.sort === column) query.order = query.order === "asc" ? "desc" : "asc";
    else {
      query.sort = column;
      query.order = DESCENDING_FIRST.includes(column) ? "desc" : "asc";
    }
    this.reload();
  }

  turnPage(delta) {
    this.query.offset = Math.max(0, this.query.offset + delta * PAGE);
    this.load();
  }

  show(studies) {
    this.studies = studies;
    this.body.innerHTML = studies.rows
      .map(
        (
          s,
          i,
        ) => `<tr id="study-${s.pk}" data-index="${i}" data-pk="${s.pk}" data-uid="${esc(s.uid)}" aria-selected="false">
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
    const { sort, order } = this.query;
    this.table.querySelectorAll("th[data-sort]").forEach((th) => {
      const sorted = th.dataset.sort === sort;
      th.classList.toggle("sorted", sorted);
      th.classList.toggle("asc", order === "asc");
      th.classList.toggle("desc", order !== "asc");
      th.setAttribute("aria-sort", sorted ? (order === "asc" ? "ascending" : "descending") : "none");
    });
    this.renderSelection();
    this.renderOpenedMarks();
  }

  // The filter a RIS set (DisplayStudyListBy…), shown above the list with a button to clear it.
  renderFilter(db) {
    $("filter-bar").hidden = !db.filter_field;
    $("filter-text").textContent = db.filter_field
      ? `${FILTER_NAMES[db.filter_field] || db.filter_field} contains “${db.filter_value}”`
      : "";
  }

  // Studies open in a viewer are marked.
  renderOpenedMarks() {
    const workspace = this.app.workspace;
    const open = new Set((workspace ? workspace.viewers : []).map((v) => v.series.study_uid));
    for (const row of this.body.rows) row.classList.toggle("opened", open.has(row.dataset.uid));
  }

  // -- selection -------------------------------------------------------------------------------------
  selectedUids() {
    const workspace = this.app.workspace;
    return workspace ? workspace.db_window.selected_study_uids : [];
  }

  selectedStudies() {
    const selected = new Set(this.selectedUids());
    return this.studies.rows.filter((s) => selected.has(s.uid));
  }

  // The row the keyboard moves from: the last one selected.
  cursorIndex() {
    const selected = this.selectedUids();
    if (!selected.length) return -1;
    return this.studies.rows.findIndex((s) => s.uid === selected[selected.length - 1]);
  }

  renderSelection() {
    const selected = new Set(this.selectedUids());
    let first = null;
    for (const row of this.body.rows) {
      const on = selected.has(row.dataset.uid);
      row.classList.toggle("selected", on);
      row.setAttribute("aria-selected", String(on));
      if (on && first === null) first = Number(row.dataset.pk);
    }
    const cursor = this.body.rows[this.cursorIndex()];
    for (const row of this.body.querySelectorAll("tr.cursor"))
      if (row !== cursor) row.classList.remove("cursor");
    if (cursor) {
      cursor.classList.add("cursor");
      this.table.setAttribute("aria-activedescendant", cursor.id);
    } else {
      this.table.removeAttribute("aria-activedescendant");
    }
    this.app.seriesPanel.follow(this.studies.rows, selected, first);
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
    this.app.seriesPanel.prefer(Number(row.dataset.pk));
    this.select(uids);
  }

  move(delta, extend = false) {
    this.moveTo(this.cursorIndex() + delta, extend);
  }

  // Selects row `index` (clamped), or with `extend` the rows from the anchor to it; the keyboard
  // focus goes to the table (a grid whose active row is the selection's last).
  moveTo(index, extend = false) {
    const rows = this.studies.rows;
    if (!rows.length) return;
    index = Math.max(0, Math.min(rows.length - 1, index));
    if (extend && this.anchor !== null) {
      const [a, b] = [Math.min(this.anchor, index), Math.max(this.anchor, index)];
      const range = rows.slice(a, b + 1).map((s) => s.uid);
      this.select([...range.filter((uid) => uid !== rows[index].uid), rows[index].uid]);
    } else {
      this.anchor = index;
      this.app.seriesPanel.prefer(rows[index].pk);
      this.select([rows[index].uid]);
    }
    const row = this.body.rows[index];
    if (row) row.scrollIntoView({ block: "nearest" });
    if (document.activeElement !== this.table) this.table.focus({ preventScroll: true });
  }

  select(uids) {
    const db = this.app.workspace.db_window;
    db.selected_study_uids = uids; // drawn now, confirmed by the event
    db.selected_series_uids = [];
    this.renderSelection();
    this.sendSelection({ study_uids: uids });
  }

  // One selection request in flight, the latest waiting: fast clicks cannot arrive out of order,
  // and live events meanwhile do not undo the selection the user is making (selectionBusy).
  async sendSelection(body) {
    this.pendingSelection = body;
    if (this.selectionInFlight) return;
    while (this.pendingSelection) {
      const next = this.pendingSelection;
      this.pendingSelection = null;
      this.selectionInFlight = true;
      try {
        const reply = await post("select", next);
        this.app.confirmed(reply.version);
      } catch (error) {
        this.app.notices.show(error.message);
      } finally {
        this.selectionInFlight = false;
      }
    }
  }
}
