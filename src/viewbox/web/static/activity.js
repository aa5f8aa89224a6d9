// The Activity panel: imports, retrieves, sends and downloads with their progress (the newest 50).
// A job that fails also raises a notice; components that started a job follow it with onJob().

import { esc } from "./api.js";
import { $ } from "./dom.js";

const SHOWN = 50;

export class ActivityPanel {
  constructor(app) {
    this.app = app;
    this.root = $("activity");
    this.jobs = new Map(); // job id → job, oldest first
    this.listeners = []; // called with every job change
  }

  bind() {
    $("activity-button").addEventListener("click", () => (this.root.hidden ? this.show() : this.hide()));
  }

  show() {
    this.root.hidden = false;
    $("activity-button").setAttribute("aria-expanded", "true");
  }

  hide() {
    this.root.hidden = true;
    $("activity-button").setAttribute("aria-expanded", "false");
  }

  onJob(listener) {
    this.listeners.push(listener);
  }

  // The jobs of a (re)loaded state, newest first as the server lists them.
  load(jobs) {
    for (const job of jobs.slice().reverse()) this.jobs.set(job.jobID, job);
    this.render();
  }

  applyJob(job) {
    const known = this.jobs.get(job.jobID);
    this.jobs.set(job.jobID, job);
    for (const listener of this.listeners) listener(job);
    if (job.state === "failed" && (!known || known.state !== "failed"))
      this.app.notices.show(`${job.description} failed: ${job.message}`);
    this.render();
  }

  render() {
    const jobs = [...this.jobs.values()].reverse().slice(0, SHOWN);
    const running = jobs.filter((j) => j.state === "queued" || j.state === "running").length;
    $("activity-count").textContent = running ? String(running) : "";
    if (!jobs.length) return;
    $("job-list").innerHTML = jobs
      .map((j) => {
        const total = Number(j.total || 0),
          done = Number(j.done || 0);
        const bar =
          j.state === "running" || j.state === "queued"
            ? `<progress aria-label="${esc(j.description)}" ${total ? `max="${total}" value="${done}"` : ""}></progress>`
            : "";
        const failed = Number(j.failed) ? `, ${esc(j.failed)} failed` : "";
        return `<li data-job="${esc(j.jobID)}" data-state="${esc(j.state)}"><span class="state ${esc(j.state)}">${esc(j.state)}</span>
        <div>${esc(j.description)}</div>${bar}<div class="message">${esc(j.kind)} · ${done}${total ? "/" + total : ""} done${failed}${j.message ? " · " + esc(j.message) : ""}</div></li>`;
      })
      .join("");
  }
}
