// First-run setup: each CLI with the command that fixes it (from the server), a test request,
// the master key, the port, and a ready snippet for the popular clients.
import { $, api, copy, el, notice, session } from "/admin/core.js";

async function showClis() {
  const setup = await api("GET", "/admin/setup");
  $("#clis tbody").replaceChildren(...setup.clis.map((cli) => el("tr", { "data-cli": cli.name, "data-state": cli.state },
    el("td", {}, cli.label), el("td", {}, cli.found ? cli.version || "yes" : "no"),
    el("td", {}, ({ oauth: "yes (subscription)", api_key: "yes (API key)" })[cli.login] || (cli.logged_in === null ? "?" : cli.logged_in ? "yes" : "no")),
    el("td", {}, cli.state === "ready" ? "Ready" : el("span", {}, cli.next_step, " ",
      el("button", { type: "button", onclick: (e) => copy(cli.state === "missing" ? cli.install_command : cli.login_command, e.currentTarget) }, "Copy command"))))));
  $("#port-now").textContent = `Listening on ${setup.listening_port} now${setup.configured_port !== setup.listening_port ? `; ${setup.configured_port} after a restart` : ""}.`;
  return setup;
}

const clients = (base, key, model) => ({
  "OpenAI SDK": `from openai import OpenAI\n\nclient = OpenAI(base_url="${base}/v1", api_key="${key}")\nreply = client.chat.completions.create(model="${model}", messages=[{"role": "user", "content": "Hello"}])\nprint(reply.choices[0].message.content)`,
  "Open WebUI": `Admin Panel → Settings → Connections → OpenAI API → Add connection\n  URL:     ${base}/v1\n  API key: ${key}\nThe models appear in the model list.`,
  Continue: `# ~/.continue/config.yaml\nmodels:\n  - name: ${model}\n    provider: openai\n    model: ${model}\n    apiBase: ${base}/v1\n    apiKey: ${key}`,
  Cline: `Settings → API Provider: OpenAI Compatible\n  Base URL: ${base}/v1\n  API Key:  ${key}\n  Model ID: ${model}`,
  "Claude Code": `ANTHROPIC_BASE_URL=${base} ANTHROPIC_API_KEY=${key} claude --model claude-sonnet-4-5`,
});

async function show() {
  try {
    await api("GET", "/admin/setup");
  } catch (e) {
    if (e.status === 401 || e.status === 403) { $("#login-view").hidden = false; $("#steps").hidden = true; return; }
    notice("Loading setup failed: " + e.message);
    return;
  }
  $("#login-view").hidden = true;
  $("#steps").hidden = false;
  try {
    const setup = await showClis();
    // An admin API key may set up everything but the master key, which only the master key (or this machine) can read.
    const masterKey = api("GET", "/admin/master-key").then((r) => r.master_key, (e) => "(not shown: " + e.message + ")");
    const [{ config }, models] = await Promise.all([api("GET", "/admin/config"), api("GET", "/v1/models")]);
    $("#master-key").textContent = await masterKey;
    $("#port").value = config.port;
    const base = location.origin;
    $("#base-url").textContent = base + "/v1";
    $("#test-model").replaceChildren(...models.data.map((m) => el("option", { value: m.id, selected: m.id === setup.default_model }, m.id)));
    const snippets = clients(base, "YOUR_KEY", setup.default_model);
    const tabs = Object.keys(snippets).map((name, i) => el("button", { type: "button", role: "tab", "aria-selected": String(i === 0), onclick: () => pick(name) }, name));
    const pick = (name) => {
      for (const t of tabs) t.setAttribute("aria-selected", String(t.textContent === name));
      $("#snippet").textContent = snippets[name];
    };
    $("#client-tabs").replaceChildren(...tabs);
    pick("OpenAI SDK");
  } catch (e) {
    notice("Loading setup failed: " + e.message);
  }
}

$("#recheck").addEventListener("click", () => showClis().catch((e) => notice("Checking the CLIs failed: " + e.message)));
$("#copy-master-key").addEventListener("click", (e) => copy($("#master-key").textContent, e.currentTarget));
$("#copy-snippet").addEventListener("click", (e) => copy($("#snippet").textContent, e.currentTarget));

$("#test-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = $("#test-result");
  const model = $("#test-model").value;
  result.textContent = `Asking ${model}…`;
  const started = performance.now();
  try {
    const reply = await api("POST", "/v1/chat/completions", { model, messages: [{ role: "user", content: "Reply with one short sentence: are you there?" }] });
    result.textContent = `${model} answered in ${Math.round(performance.now() - started)} ms: ${reply.choices[0].message.content}`;
    result.dataset.ok = "true";
  } catch (e) {
    result.textContent = "";
    notice(`The test request to ${model} failed: ${e.message}`);
  }
});

$("#port-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const result = await api("PATCH", "/admin/config", { port: Number($("#port").value) });
    notice(result.restart_required.includes("port") ? "Saved. Restart the server to listen on the new port." : "Saved.", true);
    await showClis();
  } catch (e) { notice("Saving the port failed: " + e.message); }
});

$("#login-view").addEventListener("submit", (event) => {
  event.preventDefault();
  session.key = $("#login-key").value.trim();
  show();
});

show();
