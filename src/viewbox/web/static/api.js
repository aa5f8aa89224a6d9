// Talking to the workstation: JSON calls under /api/ui/ and the live event stream.

// Text made safe to place in innerHTML.
export const esc = (text) =>
  String(text ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function answer(response) {
  const text = await response.text();
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { message: text };
  }
  if (!response.ok) throw new ApiError(response.status, data.message || response.statusText);
  return data;
}

export async function get(path, params) {
  const query = params
    ? "?" +
      new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""))
    : "";
  return answer(await fetch(`/api/ui/${path}${query}`, { cache: "no-store" }));
}

export async function post(path, body = {}) {
  return answer(
    await fetch(`/api/ui/${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
}

export async function upload(batch, file, name) {
  return answer(
    await fetch(`/api/ui/upload/${batch}?name=${encodeURIComponent(name || file.name)}`, {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: file,
    }),
  );
}

// Server-Sent Events; EventSource reconnects by itself and `hello` arrives on every (re)connect,
// which is when the page refetches the whole state (nothing is missed while disconnected).
export function listen(handlers, onConnection) {
  const source = new EventSource("/api/ui/events");
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => handler(JSON.parse(event.data || "{}")));
  }
  source.addEventListener("hello", () => onConnection(true));
  source.onerror = () => onConnection(false);
  return source;
}
