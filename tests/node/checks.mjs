// The little runner every *-check.mjs script shares: named checks, run in order, one line each;
// the process exits non-zero when any failed, so the xunit test that runs the script fails with it,
// naming the failed checks.
const checks = [];

export const check = (name, fn) => checks.push({ name, fn });

export async function runChecks() {
  const failed = [];
  for (const { name, fn } of checks) {
    try {
      await fn();
      console.log(`ok   ${name}`);
    } catch (e) {
      failed.push(name);
      console.log(`FAIL ${name}: ${e?.stack ?? e}`);
    }
  }
  console.log(`${checks.length - failed.length}/${checks.length} checks passed`);
  if (failed.length) reportFailed(failed);
  process.exit(failed.length ? 1 : 0);
}

// One line the xunit side reads (NodeScript.AssertPassed) to name what broke in its failure message.
export const reportFailed = (names) => console.log(`FAILED CHECKS ${JSON.stringify(names)}`);
