// Prints the failed tests of a .trx file (dotnet test's results) with their messages, so that the
// end of a long CI log names what failed. Usage: node tests/failed-tests.mjs results.trx
import { readFileSync } from "node:fs";

const xml = readFileSync(process.argv[2], "utf8");
const unescape = (s) =>
  s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'")
   .replace(/&#x([0-9A-Fa-f]+);/g, (_, h) => String.fromCodePoint(parseInt(h, 16)))
   .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d))).replace(/&amp;/g, "&");
const text = (block, tag) => {
  const m = block.match(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`));
  return m ? unescape(m[1]) : "";
};

const failed = [];
// A result without output is one empty element (<UnitTestResult ... />).
for (const m of xml.matchAll(/<UnitTestResult\b([^>]*?)(?:\/>|>([\s\S]*?)<\/UnitTestResult>)/g)) {
  if (!/\boutcome="Failed"/.test(m[1])) continue;
  const name = unescape(m[1].match(/\btestName="([^"]*)"/)?.[1] ?? "?");
  const duration = m[1].match(/\bduration="([^"]*)"/)?.[1] ?? "";
  failed.push({ name, duration, message: text(m[2] ?? "", "Message"), stack: text(m[2] ?? "", "StackTrace") });
}
if (failed.length === 0) process.exit(0);
console.log(`\n::: ${failed.length} failed test(s)`);
for (const f of failed) {
  console.log(`--- FAILED ${f.name} (${f.duration})`);
  console.log(f.message.trim().split("\n").slice(0, 40).join("\n"));
  console.log(f.stack.trim().split("\n").slice(0, 15).join("\n"));
}
