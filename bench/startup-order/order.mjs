// node order.mjs DBG PAGES > ORDER: the managed-code symbols of DBG (the binary's symbol file) whose bytes
// share a page with touched code (PAGES from touched.mjs), in address order. A page holds ~20 methods,
// so the list is a superset of what ran; each round on the reordered binary drops the bystanders that
// no longer share a page with code that runs.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
const [dbg, pagesFile] = process.argv.slice(2);
const touched = new Set(fs.readFileSync(pagesFile, 'utf8').trim().split('\n')
  .map(l => l.split(' ')).filter(([, perm]) => perm === 'r-xp').map(([page]) => parseInt(page, 16)));
const symbols = execFileSync('nm', ['-n', dbg], { maxBuffer: 1 << 30 }).toString().split('\n')
  .map(l => l.split(' ')).filter(f => f.length === 3 && /^[tT]$/.test(f[1])).map(([a, , name]) => [parseInt(a, 16), name]);
const start = symbols.find(([, n]) => n === '__start___managedcode')[0];
const stop = symbols.find(([, n]) => n === '__stop___managedcode')[0];
const names = [];
let bytes = 0;
for (let i = 0; i < symbols.length; i++) {
  const [at, name] = symbols[i];
  if (at < start || at >= stop || name.startsWith('__start_') || name.startsWith('__stop_')) continue;
  let end = stop;
  for (let j = i + 1; j < symbols.length; j++) if (symbols[j][0] > at) { end = symbols[j][0]; break; }
  for (let page = Math.floor(at / 4096) * 4096; page < end; page += 4096) {
    if (touched.has(page)) { names.push(name); bytes += end - at; break; }
  }
}
process.stdout.write(names.join('\n') + '\n');
console.error(`${names.length} symbols, ${bytes} of ${stop - start} bytes of managed code, ${touched.size} code pages touched`);
