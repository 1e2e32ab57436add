// Drives the admin console and the setup page in a real Chromium as an operator from OUTSIDE this
// machine would (every request carries X-Forwarded-For, as through the tunnel): sign in with the
// master key, then each part. Screenshots of every page at 1280 and 360 px, light and dark, and an
// axe-core check of each.
// Usage: node console-check.mjs BASE_URL OPTIONS_JSON
// OPTIONS_JSON: {"masterKey", "codexModel", "claudeModel", "answer": text the models stream, "tunnelUrl", "screenshots": dir}
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { launchChromium } from "./browser.mjs";
import { check, runChecks } from "./checks.mjs";

const [base, optionsJson] = process.argv.slice(2);
const o = JSON.parse(optionsJson);
const outside = { "X-Forwarded-For": "203.0.113.9" };
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
mkdirSync(o.screenshots, { recursive: true });

const browser = await launchChromium();
const context = await browser.newContext({ extraHTTPHeaders: outside, viewport: { width: 1280, height: 900 } });
await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
const page = await context.newPage();
const requests = [];
const errors = [];
page.on("request", (r) => requests.push(r.url()));
page.on("pageerror", (e) => errors.push(String(e)));
// The page's own Content-Security-Policy must not block anything the console does.
page.on("console", (m) => { if (m.type() === "error" && /Content Security Policy/i.test(m.text())) errors.push(m.text()); });

const api = async (method, path, body, key = o.masterKey) => {
  const response = await fetch(base + path, { method, headers: { ...outside, "Content-Type": "application/json", ...(key ? { Authorization: "Bearer " + key } : {}) }, body: body && JSON.stringify(body) });
  return { status: response.status, body: await response.json().catch(() => null) };
};
const go = async (hash) => { await page.goto(base + "/admin" + hash); };
const confirm = () => page.locator("dialog[open] button[value=ok]").click();
const noticeText = () => page.locator("#notice").textContent();
let key = "", keyId = "";

check("from outside without a key the console shows only the sign-in", async () => {
  await page.goto(base + "/admin");
  await page.locator("#login-view").waitFor();
  assert.equal(await page.locator("#nav").isVisible(), false);
  assert.equal(await page.locator("#view").textContent(), "");
  // and its data stays closed
  assert.equal((await api("GET", "/admin/stats", undefined, null)).status, 401);
});

check("a wrong key is refused with a sentence", async () => {
  await page.fill("#login-key", "msk_not-the-key");
  await page.press("#login-key", "Enter");
  await page.locator("#login-error", { hasText: "refused" }).waitFor();
});

check("signing in with the master key opens the dashboard, by keyboard", async () => {
  await page.focus("#login-key");
  await page.keyboard.type(o.masterKey);
  await page.keyboard.press("Enter");
  await page.locator("[data-window=hour]").waitFor();
  await page.locator("[data-cli=codex] .badge").waitFor();
  assert.equal(await page.locator("[data-provider=codex]").count(), 1);
  // Tab from the top of the page to "API keys" and follow it with Enter.
  await page.locator("body").focus();
  for (let i = 0; i < 20 && (await page.evaluate(() => document.activeElement?.textContent)) !== "API keys"; i++) await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => location.hash === "#keys");
});

check("create a key with every field, shown once with a warning and a copy button", async () => {
  await go("#keys");
  await page.fill("#new-key [name=name]", "browser key");
  await page.uncheck("#new-key [name=scope][value=messages]");
  await page.fill("#new-key [name=expires]", `${new Date().getFullYear() + 1}-06-30`);
  await page.fill("#new-key [name=rpm]", "60");
  await page.fill("#new-key [name=tpd]", "100000");
  await page.click("#new-key button.primary");
  const shown = page.locator("#new-key-value code");
  await shown.waitFor();
  key = (await shown.textContent()).trim();
  assert.match(key, /^cdx_[A-Za-z0-9_-]{43}$/);
  assert.match(await page.locator("#new-key-value").textContent(), /shown only this once/);
  await page.locator("#new-key-value button", { hasText: "Copy key" }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);
  const row = page.locator("#view tbody tr", { hasText: "browser key" });
  await row.waitFor();
  keyId = await row.getAttribute("data-key");
  const text = await row.textContent();
  assert.match(text, /60\/min/);
  assert.match(text, /100,000 tok\/day/);
  assert.doesNotMatch(text, /messages/);
  assert.ok(!text.includes(key), "the list must not show the whole key");
});

check("the new key works against the API from outside", async () => {
  const reply = await api("POST", "/v1/chat/completions", { model: o.codexModel, store: true, messages: [{ role: "user", content: "made with the browser key" }] }, key);
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  assert.equal(reply.body.choices[0].message.content, o.answer);
});

check("edit the key, and see its usage chart", async () => {
  const row = page.locator(`tr[data-key="${keyId}"]`);
  await row.locator("button", { hasText: "Edit" }).click();
  await page.fill("dialog[open] [name=name]", "browser key 2");
  await page.fill("dialog[open] [name=rpm]", "");
  await page.locator("dialog[open] button.primary").click();
  await page.locator(`tr[data-key="${keyId}"]`, { hasText: "browser key 2" }).waitFor();
  assert.doesNotMatch(await row.textContent(), /\/min/);
  await row.locator("button", { hasText: "Usage" }).click();
  await page.locator("#key-usage svg title", { hasText: o.codexModel }).waitFor({ state: "attached" });
  assert.match(await page.locator("#key-usage").textContent(), /1 requests/);
});

// Sends the playground form and waits for the streamed answer; returns how many different partial answers were seen.
async function ask(model, kind, text) {
  await page.selectOption("#pg-model", model);
  await page.selectOption("#pg-api", kind);
  await page.fill("#pg-prompt", text);
  await page.evaluate(() => {
    window.partials = new Set();
    new MutationObserver(() => window.partials.add(document.querySelector("#pg-answer").textContent)).observe(document.querySelector("#pg-answer"), { childList: true, characterData: true, subtree: true });
  });
  const before = await page.locator("#pg-transcript [data-role=assistant]").count();
  await page.click("#pg-send");
  await page.locator("#pg-transcript [data-role=assistant]").nth(before).waitFor({ timeout: 60000 });
  assert.equal(await page.locator("#notice").isVisible(), false, await noticeText());
  assert.match(await page.locator("#pg-transcript [data-role=assistant]").nth(before).textContent(), new RegExp(o.answer));
  return page.evaluate(() => [...window.partials].filter((t) => t).length);
}

check("playground: a Codex model streams through chat completions, with timings and usage", async () => {
  await go("#playground");
  await page.locator("#pg-model option").first().waitFor({ state: "attached" });
  const partials = await ask(o.codexModel, "chat", "Hello from the playground");
  assert.ok(partials >= 2, `the answer arrived in ${partials} piece(s), not streamed`);
  const figures = await page.locator("#pg-figures").textContent();
  assert.match(figures, /TTFT \d+ ms/);
  assert.match(figures, /usage 21 in, 6 out/);
  assert.match(await page.locator("#pg-raw-request").textContent(), /"stream_options"/);
  assert.match(await page.locator("#pg-raw-events").textContent(), /data: \[DONE\]/);
});

check("playground by keyboard alone: Tab to the prompt, type, Tab to Send, Enter; the answer comes", async () => {
  await go("#playground");
  await page.locator("#pg-model option").first().waitFor({ state: "attached" });
  const before = await page.locator("#pg-transcript [data-role=assistant]").count();
  await page.locator("body").focus();
  const tabTo = async (id) => {
    for (let i = 0; i < 60 && (await page.evaluate(() => document.activeElement?.id)) !== id; i++) await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.id), id, `Tab never reached #${id}`);
  };
  await tabTo("pg-prompt");
  await page.keyboard.type("Typed without a mouse");
  await tabTo("pg-send");
  await page.keyboard.press("Enter");
  await page.locator("#pg-transcript [data-role=assistant]").nth(before).waitFor({ timeout: 60000 });
  assert.match(await page.locator("#pg-transcript [data-role=assistant]").nth(before).textContent(), new RegExp(o.answer));
});

check("playground: an image, a JSON schema and a reasoning effort go with the request", async () => {
  await page.click("#pg-new");
  await page.selectOption("#pg-effort", "low");
  await page.click("#pg-form summary");
  await page.fill("#pg-schema", '{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"],"additionalProperties":false}');
  await page.setInputFiles("#pg-image", { name: "dot.png", mimeType: "image/png",
    buffer: Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64") });
  await ask(o.codexModel, "chat", "What is in this picture?");
  const raw = await page.locator("#pg-raw-request").textContent();
  assert.match(raw, /"url": "data:image\/png;base64,iVBOR/);
  assert.match(raw, /"type": "json_schema"/);
  assert.match(raw, /"reasoning_effort": "low"/);
  await page.selectOption("#pg-effort", "");
  await page.fill("#pg-schema", "");
});

check("playground: a Claude model over Responses, continued, copied as curl", async () => {
  await page.click("#pg-new");
  await ask(o.claudeModel, "responses", "First turn");
  await ask(o.claudeModel, "responses", "Second turn");
  assert.match(await page.locator("#pg-raw-request").textContent(), /"previous_response_id": "resp_/);
  assert.match(await page.locator("#pg-raw-events").textContent(), /event: response.completed/);
  await page.locator("#pg-copy button", { hasText: "curl" }).click();
  const curl = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(curl, new RegExp(`^curl ${base}/v1/responses`));
  await page.locator("#pg-copy button", { hasText: "Python" }).click();
  assert.match(await page.evaluate(() => navigator.clipboard.readText()), /client\.responses\.create\(\*\*body\)/);
});

// Waits until the history table shows exactly `count` rows, each containing `text`.
const historyShows = (count, text) => page.waitForFunction(([count, text]) => {
  const rows = [...document.querySelectorAll("#view tbody tr")];
  return rows.length === count && rows.every((r) => r.textContent.includes(text));
}, [count, text]);

check("the dashboard shows both CLIs ready, the requests so far and their charts", async () => {
  await go("#dashboard");
  await page.locator("[data-cli=codex] .badge", { hasText: "ready" }).waitFor();
  await page.locator("[data-cli=claude] .badge", { hasText: "ready" }).waitFor();
  assert.match(await page.locator("[data-window=hour]").textContent(), /[1-9]\d* requests/);
  await page.locator("svg[aria-label^='Tokens per model'] title", { hasText: o.codexModel }).waitFor({ state: "attached" });
  await page.locator("svg[aria-label^='Median'] title", { hasText: "claude p95" }).waitFor({ state: "attached" });
});

check("history finds the playground's Claude turns, opens the latest with its chain", async () => {
  await go("#history");
  await page.fill("#history-filter [name=model]", o.claudeModel);
  await page.click("#history-filter button");
  await historyShows(2, o.claudeModel);
  await page.fill("#history-filter [name=q]", "Second turn");
  await page.click("#history-filter button");
  await historyShows(1, o.claudeModel);
  await page.locator("#view tbody tr").first().locator("a", { hasText: "Open" }).click();
  await page.locator("#history-chain li").first().waitFor();
  assert.equal(await page.locator("#history-chain li").count(), 1, "the second turn continues the first");
  assert.match(await page.locator("#history-output").textContent(), new RegExp(o.answer));
  assert.match(await page.locator("#view").textContent(), /Second turn/);
});

check("history filters by key and deletes one after confirmation", async () => {
  await go("#history");
  await page.fill("#history-filter [name=model]", "");
  await page.locator(`#history-filter [name=key] option[value="${keyId}"]`).waitFor({ state: "attached" });
  await page.selectOption("#history-filter [name=key]", keyId);
  await page.fill("#history-filter [name=q]", "");
  await page.click("#history-filter button");
  await historyShows(1, "browser key 2");
  const id = await page.locator("#view tbody tr").first().getAttribute("data-id");
  await page.locator("#view tbody tr a", { hasText: "Open" }).click();
  await page.click("#history-delete");
  await confirm();
  await page.waitForFunction(() => location.hash === "#history");
  assert.equal((await api("GET", "/admin/history/" + id)).status, 404);
});

check("revoke the key after confirmation: it stops working; then delete it", async () => {
  await go("#keys");
  const row = page.locator(`tr[data-key="${keyId}"]`);
  await row.locator("button", { hasText: "Revoke" }).click();
  await confirm();
  await row.locator(".badge", { hasText: "revoked" }).waitFor();
  assert.equal((await api("GET", "/v1/models", undefined, key)).status, 401);
  await row.locator("button", { hasText: "Delete" }).click();
  await confirm();
  await row.waitFor({ state: "detached" });
});

check("a failed action says what failed", async () => {
  await go("#keys");
  await page.fill("#new-key [name=name]", "x".repeat(100));
  await page.evaluate(() => { document.querySelector("#new-key [name=name]").maxLength = 200; });
  await page.fill("#new-key [name=name]", "x".repeat(101));
  await page.click("#new-key button.primary");
  await page.locator("#notice", { hasText: "Creating the key failed: 'name' must be at most 100 characters." }).waitFor();
});

check("tunnel: install cloudflared with progress, start a quick tunnel, see its URL, stop it", async () => {
  await go("#tunnel");
  await page.locator("#tunnel-state", { hasText: "stopped" }).waitFor();
  assert.equal(await page.locator("#tunnel-start").isDisabled(), true, "nothing to start before cloudflared is installed");
  await page.click("#tunnel-install");
  await page.locator("#tunnel-install-state progress").waitFor({ timeout: 10000 });
  await page.locator("#tunnel-install-state", { hasText: "installed" }).waitFor({ timeout: 30000 });
  await page.locator("#tunnel-start:enabled").waitFor();
  await page.click("#tunnel-start");
  await page.locator("#tunnel-url", { hasText: o.tunnelUrl }).waitFor({ timeout: 30000 });
  await page.locator("#tunnel-state", { hasText: "running" }).waitFor();
  assert.doesNotMatch(await page.locator("#tunnel-status").textContent(), /null|undefined/);
  await page.click("#tunnel-stop");
  await page.locator("#tunnel-state", { hasText: "stopped" }).waitFor();
});

check("settings: every key has a field; a bad value is shown at its field; a good one is saved", async () => {
  await go("#settings");
  await page.locator("#setting-port").waitFor();
  const schema = (await api("GET", "/admin/config/schema")).body.data;
  assert.equal(await page.locator(".setting").count(), schema.length - 1); // all but the master key, shown below
  for (const key of ["corsOrigins", "mode", "agentWorkingDirectory", "models"]) assert.equal(await page.locator("#setting-" + key).count(), 1, key);
  await page.fill("#setting-port", "70000");
  await page.fill("#setting-corsOrigins", "not an origin");
  await page.click("#settings-form button.primary");
  await page.locator("#setting-port-error", { hasText: "out of range" }).waitFor();
  await page.locator("#setting-corsOrigins-error", { hasText: "is not an origin" }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), "setting-port");
  assert.match(await noticeText(), /Saving the settings failed/);
  const port = (await api("GET", "/admin/config")).body.config.port;
  await page.fill("#setting-port", String(port));
  await page.fill("#setting-corsOrigins", "https://app.example.com");
  await page.fill("#setting-defaultModel", o.claudeModel);
  await page.click("#settings-form button.primary");
  await page.locator("#notice", { hasText: "Saved" }).waitFor();
  assert.equal(await page.locator("#setting-port-error").textContent(), "");
  const config = (await api("GET", "/admin/config")).body;
  assert.equal(config.config.defaultModel, o.claudeModel);
  assert.deepEqual(config.config.corsOrigins, ["https://app.example.com"]);
  assert.equal(config.config.masterKey, undefined);
});

check("settings: the master key is shown on request", async () => {
  assert.doesNotMatch(await page.locator("#master-key-value").textContent(), /^msk_[A-Za-z0-9_-]{43}$/);
  await page.click("#reveal");
  await page.locator("#master-key-value", { hasText: o.masterKey }).waitFor();
});

check("logs: the live tail works from outside with the master key; filter, pause, clear", async () => {
  await go("#logs");
  await page.locator("#log-state", { hasText: "live" }).waitFor({ timeout: 15000 });
  await api("GET", "/v1/models/opus");
  await page.locator("#log-lines", { hasText: "/v1/models/opus 200" }).waitFor({ timeout: 10000 });
  await page.fill("#log-text", "opus");
  assert.ok((await page.locator("#log-lines span").count()) >= 1);
  assert.ok((await page.locator("#log-lines span").allTextContents()).every((l) => l.includes("opus")));
  await page.fill("#log-text", "");
  await page.click("#log-pause");
  await api("GET", "/v1/models/haiku");
  await page.locator("#log-state", { hasText: /paused \([1-9]/ }).waitFor({ timeout: 10000 });
  assert.doesNotMatch(await page.locator("#log-lines").textContent(), /\/v1\/models\/haiku/);
  await page.click("#log-pause");
  await page.locator("#log-lines", { hasText: "/v1/models/haiku" }).waitFor();
  await page.click("#log-clear");
  await page.waitForFunction(() => !document.querySelector("#log-lines").textContent.includes("haiku"));
  assert.equal((await api("GET", "/admin/logs?limit=2000")).body.data.some((l) => l.message.includes("haiku")), false);
});

check("setup: the CLIs are ready, a test request answers, and the client snippets use this server", async () => {
  await page.goto(base + "/setup");
  await page.locator("tr[data-cli=codex][data-state=ready]").waitFor({ timeout: 30000 });
  await page.locator("tr[data-cli=claude][data-state=ready]").waitFor({ timeout: 30000 });
  await page.locator(`#test-model option[value="${o.codexModel}"]`).waitFor({ state: "attached" });
  await page.selectOption("#test-model", o.codexModel);
  await page.click("#test-form button");
  await page.locator("#test-result", { hasText: o.answer }).waitFor({ timeout: 60000 });
  assert.equal(await page.locator("#master-key").textContent(), o.masterKey);
  await page.locator("#client-tabs button", { hasText: "Claude Code" }).click();
  assert.match(await page.locator("#snippet").textContent(), new RegExp(`^ANTHROPIC_BASE_URL=${base} `));
  await page.locator("#client-tabs button", { hasText: "OpenAI SDK" }).click();
  assert.match(await page.locator("#snippet").textContent(), new RegExp(`base_url="${base}/v1"`));
});

// Every page, as a person would land on it. The history detail is the newest stored turn.
async function pages() {
  const newest = (await api("GET", "/admin/history?limit=1")).body.data[0].id;
  return [["dashboard", "/admin#dashboard", "[data-window=week]"], ["playground", "/admin#playground", "#pg-model option"],
    ["history", "/admin#history", "#view tbody tr"], ["history-detail", "/admin#history/" + newest, "#history-output"],
    ["keys", "/admin#keys", "#new-key"], ["logs", "/admin#logs", "#log-lines span"], ["tunnel", "/admin#tunnel", "#tunnel-state"],
    ["settings", "/admin#settings", "#setting-port"], ["setup", "/setup", "tr[data-cli=codex]"]];
}

check("every page at 1280 and 360 px, light and dark: screenshots, no sideways scrolling, no serious axe violations", async () => {
  const problems = [];
  for (const scheme of ["light", "dark"]) {
    for (const width of [1280, 360]) {
      const shots = await browser.newContext({ extraHTTPHeaders: outside, viewport: { width, height: 800 }, colorScheme: scheme });
      const p = await shots.newPage();
      p.on("pageerror", (e) => errors.push(String(e)));
      await p.goto(base + "/admin");
      await p.screenshot({ path: `${o.screenshots}/login-${width}-${scheme}.png` });
      await p.evaluate((k) => sessionStorage.setItem("consoleKey", k), o.masterKey);
      for (const [name, path, ready] of await pages()) {
        await p.goto(base + path);
        await p.locator(ready).first().waitFor({ state: "attached", timeout: 15000 });
        await p.waitForTimeout(300);
        await p.screenshot({ path: `${o.screenshots}/${name}-${width}-${scheme}.png`, fullPage: true });
        const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        if (overflow > 1) problems.push(`${name} at ${width} px scrolls sideways by ${overflow} px`);
        // A value the page failed to fill in shows as "null", "undefined" or "NaN" (raw JSON and log lines aside).
        const shown = await p.evaluate(() => [...document.querySelectorAll("pre")].reduce((t, pre) => t.replace(pre.innerText, ""), document.body.innerText));
        if (/\b(null|undefined|NaN)\b/.test(shown)) problems.push(`${name} ${width} ${scheme} shows ${shown.match(/.{0,40}\b(null|undefined|NaN)\b.{0,20}/)[0]}`);
        await p.evaluate(axeSource);
        const result = await p.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
        for (const v of result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")) {
          problems.push(`${name} ${width} ${scheme}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
        }
      }
      await shots.close();
    }
  }
  console.log(`screenshots: ${o.screenshots}; axe-core ${JSON.parse(readFileSync(createRequire(import.meta.url).resolve("axe-core/package.json"), "utf8")).version} on 10 pages x 4 variants`);
  assert.deepEqual(problems, []);
});

check("the dashboard does not move while its data loads", async () => {
  const p = await context.newPage();
  await p.goto(base + "/admin");
  await p.evaluate((k) => { sessionStorage.setItem("consoleKey", k); location.hash = "dashboard"; }, o.masterKey);
  await p.reload(); // a fresh document, so the shifts measured are this load's
  await p.locator("[data-window=week]").waitFor();
  await p.waitForTimeout(500);
  const shift = await p.evaluate(() => new Promise((resolve) => {
    let total = 0;
    new PerformanceObserver((list) => { for (const e of list.getEntries()) if (!e.hadRecentInput) total += e.value; }).observe({ type: "layout-shift", buffered: true });
    setTimeout(() => resolve(total), 300);
  }));
  await p.close();
  console.log(`dashboard load: cumulative layout shift ${shift.toFixed(4)}`);
  assert.ok(shift < 0.1, `cumulative layout shift ${shift.toFixed(3)}`);
});

check("settings: regenerating the master key asks first; the console goes on with the new one, the old one stops", async () => {
  await go("#settings");
  await page.click("#regenerate");
  await page.locator("dialog[open] button[value=cancel]").click();
  assert.equal((await api("GET", "/admin/config")).status, 200, "cancel changed nothing");
  await page.click("#regenerate");
  await confirm();
  await page.locator("#notice", { hasText: "New master key saved." }).waitFor();
  const fresh = (await page.locator("#master-key-value").textContent()).trim();
  assert.match(fresh, /^msk_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(fresh, o.masterKey);
  assert.equal((await api("GET", "/admin/config")).status, 401);
  await go("#keys");
  await page.locator("#new-key").waitFor();
  assert.equal(await page.locator("#login-view").isVisible(), false);
});

check("nothing loaded from anywhere but this server, no script errors", async () => {
  const origin = new URL(base).origin;
  assert.deepEqual(requests.filter((u) => !u.startsWith(origin)), []);
  assert.deepEqual(errors, []);
});

try {
  await runChecks();
} finally {
  await browser.close();
}
