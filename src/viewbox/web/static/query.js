// The Query panel (OsiriX's Query window): ask a DICOM Location for studies, see which are held
// here already, retrieve the chosen ones as jobs (shown in the Activity panel), optionally opening
// the study when its job ends. The matching rules (a plain name matches anywhere) are the server's.

import { esc, post } from "./api.js";
import { $ } from "./dom.js";

// YYYY-MM-DD of a local day `back` days before today (what <input type=date> holds).
function day(back) {
  const d = new Date();
  d.setDate(d.getDate() - back);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

const NO_LOCATIONS = "No DICOM Locations are configured (locations in the settings).";
const QUICK_DATES = { any: ["", ""], today: [0, 0], yesterday: [1, 1], week: [6, 0] };

export class QueryPanel {
  // `app` gives the Locations, the activity panel (jobs) and notices.
  constructor(app) {
    this.app = app;
    this.studies = [];
    this.selected = new Set(); // Study Instance UIDs
    this.anchor = null;
    this.searched = null; // {location, filters} of the rows shown, to search again
    this.pendingJobs = new Set(); // retrieve jobs started here: the rows' "here" column follows them
    this.token = 0;
    this.hint = $("query-status").textContent; // the status line's text before any search
  }

  get isOpen() {
    return !$("query").hidden;
  }

  open() {
    this.fillLocations();
    $("query").hidden = false;
    $("query-name").focus();
  }

  close() {
    $("query").hidden = true;
  }

  fillLocations() {
    const select = $("query-location"),
      current = select.value;
    select.replaceChildren(...this.app.locations.map((loc) => new Option(loc.name, loc.name)));
    if (current && this.app.locations.some((loc) => loc.name === current)) select.value = current;
    const none = !this.app.locations.length;
    $("query-search").disabled = none;
    if (none) this.status(NO_LOCATIONS, true);
    else if ($("query-status").textContent === NO_LOCATIONS) this.status(this.hint); // they arrived
  }

  bind(shortcuts) {
    shortcuts.add("db", ["q", "Q"], () => this.open());
    this.app.activity.onJob((job) => this.jobChanged(job));
    $("query-close").addEventListener("click", () => this.close());
    $("query-button").addEventListener("click", () => (this.isOpen ? this.close() : this.open()));
    $("query-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.search();
    });
    $("query-when").addEventListener("change", (e) => {
      const quick = QUICK_DATES[e.target.value];
      if (!quick) return;
      $("query-from").value = quick[0] === "" ? "" : day(quick[0]);
      $("query-to").value = quick[1] === "" ? "" : day(quick[1]);
    });
    for (const id of ["query-from", "query-to"])
      $(id).addEventListener("input", () => {
        $("query-when").value = "range";
      });
    const rows = $("query-rows");
    rows.addEventListener("click", (e) => {
      const row = e.target.closest("tr");
      if (row) this.clickRow(row, e);
    });
    rows.addEventListener("dblclick", (e) => {
      const row = e.target.closest("tr");
      if (row) this.retrieve([row.dataset.uid], true);
    });
    $("query-retrieve").addEventListener("click", () => this.retrieve([...this.selected], false));
    $("query-retrieve-open").addEventListener("click", () => this.retrieve([...this.selected], true));
    // keys inside the panel are the panel's: Enter searches (the form's submit), Esc closes
    $("query").addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Escape") {
        e.preventDefault();
        this.close();
      }
    });
  }

  filters() {
    const filters = {};
    for (const input of $("query-form").querySelectorAll("input[data-key]"))
      filters[input.dataset.key] = input.value.trim();
    const from = $("query-from").value.replaceAll("-", ""),
      to = $("query-to").value.replaceAll("-", "");
    filters.StudyDate = from && from === to ? from : from || to ? `${from}-${to}` : "";
    return filters;
  }

  status(text, error = false) {
    const el = $("query-status");
    el.textContent = text;
    el.classList.toggle("error", error);
  }

  async search(request = { location: $("query-location").value, filters: this.filters() }) {
    const token = ++this.token;
    this.status(`Searching ${request.location}…`);
    try {
      const reply = await post("query", request);
      if (token !== this.token) return;
      this.searched = request;
      this.show(reply);
    } catch (error) {
      if (token !== this.token) return;
      this.show({ studies: [], total: 0 });
      this.status(error.message, true);
    }
  }

  show(reply) {
    const kept = new Set(reply.studies.map((s) => s.uid));
    this.studies = reply.studies;
    this.selected = new Set([...this.selected].filter((uid) => kept.has(uid)));
    $("query-rows").innerHTML = reply.studies
      .map(
        (s, i) => `<tr data-index="${i}" data-uid="${esc(s.uid)}">
      <td>${esc(s.name)}</td><td>${esc(s.patient_id)}</td><td>${esc(s.birth_date)}</td><td>${esc(s.date)}</td>
      <td>${esc(s.modalities)}</td><td>${esc(s.description)}</td><td>${esc(s.accession)}</td>
      <td class="num">${s.instances ?? ""}</td>
      <td class="${s.local ? "local" : ""}" title="${s.local ? `${s.local_images} instances in the local database` : "not in the local database"}">${s.local ? `local (${s.local_images})` : ""}</td></tr>`,
      )
      .join("");
    const shown = reply.studies.length;
    this.status(
      !shown
        ? "No study matches."
        : reply.total > shown
          ? `${reply.total} studies, the first ${shown} shown`
          : `${shown} stud${shown === 1 ? "y" : "ies"}`,
    );
    this.renderSelection();
  }

  clickRow(row, event) {
    const index = Number(row.dataset.index),
      uid = row.dataset.uid;
    if (event.shiftKey && this.anchor !== null) {
      const [a, b] = [Math.min(this.anchor, index), Math.max(this.anchor, index)];
      this.selected = new Set(this.studies.slice(a, b + 1).map((s) => s.uid));
    } else if (event.ctrlKey || event.metaKey) {
      this.selected.has(uid) ? this.selected.delete(uid) : this.selected.add(uid);
      this.anchor = index;
    } else {
      this.selected = new Set([uid]);
      this.anchor = index;
    }
    this.renderSelection();
  }

  renderSelection() {
    for (const row of $("query-rows").rows)
      row.classList.toggle("selected", this.selected.has(row.dataset.uid));
    const count = this.selected.size;
    $("query-selection").textContent = count ? `${count} selected` : "";
    $("query-retrieve").disabled = $("query-retrieve-open").disabled = !count;
  }

  // One job per study; "and open" closes the panel so the viewer that opens is seen.
  async retrieve(uids, andOpen) {
    if (!uids.length || !this.searched) return;
    this.app.activity.show();
    if (andOpen) this.close();
    const reply = await this.app.notices.attempt(`retrieve from ${this.searched.location}`, () =>
      post("retrieve", { location: this.searched.location, study_uids: uids, then: andOpen ? "open" : null }),
    );
    if (!reply) return;
    for (const job of reply.jobs) {
      this.pendingJobs.add(job.jobID);
      this.app.activity.applyJob(job);
    }
  }

  // A retrieve started here ended: search again so the rows say what is held here now.
  jobChanged(job) {
    if (!this.pendingJobs.has(job.jobID) || job.state === "queued" || job.state === "running") return;
    this.pendingJobs.delete(job.jobID);
    if (this.searched && this.isOpen) this.search(this.searched);
  }
}
