// History: stored responses and chat completions, newest first, filtered, paged; one in detail.
import { api, confirmAction, el, failed, kv, notice, num, table, when } from "/admin/core.js";

const filters = { object: "", model: "", key: "", status: "", q: "" };

function render(view, id) {
  return id ? detail(view, decodeURIComponent(id)) : list(view);
}

function list(view) {
  const rows = el("tbody");
  const more = el("button", { type: "button", id: "history-more", hidden: true }, "Older");
  const status = el("p", { class: "muted", "aria-live": "polite" }, "Loading…");
  const keySelect = el("select", { name: "key" }, el("option", { value: "" }, "any key"), el("option", { value: "none" }, "no key (master or local)"));
  const form = el("form", { class: "panel row", id: "history-filter", role: "search" },
    el("label", {}, "Type", el("select", { name: "object" }, el("option", { value: "" }, "all"), el("option", { value: "response" }, "responses"), el("option", { value: "chat.completion" }, "chat completions"))),
    el("label", {}, "Model", el("input", { name: "model", placeholder: "any" })),
    el("label", {}, "Key", keySelect),
    el("label", {}, "Status", el("select", { name: "status" }, ["", "completed", "failed", "incomplete", "cancelled", "in_progress"].map((s) => el("option", { value: s }, s || "any")))),
    el("label", {}, "Text", el("input", { name: "q", type: "search", placeholder: "in the input or output" })),
    el("button", { class: "primary" }, "Filter"));
  for (const [k, v] of Object.entries(filters)) if (form.elements[k]) form.elements[k].value = v;
  view.append(el("h2", {}, "History"), form,
    el("div", { class: "panel" }, table(["When", "Model", "Key", "Status", "Answer", "Tokens", ""], rows), status, more));
  api("GET", "/v1/api-keys").then(({ data }) => {
    keySelect.append(...data.map((k) => el("option", { value: k.id }, k.name)));
    keySelect.value = filters.key;
  }).catch(failed("Loading the keys for the filter"));

  let next = null;
  async function load(reset) {
    const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
    query.set("limit", "50");
    if (!reset && next) query.set("before", next);
    try {
      const page = await api("GET", "/admin/history?" + query);
      if (reset) rows.replaceChildren();
      rows.append(...page.data.map((r) => el("tr", { "data-id": r.id },
        el("td", {}, el("a", { href: "#history/" + encodeURIComponent(r.id) }, when(r.created_at)), el("div", { class: "muted" }, r.object === "response" ? "response" : "chat")),
        el("td", {}, r.model), el("td", {}, r.api_key_name || "–"),
        el("td", {}, el("span", { class: "badge " + (r.status === "completed" ? "good" : "bad") }, r.status)),
        el("td", {}, r.preview ?? ""), el("td", {}, r.input_tokens === null ? "–" : `${num(r.input_tokens)} / ${num(r.output_tokens)}`),
        el("td", {}, el("a", { href: "#history/" + encodeURIComponent(r.id), "aria-label": "Open " + r.id }, "Open")))));
      next = page.next_before;
      more.hidden = !page.has_more;
      status.textContent = rows.children.length ? `${rows.children.length} shown${page.has_more ? ", more below" : ""}` : "Nothing stored matches.";
    } catch (e) { failed("Loading the history")(e); status.textContent = ""; }
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    for (const k of Object.keys(filters)) filters[k] = form.elements[k].value.trim();
    load(true);
  });
  more.addEventListener("click", () => load(false));
  load(true);
}

const textOf = (content) => typeof content === "string" ? content
  : Array.isArray(content) ? content.map((p) => p.text ?? (p.image_url || p.type === "input_image" ? "[image]" : "")).join("") : JSON.stringify(content);

async function detail(view, id) {
  view.append(el("p", {}, el("a", { href: "#history" }, "← History")));
  let d;
  try { d = await api("GET", "/admin/history/" + encodeURIComponent(id)); } catch (e) { failed("Loading " + id)(e); return; }
  const s = d.summary, b = d.body;
  const output = s.object === "response" ? b.output_text : b.choices?.[0]?.message?.content;
  const reasoning = s.object === "response"
    ? (b.output || []).filter((o) => o.type === "reasoning").flatMap((o) => (o.summary || []).map((x) => x.text)).join("\n")
    : b.choices?.[0]?.message?.reasoning_content || "";
  const usage = b.usage || {};
  const link = (x) => el("li", {}, el("a", { href: "#history/" + encodeURIComponent(x.id) }, x.id), el("span", { class: "muted" }, " " + when(x.created_at)));
  const del = el("button", { type: "button", class: "danger", id: "history-delete" }, "Delete");
  del.addEventListener("click", async () => {
    if (!(await confirmAction(`Delete ${id}? A conversation that continues it can no longer do so.`, "Delete"))) return;
    try { await api("DELETE", "/admin/history/" + encodeURIComponent(id)); notice(`Deleted ${id}.`, true); location.hash = "#history"; }
    catch (e) { failed("Deleting " + id)(e); }
  });
  view.append(el("h2", {}, s.object === "response" ? "Response" : "Chat completion", " ", el("code", {}, s.id)),
    el("div", { class: "grid" },
      el("div", { class: "panel" }, kv([["When", when(s.created_at)], ["Model", `${s.model} (${s.provider})`], ["Status", s.status],
        ["Key", s.api_key_name ? `${s.api_key_name} (${s.api_key_id})` : "no key (master key or this machine)"],
        ["Latency", s.latency_ms === null ? "–" : s.latency_ms.toLocaleString() + " ms"],
        ["Usage", `${num(s.input_tokens)} in, ${num(s.output_tokens)} out` + (usage.input_tokens_details?.cached_tokens || usage.prompt_tokens_details?.cached_tokens ? `, ${num(usage.input_tokens_details?.cached_tokens ?? usage.prompt_tokens_details?.cached_tokens)} cached` : "")
          + ((usage.output_tokens_details ?? usage.completion_tokens_details)?.reasoning_tokens ? `, ${num((usage.output_tokens_details ?? usage.completion_tokens_details).reasoning_tokens)} reasoning` : "")]]), el("p", {}, del)),
      el("div", { class: "panel", id: "history-chain" }, el("h3", {}, "Conversation chain"),
        d.chain.length ? el("ol", { class: "chain" }, d.chain.map(link)) : el("p", { class: "muted" }, "Starts here (no previous_response_id)."),
        d.continued_by.length ? [el("p", {}, "Continued by:"), el("ul", { class: "chain" }, d.continued_by.map((c) => link({ id: c })))] : null)),
    el("div", { class: "panel" }, el("h3", {}, "Input"),
      (Array.isArray(d.input) ? d.input : []).map((item) => el("p", { class: "msg" }, el("b", {}, (item.role || item.type) + ": "), item.content !== undefined ? textOf(item.content) : JSON.stringify(item)))),
    el("div", { class: "panel", id: "history-output" }, el("h3", {}, "Output"), el("div", { class: "answer" }, output ?? ""),
      reasoning ? [el("h3", {}, "Reasoning"), el("pre", {}, reasoning)] : null,
      el("details", {}, el("summary", {}, "The stored object"), el("pre", {}, JSON.stringify(b, null, 2)))));
}

export default { title: "History", render };
