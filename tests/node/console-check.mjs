// Drives the admin console in a real Chromium: what an operator sees and clicks.
// Usage: node console-check.mjs BASE_URL   (exits non-zero with the failing step on any failure)
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { reportFailed } from "./checks.mjs";

const base = process.argv[2];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"], // playwright gives it a fresh, empty profile
});
let step = "start";
try {
  const page = await browser.newPage();
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // The page's own Content-Security-Policy must not block anything the console does.
  page.on("console", (m) => { if (m.type() === "error" && /Content Security Policy/i.test(m.text())) errors.push(m.text()); });

  step = "dashboard shows the server status";
  await page.goto(base + "/admin");
  await page.locator("#health dd").first().waitFor();
  assert.equal(await page.locator("#health dt", { hasText: "Status" }).locator("xpath=following-sibling::dd[1]").textContent(), "ok");
  assert.match(await page.locator("#health").textContent(), /Codex.*(not found|\d)/s);
  await page.locator("#totals dd").first().waitFor();

  step = "create an API key and see it once";
  await page.click("a[data-tab=keys]");
  await page.fill("#new-key [name=name]", "browser key");
  await page.click("#new-key button");
  await page.locator("#new-key-value code", { hasText: "cdx_" }).waitFor();
  const key = (await page.locator("#new-key-value code").textContent()).trim();
  assert.match(key, /^cdx_[A-Za-z0-9_-]{43}$/);
  const row = page.locator("#key-list tbody tr", { hasText: "browser key" });
  await row.waitFor();
  assert.match(await row.textContent(), /active/);
  assert.ok(!(await row.textContent()).includes(key), "the list must not show the whole key");

  step = "the new key works against the API";
  const models = await fetch(base + "/v1/models", { headers: { Authorization: "Bearer " + key, "X-Forwarded-For": "203.0.113.9" } });
  assert.equal(models.status, 200);

  step = "revoke it";
  await row.locator("button", { hasText: "Revoke" }).click();
  await page.locator("#key-list tbody tr", { hasText: "browser key" }).filter({ hasText: "revoked" }).waitFor();
  const revoked = await fetch(base + "/v1/models", { headers: { Authorization: "Bearer " + key, "X-Forwarded-For": "203.0.113.9" } });
  assert.equal(revoked.status, 401);

  step = "live logs show a new request";
  const stream = page.waitForResponse((r) => r.url().endsWith("/admin/logs/stream"), { timeout: 10000 });
  await page.click("a[data-tab=logs]");
  await page.locator("#log-lines").waitFor();
  await stream; // the live tail is on: the server subscribes before it answers
  await fetch(base + "/v1/models/opus");
  await page.waitForFunction(() => document.querySelector("#log-lines").textContent.includes("/v1/models/opus 200"), null, { timeout: 10000 });

  step = "settings are saved";
  await page.click("a[data-tab=settings]");
  await page.locator("#setting-defaultModel").waitFor();
  await page.fill("#setting-defaultModel", "claude-sonnet-4-5");
  await page.click("#settings-form button");
  await page.locator("#notice", { hasText: "Saved" }).waitFor();
  const config = await (await fetch(base + "/admin/config")).json();
  assert.equal(config.config.defaultModel, "claude-sonnet-4-5");
  assert.equal(config.master_key_set, true);
  assert.equal(config.tunnel_token_set, true);
  assert.equal(config.config.tunnelToken, undefined);
  assert.equal(config.config.masterKey, undefined);
  assert.doesNotMatch(await page.locator("#master-key-value").textContent(), /^msk_[A-Za-z0-9_-]{43}$/);

  step = "the master key is shown on request";
  await page.click("#reveal");
  await page.locator("#master-key-value", { hasText: /^msk_[A-Za-z0-9_-]{43}$/ }).waitFor();

  step = "nothing loaded from anywhere but this server, no script errors";
  const origin = new URL(base).origin;
  assert.deepEqual(requests.filter((u) => !u.startsWith(origin)), []);
  assert.deepEqual(errors, []);
  console.log("console-check: ok");
} catch (e) {
  console.error(`console-check failed at "${step}": ${e.stack || e}`);
  reportFailed([step]);
  process.exitCode = 1;
} finally {
  await browser.close();
}
