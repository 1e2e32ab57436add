// Prints what a person sees in the dashboard's CLI panels, as JSON {"codex": text, "claude": text},
// from a real Chromium on this machine; the xunit test asserts on it.
// Usage: node dashboard-check.mjs BASE_URL
import { launchChromium } from "./browser.mjs";

const base = process.argv[2];
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(base + "/admin#dashboard");
  const panels = {};
  for (const cli of ["codex", "claude"]) {
    const panel = page.locator(`[data-cli="${cli}"]`);
    await panel.waitFor({ timeout: 20_000 });
    panels[cli] = await panel.innerText();
  }
  console.log(JSON.stringify(panels));
} finally {
  await browser.close();
}
