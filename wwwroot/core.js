// What every part of the console shares: the key, calls to the server, elements, charts, SSE.
export const session = {
  get key() { return sessionStorage.getItem("consoleKey") || ""; },
  set key(value) { if (value) sessionStorage.setItem("consoleKey", value); else sessionStorage.removeItem("consoleKey"); },
};

export class ApiError extends Error {
  constructor(message, status, body) { super(message); this.status = status; this.body = body; }
}

export function headers(json = true) {
  const h = json ? { "Content-Type": "application/json" } : {};
  if (session.key) h.Authorization = "Bearer " + session.key;
  return h;
}

// One call to the server; throws an ApiError whose message is the server's own sentence.
export async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError("the server cannot be reached (" + e.message + ")", 0);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(data?.error?.message || "HTTP " + response.status, response.status, data);
  return data;
}

// el("button", { class: "x", onclick }, "text", child…): attributes set as properties when the element has them.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name in node && typeof node[name] !== "function" && !name.includes("-")) node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

// The one place the console says what happened: failures in red with the action's name, successes quietly.
export function notice(text, ok = false) {
  const box = $("#notice");
  box.textContent = text || "";
  box.classList.toggle("ok", ok);
  box.hidden = !text;
}
export const failed = (action) => (e) => notice(`${action} failed: ${e.message}`);

export async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    if (button) { const label = button.textContent; button.textContent = "Copied"; setTimeout(() => (button.textContent = label), 1200); }
  } catch {
    notice("Copy failed: the browser did not allow the clipboard; select the text instead.");
  }
}
export const copyButton = (text, label = "Copy") => el("button", { type: "button", onclick: (e) => copy(typeof text === "function" ? text() : text, e.currentTarget) }, label);

export const kv = (pairs) => el("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v ?? "–")]));
export const when = (seconds) => (seconds ? new Date(seconds * 1000).toLocaleString() : "never");
export const num = (n) => (n ?? 0).toLocaleString();
export const table = (head, rows, caption) =>
  el("div", { class: "table", tabindex: 0 }, el("table", {}, caption ? el("caption", { class: "muted" }, caption) : null,
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))), rows instanceof HTMLTableSectionElement ? rows : el("tbody", {}, rows)));

const SVG = "http://www.w3.org/2000/svg";
const svg = (tag, attrs, ...children) => {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
};

// A column chart drawn by us: fixed aspect, so the page does not move when data arrives.
// series: [{ label, values: [..] }] stacked per column (at most two); labels: one per column.
export function columns(title, labels, series, { width = 480, height = 160 } = {}) {
  const max = Math.max(1, ...labels.map((_, i) => series.reduce((s, x) => s + (x.values[i] || 0), 0)));
  const left = 40, bottom = 22, w = (width - left) / Math.max(labels.length, 1);
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title }, svg("title", {}, title));
  chart.append(svg("line", { class: "axis", x1: left, x2: width, y1: height - bottom, y2: height - bottom }),
    svg("text", { x: 0, y: 14 }, short(max)), svg("text", { x: 0, y: height - bottom }, "0"));
  labels.forEach((label, i) => {
    let y = height - bottom;
    series.forEach((s, k) => {
      const h = ((s.values[i] || 0) / max) * (height - bottom - 6);
      y -= h;
      if (h > 0) chart.append(svg("rect", { class: k ? "bar2" : "bar", x: left + i * w + 1, y, width: Math.max(w - 2, 1), height: h }, svg("title", {}, `${label}: ${s.label} ${num(s.values[i])}`)));
    });
    if (labels.length <= 12 || i % Math.ceil(labels.length / 8) === 0) chart.append(svg("text", { x: left + i * w, y: height - 4 }, label));
  });
  return chart;
}

// Horizontal bars, one row per name: [{ name, value, note }].
export function bars(title, rows, { width = 480 } = {}) {
  const rowH = 26, height = Math.max(rows.length, 4) * rowH + 4, left = 170;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title }, svg("title", {}, title));
  if (!rows.length) chart.append(svg("text", { x: 0, y: 18 }, "nothing yet"));
  rows.forEach((r, i) => {
    const y = i * rowH + 2;
    chart.append(svg("text", { x: 0, y: y + 16 }, r.name.length > 20 ? r.name.slice(0, 19) + "…" : r.name),
      svg("rect", { class: "bar", x: left, y, height: rowH - 6, width: Math.max(((width - left - 70) * r.value) / max, 1) }, svg("title", {}, `${r.name}: ${r.note ?? num(r.value)}`)),
      svg("text", { x: left + ((width - left - 70) * r.value) / max + 4, y: y + 16 }, r.note ?? short(r.value)));
  });
  return chart;
}
const short = (n) => (n >= 1e6 ? (n / 1e6).toFixed(1) + "M" : n >= 1e4 ? Math.round(n / 1e3) + "k" : String(n));

// Server-sent events from a fetch response (which, unlike EventSource, can carry the Authorization header).
export async function* sse(response, signal) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    while (!signal?.aborted) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const raw = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        const event = { raw, event: "message", data: "" };
        for (const line of raw.split(/\r?\n/)) {
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "data") event.data += (event.data ? "\n" : "") + value;
          else if (field === "event") event.event = value;
          else if (field === "id") event.id = value;
        }
        if (event.data || event.event !== "message") yield event;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

// A confirmation the keyboard can answer: the native dialog, focus on Cancel.
export function confirmAction(question, action = "Confirm") {
  return new Promise((resolve) => {
    const dialog = el("dialog", { "aria-label": question },
      el("form", { method: "dialog" }, el("p", {}, question),
        el("div", { class: "row" }, el("button", { value: "cancel", autofocus: true }, "Cancel"), el("button", { value: "ok", class: "primary" }, action))));
    dialog.addEventListener("close", () => { resolve(dialog.returnValue === "ok"); dialog.remove(); });
    document.body.append(dialog);
    dialog.showModal();
  });
}
