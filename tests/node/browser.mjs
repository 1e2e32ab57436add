// Debian's chromium (CHROMIUM names another) as every browser check starts it: no sandbox (the
// tests may run as root), nothing it would fetch on its own; playwright gives it a fresh, empty profile.
import { chromium } from "playwright-core";

export const launchChromium = (extraArgs = []) => chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", ...extraArgs],
});
