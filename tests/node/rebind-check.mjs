// A DNS-rebinding attack in a real Chromium: a page on http://rebind.example:PORT whose name now
// resolves to 127.0.0.1 (the resolver rule plays the attacker's DNS) tries what such a page would:
// read the config and the master key, mint an admin key, change a setting.
// Usage: node rebind-check.mjs BASE_URL   (BASE_URL is the server on 127.0.0.1)
import assert from "node:assert/strict";
import { launchChromium } from "./browser.mjs";
import { check, runChecks } from "./checks.mjs";

const base = new URL(process.argv[2]);
const attacker = `http://rebind.example:${base.port}`;
const browser = await launchChromium(["--host-resolver-rules=MAP rebind.example 127.0.0.1"]);
const page = await browser.newPage();

// Same-origin calls from the attacker's page: what its script would run after the rebinding.
const call = (method, path, body) => page.evaluate(async ([method, path, body]) => {
  const response = await fetch(path, { method, headers: { "Content-Type": "application/json" }, body });
  return { status: response.status, text: await response.text() };
}, [method, path, body]);

check("the page under the attacker's name is refused, and says how to allow a name", async () => {
  const response = await page.goto(attacker + "/admin");
  assert.equal(response.status(), 403);
  const error = JSON.parse(await response.text()).error;
  assert.equal(error.code, "host_not_allowed");
  assert.match(error.message, /allowedHosts/);
});

check("its script cannot read the config or the master key", async () => {
  for (const path of ["/admin/config", "/admin/master-key", "/health"]) {
    const { status, text } = await call("GET", path);
    assert.equal(status, 403, path);
    assert.doesNotMatch(text, /msk_/, path);
  }
});

check("its script cannot mint a key or change a setting", async () => {
  assert.equal((await call("POST", "/v1/api-keys", JSON.stringify({ name: "pwned", scopes: ["admin"] }))).status, 403);
  assert.equal((await call("PATCH", "/admin/config", JSON.stringify({ allowLocalWithoutAuth: true, corsOrigins: [attacker] }))).status, 403);
  assert.equal((await call("POST", "/admin/master-key/regenerate")).status, 403);
});

check("the same browser on 127.0.0.1 still gets the console", async () => {
  const response = await page.goto(new URL("/admin", base).href);
  assert.equal(response.status(), 200);
  const { status, text } = await call("GET", "/admin/config");
  assert.equal(status, 200);
  assert.doesNotMatch(text, /msk_/);
});

try {
  await runChecks();
} finally {
  await browser.close();
}
