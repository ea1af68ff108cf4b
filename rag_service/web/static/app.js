// The page: ask (streamed), follow up in the same conversation, open each citation's span.
import { apiKey, askStream, del, getJSON, setApiKey, upload } from "./api.js";

const $ = (sel) => document.querySelector(sel);
const REASONS = {
  low_confidence: "the evidence found is too weak to answer from",
  unknown_entity: "the question names something the documents never mention",
  prompt_injection: "the question asks the service to ignore its instructions",
  no_evidence: "nothing relevant was found in the documents",
  low_retrieval: "nothing relevant enough was found in the documents",
  generator_abstained: "the model found no answer in the passages",
  unsupported_claims: "no claim of the model's answer was supported by its sources",
  no_verified_citation: "no citation could be verified against the documents",
};

const state = { conversationId: null, busy: false, texts: new Map() };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

// --- asking -----------------------------------------------------------------------------

function newTurn(question) {
  $("#empty-hint").hidden = true;
  const li = el("li", { class: "turn", "data-state": "streaming" },
    el("p", { class: "q", text: question }),
    el("div", { class: "answer", "aria-busy": "true" }));
  $("#turns").append(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

function citationLink(turn, c, n) {
  return el("a", {
    class: "cite", href: "#", "data-n": String(n),
    "aria-label": `source ${n}: ${c.document}`, text: `[${n}]`,
    onclick: (e) => { e.preventDefault(); openCitation(c); },
  });
}

/** The answer with a marker after each cited quote it contains (others at the end). */
function renderAnswer(turn, body) {
  const box = turn.querySelector(".answer");
  box.replaceChildren();
  box.removeAttribute("aria-busy");
  const text = body.answer;
  const placed = body.citations.map((c, i) => {
    const at = text.indexOf(c.quote);
    return { c, n: i + 1, end: at >= 0 ? at + c.quote.length : text.length };
  }).sort((a, b) => a.end - b.end || a.n - b.n);
  let pos = 0;
  for (const p of placed) {
    if (p.end > pos) { box.append(text.slice(pos, p.end)); pos = p.end; }
    box.append(citationLink(turn, p.c, p.n));
  }
  box.append(text.slice(pos));
}

function renderDone(turn, body) {
  turn.dataset.state = "done";
  turn.dataset.answerable = String(body.answerable);
  turn.classList.toggle("abstained", !body.answerable);
  if (body.rewrite === "followup" && body.standalone_question) {
    turn.querySelector(".q").after(el("p", { class: "standalone" },
      "Searched as: ", el("q", { text: body.standalone_question })));
  }
  renderAnswer(turn, body);
  if (!body.answerable) {
    turn.append(el("p", { class: "reason", "data-reason": body.reason },
      `Not answered — ${REASONS[body.reason] || body.reason} (${body.reason}).`));
  } else if (body.citations.length) {
    const list = el("ol", { class: "sources", "aria-label": "Sources" });
    body.citations.forEach((c, i) => list.append(el("li", {},
      el("a", { href: "#", class: "source", "data-n": String(i + 1),
        onclick: (e) => { e.preventDefault(); openCitation(c); } },
      `${c.document}: “${c.quote.length > 90 ? c.quote.slice(0, 90) + "…" : c.quote}”`))));
    turn.append(list);
  }
  const timings = Object.entries(body.timings_ms || {})
    .map(([k, v]) => `${k} ${v} ms`).join(", ");
  const details = el("details", { class: "details" }, el("summary", { text: "Details" }),
    el("dl", {},
      el("dt", { text: "provider" }), el("dd", { text: `${body.provider}${body.model ? " / " + body.model : ""}` }),
      el("dt", { text: "confidence" }), el("dd", { text: body.confidence == null ? "—" : String(body.confidence) }),
      el("dt", { text: "reason" }), el("dd", { text: body.reason }),
      el("dt", { text: "timings" }), el("dd", { text: timings })));
  const copy = el("button", { type: "button", class: "copy", text: "Copy answer",
    onclick: () => copyAnswer(body, copy) });
  turn.append(el("div", { class: "turn-tools" }, copy, details));
}

async function copyAnswer(body, button) {
  const sources = body.citations.map((c, i) =>
    `[${i + 1}] ${c.document} (${c.start}-${c.end}): "${c.quote}"`).join("\n");
  const text = sources ? `${body.answer}\n\n${sources}` : body.answer;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => { button.textContent = "Copy answer"; }, 1500);
}

async function ask(question) {
  if (state.busy) return;
  state.busy = true;
  $("#ask-button").disabled = true;
  showError("");
  const turn = newTurn(question);
  const answer = turn.querySelector(".answer");
  const body = { question };
  if (state.conversationId) body.conversation_id = state.conversationId;
  try {
    await askStream(body, (name, data) => {
      if (name === "delta") answer.append(data);
      else if (name === "done") {
        state.conversationId = data.conversation_id || state.conversationId;
        renderDone(turn, data);
      } else if (name === "error") {
        throw new Error(data.error ? data.error.message : "the answer failed");
      }
    });
    if (turn.dataset.state !== "done") throw new Error("the answer stream ended early");
  } catch (e) {
    turn.dataset.state = "error";
    answer.removeAttribute("aria-busy");
    answer.textContent = "";
    turn.append(el("p", { class: "reason", text: `Error: ${e.message}` }));
    showError(e.message);
    if (e.code === "not_found" && state.conversationId) state.conversationId = null;
  } finally {
    state.busy = false;
    $("#ask-button").disabled = false;
    $("#question").focus();
  }
}

function newConversation() {
  state.conversationId = null;
  $("#turns").replaceChildren();
  $("#empty-hint").hidden = false;
  showError("");
  $("#question").focus();
}

// --- the document viewer ----------------------------------------------------------------

async function documentText(name) {
  if (!state.texts.has(name)) {
    state.texts.set(name, getJSON(`/v1/documents/${encodeURIComponent(name)}/text`));
  }
  try {
    return await state.texts.get(name);
  } catch (e) {
    state.texts.delete(name);
    throw e;
  }
}

async function openCitation(c) {
  try {
    const doc = await documentText(c.document);
    const viewer = $("#viewer");
    $("#viewer-title").textContent = doc.title && doc.title !== doc.source
      ? `${doc.title} (${doc.source})` : doc.source;
    const mark = el("mark", { id: "cited-span", text: doc.text.slice(c.start, c.end) });
    $("#viewer-text").replaceChildren(doc.text.slice(0, c.start), mark, doc.text.slice(c.end));
    viewer.hidden = false;
    mark.scrollIntoView({ block: "center" });
    $("#viewer-text").focus({ preventScroll: true });
  } catch (e) {
    showError(`Cannot open ${c.document}: ${e.message}`);
  }
}

// --- documents --------------------------------------------------------------------------

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

async function loadDocuments() {
  const tbody = $("#doc-table tbody");
  try {
    const docs = await getJSON("/v1/documents");
    tbody.replaceChildren(...docs.map((d) => el("tr", { "data-source": d.source },
      el("td", { class: "name", text: d.source, title: d.title }),
      el("td", { text: size(d.bytes) }),
      el("td", { text: String(d.chunks) }),
      el("td", { text: new Date(d.updated_at).toLocaleString() }),
      el("td", {}, el("button", { type: "button", class: "delete", "aria-label": `Delete ${d.source}`,
        text: "Delete", onclick: () => removeDocument(d.source) })))));
  } catch (e) {
    showError(`Cannot list the documents: ${e.message}`);
  }
}

async function removeDocument(source) {
  if (!window.confirm(`Delete “${source}” and its passages from the index?`)) return;
  try {
    await del(`/v1/documents/${encodeURIComponent(source)}`);
    state.texts.delete(source);
    $("#upload-status").textContent = `${source}: deleted`;
  } catch (e) {
    showError(`Cannot delete ${source}: ${e.message}`);
  }
  await loadDocuments();
}

async function uploadFile(file) {
  const progress = $("#upload-progress");
  const status = $("#upload-status");
  progress.hidden = false;
  progress.value = 0;
  status.textContent = `Uploading ${file.name}…`;
  try {
    const { body } = await upload(file, (p) => { progress.value = p; });
    progress.value = 100;
    status.textContent = `${body.source}: ${body.status} (${body.chunks} chunks)`;
    state.texts.delete(body.source);
    showError("");
  } catch (e) {
    status.textContent = `${file.name}: not ingested`;
    showError(`Upload of ${file.name} failed: ${e.message}`);
  } finally {
    progress.hidden = true;
  }
  await loadDocuments();
}

function toggleDocuments(open) {
  const panel = $("#documents");
  panel.hidden = !open;
  $("#toggle-docs").setAttribute("aria-expanded", String(open));
  if (open) loadDocuments();
}

// --- wiring -----------------------------------------------------------------------------

function init() {
  const form = $("#ask-form");
  const input = $("#question");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    input.value = "";
    ask(q);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  $("#new-conversation").addEventListener("click", newConversation);
  $("#toggle-docs").addEventListener("click", () => toggleDocuments($("#documents").hidden));
  $("#close-docs").addEventListener("click", () => toggleDocuments(false));
  $("#close-viewer").addEventListener("click", () => { $("#viewer").hidden = true; });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { $("#viewer").hidden = true; }
  });
  const key = $("#api-key");
  key.value = apiKey();
  key.addEventListener("change", () => { setApiKey(key.value.trim()); showError(""); });
  $("#upload").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) uploadFile(file);
    e.target.value = "";
  });
  const zone = $("#drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) uploadFile(file);
  });
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("#upload").click(); }
  });
  document.body.dataset.ready = "true";
  input.focus();
}

init();
