// API keys: create (the key shown once), edit, revoke, delete, and each key's usage.
import { api, bars, confirmAction, copyButton, el, failed, kv, notice, num, table, when } from "/admin/core.js";

const scopes = ["chat", "responses", "messages", "models", "admin"];
const toDate = (s) => (s ? new Date(s * 1000).toISOString().slice(0, 10) : "");
const fromDate = (v) => (v ? Math.floor(new Date(v + "T23:59:59").getTime() / 1000) : null);

// The fields of a key, for creating one or editing it.
function fields(key = {}) {
  const chosen = key.scopes || ["chat", "responses", "messages", "models"];
  return [
    el("label", {}, "Name", el("input", { name: "name", required: true, maxLength: 100, value: key.name || "" })),
    el("fieldset", { class: "row" }, el("legend", {}, "Scopes"),
      scopes.map((s) => el("label", { class: "check" }, el("input", { type: "checkbox", name: "scope", value: s, checked: chosen.includes(s) }), " " + s))),
    el("div", { class: "row" },
      el("label", {}, "Expires (empty: never)", el("input", { type: "date", name: "expires", value: toDate(key.expires_at) })),
      el("label", {}, "Requests per minute", el("input", { type: "number", min: 1, name: "rpm", value: key.requests_per_minute ?? "", placeholder: "no limit" })),
      el("label", {}, "Tokens per day", el("input", { type: "number", min: 1, name: "tpd", value: key.tokens_per_day ?? "", placeholder: "no limit" }))),
  ];
}
function read(form, editing) {
  const f = form.elements;
  const body = { name: f.name.value.trim(), scopes: [...form.querySelectorAll("[name=scope]:checked")].map((c) => c.value) };
  const expires = fromDate(f.expires.value);
  if (expires) body.expires_at = expires; else if (editing) body.clear_expires_at = true;
  // Editing: 0 clears a limit.
  body.requests_per_minute = f.rpm.value ? Number(f.rpm.value) : editing ? 0 : undefined;
  body.tokens_per_day = f.tpd.value ? Number(f.tpd.value) : editing ? 0 : undefined;
  return body;
}

function render(view) {
  const created = el("div", { "aria-live": "polite" });
  const list = el("div", {}, el("p", { class: "muted" }, "Loading keys…"));
  const usage = el("div", { class: "panel", id: "key-usage", hidden: true });
  const form = el("form", { class: "panel", id: "new-key" }, el("h3", {}, "New key"), fields(), el("button", { class: "primary" }, "Create key"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const key = await api("POST", "/v1/api-keys", read(form, false));
      created.replaceChildren(el("div", { class: "panel key-once", id: "new-key-value" },
        el("p", {}, el("strong", {}, "Copy this key now. "), "It is shown only this once; the server keeps only its hash."),
        el("p", {}, el("code", {}, key.key), " ", copyButton(key.key, "Copy key"))));
      form.reset();
      notice("");
      await load();
    } catch (e) { failed("Creating the key")(e); }
  });
  view.append(el("h2", {}, "API keys"), form, created, list, usage);

  async function showUsage(key) {
    usage.hidden = false;
    usage.replaceChildren(el("h3", {}, `Usage of ${key.name} (30 days)`), el("p", { class: "muted" }, "Loading…"));
    try {
      const since = Math.floor(Date.now() / 1000) - 30 * 86400;
      const u = await api("GET", `/v1/api-keys/${key.id}/usage?since=${since}`);
      const total = u.by_model.reduce((s, m) => s + m.requests, 0);
      usage.replaceChildren(el("h3", {}, `Usage of ${key.name} (30 days)`), el("p", {}, `${num(total)} requests`),
        bars(`Tokens per model used by ${key.name}`, u.by_model.map((m) => ({ name: m.model || "(none)", value: m.input_tokens + m.output_tokens, note: `${num(m.input_tokens + m.output_tokens)} tokens, ${m.requests} req` }))));
      usage.scrollIntoView({ block: "nearest" });
    } catch (e) { failed("Loading the usage")(e); }
  }

  function edit(key) {
    const dialog = el("dialog", { "aria-label": "Edit " + key.name });
    const editForm = el("form", {}, el("h3", {}, "Edit " + key.name), fields(key),
      el("div", { class: "row" }, el("button", { type: "button", onclick: () => dialog.close() }, "Cancel"), el("button", { class: "primary" }, "Save")));
    editForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      try { await api("PATCH", `/v1/api-keys/${key.id}`, read(editForm, true)); dialog.close(); notice(`Saved ${key.name}.`, true); await load(); }
      catch (e) { failed("Saving the key")(e); dialog.close(); }
    });
    dialog.append(editForm);
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  }

  async function act(question, label, method, path, what) {
    if (!(await confirmAction(question, label))) return;
    try { await api(method, path); notice(""); await load(); } catch (e) { failed(what)(e); }
  }

  async function load() {
    try {
      const { data } = await api("GET", "/v1/api-keys");
      list.replaceChildren(table(["Name", "Key", "Scopes", "Limits", "Expires", "Last used", "State", "Actions"], data.map((k) => el("tr", { "data-key": k.id },
        el("td", {}, k.name), el("td", {}, el("code", {}, k.prefix + "…")), el("td", {}, k.scopes.join(" ")),
        el("td", {}, [k.requests_per_minute ? k.requests_per_minute + "/min" : "", k.tokens_per_day ? num(k.tokens_per_day) + " tok/day" : ""].filter(Boolean).join(", ") || "none"),
        el("td", {}, k.expires_at ? when(k.expires_at) : "never"), el("td", {}, when(k.last_used_at)),
        el("td", {}, el("span", { class: "badge " + (k.active ? "good" : "bad") }, k.active ? "active" : "revoked")),
        el("td", { class: "row" },
          el("button", { type: "button", onclick: () => showUsage(k) }, "Usage"),
          el("button", { type: "button", onclick: () => edit(k), disabled: !k.active }, "Edit"),
          el("button", { type: "button", class: "danger", disabled: !k.active, onclick: () => act(`Revoke ${k.name}? Clients using it stop working at once, for good.`, "Revoke", "POST", `/v1/api-keys/${k.id}/revoke`, "Revoking the key") }, "Revoke"),
          el("button", { type: "button", class: "danger", onclick: () => act(`Delete ${k.name}? Its usage stays, under "(deleted)".`, "Delete", "DELETE", `/v1/api-keys/${k.id}`, "Deleting the key") }, "Delete"))))));
      if (!data.length) list.append(el("p", { class: "muted" }, "No keys yet."));
    } catch (e) { failed("Loading the keys")(e); }
  }
  load();
}

export default { title: "API keys", render };
