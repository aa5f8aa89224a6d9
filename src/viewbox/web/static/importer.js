// Importing from the browser: files chosen with Import… or dropped on the page (folders too) are
// uploaded as one batch, then imported by the workstation in a background job (Activity panel).

import { post, upload } from "./api.js";
import { $ } from "./dom.js";

export class Importer {
  constructor(app) {
    this.app = app;
    this.overlay = $("drop-overlay");
    this.dragDepth = 0; // dragenter minus dragleave: the overlay shows while a drag is over the page
  }

  bind() {
    $("import-button").addEventListener("click", () => $("import-input").click());
    $("import-input").addEventListener("change", (e) => {
      this.importFiles([...e.target.files].map((f) => [f, f.name]));
      e.target.value = "";
    });
    const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
    window.addEventListener("dragenter", (e) => {
      if (hasFiles(e)) {
        this.dragDepth++;
        this.overlay.hidden = false;
        e.preventDefault();
      }
    });
    window.addEventListener("dragleave", () => {
      this.dragDepth = Math.max(0, this.dragDepth - 1);
      if (!this.dragDepth) this.overlay.hidden = true;
    });
    window.addEventListener("dragover", (e) => {
      if (hasFiles(e)) e.preventDefault();
    });
    window.addEventListener("drop", async (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      this.dragDepth = 0;
      this.overlay.hidden = true;
      const entries = [...e.dataTransfer.items]
        .map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry())
        .filter(Boolean);
      const files = entries.length
        ? (await Promise.all(entries.map((entry) => filesOf(entry, "")))).flat()
        : [...e.dataTransfer.files].map((f) => [f, f.name]);
      this.importFiles(files);
    });
  }

  // `files`: [File, name] pairs (the name keeps a dropped folder's path).
  async importFiles(files) {
    if (!files.length) return;
    const batch = [...crypto.getRandomValues(new Uint8Array(8))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    this.app.activity.show();
    try {
      for (const [file, name] of files) await upload(batch, file, name);
      const reply = await post(`import/${batch}`);
      this.app.activity.applyJob(reply.job);
    } catch (error) {
      this.app.notices.show(`Import failed: ${error.message}`);
    }
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
