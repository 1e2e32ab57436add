// The first-run setup page in a real Chromium. Usage: node setup-check.mjs BASE_URL EXPECTED_JSON
// EXPECTED_JSON: {"masterKey": "...", "codex": "text the codex row must show", "claude": "..."}
import assert from "node:assert/strict";
import { check, runChecks } from "./checks.mjs";
import { launchChromium } from "./browser.mjs";

const [base, expectedJson] = process.argv.slice(2);
const expected = JSON.parse(expectedJson);
const browser = await launchChromium();
const page = await browser.newPage();
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));

check("the first visit lands on setup", async () => {
  await page.goto(base + "/");
  assert.equal(new URL(page.url()).pathname, "/setup");
});

check("each CLI says what to do next", async () => {
  // The probe runs in the background: "Check again" until both rows are final.
  for (let i = 0; i < 50; i++) {
    const text = await page.locator("#clis tbody").textContent();
    if (text.includes(expected.codex) && text.includes(expected.claude)) break;
    await page.waitForTimeout(200);
    await page.click("#recheck");
  }
  assert.match(await page.locator("tr[data-cli=codex]").textContent(), new RegExp(expected.codex.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  assert.match(await page.locator("tr[data-cli=claude]").textContent(), new RegExp(expected.claude.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
});

check("the master key is shown", async () => {
  await page.locator("#master-key", { hasText: "msk_" }).waitFor();
  assert.equal(await page.locator("#master-key").textContent(), expected.masterKey);
});

check("a new port is saved and needs a restart", async () => {
  await page.fill("#port", "18555");
  await page.click("#port-form button");
  await page.locator("#notice", { hasText: "Restart" }).waitFor();
  const config = await (await fetch(base + "/admin/config")).json();
  assert.equal(config.config.port, 18555);
});

check("the client base URL is this server", async () => {
  assert.equal(await page.locator("#base-url").textContent(), base + "/v1");
  assert.deepEqual(errors, []);
});

try {
  await runChecks();
} finally {
  await browser.close();
}
