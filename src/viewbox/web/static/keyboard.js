// The page's keyboard shortcuts, one map per mode ("db": the database window, "viewers": the 2D
// viewers). Components add their own keys (a viewer tool added to the toolbar brings its key);
// the page hands each key press to the current mode's map (see App.key), unless the focused
// control needs that key itself: a button its Enter and Space, a list box its arrows.

export class Shortcuts {
  constructor() {
    this.maps = new Map([
      ["db", new Map()],
      ["viewers", new Map()],
    ]);
  }

  // `keys` are KeyboardEvent.key values ("ArrowDown", "m", "M", "+"); Shift+F10 is "ContextMenu".
  add(mode, keys, action) {
    const map = this.maps.get(mode);
    for (const key of keys) map.set(key, action);
  }

  // Runs the action of `e`'s key in `mode`; true when there was one (the key is then consumed).
  dispatch(mode, e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return false;
    const action = this.maps.get(mode).get(keyName(e));
    if (!action) return false;
    e.preventDefault();
    action(e);
    return true;
  }
}

export function keyName(e) {
  return e.key === "F10" && e.shiftKey ? "ContextMenu" : e.key;
}

// The focused element takes this key itself (it would act on it, or move within itself).
export function controlOwns(e) {
  const el = e.target;
  if (!el || !el.matches) return false;
  if (el.matches("input:not([type=range]), textarea, select, [contenteditable=true]")) return true;
  if (el.matches("input[type=range]"))
    return e.key.startsWith("Arrow") || ["Home", "End", "PageUp", "PageDown"].includes(e.key);
  if (el.matches("button, a[href], summary")) return e.key === "Enter" || e.key === " " || e.key === "Tab";
  return false;
}
