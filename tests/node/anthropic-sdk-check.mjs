// The official Anthropic SDK (@anthropic-ai/sdk), unchanged, against our /v1/messages with models that
// run on the REAL CLIs behind mock model servers: create, stream() with its events and finalMessage(),
// a tool-use loop (plain and streamed), an image, thinking, countTokens, models, and the error classes
// a bad request and an unknown model get.
// Usage: node anthropic-sdk-check.mjs <base url> <model> <expected answer> <prompt tokens> <completion tokens> <cached tokens> <expected thinking>
//   <expected thinking>: what the mock reasons when the prompt says THINK_MARKER, or "" if it does not.
// Prints "ok <check>" / "FAIL <check>: ..." per check, "TOOL {json}" per tool run. Exits non-zero if any check fails.
import assert from 'node:assert/strict';
import Anthropic, { BadRequestError, NotFoundError } from '@anthropic-ai/sdk';
import { check, runChecks } from './checks.mjs';
import { ToolRuns, assertFinal, scenario, time, weather } from './tools.mjs';
import { anthropicTools, assertUsage, parseArgs, png, requestTimeoutMs } from './anthropic.mjs';

const { base, model, expected, usage, rest: [expectedThinking] } = parseArgs('anthropic-sdk-check.mjs', ['expected thinking']);
// The text that makes the xunit side's mocks reason before they answer.
const THINK_MARKER = '[think first]';
// No retries: a server error must fail the check, not be papered over.
const client = new Anthropic({ baseURL: base, apiKey: 'sk-ant-test', maxRetries: 0, timeout: requestTimeoutMs });
const maxRounds = 4;

function assertMessage(m, { stopReason = 'end_turn' } = {}) {
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.match(m.id, /^msg_/, 'a message id');
  assert.equal(m.model, model, 'the model asked for');
  assert.equal(m.stop_reason, stopReason, `stop_reason: ${JSON.stringify(m.content)}`);
  assert.equal(m.stop_sequence, null);
  assert.ok(Array.isArray(m.content), 'content is a list of blocks');
}

const textOf = (m) => m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');

check('messages.create', async () => {
  const { data: m, request_id } = await client.messages
    .create({ model, max_tokens: 1024, messages: [{ role: 'user', content: 'こんにちは' }] }, { signal: AbortSignal.timeout(requestTimeoutMs) })
    .withResponse();
  console.log('SAW ' + JSON.stringify({ check: 'messages.create', message: m }));
  assertMessage(m);
  assert.deepEqual(m.content, [{ type: 'text', text: expected }].map((b) => ({ ...b, ...pick(m.content[0], 'citations') })));
  assertUsage(m.usage, usage);
  assert.ok(request_id, 'a request-id header');
});

check('messages.create with system blocks, metadata, sampling, stop_sequences and a beta header, then a follow-up', async () => {
  const first = await client.messages.create({
    model,
    max_tokens: 512,
    system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'おはよう', cache_control: { type: 'ephemeral' } }] }],
    metadata: { user_id: 'user-1234' },
    temperature: 0.2,
    top_p: 0.9,
    top_k: 40,
    stop_sequences: ['\n\nHuman:'],
  }, { headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' }, signal: AbortSignal.timeout(requestTimeoutMs) });
  assertMessage(first);
  assert.equal(textOf(first), expected);
  // The whole history again, as a stateless client sends it.
  const second = await client.messages.create({
    model,
    max_tokens: 512,
    system: 'You are terse.',
    messages: [
      { role: 'user', content: 'おはよう' },
      { role: 'assistant', content: first.content },
      { role: 'user', content: 'もう一度' },
    ],
  }, { signal: AbortSignal.timeout(requestTimeoutMs) });
  assertMessage(second);
  assert.equal(textOf(second), expected);
  assertUsage(second.usage, usage);
});

check('messages.stream: text events, streamEvents in order, finalMessage', async () => {
  const stream = client.messages.stream(
    { model, max_tokens: 1024, messages: [{ role: 'user', content: 'ストリームで' }] },
    { signal: AbortSignal.timeout(requestTimeoutMs) },
  );
  const deltas = [];
  const events = [];
  let start;
  stream.on('text', (delta, snapshot) => {
    deltas.push(delta);
    assert.equal(snapshot, deltas.join(''), 'the snapshot is the deltas so far');
  });
  stream.on('streamEvent', (event) => {
    events.push(event.type);
    if (event.type === 'message_start') start = structuredClone(event.message);
  });
  const m = await stream.finalMessage();
  console.log('SAW ' + JSON.stringify({ check: 'messages.stream', events, deltas, message: m }));
  assertMessage(m);
  assert.equal(textOf(m), expected);
  assert.equal(deltas.join(''), expected, 'the text events are the answer');
  assert.ok(deltas.length > 1, `the answer came in pieces: ${JSON.stringify(deltas)}`);
  assert.equal(await stream.finalText(), expected);
  assert.equal(events[0], 'message_start');
  assert.equal(events.at(-1), 'message_stop');
  assert.equal(events.at(-2), 'message_delta');
  assert.deepEqual(m.content.map((b) => b.type), ['text']);
  // message_start carries the prompt's real size, before any output.
  assert.equal(start.role, 'assistant');
  assert.deepEqual(start.content, []);
  assert.equal(start.stop_reason, null);
  assert.ok(start.usage.input_tokens > 0, `message_start usage.input_tokens is the real count: ${JSON.stringify(start.usage)}`);
  assertUsage(m.usage, usage, 'the final usage');
  assert.ok(stream.request_id, 'a request-id header on the stream');
});

check('messages.create stream:true, raw events', async () => {
  const stream = await client.messages.create(
    { model, max_tokens: 1024, stream: true, messages: [{ role: 'user', content: 'raw' }] },
    { signal: AbortSignal.timeout(requestTimeoutMs) },
  );
  const events = [];
  for await (const event of stream) {
    events.push(event);
  }
  const types = events.map((e) => e.type);
  console.log('SAW ' + JSON.stringify({ check: 'raw events', types }));
  assert.equal(types[0], 'message_start');
  assert.deepEqual(types.slice(-2), ['message_delta', 'message_stop']);
  const blocks = events.filter((e) => e.type === 'content_block_start');
  assert.deepEqual(blocks.map((e) => e.index), blocks.map((_, i) => i), 'block indexes count from 0');
  for (const start of blocks) {
    const own = events.filter((e) => e.index === start.index);
    assert.equal(own[0].type, 'content_block_start');
    assert.equal(own.at(-1).type, 'content_block_stop', `block ${start.index} stops`);
    assert.ok(events.indexOf(own.at(-1)) < events.findIndex((e) => e.type === 'message_delta'), 'blocks stop before message_delta');
  }
  const text = events.filter((e) => e.type === 'content_block_delta' && e.delta.type === 'text_delta').map((e) => e.delta.text).join('');
  assert.equal(text, expected);
  const delta = events.at(-2);
  assert.equal(delta.delta.stop_reason, 'end_turn');
  assert.equal(delta.usage.output_tokens, usage.completion);
});

/** Runs the tool_use blocks of a message; the user message with their results. */
function toolResults(m, runs) {
  const uses = m.content.filter((b) => b.type === 'tool_use');
  assert.ok(uses.length > 0, `stop_reason tool_use with tool_use blocks: ${JSON.stringify(m.content)}`);
  for (const use of uses) {
    assert.match(use.id, /\S/, 'each tool_use has an id');
    assert.equal(typeof use.input, 'object', 'input is an object');
  }
  assert.equal(new Set(uses.map((u) => u.id)).size, uses.length, 'tool_use ids are unique');
  return { role: 'user', content: uses.map((u) => ({ type: 'tool_result', tool_use_id: u.id, content: runs.run(u.name, u.input) })) };
}

function assertRound(m, round) {
  assertMessage(m, { stopReason: 'tool_use' });
  assert.deepEqual(m.content.filter((b) => b.type === 'tool_use').map((b) => [b.name, b.input]), round.map((c) => [c.name, c.args]), 'the tool_use blocks');
  // Text the model wrote before calling (Claude does) comes first.
  const kinds = m.content.map((b) => b.type);
  assert.ok(kinds.indexOf('tool_use') === kinds.filter((k) => k === 'text').length, `text, then the tool_use blocks: ${kinds}`);
}

check('tool use: two tools in parallel, tool_result, final answer (messages.create)', async () => {
  const s = scenario([weather('Paris'), time('Tokyo', '24h')]);
  const runs = new ToolRuns('create tool loop');
  const messages = [{ role: 'user', content: s.prompt }];
  const steps = [];
  for (let i = 0; i < maxRounds; i++) {
    const m = await client.messages.create({ model, max_tokens: 1024, tools: anthropicTools, messages }, { signal: AbortSignal.timeout(requestTimeoutMs) });
    steps.push(m);
    if (m.stop_reason !== 'tool_use') break;
    messages.push({ role: 'assistant', content: m.content }, toolResults(m, runs));
  }
  console.log('SAW ' + JSON.stringify({ check: 'create tool loop', steps }));
  assert.equal(steps.length, 2, 'one tool step, then the answer');
  assertRound(steps[0], s.rounds[0]);
  assertMessage(steps[1]);
  runs.assertRan(s.calls);
  assertFinal(textOf(steps[1]), s.outputs);
  assert.equal(steps[1].content.filter((b) => b.type === 'tool_use').length, 0, 'no more calls');
});

check('tool use streamed over two rounds: inputJson events, finalMessage', async () => {
  const s = scenario([weather('Lyon'), time('Osaka', '12h')], [weather('Nice')]);
  const runs = new ToolRuns('stream tool loop');
  const messages = [{ role: 'user', content: s.prompt }];
  const steps = [];
  for (let i = 0; i < maxRounds; i++) {
    const stream = client.messages.stream({ model, max_tokens: 1024, tools: anthropicTools, messages }, { signal: AbortSignal.timeout(requestTimeoutMs) });
    const partials = {};
    let inputJsonEvents = 0;
    stream.on('inputJson', () => { inputJsonEvents++; });
    stream.on('streamEvent', (event) => {
      if (event.type === 'content_block_delta' && event.delta.type === 'input_json_delta') {
        partials[event.index] = (partials[event.index] ?? '') + event.delta.partial_json;
      }
    });
    const m = await stream.finalMessage();
    steps.push(m);
    if (m.stop_reason !== 'tool_use') break;
    // The JSON streamed for each block is its input.
    for (const [index, block] of m.content.entries()) {
      if (block.type === 'tool_use') {
        assert.ok(partials[index] !== undefined, `input_json_delta events for block ${index}`);
        assert.deepEqual(JSON.parse(partials[index]), block.input, `block ${index}'s streamed JSON`);
      }
    }
    assert.ok(inputJsonEvents > 0, 'inputJson events');
    messages.push({ role: 'assistant', content: m.content }, toolResults(m, runs));
  }
  console.log('SAW ' + JSON.stringify({ check: 'stream tool loop', steps }));
  assert.equal(steps.length, 3, 'two tool steps, then the answer');
  for (const [i, round] of s.rounds.entries()) {
    assertRound(steps[i], round);
  }
  assertMessage(steps[2]);
  runs.assertRan(s.calls);
  assertFinal(textOf(steps[2]), s.outputs);
});

check('an image (base64 PNG) in the user content', async () => {
  const m = await client.messages.create({
    model,
    max_tokens: 1024,
    messages: [{
      role: 'user',
      content: [
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
        { type: 'text', text: 'What colours are in this image?' },
      ],
    }],
  }, { signal: AbortSignal.timeout(requestTimeoutMs) });
  assertMessage(m);
  assert.equal(textOf(m), expected);
});

check('thinking enabled: create and stream', async () => {
  const params = {
    model,
    max_tokens: 4096,
    thinking: { type: 'enabled', budget_tokens: 2048 },
    messages: [{ role: 'user', content: `Think it over, then greet me. ${THINK_MARKER}` }],
  };
  const m = await client.messages.create(params, { signal: AbortSignal.timeout(requestTimeoutMs) });
  const stream = client.messages.stream(params, { signal: AbortSignal.timeout(requestTimeoutMs) });
  let thought = '';
  const signatures = [];
  stream.on('thinking', (delta, snapshot) => {
    thought += delta;
    assert.equal(snapshot, thought, 'the thinking snapshot is the deltas so far');
  });
  stream.on('signature', (signature) => signatures.push(signature));
  const streamed = await stream.finalMessage();
  console.log('SAW ' + JSON.stringify({ check: 'thinking', created: m, streamed, signatures }));
  for (const message of [m, streamed]) {
    assertMessage(message);
    assert.equal(textOf(message), expected);
    const thinking = message.content.filter((b) => b.type === 'thinking');
    for (const block of thinking) {
      assert.equal(typeof block.thinking, 'string');
      assert.equal(typeof block.signature, 'string', 'a thinking block has a signature');
    }
    if (expectedThinking) {
      // Thinking first, then the answer.
      assert.deepEqual(message.content.map((b) => b.type), ['thinking', 'text']);
      assert.equal(thinking[0].thinking, expectedThinking);
    }
  }
  if (expectedThinking) {
    assert.equal(thought, expectedThinking, 'the thinking events');
    assert.ok(signatures.length > 0, 'a signature_delta');
  }
});

check('messages.countTokens', async () => {
  const short = await client.messages.countTokens({ model, messages: [{ role: 'user', content: 'Hi' }] });
  const long = await client.messages.countTokens({
    model,
    system: 'You are a careful assistant who answers in full sentences.',
    tools: anthropicTools,
    messages: [{ role: 'user', content: 'Please tell me about the weather in Paris and the time in Tokyo. '.repeat(20) }],
  });
  console.log('SAW ' + JSON.stringify({ check: 'countTokens', short, long }));
  assert.deepEqual(Object.keys(short), ['input_tokens']);
  assert.ok(Number.isInteger(short.input_tokens) && short.input_tokens > 0, `a positive count: ${short.input_tokens}`);
  assert.ok(long.input_tokens > short.input_tokens + 100, `a longer prompt counts more: ${short.input_tokens} < ${long.input_tokens}`);
});

check('models.list and models.retrieve', async () => {
  const seen = [];
  let pages = 0;
  for await (const page of (await client.models.list({ limit: 100 })).iterPages()) {
    seen.push(...page.data);
    assert.ok(++pages <= 5, 'a bounded number of pages');
  }
  console.log('SAW ' + JSON.stringify({ check: 'models.list', ids: seen.map((m) => m.id) }));
  assert.ok(seen.length > 0, 'some models');
  for (const m of seen) {
    assert.equal(m.type, 'model', `${m.id}: type`);
    assert.equal(typeof m.display_name, 'string', `${m.id}: display_name`);
    assert.ok(m.display_name.length > 0, `${m.id}: display_name`);
    assert.ok(!Number.isNaN(Date.parse(m.created_at)), `${m.id}: created_at is a date: ${m.created_at}`);
  }
  assert.ok(seen.some((m) => m.id === model), `the list has ${model}`);
  const page = await client.models.list();
  assert.equal(page.first_id, page.data[0]?.id, 'first_id');
  assert.equal(page.last_id, page.data.at(-1)?.id, 'last_id');
  const one = await client.models.retrieve(model);
  assert.equal(one.id, model);
  assert.equal(one.type, 'model');
});

check('NotFoundError for a model that does not exist', async () => {
  const err = await client.models.retrieve('no-such-model-4-2').then(() => null, (e) => e);
  assert.ok(err instanceof NotFoundError, `a NotFoundError, got ${err?.constructor?.name}: ${err}`);
  assert.equal(err.status, 404);
  assert.equal(err.error?.type, 'error', `Anthropic's error body: ${JSON.stringify(err.error)}`);
  assert.equal(err.type, 'not_found_error');
  assert.match(err.apiMessage ?? '', /\S/, 'a message');
  assert.ok(err.requestID, 'a request-id header');
});

check('BadRequestError for a request without max_tokens, and for empty messages', async () => {
  for (const body of [
    { model, messages: [{ role: 'user', content: 'hi' }] },
    { model, max_tokens: 100, messages: [] },
  ]) {
    const err = await client.messages.create(body, { signal: AbortSignal.timeout(requestTimeoutMs) }).then(() => null, (e) => e);
    assert.ok(err instanceof BadRequestError, `${JSON.stringify(body)}: a BadRequestError, got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.status, 400);
    assert.equal(err.error?.type, 'error', `Anthropic's error body: ${JSON.stringify(err.error)}`);
    assert.equal(err.type, 'invalid_request_error');
    assert.ok(err.requestID, 'a request-id header');
  }
});

/** The named keys of an object that has them (a text block may carry citations: null). */
function pick(o, ...keys) {
  return Object.fromEntries(keys.filter((k) => o && k in o).map((k) => [k, o[k]]));
}

await runChecks();
