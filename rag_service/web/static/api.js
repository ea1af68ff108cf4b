// The /v1 API as the page uses it: the API key (session storage), JSON calls, the SSE stream.

const KEY = "rag-api-key";

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setApiKey(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

export function headers(extra = {}) {
  const h = { ...extra };
  const key = apiKey();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

/** An API error in words: the service's `{"error": {"code", "message"}}`, else the status. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function errorOf(response) {
  let code = "http_error";
  let message = `the server answered ${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    /* not JSON: keep the status line */
  }
  if (response.status === 401) message += " — enter an API key (top right)";
  return new ApiError(response.status, code, message);
}

export async function getJSON(path) {
  const r = await fetch(path, { headers: headers() });
  if (!r.ok) throw await errorOf(r);
  return r.json();
}

export async function del(path) {
  const r = await fetch(path, { method: "DELETE", headers: headers() });
  if (!r.ok) throw await errorOf(r);
}

/** POST /v1/ask/stream; calls onEvent(name, data) for each Server-Sent Event. */
export async function askStream(body, onEvent, signal) {
  const r = await fetch("/v1/ask/stream", {
    method: "POST",
    headers: headers({ "content-type": "application/json", accept: "text/event-stream" }),
    body: JSON.stringify(body),
    signal,
  });
  if (!r.ok) throw await errorOf(r);
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

/** Upload with progress (fetch has no upload progress): resolves to {status, body}. */
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/documents");
    for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(100 * e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError(0, "network", "the upload failed: network error"));
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* empty */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve({ status: xhr.status, body });
      else {
        const e = body && body.error;
        reject(new ApiError(xhr.status, e ? e.code : "http_error",
          e ? e.message : `the server answered ${xhr.status}`));
      }
    };
    const form = new FormData();
    form.append("file", file);
    xhr.send(form);
  });
}
