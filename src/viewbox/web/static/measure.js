// Measurement tools of one 2D viewer: a tool bar, the shapes drawn over the image, and a panel of
// the study's measurements. Values come from the workstation (computed from the stored pixels);
// this module only places points and shows what the server measured.

import { esc, get, post } from "./api.js";

// [type, label, shortcut key, points (two: a drag; else one click each)]
export const TOOLS = [
  ["length", "Length", "l", 2],
  ["angle", "Angle", "a", 3],
  ["ellipse", "Ellipse", "e", 2],
  ["rectangle", "Rectangle", "b", 2],
  ["probe", "Probe", "p", 1],
  ["arrow", "Arrow", "k", 2],
  ["text", "Text", "t", 1],
];

// The tools in the viewers' toolbar (each with its key), acting on the focused viewer's layer.
export function installMeasureTools(area, shortcuts) {
  for (const [type, label, key] of TOOLS)
    area.toolbar.add({
      id: `measure-${type}`,
      label,
      title: `${label} (${key.toUpperCase()}); Esc: back to windowing`,
      keys: [key],
      run: (v) => v.measure.setTool(v.measure.tool === type ? null : type),
      pressed: (v) => v.measure.tool === type,
    });
  area.toolbar.add({
    id: "measure-undo",
    label: "Undo",
    title: "Delete the last measurement drawn here (U)",
    keys: ["u"],
    run: (v) => v.measure.undo(),
  });
  area.toolbar.add({
    id: "measure-list",
    label: "Measurements",
    title: "The study's measurements (M)",
    keys: ["m"],
    run: (v) => v.measure.togglePanel(),
    pressed: (v) => !v.measure.panel.hidden,
  });
  const focused = (action) => () => {
    const view = area.focused();
    if (view) action(view.measure);
  };
  shortcuts.add(
    "viewers",
    ["Delete", "Backspace"],
    focused((m) => m.selected && m.remove(m.selected)),
  );
}
const DRAG_TOOLS = new Set(["length", "ellipse", "rectangle", "arrow"]);
const COLOR = "#ffd24a";
const SELECTED = "#4af0ff";

// The values a measurement shows first, in order of interest.
export function summary(m) {
  const v = m.values || {};
  const unit = (u) => ({ mm2: "mm²", px2: "px²" })[u] || u;
  const show = (name, digits = 1) =>
    v[name] ? `${Number(v[name].value).toFixed(digits)} ${unit(v[name].unit)}` : null;
  const parts = [];
  if (m.type === "length") parts.push(show("length"));
  if (m.type === "angle" || m.type === "cobb") parts.push(show("angle"));
  if (["ellipse", "rectangle", "polygon"].includes(m.type)) {
    parts.push(show("area"));
    if (v.mean) parts.push(`mean ${show("mean")} SD ${Number(v.sd.value).toFixed(1)}`);
    if (v.suv_max) parts.push(`SUVmax ${Number(v.suv_max.value).toFixed(2)}`);
  }
  if (m.type === "probe") parts.push(show("value"), v.suv ? `SUV ${Number(v.suv.value).toFixed(2)}` : null);
  const text = parts.filter(Boolean).join(", ");
  return [text, m.label].filter(Boolean).join(" — ");
}

export class MeasureLayer {
  constructor(view) {
    this.view = view;
    this.items = []; // the study's measurements (each with `position` in this series, or null)
    this.seriesPk = null;
    this.tool = null; // the active tool's type, or null (the mouse windows, zooms, pans)
    this.draft = null; // points being placed
    this.selected = null; // uid
    this.added = []; // uids this viewer added, newest last (undo)
    this.build();
  }

  build() {
    const panel = (this.panel = document.createElement("div"));
    panel.className = "measure-panel";
    panel.hidden = true;
    panel.setAttribute("aria-label", "Measurements");
    panel.addEventListener("pointerdown", (event) => event.stopPropagation());
    panel.addEventListener("click", (event) => this.panelClick(event));
    this.view.el.append(panel);
  }

  setTool(type) {
    this.tool = type;
    this.draft = null;
    this.view.canvas.style.cursor = type ? "crosshair" : "";
    this.view.canvas.dataset.tool = type || "";
    this.view.app.viewerChanged(this.view); // the toolbar shows which tool is on
    this.view.draw();
  }

  // -- the study's measurements ------------------------------------------------------------------
  async seriesShown() {
    const pk = this.view.local.series.series_pk;
    if (pk === this.seriesPk) return;
    this.seriesPk = pk;
    await this.load();
  }

  async load() {
    try {
      const reply = await get(`measurements/${this.seriesPk}`);
      this.studyUid = reply.study_uid;
      this.items = reply.measurements;
    } catch {
      this.items = [];
    }
    this.renderPanel();
    this.view.draw();
  }

  // A `measurements` event from the workstation (any tab, the RIS, an SR import).
  changed(event) {
    if (event.study_uid === this.studyUid) this.load();
  }

  async save(type, points, label = "") {
    const index = this.view.local.image_index;
    try {
      const reply = await post("measurements", {
        series_pk: this.seriesPk,
        index,
        type,
        points,
        label,
      });
      const m = { ...reply.measurement, position: index };
      if (!this.items.some((item) => item.uid === m.uid)) this.items.push(m);
      this.added.push(m.uid);
      this.selected = m.uid;
      this.renderPanel();
    } catch (error) {
      this.view.app.toast(`Could not measure: ${error.message}`);
    }
    this.view.draw();
  }

  async remove(uid) {
    this.items = this.items.filter((m) => m.uid !== uid);
    if (this.selected === uid) this.selected = null;
    this.renderPanel();
    this.view.draw();
    try {
      await post("measurements/delete", { uids: [uid] });
    } catch (error) {
      this.view.app.toast(`Could not delete the measurement: ${error.message}`);
    }
  }

  undo() {
    const uid = this.added.pop();
    if (uid) this.remove(uid);
  }

  // -- the panel ---------------------------------------------------------------------------------
  togglePanel() {
    this.panel.hidden = !this.panel.hidden;
    this.renderPanel();
    this.view.app.viewerChanged(this.view);
  }

  renderPanel() {
    if (this.panel.hidden) return;
    const rows = this.items.map(
      (m) =>
        `<li data-uid="${esc(m.uid)}" class="${m.uid === this.selected ? "selected" : ""}">
          <button type="button" class="go" data-go="${m.position ?? ""}" ${m.position === null ? "disabled" : ""}
            title="Show its image">${esc(m.type)} · Im ${m.position === null ? "other series" : m.position + 1}</button>
          <span class="values">${esc(summary(m))}</span>${m.note ? `<span class="note">${esc(m.note)}</span>` : ""}
          <button type="button" class="delete" aria-label="Delete this measurement">✕</button></li>`,
    );
    this.panel.innerHTML = `<h3>Measurements (${this.items.length})</h3><ul>${rows.join("")}</ul>`;
  }

  panelClick(event) {
    const row = event.target.closest("li");
    if (!row) return;
    if (event.target.closest(".delete")) {
      this.remove(row.dataset.uid);
      return;
    }
    this.selected = row.dataset.uid;
    const go = event.target.closest(".go");
    if (go && go.dataset.go !== "") this.view.toIndex(Number(go.dataset.go));
    this.renderPanel();
    this.view.draw();
  }

  // -- the mouse ---------------------------------------------------------------------------------
  imagePoint(event) {
    const rect = this.view.canvas.getBoundingClientRect();
    const scale = this.view.drawScale();
    const bitmap = this.view.frame && this.view.frame.bitmap;
    if (!scale || !bitmap) return null;
    const canvas = this.view.canvas;
    const x = (event.clientX - rect.left) * devicePixelRatio;
    const y = (event.clientY - rect.top) * devicePixelRatio;
    const left = canvas.width / 2 + this.view.local.pan_x * scale - (bitmap.width * scale) / 2;
    const top = canvas.height / 2 + this.view.local.pan_y * scale - (bitmap.height * scale) / 2;
    return [round2((x - left) / scale), round2((y - top) / scale)];
  }

  // Left button with a tool active: place points (true: the viewer leaves this press alone).
  pointerDown(event) {
    if (!this.tool || event.button !== 0 || event.shiftKey || event.ctrlKey || event.metaKey) {
      if (event.button === 0 && !this.tool) this.pick(event);
      return false;
    }
    const point = this.imagePoint(event);
    if (!point) return true;
    const type = this.tool;
    const needed = TOOLS.find(([t]) => t === type)[3];
    if (DRAG_TOOLS.has(type)) {
      this.draft = { type, points: [point, point] };
      this.view.canvas.setPointerCapture(event.pointerId);
      const move = (e) => {
        const p = this.imagePoint(e);
        if (p) this.draft.points[1] = p;
        this.view.draw();
      };
      const up = () => {
        this.view.canvas.removeEventListener("pointermove", move);
        this.view.canvas.removeEventListener("pointerup", up);
        const draft = this.draft;
        this.draft = null;
        const [a, b] = draft.points;
        if (Math.hypot(a[0] - b[0], a[1] - b[1]) >= 1) this.save(draft.type, draft.points);
        else this.view.draw();
      };
      this.view.canvas.addEventListener("pointermove", move);
      this.view.canvas.addEventListener("pointerup", up);
      return true;
    }
    const points = this.draft && this.draft.type === type ? [...this.draft.points, point] : [point];
    if (points.length < needed) {
      this.draft = { type, points };
      this.view.draw();
      return true;
    }
    this.draft = null;
    if (type === "text") {
      const label = window.prompt("Annotation text");
      if (label) this.save(type, points, label);
    } else {
      this.save(type, points);
    }
    return true;
  }

  // Without a tool, a click on a shape selects it (Delete removes it).
  pick(event) {
    const point = this.imagePoint(event);
    if (!point) return;
    const near = this.visible().find((m) =>
      m.points.some((p) => Math.hypot(p[0] - point[0], p[1] - point[1]) < 6 / this.view.drawScale()),
    );
    if (near) {
      this.selected = near.uid;
      this.renderPanel();
      this.view.draw();
    }
  }

  // -- drawing -------------------------------------------------------------------------------------
  visible() {
    return this.items.filter((m) => m.position === this.view.local.image_index);
  }

  // Called by the viewer after it drew the image at (left, top) with `scale` device px per pixel.
  draw(ctx, left, top, scale) {
    const at = ([x, y]) => [left + x * scale, top + y * scale];
    ctx.save();
    ctx.lineWidth = Math.max(1, devicePixelRatio * 1.5);
    ctx.font = `${Math.round(12 * devicePixelRatio)}px sans-serif`;
    for (const m of this.visible())
      this.shape(ctx, m.type, m.points.map(at), m.uid === this.selected, summary(m));
    if (this.draft) this.shape(ctx, this.draft.type, this.draft.points.map(at), true, "");
    ctx.restore();
    this.view.canvas.dataset.measurements = String(this.visible().length);
  }

  shape(ctx, type, pts, selected, text) {
    ctx.strokeStyle = ctx.fillStyle = selected ? SELECTED : COLOR;
    ctx.beginPath();
    if (type === "ellipse" || type === "rectangle") {
      const [[x0, y0], [x1, y1]] = pts;
      if (type === "ellipse")
        ctx.ellipse(
          (x0 + x1) / 2,
          (y0 + y1) / 2,
          Math.abs(x1 - x0) / 2,
          Math.abs(y1 - y0) / 2,
          0,
          0,
          2 * Math.PI,
        );
      else ctx.rect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
    } else if (type === "probe" || type === "text") {
      const [x, y] = pts[0];
      ctx.moveTo(x - 5, y);
      ctx.lineTo(x + 5, y);
      ctx.moveTo(x, y - 5);
      ctx.lineTo(x, y + 5);
    } else {
      pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      if (type === "polygon") ctx.closePath();
      if (type === "arrow" && pts.length === 2) arrowHead(ctx, pts[0], pts[1]);
    }
    ctx.stroke();
    if (selected)
      for (const [x, y] of pts)
        ctx.fillRect(
          x - 3 * devicePixelRatio,
          y - 3 * devicePixelRatio,
          6 * devicePixelRatio,
          6 * devicePixelRatio,
        );
    if (text) {
      const [x, y] = pts[pts.length - 1];
      ctx.fillText(text, x + 6 * devicePixelRatio, y - 6 * devicePixelRatio);
    }
  }
}

function arrowHead(ctx, [x0, y0], [x1, y1]) {
  const angle = Math.atan2(y1 - y0, x1 - x0);
  const size = 10 * devicePixelRatio;
  for (const side of [-0.4, 0.4]) {
    ctx.moveTo(x1, y1);
    ctx.lineTo(x1 - size * Math.cos(angle + side), y1 - size * Math.sin(angle + side));
  }
}

function round2(value) {
  return Math.round(value * 100) / 100;
}
