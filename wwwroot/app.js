// The admin console: plain fetch calls to the admin API, no framework, works offline.
"use strict";

const state = { key: sessionStorage.getItem("masterKey") || "" };
const $ = (selector) => document.querySelector(selector);

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.key) headers.Authorization = "Bearer " + state.key;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    $("#login").hidden = false;
    throw new Error("Sign in with the master key (codex-api-server master-key prints it).");
  }
  if (response.status === 204) return null;
  const data = await response.json();
  if (!response.ok) throw new Error(data.error ? data.error.message : "HTTP " + response.status);
  return data;
}

function notice(text) {
  const element = $("#notice");
  element.textContent = text;
  element.hidden = !text;
}

function fill(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([name, value]) => {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    return [dt, dd];
  }));
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.append(cell); else td.textContent = cell;
    tr.append(td);
  }
  return tr;
}

const loginKinds = { oauth: "subscription login", api_key: "API key" };
const cli = (c) => !c.found ? "not found" : `${c.version || "?"}${c.logged_in === false ? " (not logged in)" : loginKinds[c.login] ? ` (${loginKinds[c.login]})` : ""}${c.mode ? ", " + c.mode : ""}`;
// The last request the subscription refused as third-party use: the operator has to act (README, "Using a subscription").
const refusal = (c) => c.last_refusal ? [[`${c.name} refused`, `${new Date(c.last_refusal.at).toLocaleString()}: ${c.last_refusal.message}`]] : [];

// "5h 100 % (resets 14:05), weekly 40 %": what each usage window of a subscription last reported.
const windows = (list) => list.length === 0 ? "not reported yet" : list.map((w) =>
  `${w.window} ${Math.round(w.used_percent)} %${w.exhausted ? " (exhausted)" : ""}${w.resets_at ? " (resets " + new Date(w.resets_at * 1000).toLocaleString() + ")" : ""}`).join(", ");

async function showDashboard() {
  const health = await api("GET", "/health");
  fill($("#health"), [
    ["Status", health.status], ["Version", health.version], ["Uptime", health.uptime_seconds + " s"],
    ["Codex", cli(health.providers.codex)], ["Claude Code", cli(health.providers.claude)],
    ...refusal(health.providers.codex), ...refusal(health.providers.claude),
    ["Tunnel", health.tunnel.state + (health.tunnel.url ? " " + health.tunnel.url : "")],
    ["Storage", health.storage.state],
    ["Codex usage", windows(health.usage_windows.codex)], ["Claude usage", windows(health.usage_windows.claude)],
  ]);
  const stats = await api("GET", "/admin/stats");
  fill($("#totals"), [["Requests", stats.requests], ["Errors", stats.errors], ["Input tokens", stats.input_tokens], ["Output tokens", stats.output_tokens]]);
  $("#by-model tbody").replaceChildren(...stats.by_model.map((m) => row([m.model || "-", m.requests, m.errors, m.input_tokens, m.output_tokens])));
}

async function showKeys() {
  const list = await api("GET", "/v1/api-keys");
  $("#key-list tbody").replaceChildren(...list.data.map((k) => {
    const revoke = document.createElement("button");
    revoke.textContent = "Revoke";
    revoke.disabled = !k.active;
    revoke.onclick = async () => { await api("POST", `/v1/api-keys/${k.id}/revoke`); await showKeys(); };
    return row([k.name, k.prefix + "…", k.scopes.join(" "), k.last_used_at ? new Date(k.last_used_at * 1000).toLocaleString() : "never", k.active ? "active" : "revoked", revoke]);
  }));
}

let logSource = null;
async function showLogs() {
  const recent = await api("GET", "/admin/logs?limit=500");
  const pre = $("#log-lines");
  pre.textContent = recent.data.map(formatLog).join("\n") + "\n";
  if (logSource) return;
  // EventSource cannot send headers: the live tail works where the console needs no key (this machine).
  logSource = new EventSource("/admin/logs/stream");
  logSource.onmessage = (event) => {
    pre.textContent += formatLog(JSON.parse(event.data)) + "\n";
    pre.scrollTop = pre.scrollHeight;
  };
}
const formatLog = (e) => `${e.time} ${e.level} ${e.message}`;

const settingFields = [
  ["port", "number"], ["host", "text"], ["defaultModel", "text"], ["allowLocalWithoutAuth", "checkbox"],
  ["tunnelAutoStart", "checkbox"], ["tunnelToken", "password"], ["tunnelCustomUrl", "text"],
  ["codexPath", "text"], ["claudePath", "text"], ["cloudflaredPath", "text"],
  ["maxConcurrentTurns", "number"], ["queueTimeoutSeconds", "number"], ["turnTimeoutSeconds", "number"],
  ["firstOutputTimeoutSeconds", "number"], ["idleStreamTimeoutSeconds", "number"], ["toolResultTimeoutSeconds", "number"], ["claudeSystemPrompt", "text"],
];

async function showSettings() {
  const { config, tunnel_token_set } = await api("GET", "/admin/config");
  const form = $("#settings-form");
  form.replaceChildren(...settingFields.flatMap(([name, type]) => {
    const label = document.createElement("label");
    label.textContent = name;
    label.htmlFor = "setting-" + name;
    const input = document.createElement("input");
    input.id = "setting-" + name;
    input.name = name;
    input.type = type;
    if (type === "checkbox") input.checked = !!config[name]; else input.value = config[name] ?? "";
    // Secrets are never sent back: an empty field keeps the one that is set.
    if (name === "tunnelToken" && tunnel_token_set) input.placeholder = "set (type to replace)";
    return [label, input];
  }));
  const save = document.createElement("button");
  save.textContent = "Save";
  form.append(save);
  $("#master-key-value").textContent = "msk_… (hidden)";
}

$("#reveal").addEventListener("click", async () => {
  try { $("#master-key-value").textContent = (await api("GET", "/admin/master-key")).master_key; } catch (e) { notice(e.message); }
});

$("#settings-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const patch = {};
  for (const [name, type] of settingFields) {
    const input = event.target.elements[name];
    if (type === "checkbox") patch[name] = input.checked;
    else if (type === "number") patch[name] = Number(input.value);
    else if (name === "tunnelToken") { if (input.value !== "") patch[name] = input.value; }
    else patch[name] = input.value === "" ? null : input.value;
  }
  try {
    const result = await api("PATCH", "/admin/config", patch);
    notice(result.restart_required.length ? "Saved. Restart the server for: " + result.restart_required.join(", ") : "Saved.");
  } catch (e) { notice(e.message); }
});

$("#regenerate").addEventListener("click", async () => {
  if (!confirm("Every client using the old master key stops working. Regenerate?")) return;
  let master_key;
  try { ({ master_key } = await api("POST", "/admin/master-key/regenerate")); } catch (e) { notice(e.message); return; }
  if (state.key) { state.key = master_key; sessionStorage.setItem("masterKey", master_key); }
  $("#master-key-value").textContent = master_key;
  notice("New master key saved.");
});

$("#new-key").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const body = { name: form.elements.name.value, scopes: [...form.querySelectorAll("[name=scope]:checked")].map((c) => c.value) };
  if (form.elements.rpm.value) body.requests_per_minute = Number(form.elements.rpm.value);
  try {
    const created = await api("POST", "/v1/api-keys", body);
    $("#new-key-value code").textContent = created.key;
    $("#new-key-value").hidden = false;
    form.reset();
    await showKeys();
  } catch (e) { notice(e.message); }
});

$("#clear-logs").addEventListener("click", async () => { await api("DELETE", "/admin/logs"); $("#log-lines").textContent = ""; });

$("#login").addEventListener("submit", (event) => {
  event.preventDefault();
  state.key = $("#master-key").value.trim();
  sessionStorage.setItem("masterKey", state.key);
  $("#login").hidden = true;
  show();
});

const views = { dashboard: showDashboard, keys: showKeys, logs: showLogs, settings: showSettings };
async function show() {
  const tab = (location.hash || "#dashboard").slice(1);
  for (const name of Object.keys(views)) {
    document.getElementById(name).hidden = name !== tab;
    document.querySelector(`[data-tab=${name}]`).classList.toggle("active", name === tab);
  }
  notice("");
  try { await (views[tab] || showDashboard)(); } catch (e) { notice(e.message); }
}
window.addEventListener("hashchange", show);
show();
