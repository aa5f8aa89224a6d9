// Small DOM helpers every component uses.

// The element with this id (the page's parts are found by id: see index.html).
export const $ = (id) => document.getElementById(id);

// Elements that take the keyboard focus by Tab, in document order, visible and enabled.
const FOCUSABLE = "button, input, select, textarea, a[href], [tabindex]:not([tabindex='-1'])";
export function focusablesIn(root) {
  return [...root.querySelectorAll(FOCUSABLE)].filter(
    (el) => !el.disabled && !el.closest("[hidden]") && el.getClientRects().length > 0,
  );
}
