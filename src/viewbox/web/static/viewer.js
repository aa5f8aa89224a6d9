// One 2D viewer: draws server-rendered frames on a canvas, and turns mouse, wheel and keys into
// changes of the viewer's state that are sent to the workstation (so the RIS sees them).

import { post } from "./api.js";
import { MeasureLayer } from "./measure.js";
import { TagBrowser } from "./tags.js";

const FIELDS = ["image_index", "window_center", "window_width", "zoom", "pan_x", "pan_y", "invert"];

// Window presets by modality (center / width, in modality units: Hounsfield for CT).
const CT_PRESETS = [
  ["Abdomen", 40, 400],
  ["Lung", -600, 1500],
  ["Bone", 400, 1800],
  ["Brain", 40, 80],
  ["Mediastinum", 50, 350],
  ["Liver", 60, 160],
  ["Subdural", 75, 215],
  ["Stroke", 32, 8],
];
// The file's own windows (Window Center/Width with their explanations), when it has several.
export function presetsFor(modality, fileWindows = []) {
  const own =
    fileWindows.length > 1
      ? fileWindows.map(([c, w, name], i) => [name || `File window ${i + 1}`, c, w])
      : [];
  const base = [["Default (file)", null, null], ...own, ["Full dynamic", "range", "range"]];
  if (modality === "CT") return base.concat(CT_PRESETS);
  if (modality === "PT" || modality === "NM")
    return base.concat([
      ["SUV 0–5", 2.5, 5],
      ["SUV 0–10", 5, 10],
    ]);
  return base;
}

function parseWindows(header) {
  try {
    return header ? JSON.parse(decodeURIComponent(header)) : [];
  } catch {
    return [];
  }
}

// Decoded frames shared by every viewer of the tab, least recently used evicted first.
class FrameCache {
  constructor(limitPixels = 80e6) {
    this.map = new Map();
    this.pixels = 0;
    this.limit = limitPixels;
  }
  get(url) {
    const entry = this.map.get(url);
    if (entry) {
      this.map.delete(url);
      this.map.set(url, entry);
    }
    return entry;
  }
  set(url, entry) {
    if (this.map.has(url)) return;
    this.map.set(url, entry);
    this.pixels += entry.size;
    for (const [key, old] of this.map) {
      if (this.pixels <= this.limit || this.map.size <= 4) break;
      this.map.delete(key);
      this.pixels -= old.size;
      if (old.bitmap && old.bitmap.close) old.bitmap.close();
    }
  }
}
const frames = new FrameCache();
// Background loading of a series: how many frames at most, and how many requests at once.
const PREFETCH_LIMIT = 400;
const PREFETCH_REQUESTS = 3;
const loading = new Map(); // url → promise

async function loadFrame(url) {
  const cached = frames.get(url);
  if (cached) return cached;
  if (loading.has(url)) return loading.get(url);
  const promise = (async () => {
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) {
      let message = response.statusText;
      try {
        message = (await response.json()).message || message;
      } catch {
        /* not JSON */
      }
      return { url, error: message, status: response.status, size: 1 };
    }
    const header = (name) => Number(response.headers.get(name));
    const bitmap = await createImageBitmap(await response.blob());
    const entry = {
      url,
      bitmap,
      size: bitmap.width * bitmap.height,
      wc: header("X-Window-Center"),
      ww: header("X-Window-Width"),
      rangeCenter: header("X-Range-Center"),
      rangeWidth: header("X-Range-Width"),
      count: header("X-Frame-Count"),
      fileWindows: parseWindows(response.headers.get("X-File-Windows")),
    };
    frames.set(url, entry);
    return entry;
  })().finally(() => loading.delete(url));
  loading.set(url, promise);
  return promise;
}

export class ViewerView {
  // `app`: the viewer's host (viewers.js's ViewerArea): focusViewer(id), seriesInfo(pk), toast(text),
  // confirmed(version) for the workspace version a change produced, viewerChanged(view).
  constructor(app, state) {
    this.app = app;
    this.id = state.id;
    this.server = state; // last state the workstation confirmed
    this.local = { ...state }; // what is drawn (user changes apply at once)
    this.queued = {}; // changes not sent yet
    this.inflight = null; // changes sent, not yet confirmed
    this.frame = null; // the frame entry drawn
    this.wanted = null; // URL of the frame that should be drawn
    this.cine = null;
    this.fetching = false; // a fetchWanted loop is running
    this.lastIndex = null; // the index shown before: which way the reader scrolls (prefetch ahead)
    this.prefetchToken = null; // the current background load of the series (a newer one stops it)
    this.build();
    this.measure = new MeasureLayer(this); // measurement tools, shapes and panel (measure.js)
    this.measure.seriesShown();
    this.tags = new TagBrowser(this); // the DICOM tag browser (tags.js)
  }

  // -- DOM -------------------------------------------------------------------------------------
  build() {
    const el = (this.el = document.createElement("div"));
    el.className = "viewer";
    el.dataset.viewerId = this.id;
    el.innerHTML = `<canvas role="img" aria-label="Image viewer"></canvas><div class="overlay tl"></div><div class="overlay tr"></div>
      <div class="overlay bl"></div><div class="overlay br"></div><div class="error" hidden></div>
      <input class="slider" type="range" min="0" max="0" step="1" value="0" title="Image" aria-label="Image">`;
    this.canvas = el.querySelector("canvas");
    this.slider = el.querySelector(".slider");
    this.errorBox = el.querySelector(".error");
    this.corners = {
      tl: el.querySelector(".tl"),
      tr: el.querySelector(".tr"),
      bl: el.querySelector(".bl"),
      br: el.querySelector(".br"),
    };
    this.slider.addEventListener("input", () => this.change({ image_index: Number(this.slider.value) }));
    this.slider.addEventListener("pointerdown", () => this.app.focusViewer(this.id));
    this.canvas.addEventListener("pointerdown", (event) => this.pointerDown(event));
    this.canvas.addEventListener("wheel", (event) => this.wheel(event), { passive: false });
    this.canvas.addEventListener("contextmenu", (event) => event.preventDefault());
    this.canvas.addEventListener("dblclick", () => this.reset());
    this.resizeObserver = new ResizeObserver(() => this.draw());
    this.resizeObserver.observe(el);
  }

  destroy() {
    this.stopCine();
    this.resizeObserver.disconnect();
    this.el.remove();
  }

  get series() {
    return this.app.seriesInfo(this.local.series.series_pk);
  }
  get count() {
    const s = this.local.series;
    return (this.frame && this.frame.count) || s.number_of_frames || s.number_of_images || 1;
  }

  // -- state from the workstation ---------------------------------------------------------------
  applyServer(state) {
    const seriesChanged = state.series.series_pk !== this.local.series.series_pk;
    this.server = state;
    const busy = new Set([...Object.keys(this.queued), ...Object.keys(this.inflight || {})]);
    for (const key of FIELDS) if (!busy.has(key)) this.local[key] = state[key];
    this.local.series = state.series;
    if (seriesChanged) {
      this.frame = null;
      this.stopCine();
      this.measure.seriesShown();
    }
    this.update();
  }

  setFocused(focused) {
    this.el.classList.toggle("focused", focused);
  }

  // -- changes by the user ----------------------------------------------------------------------
  change(patch) {
    if ("image_index" in patch) {
      patch.image_index = Math.max(0, Math.min(this.count - 1, Math.round(patch.image_index)));
      if (patch.image_index === this.local.image_index && Object.keys(patch).length === 1) return;
    }
    Object.assign(this.local, patch);
    Object.assign(this.queued, patch);
    this.update();
    this.flush();
  }

  // One request in flight per viewer; changes made meanwhile are merged and sent next, so a fast
  // scroll costs a few requests, not one per wheel notch, and the last position always arrives.
  async flush() {
    if (this.inflight || Object.keys(this.queued).length === 0) return;
    this.inflight = this.queued;
    this.queued = {};
    try {
      const reply = await post(`viewers/${this.id}`, this.inflight);
      this.inflight = null;
      this.app.confirmed(reply.version);
      if (Object.keys(this.queued).length === 0) this.applyServer(reply.viewer);
    } catch (error) {
      this.inflight = null;
      if (error.status !== 404) this.app.toast(`Could not update the viewer: ${error.message}`);
    }
    this.flush();
  }

  step(delta) {
    this.change({ image_index: this.local.image_index + delta });
  }
  toIndex(index) {
    this.change({ image_index: index });
  }
  zoomBy(factor) {
    this.change({ zoom: Math.max(0.05, Math.min(40, this.local.zoom * factor)) });
  }
  toggleInvert() {
    this.change({ invert: !this.local.invert });
  }
  reset() {
    this.change({ window_center: null, window_width: null, zoom: 1, pan_x: 0, pan_y: 0, invert: false });
  }
  applyPreset(center, width) {
    if (center === "range") {
      if (!this.frame || this.frame.error) return;
      this.change({ window_center: this.frame.rangeCenter, window_width: this.frame.rangeWidth });
    } else {
      this.change({ window_center: center, window_width: width });
    }
  }

  toggleCine(fps = 12) {
    this.cine ? this.stopCine() : this.startCine(fps);
  }
  startCine(fps) {
    if (this.count < 2) return;
    for (let i = 0; i < Math.min(this.count, 200); i++) loadFrame(this.frameUrl(i)).catch(() => {});
    this.cine = setInterval(
      () => this.change({ image_index: (this.local.image_index + 1) % this.count }),
      1000 / fps,
    );
    this.app.viewerChanged(this);
  }
  stopCine() {
    if (this.cine) {
      clearInterval(this.cine);
      this.cine = null;
      this.app.viewerChanged(this);
    }
  }

  pointerDown(event) {
    event.preventDefault();
    this.app.focusViewer(this.id);
    if (this.measure.pointerDown(event)) return;
    const mode =
      event.button === 2 || (event.button === 0 && (event.ctrlKey || event.metaKey))
        ? "zoom"
        : event.button === 1 || (event.button === 0 && event.shiftKey)
          ? "pan"
          : "window";
    const start = { x: event.clientX, y: event.clientY, ...this.local };
    const frame = this.frame && !this.frame.error ? this.frame : null;
    if (mode === "window" && !frame) return;
    const startCenter = start.window_center ?? frame?.wc;
    const startWidth = start.window_width ?? frame?.ww;
    const perPixel = Math.max(frame ? frame.rangeWidth : 1, startWidth || 1, 2) / 400;
    const scale = this.drawScale();
    this.canvas.setPointerCapture(event.pointerId);
    const move = (e) => {
      const dx = e.clientX - start.x,
        dy = e.clientY - start.y;
      if (mode === "window") {
        this.change({
          window_center: round(startCenter + dy * perPixel),
          window_width: round(Math.max(1, startWidth + dx * perPixel)),
        });
      } else if (mode === "zoom") {
        this.change({ zoom: Math.max(0.05, Math.min(40, start.zoom * Math.exp(-dy / 150))) });
      } else if (scale) {
        this.change({
          pan_x: start.pan_x + (dx * devicePixelRatio) / scale,
          pan_y: start.pan_y + (dy * devicePixelRatio) / scale,
        });
      }
    };
    const up = () => {
      this.canvas.removeEventListener("pointermove", move);
      this.canvas.removeEventListener("pointerup", up);
      this.canvas.removeEventListener("pointercancel", up);
    };
    this.canvas.addEventListener("pointermove", move);
    this.canvas.addEventListener("pointerup", up);
    this.canvas.addEventListener("pointercancel", up);
  }

  wheel(event) {
    event.preventDefault();
    if (event.ctrlKey || event.metaKey) {
      this.zoomBy(event.deltaY < 0 ? 1.1 : 1 / 1.1);
      return;
    }
    this.app.focusViewer(this.id);
    this.step(event.deltaY > 0 ? 1 : event.deltaY < 0 ? -1 : 0);
  }

  // -- drawing ----------------------------------------------------------------------------------
  frameUrl(index) {
    const s = this.local;
    const params = new URLSearchParams();
    if (s.window_center !== null && s.window_center !== undefined) params.set("wc", s.window_center);
    if (s.window_width !== null && s.window_width !== undefined) params.set("ww", s.window_width);
    if (s.invert) params.set("invert", "1");
    const query = params.toString();
    return `/api/ui/image/${s.series.series_pk}/${index}${query ? "?" + query : ""}`;
  }

  // Called after any change: fetch the frame that should be shown (latest wins), redraw now with
  // what is loaded (zoom and pan never wait for the server), update overlay and slider.
  update() {
    const url = this.frameUrl(this.local.image_index);
    if (url !== this.wanted) {
      this.wanted = url;
      const cached = frames.get(url);
      if (cached) this.frame = cached;
      else this.fetchWanted();
    }
    this.draw();
    this.overlay();
  }

  async fetchWanted() {
    if (this.fetching) return;
    this.fetching = true;
    try {
      while (true) {
        const url = this.wanted;
        let entry;
        try {
          entry = await loadFrame(url);
        } catch (error) {
          entry = { url, error: String(error), size: 1 };
        }
        if (url === this.wanted || !this.frame) {
          this.frame = entry;
          this.draw();
          this.overlay();
          if (this.el.classList.contains("focused")) this.app.viewerChanged(this); // the file's windows
        }
        if (url === this.wanted) break;
      }
    } finally {
      this.fetching = false;
    }
    this.prefetch();
  }

  // After the shown frame: the rest of the series, nearest first and ahead of the scrolling
  // direction first, a few requests at a time, so scrolling through a loaded series is drawn
  // from memory at the screen's rate. A change of window or series starts over.
  prefetch() {
    const key = this.frameUrl(0);
    const index = this.local.image_index;
    const direction = index >= (this.lastIndex ?? index) ? 1 : -1;
    this.lastIndex = index;
    const order = [];
    for (let distance = 1; distance < this.count; distance++) {
      for (const next of [index + direction * distance, index - direction * distance]) {
        if (next >= 0 && next < this.count && order.length < PREFETCH_LIMIT) order.push(next);
      }
    }
    const queue = order.map((i) => this.frameUrl(i)).filter((url) => !frames.get(url));
    const token = (this.prefetchToken = {});
    const worker = async () => {
      while (queue.length && this.prefetchToken === token && this.frameUrl(0) === key) {
        await loadFrame(queue.shift()).catch(() => {});
      }
    };
    for (let i = 0; i < PREFETCH_REQUESTS; i++) worker();
  }

  drawScale() {
    const frame = this.frame;
    if (!frame || !frame.bitmap) return 0;
    const fit = Math.min(this.canvas.width / frame.bitmap.width, this.canvas.height / frame.bitmap.height);
    return fit * this.local.zoom;
  }

  draw() {
    const canvas = this.canvas;
    const width = Math.max(1, Math.round(this.el.clientWidth * devicePixelRatio));
    const height = Math.max(1, Math.round(this.el.clientHeight * devicePixelRatio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, width, height);
    const frame = this.frame;
    this.errorBox.hidden = !(frame && frame.error);
    if (frame && frame.error) {
      this.errorBox.textContent = `⚠ This image cannot be displayed\n${frame.error}`;
      ctx.strokeStyle = "#5a3a10";
      ctx.lineWidth = 2;
      ctx.strokeRect(width * 0.1, height * 0.1, width * 0.8, height * 0.8);
      this.canvas.dataset.drawn = this.wanted === frame.url ? "error" : "stale";
      this.canvas.dataset.url = frame.url;
      return;
    }
    if (!frame || !frame.bitmap) return;
    const scale = this.drawScale();
    const w = frame.bitmap.width * scale,
      h = frame.bitmap.height * scale;
    const cx = width / 2 + this.local.pan_x * scale,
      cy = height / 2 + this.local.pan_y * scale;
    ctx.imageSmoothingEnabled = scale < 4;
    ctx.drawImage(frame.bitmap, cx - w / 2, cy - h / 2, w, h);
    this.measure.draw(ctx, cx - w / 2, cy - h / 2, scale);
    this.canvas.dataset.rect = [cx - w / 2, cy - h / 2, w, h].map(Math.round).join(",");
    this.canvas.dataset.drawn = this.wanted === frame.url ? "current" : "stale";
    this.canvas.dataset.url = frame.url;
  }

  overlay() {
    const s = this.local,
      info = this.series,
      study = info && info.study;
    const count = this.count;
    this.slider.max = String(Math.max(0, count - 1));
    this.slider.value = String(s.image_index);
    this.slider.hidden = count < 2;
    const frame = this.frame && !this.frame.error ? this.frame : null;
    const wc = s.window_center ?? frame?.wc,
      ww = s.window_width ?? frame?.ww;
    this.corners.tl.textContent = study
      ? `${study.name || "(no name)"}\n${study.patient_id}${study.birth_date ? "  " + study.birth_date : ""}`
      : "";
    this.corners.tr.textContent = study
      ? `${study.description || ""}\n${study.date || ""}\n${info.description || ""}${info.number != null ? "  Se " + info.number : ""}`
      : "";
    this.corners.bl.textContent = `Im ${s.image_index + 1}/${count}\nWL ${fmt(wc)} WW ${fmt(ww)}${s.invert ? "  INV" : ""}\nZoom ${Math.round(s.zoom * 100)}%`;
    this.corners.br.textContent = `${s.series.modality || ""}${this.cine ? "\n▶ cine" : ""}`;
    this.el.dataset.imageIndex = s.image_index;
    const what = study
      ? `${study.name || "(no name)"}, ${info.description || s.series.modality || "series"}, `
      : "";
    this.canvas.setAttribute("aria-label", `${what}image ${s.image_index + 1} of ${count}`);
  }
}

function round(value) {
  return Math.round(value * 10) / 10;
}
function fmt(value) {
  return value === undefined || value === null || Number.isNaN(value)
    ? "–"
    : String(Math.round(value * 10) / 10);
}
