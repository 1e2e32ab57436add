// /openapi.json validated as OpenAPI, and /docs rendering it in a real Chromium, offline.
// Usage: node openapi-check.mjs BASE_URL
import assert from "node:assert/strict";
import { check, runChecks } from "./checks.mjs";
import { Validator } from "@seriousme/openapi-schema-validator";
import { launchChromium } from "./browser.mjs";

const [base] = process.argv.slice(2);
const doc = await (await fetch(base + "/openapi.json")).json();

check("the document validates against the OpenAPI schema of its version", async () => {
  const validator = new Validator();
  const result = await validator.validate(structuredClone(doc));
  assert.ok(result.valid, JSON.stringify(result.errors, null, 2)?.slice(0, 4000));
  assert.equal(validator.version, "3.1");
});

check("every $ref points at something in the document", () => {
  const missing = [];
  const walk = (node) => {
    if (!node || typeof node !== "object") return;
    if (typeof node.$ref === "string") {
      const target = node.$ref.slice(2).split("/").reduce((n, k) => n?.[k.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
      if (!node.$ref.startsWith("#/") || target === undefined) missing.push(node.$ref);
    }
    Object.values(node).forEach(walk);
  };
  walk(doc);
  assert.deepEqual(missing, []);
});

const browser = await launchChromium();
const page = await browser.newPage();
const errors = [];
const foreign = [];
page.on("pageerror", (e) => errors.push(String(e)));
page.on("request", (r) => { if (!r.url().startsWith(base)) foreign.push(r.url()); });

check("/docs lists every operation of the document", async () => {
  await page.goto(base + "/docs");
  await page.locator("details.op").first().waitFor();
  const count = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  assert.equal(await page.locator("details.op").count(), count);
  assert.equal(await page.locator("#title").textContent(), `Codex API Server ${doc.info.version}`);
});

check("an operation shows its scope, request body schema and responses", async () => {
  const op = page.locator("details#post_v1_chat_completions");
  await op.locator("summary").first().click();
  assert.match(await op.locator("summary").first().textContent(), /scope: chat/);
  await op.locator("details", { hasText: "ChatCompletionRequest" }).locator("summary").click();
  const schema = await op.locator("pre").first().textContent();
  assert.match(schema, /"messages"/);
  assert.match(await op.textContent(), /text\/event-stream/);
  assert.match(await op.textContent(), /401/);
});

check("the filter narrows the list", async () => {
  await page.fill("#filter", "api-keys revoke");
  assert.equal(await page.locator("details.op:visible").count(), 1);
});

check("the page loads nothing from outside the server and throws nothing", () => {
  assert.deepEqual(foreign, []);
  assert.deepEqual(errors, []);
});

try {
  await runChecks();
} finally {
  await browser.close();
}
