// Tunnel: start and stop a quick or named Cloudflare tunnel, its URL and state, install cloudflared.
import { api, copyButton, el, failed, kv, notice } from "/admin/core.js";

function render(view) {
  const status = el("div", { class: "panel", id: "tunnel-status" }, el("p", { class: "muted" }, "Loading the tunnel state…"));
  const mode = el("select", { id: "tunnel-mode" }, el("option", { value: "quick" }, "Quick tunnel (random trycloudflare.com URL)"), el("option", { value: "named" }, "Named tunnel (tunnelToken in Settings)"));
  const start = el("button", { type: "button", class: "primary", id: "tunnel-start" }, "Start");
  const stop = el("button", { type: "button", id: "tunnel-stop" }, "Stop");
  const install = el("button", { type: "button", id: "tunnel-install" }, "Install cloudflared");
  view.append(el("h2", {}, "Tunnel"),
    el("div", { class: "panel row" }, el("label", {}, "Kind", mode), start, stop, install),
    el("p", { class: "muted" }, "Requests through the tunnel count as from outside: they need the master key or an API key."),
    status);

  let last = null;
  function show(t) {
    last = t;
    start.disabled = t.state === "running" || t.state === "starting" || !t.cloudflared.found;
    stop.disabled = t.state === "stopped";
    install.hidden = t.cloudflared.found && t.install?.state !== "downloading";
    install.disabled = t.install?.state === "downloading" || t.install?.state === "verifying";
    const progress = t.install ? el("p", { id: "tunnel-install-state" }, `Install: ${t.install.state}`,
      t.install.bytes_total ? el("progress", { max: t.install.bytes_total, value: t.install.bytes_downloaded, "aria-label": "Download progress" }) : ` ${Math.round(t.install.bytes_downloaded / 1024)} KB`,
      t.install.error ? el("span", { class: "field-error" }, " " + t.install.error) : null) : null;
    status.replaceChildren(...[
      el("h3", {}, "State ", el("span", { class: "badge " + (t.state === "running" ? "good" : t.state === "error" ? "bad" : ""), id: "tunnel-state" }, t.state)),
      el("p", {}, t.message),
      t.url ? el("p", {}, el("code", { id: "tunnel-url" }, t.url), " ", copyButton(t.url, "Copy URL")) : null,
      kv([["Kind", t.mode], ["Since", t.since ? new Date(t.since).toLocaleString() : null], ["Restarts", String(t.restarts)],
        ["Last error", t.last_error], ["Next restart", t.next_restart_at ? new Date(t.next_restart_at).toLocaleTimeString() : null],
        ["cloudflared", t.cloudflared.found ? t.cloudflared.path : "not installed — " + (t.cloudflared.install_hint || "use Install")]]),
      progress].filter(Boolean));
  }
  async function refresh() {
    try { show(await api("GET", "/admin/tunnel/status")); } catch (e) { failed("Reading the tunnel state")(e); }
  }
  async function act(what, path, body) {
    try { notice(""); show(await api("POST", path, body)); } catch (e) { failed(what)(e); }
  }
  start.addEventListener("click", () => act("Starting the tunnel", "/admin/tunnel/start", { mode: mode.value }));
  stop.addEventListener("click", () => act("Stopping the tunnel", "/admin/tunnel/stop"));
  install.addEventListener("click", () => act("Installing cloudflared", "/admin/tunnel/install"));
  refresh();
  const timer = setInterval(refresh, 2000);
  return () => clearInterval(timer);
}

export default { title: "Tunnel", render };
