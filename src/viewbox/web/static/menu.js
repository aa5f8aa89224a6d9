// A context menu with submenus that works with the mouse and with the keyboard alone (WAI-ARIA
// menu pattern): ↑ ↓ Home End move, → or Enter opens a submenu, ← or Esc closes one level, Enter
// or Space runs an item; Esc at the top, Tab, a click or scroll elsewhere, or leaving the window close it.
// Keys pressed inside the menu never reach the page's own shortcuts.
//
// An item is {label, action} or {label, items: [...]}, optionally {disabled, title}; {separator: true}
// draws a line. Disabled items can be reached (their title says why) but do nothing.

export class Menu {
  constructor(root) {
    this.root = root;
    this.items = new Map(); // <li> → its item
    this.returnFocus = null; // focused before the menu opened, focused again when it closes
    root.addEventListener("keydown", (e) => this.key(e));
    root.addEventListener("contextmenu", (e) => e.preventDefault());
    root.addEventListener("mouseover", (e) => {
      const li = e.target.closest("li[role=menuitem]");
      if (li) this.hover(li);
    });
    root.addEventListener("click", (e) => {
      const li = e.target.closest("li[role=menuitem]");
      if (li) this.choose(li);
    });
    const outside = (e) => {
      if (this.isOpen && !root.contains(e.target)) this.close();
    };
    document.addEventListener("pointerdown", outside, true);
    document.addEventListener("scroll", outside, true); // the rows it was opened for move away
    window.addEventListener("blur", () => this.close());
    window.addEventListener("resize", () => this.close());
  }

  get isOpen() {
    return !this.root.hidden;
  }

  // Opens at viewport point (x, y); from the keyboard the first item gets the focus at once.
  open(items, x, y, { fromKeyboard = false } = {}) {
    this.close();
    this.returnFocus = document.activeElement;
    this.items.clear();
    const list = this.list(items);
    this.root.replaceChildren(list);
    this.root.hidden = false;
    const { width, height } = this.root.getBoundingClientRect();
    this.root.style.left = `${Math.max(0, Math.min(x, innerWidth - width - 2))}px`;
    this.root.style.top = `${Math.max(0, Math.min(y, innerHeight - height - 2))}px`;
    if (fromKeyboard) this.move(list, 1, null);
    else list.focus();
  }

  close() {
    if (!this.isOpen) return;
    this.root.hidden = true;
    this.root.replaceChildren();
    this.items.clear();
    if (this.returnFocus && this.returnFocus.isConnected) this.returnFocus.focus({ preventScroll: true });
    this.returnFocus = null;
  }

  list(items) {
    const ul = document.createElement("ul");
    ul.setAttribute("role", "menu");
    ul.tabIndex = -1;
    for (const item of items) {
      const li = document.createElement("li");
      if (item.separator) {
        li.setAttribute("role", "separator");
        ul.append(li);
        continue;
      }
      li.setAttribute("role", "menuitem");
      li.tabIndex = -1;
      li.textContent = item.label;
      if (item.title) li.title = item.title;
      if (item.disabled) li.setAttribute("aria-disabled", "true");
      if (item.items) {
        li.setAttribute("aria-haspopup", "menu");
        li.setAttribute("aria-expanded", "false");
        li.append(this.list(item.items));
      }
      this.items.set(li, item);
      ul.append(li);
    }
    return ul;
  }

  // -- submenus ----------------------------------------------------------------------------------
  usable(li) {
    return li.getAttribute("aria-disabled") !== "true";
  }

  openSubmenu(li, focusFirst) {
    for (const sibling of li.parentElement.children) if (sibling !== li) this.closeSubmenu(sibling);
    if (!this.items.get(li)?.items || !this.usable(li)) return;
    li.setAttribute("aria-expanded", "true");
    const sub = li.querySelector(":scope > ul");
    sub.classList.remove("leftward");
    if (sub.getBoundingClientRect().right > innerWidth) sub.classList.add("leftward");
    if (focusFirst) this.move(sub, 1, null);
  }

  closeSubmenu(li) {
    if (li.getAttribute("aria-expanded") !== "true") return;
    li.setAttribute("aria-expanded", "false");
    for (const child of li.querySelectorAll("li[aria-expanded=true]"))
      child.setAttribute("aria-expanded", "false");
  }

  // -- mouse and keys ----------------------------------------------------------------------------
  hover(li) {
    li.focus({ preventScroll: true });
    this.openSubmenu(li, false);
  }

  choose(li) {
    const item = this.items.get(li);
    if (!item || !this.usable(li)) return;
    if (item.items) {
      this.openSubmenu(li, true);
      return;
    }
    this.close();
    item.action();
  }

  // Focus the next (delta 1) or previous (-1) item of `ul` after `from` (null: from an end), wrapping.
  move(ul, delta, from) {
    const lis = [...ul.children].filter((li) => li.getAttribute("role") === "menuitem");
    if (!lis.length) return;
    const at = from ? lis.indexOf(from) : delta > 0 ? -1 : lis.length;
    lis[(at + delta + lis.length) % lis.length].focus({ preventScroll: true });
  }

  key(e) {
    e.stopPropagation();
    const current = e.target.closest("li[role=menuitem]");
    const ul = current ? current.parentElement : this.root.querySelector(":scope > ul");
    const parent = ul.parentElement.closest("li[role=menuitem]");
    const back = () => {
      this.closeSubmenu(parent);
      parent.focus({ preventScroll: true });
    };
    const actions = {
      ArrowDown: () => this.move(ul, 1, current),
      ArrowUp: () => this.move(ul, -1, current),
      Home: () => this.move(ul, 1, null),
      End: () => this.move(ul, -1, null),
      ArrowRight: () => current && this.openSubmenu(current, true),
      ArrowLeft: () => parent && back(),
      Enter: () => current && this.choose(current),
      " ": () => current && this.choose(current),
      Escape: () => (parent ? back() : this.close()),
      Tab: () => this.close(),
    };
    if (actions[e.key]) {
      e.preventDefault();
      actions[e.key]();
    }
  }
}
