// Logs: the recent lines, then a live tail. The tail is a fetch() stream rather than an EventSource:
// EventSource cannot send the Authorization header, and a ticket or a cookie would be a second
// credential to issue, expire and guard against CSRF. fetch() sends the same key as every other call,
// so the tail works from outside (through the tunnel) exactly as far as the key does.
import { api, el, failed, headers, notice, sse } from "/admin/core.js";

const Max = 1000; // lines kept in the page
const levels = ["Trace", "Debug", "Information", "Warning", "Error", "Critical"];

function render(view) {
  const entries = [];
  let paused = false, held = 0, lastId = 0;
  const controller = new AbortController();
  const out = el("pre", { class: "log", id: "log-lines", tabindex: 0, "aria-label": "Log lines" });
  const level = el("select", { id: "log-level", onchange: redraw },
    el("option", { value: "Information" }, "Information and up"), el("option", { value: "Warning" }, "Warnings and errors"), el("option", { value: "Error" }, "Errors only"));
  const text = el("input", { id: "log-text", type: "search", placeholder: "text in the line", oninput: redraw });
  const state = el("span", { class: "badge", id: "log-state" }, "connecting");
  const pause = el("button", { type: "button", id: "log-pause", "aria-pressed": "false", onclick: () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume" : "Pause";
    if (!paused) { held = 0; redraw(); }
    showState();
  } }, "Pause");
  const clear = el("button", { type: "button", class: "danger", id: "log-clear", onclick: async () => {
    try { await api("DELETE", "/admin/logs"); entries.length = 0; redraw(); } catch (e) { failed("Clearing the logs")(e); }
  } }, "Clear");
  view.append(el("h2", {}, "Logs"),
    el("div", { class: "row panel" }, el("label", {}, "Level", level), el("label", {}, "Filter", text), pause, clear, state),
    out);

  const shows = (e) => levels.indexOf(e.level) >= levels.indexOf(level.value) && (!text.value || `${e.category} ${e.message}`.toLowerCase().includes(text.value.toLowerCase()));
  const line = (e) => el("span", { class: e.level }, `${new Date(e.time).toLocaleTimeString()} ${e.level.padEnd(11)} ${e.message}\n`);
  function redraw() {
    out.replaceChildren(...entries.filter(shows).map(line));
    out.scrollTop = out.scrollHeight;
  }
  function add(e) {
    lastId = Math.max(lastId, e.id);
    entries.push(e);
    if (entries.length > Max) entries.shift();
    if (paused) { held++; showState(); return; }
    if (!shows(e)) return;
    const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 20;
    out.append(line(e));
    while (out.childNodes.length > Max) out.firstChild.remove();
    if (stick) out.scrollTop = out.scrollHeight;
  }
  let live = false;
  function showState() {
    state.textContent = paused ? `paused (${held} new)` : live ? "live" : "reconnecting";
    state.className = "badge " + (live ? "good" : "bad");
  }

  async function tail() {
    while (!controller.signal.aborted) {
      try {
        // What came since the last line seen (all of the recent ones the first time), then the live stream.
        const recent = await api("GET", `/admin/logs?limit=500&after=${lastId}`);
        recent.data.forEach(add);
        const response = await fetch("/admin/logs/stream", { headers: headers(false), signal: controller.signal });
        if (!response.ok) throw new Error((await response.json().catch(() => null))?.error?.message || "HTTP " + response.status);
        live = true;
        showState();
        for await (const event of sse(response, controller.signal)) {
          const entry = JSON.parse(event.data);
          if (entry.id > lastId) add(entry);
        }
      } catch (e) {
        if (controller.signal.aborted) return;
        notice("The live log tail stopped: " + e.message + " (retrying)");
      }
      live = false;
      showState();
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  tail();
  return () => controller.abort();
}

export default { title: "Logs", render };
