// The Anthropic SDK's error classes for what a server with keys and limits refuses: AuthenticationError
// for a request from outside this machine (as through the tunnel: forwarding headers) with a wrong key
// or none, while the master key works there as a Bearer token and as x-api-key; RateLimitError when
// the server's one turn slot is taken and it queues nothing.
// Usage: node anthropic-errors-check.mjs <base url> <model> <expected answer> <prompt tokens> <completion tokens> <cached tokens> <master key> <limited base url>
//   <limited base url>: a server with maxConcurrentTurns 1 and queueTimeoutSeconds 0 whose mock answers slowly.
// Prints "ok <check>" / "FAIL <check>: ..." per check. Exits non-zero if any check fails.
import assert from 'node:assert/strict';
import Anthropic, { AuthenticationError, RateLimitError } from '@anthropic-ai/sdk';
import { check, runChecks } from './checks.mjs';
import { assertUsage, parseArgs, requestTimeoutMs } from './anthropic.mjs';

const { base, model, expected, usage, rest: [masterKey, limitedArg] } = parseArgs('anthropic-errors-check.mjs', ['master key', 'limited base url']);
const limited = limitedArg.replace(/\/$/, '');
// What cloudflared adds: the server treats such a request as one from outside.
const outside = { 'X-Forwarded-For': '203.0.113.7', 'CF-Connecting-IP': '203.0.113.7' };
const options = { baseURL: base, maxRetries: 0, timeout: requestTimeoutMs };
const hello = { model, max_tokens: 256, messages: [{ role: 'user', content: 'こんにちは' }] };

function assertError(err, Class, status, type, what = 'the request') {
  assert.ok(err instanceof Class, `${what}: a ${Class.name}, got ${err?.constructor?.name}: ${err}`);
  assert.equal(err.status, status, what);
  assert.equal(err.error?.type, 'error', `${what}: Anthropic's error body: ${JSON.stringify(err.error)}`);
  assert.equal(err.type, type, `${what}: error.type: ${JSON.stringify(err.error)}`);
  assert.match(err.apiMessage ?? '', /\S/, `${what}: a message`);
  assert.ok(err.requestID, `${what}: a request-id header`);
}

const refused = (promise) => promise.then((value) => assert.fail(`expected an error, got ${JSON.stringify(value)}`), (e) => e);

check('AuthenticationError from outside with a wrong key', async () => {
  const client = new Anthropic({ ...options, apiKey: 'sk-ant-wrong-key', defaultHeaders: outside });
  const calls = {
    'messages.create': () => client.messages.create(hello),
    'messages.countTokens': () => client.messages.countTokens({ model, messages: hello.messages }),
    'models.list': () => client.models.list(),
  };
  for (const [name, call] of Object.entries(calls)) {
    assertError(await refused(call()), AuthenticationError, 401, 'authentication_error', name);
  }
});

check('AuthenticationError from outside without a key', async () => {
  // No Authorization header at all (null removes the SDK's own), no x-api-key.
  const client = new Anthropic({ ...options, apiKey: 'unused', defaultHeaders: { ...outside, Authorization: null } });
  const err = await refused(client.messages.create(hello));
  assertError(err, AuthenticationError, 401, 'authentication_error');
});

check('from outside, the master key works as a Bearer token and as x-api-key', async () => {
  const bearer = new Anthropic({ ...options, apiKey: masterKey, defaultHeaders: outside });
  const list = await bearer.models.list();
  assert.ok(list.data.some((m) => m.id === model), `the list has ${model}`);
  // As Claude Code and most Anthropic clients send it.
  const xApiKey = new Anthropic({ ...options, apiKey: 'unused', defaultHeaders: { ...outside, Authorization: null, 'x-api-key': masterKey } });
  const m = await xApiKey.messages.create(hello, { signal: AbortSignal.timeout(requestTimeoutMs) });
  assert.equal(m.content.filter((b) => b.type === 'text').map((b) => b.text).join(''), expected);
  assertUsage(m.usage, usage);
});

check('RateLimitError while the one turn slot is taken', async () => {
  const client = new Anthropic({ baseURL: limited, apiKey: 'sk-ant-test', maxRetries: 0, timeout: requestTimeoutMs });
  const slow = client.messages.stream({ ...hello, messages: [{ role: 'user', content: 'slow' }] }, { signal: AbortSignal.timeout(requestTimeoutMs) });
  // Its first words: the turn holds the slot and has more to say.
  const firstText = new Promise((resolve) => slow.once('text', resolve));
  const slowDone = slow.finalMessage();
  slowDone.catch(() => {}); // awaited below
  await Promise.race([firstText, slowDone]);
  const started = Date.now();
  const err = await refused(client.messages.create({ ...hello, messages: [{ role: 'user', content: 'overflow' }] }, { signal: AbortSignal.timeout(requestTimeoutMs) }));
  const waited = Date.now() - started;
  const stillRunning = await Promise.race([slowDone.then(() => false, () => false), new Promise((resolve) => setImmediate(() => resolve(true)))]);
  console.log('SAW ' + JSON.stringify({ check: 'RateLimitError', waited, stillRunning, error: err?.error, retryAfter: err?.headers?.get?.('retry-after') }));
  assertError(err, RateLimitError, 429, 'rate_limit_error');
  assert.ok(Number(err.headers.get('retry-after')) >= 1, `a retry-after header: ${err.headers.get('retry-after')}`);
  assert.ok(waited < 3000, `refused at once (queueTimeoutSeconds 0), took ${waited} ms`);
  assert.ok(stillRunning, 'the slow turn was still running when the overflow was refused; else the check proves nothing');
  const m = await slowDone;
  assert.equal(m.stop_reason, 'end_turn');
  assert.equal(m.content.filter((b) => b.type === 'text').map((b) => b.text).join(''), expected, 'the slow turn finished unharmed');
});

await runChecks();
