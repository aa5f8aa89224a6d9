// The database window's series panel: thumbnails of the series of one selected study (the one
// last clicked while it stays selected, else the first selected). Click selects a series,
// double-click opens it.

import { $ } from "./dom.js";
import { seriesThumb } from "./series.js";

export class SeriesPanel {
  constructor(app) {
    this.app = app;
    this.title = $("series-title");
    this.box = $("series-thumbs");
    this.studyPk = null; // the study whose series the user wants to see
    this.renderedPk = undefined; // the study drawn (undefined: nothing drawn yet, or stale)
  }

  prefer(studyPk) {
    this.studyPk = studyPk;
  }

  // The library changed: draw again on the next follow().
  invalidate() {
    this.renderedPk = undefined;
  }

  // Follows the list's selection: `rows` of the page, `selected` study UIDs, `firstPk` the first selected.
  follow(rows, selected, firstPk) {
    const stillSelected = rows.some((s) => s.pk === this.studyPk && selected.has(s.uid));
    const target = stillSelected ? this.studyPk : firstPk;
    if (target !== this.renderedPk) this.render(target);
    const selectedSeries = new Set(this.selectedSeriesUids());
    for (const el of this.box.querySelectorAll(".thumb")) this.mark(el, selectedSeries.has(el.dataset.uid));
  }

  selectedSeriesUids() {
    const workspace = this.app.workspace;
    return workspace ? workspace.db_window.selected_series_uids : [];
  }

  mark(el, selected) {
    el.classList.toggle("selected", selected);
    el.setAttribute("aria-pressed", String(selected));
  }

  async render(studyPk) {
    this.renderedPk = studyPk;
    this.studyPk = studyPk;
    if (studyPk === null || studyPk === undefined) {
      this.title.textContent = "Select a study to see its series";
      this.box.replaceChildren();
      return;
    }
    const data = await this.app.series.seriesOfStudy(studyPk);
    if (this.renderedPk !== studyPk) return;
    const study = data.study;
    this.title.textContent = study
      ? `${study.name || "(no name)"} — ${study.description || "study"} — ${data.series.length} series`
      : "";
    const selectedSeries = new Set(this.selectedSeriesUids());
    this.box.replaceChildren(
      ...data.series.map((series) => {
        const el = seriesThumb(series);
        this.mark(el, selectedSeries.has(series.uid));
        el.addEventListener("click", () =>
          this.app.studyList.sendSelection({ study_uids: [study.uid], series_uids: [series.uid] }),
        );
        el.addEventListener("dblclick", () => this.app.actions.openSeries([series.pk]));
        return el;
      }),
    );
  }
}
