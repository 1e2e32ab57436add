// The little runner every *-check.mjs script shares: named checks, run in order, one line each;
// the process exits non-zero when any failed, so the xunit test that runs the script fails with it.
const checks = [];

export const check = (name, fn) => checks.push({ name, fn });

export async function runChecks() {
  let failed = 0;
  for (const { name, fn } of checks) {
    try {
      await fn();
      console.log(`ok   ${name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${e?.stack ?? e}`);
    }
  }
  console.log(`${checks.length - failed}/${checks.length} checks passed`);
  process.exit(failed ? 1 : 0);
}
