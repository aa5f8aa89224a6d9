// What the page knows of series: details by series (for the viewers' overlays) and the series
// list of each study (for the thumbnails), fetched once and dropped when the library changes.

import { esc, get } from "./api.js";

export class SeriesCatalog {
  constructor() {
    this.details = new Map(); // series pk → info (with its study)
    this.ofStudy = new Map(); // study pk → promise of {study, series}
  }

  info(pk) {
    return this.details.get(pk);
  }

  remember(details) {
    for (const [pk, info] of Object.entries(details)) this.details.set(Number(pk), info);
  }

  // The details of series `pk` (fetched if not known yet); null if the server has none.
  async ensure(pk) {
    if (this.details.has(pk)) return this.details.get(pk);
    try {
      const info = await get(`series/${pk}`);
      this.details.set(pk, info);
      return info;
    } catch {
      return null;
    }
  }

  seriesOfStudy(studyPk) {
    if (!this.ofStudy.has(studyPk)) {
      const request = get(`studies/${studyPk}/series`).catch(() => {
        this.ofStudy.delete(studyPk);
        return { series: [] };
      });
      this.ofStudy.set(studyPk, request);
    }
    return this.ofStudy.get(studyPk);
  }

  libraryChanged() {
    this.ofStudy.clear();
  }
}

// A series' thumbnail: a button (keyboard and screen readers reach it) with the image and captions.
export function seriesThumb(series) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = "thumb";
  el.dataset.pk = series.pk;
  el.dataset.uid = series.uid;
  const count = series.frames > series.images ? `${series.frames} fr` : `${series.images} im`;
  el.title = `${series.description || "(no description)"} — ${series.modality} — ${count}`;
  el.innerHTML = `<img loading="lazy" alt="" src="${series.thumbnail}"><span class="caption">${esc(series.number ?? "")} ${esc(series.description || series.modality)}</span><span class="caption">${esc(series.modality)} · ${count}</span>`;
  return el;
}
