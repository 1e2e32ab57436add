// node touched.mjs PID EXE > PAGES: the resident pages of EXE's mappings in process PID, one per line
// as "<hex offset from the load base> <permissions>".
import fs from 'node:fs';
const [pid, exe] = process.argv.slice(2);
const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8').trim().split('\n')
  .map(l => l.split(/\s+/)).filter(f => f[5] === exe)
  .map(([range, perm, offset]) => { const [a, b] = range.split('-').map(x => parseInt(x, 16)); return { a, b, perm, offset: parseInt(offset, 16) }; });
const base = maps.find(m => m.offset === 0).a;
const fd = fs.openSync(`/proc/${pid}/pagemap`, 'r');
const entry = Buffer.alloc(8);
const lines = [];
for (const m of maps) {
  for (let page = m.a; page < m.b; page += 4096) {
    fs.readSync(fd, entry, 0, 8, (page / 4096) * 8);
    if (entry.readBigUInt64LE() >> 63n) lines.push(`${(page - base).toString(16)} ${m.perm}`);
  }
}
console.log(lines.join('\n'));
