// The 2D viewers' toolbar: tiling, window presets and a row of tools acting on the focused viewer.
// A tool is one add() call: its button (with its pressed state, when it is a toggle) and its
// keyboard shortcuts come with it, so later tools (measurements, MPR views …) plug in the same way:
//
//   app.viewers.toolbar.add({ id: "ruler", label: "Ruler", title: "Measure a distance (L)",
//                             keys: ["l"], run: (view) => …, pressed: (view) => … });

import { post } from "./api.js";
import { $ } from "./dom.js";
import { presetsFor } from "./viewer.js";

export class ViewerToolbar {
  constructor(app, area) {
    this.app = app;
    this.area = area; // the viewer area: which viewer has the focus
    this.buttons = $("viewer-tool-buttons");
    this.presetSelect = $("preset");
    this.tools = []; // [tool, its button]
    this.presets = []; // the focused viewer's: [name, center, width]
    this.presetSignature = null; // of the presets in the select (rebuilt only when they change)
  }

  bind(shortcuts) {
    document.querySelectorAll("#tiling button").forEach((b) =>
      b.addEventListener("click", () => {
        const [rows, columns] = b.dataset.tiling.split("x").map(Number);
        post("tiling", { rows, columns }).catch((e) => this.app.notices.show(e.message));
      }),
    );
    this.presetSelect.addEventListener("change", (e) => {
      if (e.target.value !== "") this.applyPreset(Number(e.target.value));
      e.target.value = "";
    });
    for (let n = 1; n <= 9; n++) shortcuts.add("viewers", [String(n)], () => this.applyPreset(n - 1));
    this.add({
      id: "invert",
      label: "Invert",
      title: "Invert (I)",
      keys: ["i"],
      run: (v) => v.toggleInvert(),
      pressed: (v) => !!v.local.invert,
    });
    this.add({
      id: "reset",
      label: "Reset",
      title: "Reset window, zoom and pan (R)",
      keys: ["r", "0"],
      run: (v) => v.reset(),
    });
    this.add({
      id: "cine",
      label: (v) => (v && v.cine ? "■ Stop" : "▶ Play"),
      title: "Play / stop (Space)",
      keys: [" "],
      run: (v) => v.toggleCine(),
    });
    this.add({
      id: "close-viewer",
      label: "Close",
      title: "Close this viewer (W)",
      keys: ["w"],
      run: (v) => this.area.close(v),
    });
    this.add({
      id: "close-all",
      label: "Close all",
      title: "Close every viewer",
      withoutViewer: true,
      run: () => post("viewers/close-all").catch((e) => this.app.notices.show(e.message)),
    });
  }

  // A tool: {id, label (text, or a function of the focused viewer), title, keys, run(view),
  // pressed(view) for a toggle, withoutViewer: true if it runs with no viewer open}.
  add(tool) {
    const button = document.createElement("button");
    button.type = "button";
    button.id = tool.id;
    button.title = tool.title || "";
    button.addEventListener("click", () => this.run(tool));
    this.buttons.append(button);
    this.tools.push([tool, button]);
    if (tool.keys) this.app.shortcuts.add("viewers", tool.keys, () => this.run(tool));
    this.renderTool(tool, button, this.area.focused());
    return button;
  }

  run(tool) {
    const view = this.area.focused();
    if (view || tool.withoutViewer) tool.run(view);
  }

  applyPreset(index) {
    const view = this.area.focused();
    const preset = this.presets[index];
    if (view && preset) view.applyPreset(preset[1], preset[2]);
  }

  // Follows the focused viewer: its presets, the tools' labels and pressed states.
  render() {
    const view = this.area.focused();
    const modality = view ? view.local.series.modality || "" : "";
    const fileWindows = (view && view.frame && view.frame.fileWindows) || [];
    const presets = presetsFor(modality, fileWindows);
    const signature = JSON.stringify(presets);
    if (this.presetSignature !== signature || !this.presetSelect.options.length) {
      this.presetSignature = signature;
      this.presets = presets;
      this.presetSelect.replaceChildren(
        new Option("Window presets…", ""),
        ...presets.map(
          ([name, c, w], i) =>
            new Option(`${i + 1}  ${name}${typeof c === "number" ? ` (${c}/${w})` : ""}`, String(i)),
        ),
      );
    }
    for (const [tool, button] of this.tools) this.renderTool(tool, button, view);
  }

  renderTool(tool, button, view) {
    const label = typeof tool.label === "function" ? tool.label(view) : tool.label;
    if (button.textContent !== label) button.textContent = label;
    if (tool.pressed) {
      const on = !!(view && tool.pressed(view));
      button.classList.toggle("active", on);
      button.setAttribute("aria-pressed", String(on));
    }
  }

  renderTiling(rows, columns) {
    document.querySelectorAll("#tiling button").forEach((b) => {
      const on = b.dataset.tiling === `${rows}x${columns}`;
      b.classList.toggle("active", on);
      b.setAttribute("aria-pressed", String(on));
    });
  }
}
