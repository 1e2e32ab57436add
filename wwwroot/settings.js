// Settings: one field per config key, generated from the description the server serves
// (GET /admin/config/schema), so a new key shows up here without touching this page.
import { api, confirmAction, el, failed, notice, session } from "/admin/core.js";

const id = (key) => "setting-" + key;
const asText = (field, value) => field.type === "string_list" ? (value || []).join("\n")
  : field.type === "model_list" ? (value || []).map((m) => `${m.id} ${m.provider}`).join("\n") : value ?? "";

function input(field, value, tokenSet) {
  const common = { id: id(field.key), name: field.key, "aria-describedby": `${id(field.key)}-about ${id(field.key)}-error` };
  if (field.type === "boolean") return el("input", { ...common, type: "checkbox", checked: !!value });
  if (field.choices) return el("select", common, field.choices.map((c) => el("option", { value: c, selected: c === value }, c)));
  if (field.type === "string_list" || field.type === "model_list") return el("textarea", { ...common, rows: 2, value: asText(field, value), placeholder: field.type === "model_list" ? "my-model codex" : "one per line" });
  if (field.type === "integer") return el("input", { ...common, type: "number", value: value ?? "", placeholder: field.nullable ? "default" : "" });
  if (field.secret) return el("input", { ...common, type: "password", autocomplete: "off", placeholder: tokenSet ? "set (type to replace)" : "not set" });
  return el("input", { ...common, type: "text", value: value ?? "", placeholder: field.nullable ? "not set" : "" });
}

function read(field, element) {
  if (field.type === "boolean") return element.checked;
  const text = element.value.trim();
  if (field.type === "integer") return text === "" ? null : Number(text);
  if (field.type === "string_list") return text.split(/\s*\n\s*/).filter(Boolean);
  if (field.type === "model_list") return text.split(/\s*\n\s*/).filter(Boolean).map((line) => { const [mid, provider] = line.split(/\s+/); return { id: mid, provider: provider || "codex" }; });
  return text === "" && field.nullable ? null : text;
}

async function render(view) {
  const [{ data: schema }, current] = await Promise.all([api("GET", "/admin/config/schema"), api("GET", "/admin/config")]);
  let config = current.config;
  const shown = schema.filter((f) => f.key !== "masterKey");
  const form = el("form", { id: "settings-form", class: "panel", novalidate: true },
    el("p", { class: "muted" }, "Saved to ", el("code", {}, current.config_path), "."),
    shown.map((f) => el("div", { class: "setting", "data-key": f.key, style: "margin-bottom:.9rem" },
      el("label", { for: id(f.key), class: f.type === "boolean" ? "check" : "" }, f.type === "boolean" ? input(f, config[f.key]) : null, el("strong", {}, " " + f.key),
        f.restart ? el("span", { class: "badge" }, " needs restart") : null),
      f.type === "boolean" ? null : input(f, config[f.key], current.tunnel_token_set),
      el("div", { class: "muted", id: `${id(f.key)}-about` }, f.meaning, f.default !== null && f.default !== undefined && !f.secret ? ` Default: ${JSON.stringify(f.default)}.` : ""),
      el("div", { class: "field-error", id: `${id(f.key)}-error` }))),
    el("button", { class: "primary" }, "Save"));
  const masterKey = el("code", { id: "master-key-value" }, "msk_… (hidden)");
  view.append(el("h2", {}, "Settings"), form,
    el("div", { class: "panel" }, el("h3", {}, "Master key"), el("p", {}, masterKey),
      el("div", { class: "row" }, el("button", { type: "button", id: "reveal", onclick: reveal }, "Show"), el("button", { type: "button", class: "danger", id: "regenerate", onclick: regenerate }, "Regenerate"))));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const e of form.querySelectorAll(".field-error")) e.textContent = "";
    for (const e of form.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
    const patch = {};
    for (const f of shown) {
      const value = read(f, form.elements[f.key]);
      if (f.secret ? value !== null && value !== "" : JSON.stringify(value) !== JSON.stringify(config[f.key] ?? null)) patch[f.key] = value;
    }
    if (!Object.keys(patch).length) { notice("Nothing changed.", true); return; }
    try {
      const saved = await api("PATCH", "/admin/config", patch);
      config = saved.config;
      for (const f of shown) if (f.secret) form.elements[f.key].value = "";
      notice(saved.restart_required.length ? "Saved. Restart the server for: " + saved.restart_required.join(", ") : "Saved.", true);
    } catch (e) {
      const problems = e.body?.problems || [];
      for (const p of problems) {
        const box = form.querySelector(`#${CSS.escape(id(p.key))}-error`);
        if (box) { box.textContent = p.message; form.elements[p.key]?.setAttribute("aria-invalid", "true"); }
      }
      form.querySelector("[aria-invalid]")?.focus();
      failed("Saving the settings")(e);
    }
  });

  async function reveal() {
    try { masterKey.textContent = (await api("GET", "/admin/master-key")).master_key; } catch (e) { failed("Showing the master key")(e); }
  }
  async function regenerate() {
    if (!(await confirmAction("Every client using the old master key stops working. Regenerate it?", "Regenerate"))) return;
    const wasMaster = session.key.startsWith("msk_");
    try {
      const { master_key } = await api("POST", "/admin/master-key/regenerate");
      if (wasMaster) session.key = master_key;
      masterKey.textContent = master_key;
      notice("New master key saved.", true);
    } catch (e) { failed("Regenerating the master key")(e); }
  }
}

export default { title: "Settings", render };
