// First-run setup: what is installed and logged in, the master key, the port. Plain fetch calls.
"use strict";

const $ = (selector) => document.querySelector(selector);

async function api(method, path, body) {
  const response = await fetch(path, { method, headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error ? data.error.message : "HTTP " + response.status);
  return data;
}

function notice(text) {
  $("#notice").textContent = text;
  $("#notice").hidden = !text;
}

const install = { codex: "npm install -g @openai/codex", claude: "npm install -g @anthropic-ai/claude-code" };
const login = { codex: "codex login", claude: "claude, then /login" };

async function showClis() {
  const health = await api("GET", "/health");
  $("#clis tbody").replaceChildren(...["codex", "claude"].map((name) => {
    const cli = health.providers[name];
    const tr = document.createElement("tr");
    tr.dataset.cli = name;
    const todo = !cli.found ? `Install: ${install[name]}` : cli.logged_in === false ? `Log in on this machine: ${login[name]}` : cli.logged_in ? "Ready" : "Checking…";
    for (const text of [name === "codex" ? "Codex CLI" : "Claude Code", cli.found ? cli.version || "yes" : "no", ({ oauth: "yes (subscription)", api_key: "yes (API key)" }[cli.login] || cli.login || (cli.logged_in === null ? "?" : cli.logged_in ? "yes" : "no")), todo]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  }));
}

async function show() {
  try {
    await showClis();
    const { config } = await api("GET", "/admin/config");
    $("#master-key").textContent = (await api("GET", "/admin/master-key")).master_key;
    $("#port").value = config.port;
    $("#base-url").textContent = location.origin + "/v1";
  } catch (e) {
    notice(e.message + " — setup works from the machine the server runs on.");
  }
}

$("#recheck").addEventListener("click", () => showClis().catch((e) => notice(e.message)));

$("#port-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const result = await api("PATCH", "/admin/config", { port: Number($("#port").value) });
    notice(result.restart_required.includes("port") ? "Saved. Restart the server to listen on the new port." : "Saved.");
  } catch (e) { notice(e.message); }
});

show();
