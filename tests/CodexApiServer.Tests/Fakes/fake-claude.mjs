#!/usr/bin/env node
// A stand-in for `claude -p --input-format stream-json --output-format stream-json` that can
// misbehave. The mode comes from FAKE_CLAUDE_MODE, or from "#mode=NAME" in the user's text.
// Each start is recorded as FAKE_CLAUDE_LOG/<pid>.json (argv, cwd) so tests can check what ran.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

const argv = process.argv.slice(2);
const logDir = process.env.FAKE_CLAUDE_LOG;
const arg = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const resumeId = arg('--resume');
const sessionId = resumeId ?? arg('--session-id') ?? 'no-session';
if (logDir) {
  fs.mkdirSync(path.join(logDir, 'sessions'), { recursive: true });
  fs.writeFileSync(path.join(logDir, `${process.pid}.json`), JSON.stringify({ pid: process.pid, argv, cwd: process.cwd() }));
}

let out = (s) => process.stdout.write(s + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const line = (o) => out(JSON.stringify(o));
const ev = (event) => line({ type: 'stream_event', event, session_id: sessionId });
let turn = 0;

if (resumeId && logDir && !fs.existsSync(path.join(logDir, 'sessions', resumeId))) {
  process.stderr.write(`No conversation found with session ID: ${resumeId}\n`);
  line({ type: 'result', subtype: 'error_during_execution', is_error: true, num_turns: 0, session_id: resumeId, usage: { input_tokens: 0, output_tokens: 0 } });
  process.exit(1);
}
if (process.env.FAKE_CLAUDE_MODE === 'exit-at-start') {
  process.exit(2);
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const queue = [];
let busy = false;
rl.on('line', (l) => { queue.push(l); pump(); });
rl.on('close', async () => { while (busy || queue.length) await sleep(10); process.exit(0); });

async function pump() {
  if (busy) return;
  busy = true;
  while (queue.length) await handle(queue.shift());
  busy = false;
}

async function handle(raw) {
  const msg = JSON.parse(raw);
  const content = msg.message.content;
  if (typeof content === 'string' && content.trim() === '') {
    // As claude 2.1.331: a blank prompt is answered here, sent nowhere, and is not a turn.
    process.stderr.write('fake-claude blank prompt\n');
    line({ type: 'system', subtype: 'informational', content: 'Blank prompt — the message was only whitespace, so nothing was sent to the model.', level: 'warning', session_id: sessionId });
    line({ type: 'result', subtype: 'success', is_error: false, num_turns: 0, stop_reason: null, session_id: sessionId, usage: { input_tokens: 0, output_tokens: 0 } });
    return;
  }
  turn++;
  if (logDir) fs.writeFileSync(path.join(logDir, 'sessions', sessionId), '');
  const text = content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
  const mode = (/#mode=([a-z-]+)/.exec(text) || [])[1] ?? process.env.FAKE_CLAUDE_MODE ?? 'ok';
  process.stderr.write(`fake-claude turn ${turn} mode ${mode}\n`);
  if (mode === 'silent') { await sleep(600000); return; } // reads the message, then says nothing
  if (mode === 'split') {
    // Every byte its own write: the reader must reassemble lines and characters across reads.
    out = (s) => { const b = Buffer.from(s + '\n', 'utf8'); for (let i = 0; i < b.length; i++) fs.writeSync(1, b.subarray(i, i + 1)); };
  }
  if (turn === 1) line({ type: 'system', subtype: 'init', session_id: sessionId, tools: [], model: arg('--model') });
  if (mode === 'auth') {
    line({ type: 'system', subtype: 'api_retry', attempt: 1, max_retries: 10, retry_delay_ms: 600, error_status: 401, error: 'authentication_failed', session_id: sessionId });
    await sleep(60000);
    return;
  }
  if (mode === 'retry') {
    // Upstream overloaded twice, then fine: the provider keeps waiting. Real lines carry nulls too.
    line({ type: 'system', subtype: 'api_retry', attempt: 1, max_retries: 10, retry_delay_ms: 100, error_status: 529, error: 'overloaded', session_id: sessionId });
    await sleep(100);
    line({ type: 'system', subtype: 'api_retry', attempt: 2, max_retries: 10, retry_delay_ms: 100, error_status: null, error: 'unknown', session_id: sessionId });
    await sleep(100);
  }
  let deltas = ['Hello', ', ', 'wörld ', '日本語', ' 😀'];
  if (mode === 'echo') { const s = JSON.stringify(content); deltas = [s.slice(0, 10), s.slice(10)]; }
  if (mode === 'turn') deltas = [`pid=${process.pid}`, ` turn=${turn}`];
  if (mode === 'slower') deltas = ['Hello', ...Array(9).fill(' and on')]; // 3 s of answer
  ev({ type: 'message_start', message: { id: 'msg_1', role: 'assistant', content: [], usage: { input_tokens: 10, output_tokens: 1 } } });
  if (mode === 'thinking') {
    ev({ type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } });
    ev({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Let me think.' } });
    ev({ type: 'content_block_stop', index: 0 });
  }
  ev({ type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } });
  if (mode === 'hang-first') await sleep(600000);
  for (let i = 0; i < deltas.length; i++) {
    if (mode === 'garbage') { out('this is not json'); out('{"type": broken'); out('[1,2,3]'); out('"just a string"'); out('{}'); out('{"type":"stream_event","event":null}'); }
    if (mode === 'huge' && i === 1) { line({ type: 'system', subtype: 'pad', pad: 'x'.repeat(5 * 1024 * 1024) }); out('y'.repeat(9 * 1024 * 1024)); }
    ev({ type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: deltas[i] } });
    if (mode === 'crash' && i === 1) {
      // What a crashing CLI may print: for the operator's log, never for the caller.
      fs.writeSync(2, 'panic: token sk-ant-api03-SECRETSECRET, upstream https://10.9.8.7:8443/v1/messages\n');
      process.exit(3);
    }
    if (mode === 'hang' && i === 0) { await sleep(600000); }
    if (mode === 'slow' || mode === 'slower') await sleep(300);
  }
  ev({ type: 'content_block_stop', index: 1 });
  const stop = mode === 'length' ? 'max_tokens' : 'end_turn';
  ev({ type: 'message_delta', delta: { stop_reason: stop }, usage: { output_tokens: 5 } });
  ev({ type: 'message_stop' });
  line({ type: 'assistant', message: { role: 'assistant', content: [{ type: 'text', text: deltas.join('') }] }, session_id: sessionId });
  const usage = { input_tokens: 10, cache_creation_input_tokens: 4, cache_read_input_tokens: 2, output_tokens: 5, output_tokens_details: { thinking_tokens: mode === 'thinking' ? 3 : 0 } };
  if (mode === 'error') {
    line({ type: 'result', subtype: 'success', is_error: true, api_error_status: 500, result: 'API Error: 500 boom', stop_reason: null, num_turns: 1, session_id: sessionId, usage });
    return;
  }
  line({ type: 'result', subtype: 'success', is_error: false, api_error_status: null, result: deltas.join(''), stop_reason: stop, num_turns: 1, session_id: sessionId, usage, modelUsage: {} });
}
