// The DICOM tag browser of one viewer: every element of the shown image with tag, VR, keyword and
// value, sequences nested below their element, and a search box that keeps the matching rows
// (by tag, keyword or value) with the sequences that contain them.

import { esc, get } from "./api.js";

export function installTagBrowser(area) {
  area.toolbar.add({
    id: "tags",
    label: "Tags",
    title: "DICOM tags of the shown image (G)",
    keys: ["g"],
    run: (v) => v.tags.toggle(),
    pressed: (v) => !v.tags.panel.hidden,
  });
}

export class TagBrowser {
  constructor(view) {
    this.view = view;
    this.elements = [];
    const panel = (this.panel = document.createElement("div"));
    panel.className = "tag-panel";
    panel.hidden = true;
    panel.setAttribute("role", "region");
    panel.setAttribute("aria-label", "DICOM tags");
    panel.innerHTML = `<div class="tag-head"><span class="tag-title">DICOM tags</span>
      <input type="search" placeholder="Search tag, keyword or value" aria-label="Search the tags">
      <button type="button" class="reload" title="Show the tags of the image shown now">↻</button></div>
      <div class="tag-tree"></div>`;
    this.search = panel.querySelector("input");
    this.tree = panel.querySelector(".tag-tree");
    this.search.addEventListener("input", () => this.render());
    panel.querySelector(".reload").addEventListener("click", () => this.load());
    panel.addEventListener("pointerdown", (event) => event.stopPropagation());
    panel.addEventListener("wheel", (event) => event.stopPropagation());
    view.el.append(panel);
  }

  async toggle() {
    this.panel.hidden = !this.panel.hidden;
    this.view.app.viewerChanged(this.view);
    if (!this.panel.hidden) {
      await this.load();
      this.search.focus();
    }
  }

  async load() {
    const s = this.view.local;
    try {
      const reply = await get(`tags/${s.series.series_pk}/${s.image_index}`);
      this.elements = reply.elements;
      this.panel.querySelector(".tag-title").textContent = `DICOM tags · Im ${s.image_index + 1}`;
    } catch (error) {
      this.elements = [];
      this.view.app.toast(`Cannot read the tags: ${error.message}`);
    }
    this.render();
  }

  render() {
    const query = this.search.value.trim().toLowerCase();
    const matches = (e) =>
      !query ||
      [e.tag, e.keyword, e.name, e.value].some((text) => String(text).toLowerCase().includes(query)) ||
      (e.items || []).some((item) => item.some(matches));
    const rows = [];
    const walk = (elements, depth) => {
      for (const e of elements) {
        if (!matches(e)) continue;
        rows.push(
          `<div class="tag-row" style="padding-left:${depth * 14}px"><code>${esc(e.tag)}</code>` +
            `<span class="vr">${esc(e.vr)}</span><span class="keyword">${esc(e.keyword)}</span>` +
            `<span class="value">${esc(e.value)}</span></div>`,
        );
        (e.items || []).forEach((item, i) => {
          rows.push(`<div class="tag-item" style="padding-left:${(depth + 1) * 14}px">Item ${i + 1}</div>`);
          walk(item, depth + 2);
        });
      }
    };
    walk(this.elements, 0);
    this.tree.innerHTML = rows.join("") || `<div class="tag-row">No element matches.</div>`;
  }
}
