// Dashboard: the CLIs, the tunnel, turns in flight, and the last hour, day and week, refreshed live.
import { api, bars, columns, copyButton, el, kv, notice, num } from "/admin/core.js";

const loginKinds = { oauth: "subscription", api_key: "API key" };

// A subscription's usage windows as the CLI last reported them: "5h: 42 % used, resets 19:42".
const usage = (windows) => (windows || []).map((w) => [`Usage ${w.window}`,
  `${Math.round(w.used_percent)} % used${w.exhausted ? " (used up: requests get 429)" : ""}${w.resets_at ? ", resets " + new Date(w.resets_at * 1000).toLocaleString() : ""}`]);

function cliPanel(cli, setup, windows) {
  const state = setup?.state === "ready" ? el("span", { class: "badge good" }, "ready") : el("span", { class: "badge bad" }, setup?.state?.replace("_", " ") || "?");
  return el("div", { class: "panel", "data-cli": cli.name }, el("h3", {}, setup?.label || cli.name, " ", state),
    kv([["Version", cli.version], ["Mode", cli.mode], ["Login", cli.logged_in === false ? "not logged in" : loginKinds[cli.login] || cli.login || (cli.logged_in ? "yes" : "?")],
      ...(setup && setup.state !== "ready" ? [["To fix", el("code", {}, setup.next_step)]] : []),
      ...usage(windows),
      ...(cli.last_refusal ? [["Refused", `${new Date(cli.last_refusal.at).toLocaleString()}: ${cli.last_refusal.message}`]] : [])]));
}

function tunnelPanel(t) {
  return el("div", { class: "panel", id: "dash-tunnel" }, el("h3", {}, "Tunnel ", el("span", { class: "badge" + (t.state === "running" ? " good" : t.state === "error" ? " bad" : "") }, t.state)),
    t.url ? el("p", {}, el("code", {}, t.url), " ", copyButton(t.url, "Copy URL")) : el("p", { class: "muted" }, t.message),
    el("a", { href: "#tunnel" }, "Tunnel controls"));
}

function render(view) {
  const parts = {
    clis: el("div", { class: "grid" }, el("div", { class: "panel" }, "Checking the CLIs…")),
    live: el("div", { class: "grid" }),
    windows: el("div", { class: "grid" }),
    charts: el("div", { class: "grid" }),
  };
  view.append(el("h2", {}, "Dashboard"), parts.clis, el("h3", {}, "Now"), parts.live, el("h3", {}, "Requests"), parts.windows, el("h3", {}, "Charts"), parts.charts);
  let failedOnce = false;
  async function refresh() {
    try {
      const week = Math.floor(Date.now() / 1000) - 7 * 86400;
      const [health, stats, setup] = await Promise.all([api("GET", "/health"), api("GET", "/admin/stats?since=" + week), api("GET", "/admin/setup")]);
      const byName = Object.fromEntries(setup.clis.map((c) => [c.name, c]));
      parts.clis.replaceChildren(cliPanel(health.providers.codex, byName.codex, health.usage_windows.codex),
        cliPanel(health.providers.claude, byName.claude, health.usage_windows.claude), tunnelPanel(health.tunnel));
      parts.live.replaceChildren(...stats.turns.map((t) => el("div", { class: "panel", "data-provider": t.provider },
        el("div", { class: "muted" }, `${t.provider} turns`), el("span", { class: "stat" }, `${t.running} running`), " ", el("span", { class: "muted" }, `${t.queued} queued`))),
        el("div", { class: "panel" }, el("div", { class: "muted" }, "Server"), kv([["Version", health.version], ["Uptime", Math.round(health.uptime_seconds / 60) + " min"], ["Storage", health.storage.state]])));
      parts.windows.replaceChildren(...stats.windows.map((w) => el("div", { class: "panel", "data-window": w.window },
        el("div", { class: "muted" }, "Last " + w.window), el("span", { class: "stat" }, num(w.requests)), " requests",
        el("div", { class: "figures" }, el("span", {}, `${num(w.errors)} errors`), el("span", {}, `${num(w.input_tokens + w.output_tokens)} tokens`)))));
      // The last 24 hours, one column per hour, errors on top.
      const now = Math.floor(Date.now() / 3600000) * 3600;
      const hours = Array.from({ length: 24 }, (_, i) => now - (23 - i) * 3600);
      const byHour = Object.fromEntries(stats.by_hour.map((h) => [h.hour, h]));
      const label = (h) => new Date(h * 1000).getHours() + "h";
      parts.charts.replaceChildren(
        el("div", { class: "panel" }, el("h3", {}, "Requests per hour (24 h)"), columns("Requests per hour over the last 24 hours", hours.map(label),
          [{ label: "ok", values: hours.map((h) => (byHour[h]?.requests || 0) - (byHour[h]?.errors || 0)) }, { label: "errors", values: hours.map((h) => byHour[h]?.errors || 0) }])),
        el("div", { class: "panel" }, el("h3", {}, "Tokens per model (7 days)"), bars("Tokens per model over the last 7 days",
          stats.by_model.map((m) => ({ name: m.model || "(none)", value: m.input_tokens + m.output_tokens })))),
        el("div", { class: "panel" }, el("h3", {}, "Latency per provider (7 days)"), bars("Median and 95th percentile latency per provider",
          stats.latency_by_provider.flatMap((p) => [{ name: p.provider + " p50", value: p.p50_ms, note: p.p50_ms + " ms" }, { name: p.provider + " p95", value: p.p95_ms, note: p.p95_ms + " ms" }]))));
      if (failedOnce) notice("");
      failedOnce = false;
    } catch (e) {
      failedOnce = true;
      notice("Refreshing the dashboard failed: " + e.message);
    }
  }
  refresh();
  const timer = setInterval(refresh, 5000);
  return () => clearInterval(timer);
}

export default { title: "Dashboard", render };
