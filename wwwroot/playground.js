// Playground: one conversation with a model through the same API a client uses, streamed, measured,
// with the raw request and events, and the call as curl, Python and JavaScript.
import { api, copyButton, el, failed, headers, notice, num, sse } from "/admin/core.js";

const conversation = { api: "chat", model: "", messages: [], previous: null };

function render(view) {
  const model = el("select", { id: "pg-model", required: true });
  const apiKind = el("select", { id: "pg-api" }, el("option", { value: "chat" }, "Chat completions"), el("option", { value: "responses" }, "Responses"));
  const system = el("textarea", { id: "pg-system", rows: 2, placeholder: "optional" });
  const effort = el("select", { id: "pg-effort" }, ["", "minimal", "low", "medium", "high"].map((e) => el("option", { value: e }, e || "model default")));
  const schema = el("textarea", { id: "pg-schema", rows: 3, placeholder: '{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]}' });
  const image = el("input", { id: "pg-image", type: "file", accept: "image/*" });
  const store = el("input", { id: "pg-store", type: "checkbox", checked: true });
  const prompt = el("textarea", { id: "pg-prompt", rows: 3, required: true });
  const send = el("button", { class: "primary", id: "pg-send" }, "Send");
  const stop = el("button", { type: "button", id: "pg-stop", disabled: true }, "Stop");
  const reset = el("button", { type: "button", id: "pg-new" }, "New conversation");
  const transcript = el("div", { id: "pg-transcript", "aria-live": "polite" });
  const answer = el("div", { class: "answer", id: "pg-answer" });
  const figures = el("div", { class: "figures", id: "pg-figures" }, el("span", {}, "TTFT –"), el("span", {}, "total –"), el("span", {}, "usage –"));
  const rawRequest = el("pre", { id: "pg-raw-request" });
  const rawEvents = el("pre", { id: "pg-raw-events" });
  const snippets = el("div", { class: "row", id: "pg-copy" });
  let controller = null;

  const form = el("form", { class: "panel", id: "pg-form" },
    el("div", { class: "row" }, el("label", {}, "Model", model), el("label", {}, "API", apiKind), el("label", {}, "Reasoning effort", effort), el("label", {}, "Image", image), el("label", { class: "check" }, store, " Store (find it in History)")),
    el("label", {}, "System prompt", system),
    el("details", {}, el("summary", {}, "JSON schema for the answer"), el("label", {}, "JSON schema (empty: free text)", schema)),
    el("label", {}, "Message", prompt),
    el("div", { class: "row" }, send, stop, reset));
  view.append(el("h2", {}, "Playground"), form,
    el("div", { class: "panel" }, transcript, answer, figures, snippets,
      el("details", {}, el("summary", {}, "Raw request"), rawRequest),
      el("details", {}, el("summary", {}, "Raw events"), rawEvents)));

  api("GET", "/v1/models").then((list) => {
    model.replaceChildren(...list.data.map((m) => el("option", { value: m.id, selected: m.id === conversation.model }, m.id)));
  }).catch(failed("Loading the models"));
  prompt.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit(); });
  reset.addEventListener("click", () => { conversation.messages = []; conversation.previous = null; transcript.replaceChildren(); answer.textContent = ""; });
  stop.addEventListener("click", () => controller?.abort());
  for (const m of conversation.messages) transcript.append(bubble(m.role, typeof m.content === "string" ? m.content : "(with image)"));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let body;
    try { body = await build(); } catch (e) { notice(e.message); return; }
    notice("");
    rawRequest.textContent = `POST ${path()}\n\n` + JSON.stringify(body, null, 2);
    snippets.replaceChildren(copyButton(() => curl(path(), body), "Copy as curl"), copyButton(() => python(body), "Copy as Python"), copyButton(() => javascript(body), "Copy as JavaScript"));
    rawEvents.textContent = "";
    answer.textContent = "";
    transcript.append(bubble("user", prompt.value));
    send.disabled = true; stop.disabled = false;
    controller = new AbortController();
    const started = performance.now();
    let first = null, usage = null, text = "", id = null;
    const show = () => figures.replaceChildren(
      el("span", {}, "TTFT " + (first === null ? "–" : Math.round(first - started) + " ms")),
      el("span", {}, "total " + Math.round(performance.now() - started) + " ms"),
      el("span", {}, usage ? `usage ${num(usage.in)} in, ${num(usage.out)} out${usage.reasoning ? `, ${num(usage.reasoning)} reasoning` : ""}` : "usage –"));
    try {
      const response = await fetch(path(), { method: "POST", headers: headers(), body: JSON.stringify(body), signal: controller.signal });
      if (!response.ok) {
        const error = await response.json().catch(() => null);
        throw new Error(error?.error?.message || "HTTP " + response.status);
      }
      for await (const e of sse(response, controller.signal)) {
        rawEvents.textContent += e.raw + "\n\n";
        if (e.data === "[DONE]") break;
        const data = JSON.parse(e.data);
        let delta = "";
        if (conversation.api === "chat") {
          if (data.error) throw new Error(data.error.message);
          delta = data.choices?.[0]?.delta?.content || "";
          id = data.id;
          if (data.usage) usage = { in: data.usage.prompt_tokens, out: data.usage.completion_tokens, reasoning: data.usage.completion_tokens_details?.reasoning_tokens };
        } else {
          if (e.event === "response.output_text.delta") delta = data.delta;
          if (e.event === "response.failed" || e.event === "error") throw new Error(data.response?.error?.message || data.message || e.event);
          if (data.response?.id) id = data.response.id;
          const u = data.response?.usage;
          if (u) usage = { in: u.input_tokens, out: u.output_tokens, reasoning: u.output_tokens_details?.reasoning_tokens };
        }
        if (delta) { if (first === null) first = performance.now(); text += delta; answer.textContent = text; }
        show();
      }
      show();
      conversation.messages.push(body.messages?.at(-1) ?? { role: "user", content: prompt.value }, { role: "assistant", content: text });
      conversation.previous = id;
      transcript.append(bubble("assistant", text, id));
      answer.textContent = "";
      prompt.value = "";
      image.value = "";
    } catch (e) {
      show();
      notice(e.name === "AbortError" ? "Stopped." : "The request failed: " + e.message);
      transcript.lastChild?.remove();
    } finally {
      send.disabled = false; stop.disabled = true; controller = null;
    }
  });

  const path = () => (conversation.api === "chat" ? "/v1/chat/completions" : "/v1/responses");
  async function build() {
    if (conversation.model !== model.value || conversation.api !== apiKind.value) {
      // Another model or API starts another conversation.
      if (conversation.messages.length) transcript.replaceChildren();
      Object.assign(conversation, { api: apiKind.value, model: model.value, messages: [], previous: null });
    }
    let format = null;
    if (schema.value.trim()) {
      try { format = JSON.parse(schema.value); } catch (e) { throw new Error("The JSON schema is not valid JSON: " + e.message); }
    }
    const file = image.files[0];
    const picture = file ? await new Promise((resolve, reject) => { const r = new FileReader(); r.onload = () => resolve(r.result); r.onerror = () => reject(new Error("Reading the image failed.")); r.readAsDataURL(file); }) : null;
    if (conversation.api === "chat") {
      const content = picture ? [{ type: "text", text: prompt.value }, { type: "image_url", image_url: { url: picture } }] : prompt.value;
      const body = { model: model.value, stream: true, stream_options: { include_usage: true },
        messages: [...(system.value ? [{ role: "system", content: system.value }] : []), ...conversation.messages, { role: "user", content }] };
      if (store.checked) body.store = true;
      if (effort.value) body.reasoning_effort = effort.value;
      if (format) body.response_format = { type: "json_schema", json_schema: { name: "answer", schema: format, strict: true } };
      return body;
    }
    const body = { model: model.value, stream: true,
      input: picture ? [{ role: "user", content: [{ type: "input_text", text: prompt.value }, { type: "input_image", image_url: picture }] }] : prompt.value };
    if (!store.checked) body.store = false;
    if (system.value) body.instructions = system.value;
    if (conversation.previous) body.previous_response_id = conversation.previous;
    if (effort.value) body.reasoning = { effort: effort.value };
    if (format) body.text = { format: { type: "json_schema", name: "answer", schema: format, strict: true } };
    return body;
  }
  return () => controller?.abort();
}

const bubble = (role, text, id) => el("p", { class: "msg", "data-role": role }, el("b", {}, role + ": "), text, id ? el("a", { class: "muted", href: "#history/" + id }, " (in history)") : null);

const quote = (s) => "'" + s.replace(/'/g, "'\\''") + "'";
const curl = (path, body) => `curl ${location.origin}${path} \\\n  -H "Authorization: Bearer $CODEX_API_KEY" \\\n  -H "Content-Type: application/json" \\\n  -d ${quote(JSON.stringify(body))}`;
const python = (body) => {
  const call = body.messages ? "client.chat.completions.create" : "client.responses.create";
  return `import json, os\nfrom openai import OpenAI\n\nclient = OpenAI(base_url="${location.origin}/v1", api_key=os.environ["CODEX_API_KEY"])\nbody = json.loads(r"""${JSON.stringify(body)}""")\nfor event in ${call}(**body):\n    print(event)\n`;
};
const javascript = (body) => {
  const call = body.messages ? "client.chat.completions.create" : "client.responses.create";
  return `import OpenAI from "openai";\n\nconst client = new OpenAI({ baseURL: "${location.origin}/v1", apiKey: process.env.CODEX_API_KEY });\nconst stream = await ${call}(${JSON.stringify(body, null, 2)});\nfor await (const event of stream) console.log(event);\n`;
};

export default { title: "Playground", render };
