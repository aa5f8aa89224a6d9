// The album list of the database window: "Database" (every study), regular and smart albums with
// their counts; choosing one is a workspace change (the RIS sees it). Album changes come back as a
// `library` event, which reloads the counts and the list in every tab.

import { esc, get, post } from "./api.js";
import { $ } from "./dom.js";

export const ALL_STUDIES = "Database"; // the album list's entry for every study (not an album)
export const isRegularAlbum = (album) => !!album && !album.smart && album.name !== ALL_STUDIES;

export class AlbumList {
  constructor(app) {
    this.app = app;
    this.list = $("album-list");
    this.albums = []; // as last loaded: {name, smart, count, error}
  }

  bind() {
    this.list.addEventListener("click", (e) => {
      const li = e.target.closest("li");
      if (li)
        post("db-window", { album: li.dataset.album }).catch((err) => this.app.notices.show(err.message));
    });
    $("new-album").addEventListener("click", () => this.create());
  }

  find(name) {
    return this.albums.find((a) => a.name === name);
  }

  regular() {
    return this.albums.filter(isRegularAlbum);
  }

  async load() {
    try {
      const data = await get("albums");
      this.albums = data.albums;
      const workspace = this.app.workspace;
      const current = workspace ? workspace.db_window.album : data.selected;
      this.list.innerHTML = data.albums
        .map((a) => {
          const classes = [a.smart ? "smart" : "", a.name === ALL_STUDIES ? "database" : ""].join(" ");
          const count = a.count ?? "?";
          return `<li class="${classes}" data-album="${esc(a.name)}" title="${esc(a.error || a.name)}">
            <button type="button"><span class="label">${esc(a.name)}</span>
            <span class="count">${count}</span><span class="sr-only"> studies${a.smart ? ", smart album" : ""}</span></button></li>`;
        })
        .join("");
      this.markCurrent(current);
    } catch (error) {
      this.app.notices.show(error.message);
    }
  }

  // The album the database window shows (the workspace's).
  markCurrent(name) {
    for (const li of this.list.children) {
      const on = li.dataset.album === name;
      li.classList.toggle("selected", on);
      li.firstElementChild.setAttribute("aria-current", String(on));
    }
  }

  add(album, pks) {
    return this.app.notices.attempt(`add to ${album}`, () => post("albums/add", { album, study_pks: pks }));
  }

  remove(album, pks) {
    return this.app.notices.attempt(`remove from ${album}`, () =>
      post("albums/remove", { album, study_pks: pks }),
    );
  }

  // Asks for a name and creates the album; its name as stored, or null.
  async create() {
    const name = await this.app.dialogs.prompt("Name of the new album:");
    if (name === null) return null; // cancelled; an empty name is the server's to refuse, with its reason
    const reply = await this.app.notices.attempt("create the album", () => post("albums", { name }));
    return reply && reply.name;
  }

  async addToNew(pks) {
    const name = await this.create();
    if (name) await this.add(name, pks);
  }
}
