// Short notices (refusals, failed jobs) and the live connection's state. Both are live regions,
// so a screen reader reads them out, and both say what they mean in words, not by colour alone.

const NOTICE_MS = 5000;

export class Notices {
  // `toast`: the notice box (inside a role="alert" region); `connection`: the status indicator.
  constructor(toast, connection) {
    this.toast = toast;
    this.connection = connection;
    this.timer = null; // hides the notice after NOTICE_MS
  }

  show(message) {
    this.toast.textContent = message;
    this.toast.hidden = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.toast.hidden = true;
    }, NOTICE_MS);
  }

  // Runs an API call; a refusal becomes a notice ("Cannot <what>: <reason>") and null.
  async attempt(what, call) {
    try {
      return await call();
    } catch (error) {
      this.show(`Cannot ${what}: ${error.message}`);
      return null;
    }
  }

  // The event stream is up (live) or reconnecting: a filled or hollow dot and the word.
  setLive(live) {
    this.connection.classList.toggle("live", live);
    this.connection.querySelector(".dot").textContent = live ? "●" : "○";
    this.connection.querySelector(".label").textContent = live ? "Live" : "Offline, reconnecting…";
  }
}
