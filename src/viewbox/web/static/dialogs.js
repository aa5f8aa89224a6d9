// Modal dialogs: role="dialog" with aria-modal; while one is open the focus stays inside it (Tab
// and Shift+Tab wrap, a click on the backdrop does not take it out) and its keys are its own (Esc
// closes it and never reaches the page's shortcuts); on closing, the focus goes back where it was.

import { $, focusablesIn } from "./dom.js";

export class ModalDialog {
  // `root`: the backdrop (.modal) holding the [role=dialog] box; `closeKeys` close it (answer null).
  constructor(root, { closeKeys = ["Escape"] } = {}) {
    this.root = root;
    this.box = root.querySelector("[role=dialog], [role=alertdialog]");
    this.closeKeys = closeKeys;
    this.returnFocus = null; // focused before opening
    this.settle = null; // resolves the promise open() returned
    root.addEventListener("keydown", (e) => this.key(e));
    root.addEventListener("mousedown", (e) => {
      if (!this.box.contains(e.target)) e.preventDefault(); // the backdrop keeps the focus where it is
    });
    document.addEventListener("focusin", (e) => {
      if (this.isOpen && !this.box.contains(e.target)) this.focusFirst();
    });
  }

  get isOpen() {
    return !this.root.hidden;
  }

  // Shows the dialog with the focus on `focus` (else its first control); resolves with close()'s answer.
  open(focus = null) {
    if (this.isOpen) this.close(null);
    this.returnFocus = document.activeElement;
    this.root.hidden = false;
    (focus || focusablesIn(this.box)[0] || this.box).focus();
    return new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  close(answer = null) {
    if (!this.isOpen) return;
    this.root.hidden = true;
    const settle = this.settle;
    this.settle = null;
    if (this.returnFocus && this.returnFocus.isConnected) this.returnFocus.focus({ preventScroll: true });
    this.returnFocus = null;
    if (settle) settle(answer);
  }

  focusFirst() {
    (focusablesIn(this.box)[0] || this.box).focus();
  }

  key(e) {
    e.stopPropagation();
    if (this.closeKeys.includes(e.key)) {
      e.preventDefault();
      this.close(null);
    } else if (e.key === "Tab") {
      const controls = focusablesIn(this.box);
      if (!controls.length) return e.preventDefault();
      const at = controls.indexOf(document.activeElement);
      const next = e.shiftKey ? (at <= 0 ? controls.length - 1 : at - 1) : (at + 1) % controls.length;
      e.preventDefault();
      controls[next].focus();
    }
  }
}

// The page's three dialogs: confirm (Delete), prompt (a name), help (the shortcuts).
export class Dialogs {
  constructor() {
    this.confirmBox = new ModalDialog($("confirm"));
    this.promptBox = new ModalDialog($("prompt"));
    this.helpBox = new ModalDialog($("help"), { closeKeys: ["Escape", "?"] });
    $("confirm-ok").addEventListener("click", () => this.confirmBox.close(true));
    $("confirm-cancel").addEventListener("click", () => this.confirmBox.close(null));
    $("prompt-ok").addEventListener("click", () => this.promptBox.close($("prompt-input").value));
    $("prompt-cancel").addEventListener("click", () => this.promptBox.close(null));
    $("prompt-input").addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        this.promptBox.close(e.target.value);
      }
    });
    $("help-close").addEventListener("click", () => this.helpBox.close());
  }

  get isOpen() {
    return this.confirmBox.isOpen || this.promptBox.isOpen || this.helpBox.isOpen;
  }

  // true on OK; null on Cancel or Esc. Cancel has the focus first: Enter does not delete.
  confirm(text) {
    $("confirm-text").textContent = text;
    return this.confirmBox.open($("confirm-cancel"));
  }

  // The text typed (OK or Enter), or null (Cancel or Esc).
  prompt(text) {
    const input = $("prompt-input");
    $("prompt-text").textContent = text;
    input.value = "";
    return this.promptBox.open(input);
  }

  help() {
    return this.helpBox.open();
  }
}
