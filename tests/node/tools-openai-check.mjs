// Function calling with the official openai npm SDK against a server whose models run on the REAL
// CLIs (behind mock model servers that call tools as the prompt's markers say; see tools.mjs):
// chat.completions.runTools (parallel calls; streamed, two rounds), and the Responses loop by hand
// (previous_response_id; store:false with the whole input; streamed with the stream helper).
// Usage: node tools-openai-check.mjs <base url> <model>
// Prints "ok <check>" / "FAIL <check>: ..." per check, "TOOL {json}" per tool run. Exits non-zero if any check fails.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { check, runChecks } from './checks.mjs';
import { ToolRuns, assertFinal, parseArgs, requestTimeoutMs, scenario, time, tools, weather } from './tools.mjs';

const { baseURL, model } = parseArgs('tools-openai-check.mjs');
// No retries: a server error must fail the check, not be papered over.
const client = new OpenAI({ apiKey: 'sk-test', baseURL, maxRetries: 0, timeout: requestTimeoutMs });
const maxRounds = 4;

const runnableTools = (runs) => tools.map((t) => ({
  type: 'function',
  function: {
    name: t.name,
    description: t.description,
    parameters: t.parameters,
    parse: JSON.parse,
    function: (args) => runs.run(t.name, args),
  },
}));

// The Responses API's flat function tools.
const responseTools = tools.map((t) => ({ type: 'function', name: t.name, description: t.description, parameters: t.parameters, strict: true }));

function assertCalls(message, round) {
  const calls = message.tool_calls ?? [];
  assert.deepEqual(calls.map((c) => [c.type, c.function.name, JSON.parse(c.function.arguments)]), round.map((c) => ['function', c.name, c.args]), 'the tool_calls');
  for (const call of calls) {
    assert.match(call.id, /\S/, 'each call has an id');
  }
  assert.equal(new Set(calls.map((c) => c.id)).size, calls.length, 'call ids are unique');
}

check('chat runTools, two tools called in parallel', async () => {
  const s = scenario([weather('Paris'), time('Tokyo', '24h')]);
  const runs = new ToolRuns('chat runTools, two tools called in parallel');
  const runner = client.chat.completions.runTools(
    { model, messages: [{ role: 'user', content: s.prompt }], tools: runnableTools(runs) },
    { maxChatCompletions: maxRounds, signal: AbortSignal.timeout(2 * requestTimeoutMs) },
  );
  const content = await runner.finalContent();
  console.log('SAW ' + JSON.stringify({ check: 'chat runTools parallel', content }));
  runs.assertRan(s.calls);
  assertFinal(content, s.outputs);
  const completions = runner.allChatCompletions();
  assert.equal(completions.length, 2, 'one step with both calls, then the answer');
  assert.equal(completions[0].choices[0].finish_reason, 'tool_calls');
  // Text the model wrote before calling (Claude often does) comes with the calls; without any, content is null.
  const before = completions[0].choices[0].message.content;
  assert.ok(before === null || (typeof before === 'string' && before.length > 0), 'content is null or the text before the calls');
  assertCalls(completions[0].choices[0].message, s.rounds[0]);
  assert.equal(completions[1].choices[0].finish_reason, 'stop');
  assert.equal(completions[1].choices[0].message.tool_calls?.length ?? 0, 0, 'no more calls');
});

check('chat runTools stream, two rounds', async () => {
  const s = scenario([weather('Lyon'), time('Osaka', '12h')], [weather('Nice')]);
  const runs = new ToolRuns('chat runTools stream, two rounds');
  const runner = client.chat.completions.runTools(
    { model, messages: [{ role: 'user', content: s.prompt }], tools: runnableTools(runs), stream: true, stream_options: { include_usage: true } },
    { maxChatCompletions: maxRounds, signal: AbortSignal.timeout(3 * requestTimeoutMs) },
  );
  let deltas = '';
  runner.on('content', (delta) => { deltas += delta; });
  const content = await runner.finalContent();
  console.log('SAW ' + JSON.stringify({ check: 'chat runTools stream', content }));
  runs.assertRan(s.calls);
  assertFinal(content, s.outputs);
  const completions = runner.allChatCompletions();
  // Every completion's text streamed, the tool steps' (text before their calls) included.
  assert.equal(deltas, completions.map((c) => c.choices[0].message.content ?? '').join(''), 'the streamed deltas are the answers');
  assert.equal(completions.length, 3, 'two tool steps, then the answer');
  for (const [i, round] of s.rounds.entries()) {
    assert.equal(completions[i].choices[0].finish_reason, 'tool_calls');
    assertCalls(completions[i].choices[0].message, round);
  }
  assert.equal(completions[2].choices[0].finish_reason, 'stop');
});

// Runs the function_call items of a response; returns their function_call_output items.
function answer(response, runs) {
  const calls = response.output.filter((item) => item.type === 'function_call');
  for (const call of calls) {
    assert.match(call.id ?? '', /\S/, 'a function_call item has an id');
    assert.match(call.call_id, /\S/, 'a function_call item has a call_id');
    assert.equal(call.status, 'completed');
  }
  assert.equal(new Set(calls.map((c) => c.call_id)).size, calls.length, 'call_ids are unique');
  return calls.map((call) => ({ type: 'function_call_output', call_id: call.call_id, output: runs.run(call.name, call.arguments) }));
}

const namesAndArgs = (response) => response.output.filter((i) => i.type === 'function_call').map((i) => [i.name, JSON.parse(i.arguments)]);
const expectedNamesAndArgs = (round) => round.map((c) => [c.name, c.args]);

check('responses.create, function_call_output with previous_response_id, two rounds', async () => {
  const s = scenario([weather('Berlin'), time('Seoul', '24h')], [time('Lima', '12h')]);
  const runs = new ToolRuns('responses.create previous_response_id');
  let response = await client.responses.create({ model, input: s.prompt, tools: responseTools }, { signal: AbortSignal.timeout(requestTimeoutMs) });
  const responses = [response];
  for (let round = 0; round < maxRounds && response.output.some((i) => i.type === 'function_call'); round++) {
    assert.equal(response.status, 'completed');
    assert.deepEqual(namesAndArgs(response), expectedNamesAndArgs(s.rounds[round] ?? []), `the function_call items of round ${round}`);
    const outputs = answer(response, runs);
    const previous = response.id;
    response = await client.responses.create(
      { model, previous_response_id: previous, input: outputs, tools: responseTools },
      { signal: AbortSignal.timeout(requestTimeoutMs) },
    );
    assert.equal(response.previous_response_id, previous);
    responses.push(response);
  }
  console.log('SAW ' + JSON.stringify({ check: 'responses previous_response_id', output_text: response.output_text }));
  runs.assertRan(s.calls);
  assert.equal(responses.length, 3, 'two tool steps, then the answer');
  assert.equal(response.status, 'completed');
  assertFinal(response.output_text, s.outputs);
  assert.match(response.id, /^resp_/);
  // The stored response reads back the same.
  const stored = await client.responses.retrieve(response.id, {}, { signal: AbortSignal.timeout(requestTimeoutMs) });
  assert.equal(stored.output_text, response.output_text);
});

check('responses.create store:false, the whole input sent again', async () => {
  const s = scenario([weather('Oslo'), time('Cairo', '24h')]);
  const runs = new ToolRuns('responses.create store:false');
  const input = [{ role: 'user', content: s.prompt }];
  const first = await client.responses.create({ model, input, tools: responseTools, store: false }, { signal: AbortSignal.timeout(requestTimeoutMs) });
  assert.deepEqual(namesAndArgs(first), expectedNamesAndArgs(s.rounds[0]), 'the function_call items');
  // As OpenAI's function-calling guide does it: the model's output items, then the outputs.
  input.push(...first.output, ...answer(first, runs));
  const second = await client.responses.create({ model, input, tools: responseTools, store: false }, { signal: AbortSignal.timeout(requestTimeoutMs) });
  console.log('SAW ' + JSON.stringify({ check: 'responses store:false', output_text: second.output_text }));
  runs.assertRan(s.calls);
  assert.equal(second.status, 'completed');
  assert.equal(second.output.some((i) => i.type === 'function_call'), false, 'no more calls');
  assertFinal(second.output_text, s.outputs);
});

check('responses.stream, function_call_arguments events, then previous_response_id', async () => {
  const s = scenario([weather('Rome'), time('Delhi', '12h')]);
  const runs = new ToolRuns('responses.stream');
  const stream = client.responses.stream({ model, input: s.prompt, tools: responseTools }, { signal: AbortSignal.timeout(requestTimeoutMs) });
  const added = [];
  const deltas = {};
  const snapshots = {};
  const done = {};
  stream.on('response.output_item.added', (e) => added.push(e.item));
  stream.on('response.function_call_arguments.delta', (e) => {
    deltas[e.item_id] = (deltas[e.item_id] ?? '') + e.delta;
    snapshots[e.item_id] = e.snapshot;
  });
  stream.on('response.function_call_arguments.done', (e) => { done[e.item_id] = e.arguments; });
  const first = await stream.finalResponse();
  assert.equal(first.status, 'completed');
  assert.deepEqual(namesAndArgs(first), expectedNamesAndArgs(s.rounds[0]), 'the function_call items');
  const calls = first.output.filter((i) => i.type === 'function_call');
  assert.deepEqual(added.filter((i) => i.type === 'function_call').map((i) => [i.id, i.call_id, i.name, i.arguments]),
    calls.map((c) => [c.id, c.call_id, c.name, '']), 'output_item.added announced each call with empty arguments');
  for (const call of calls) {
    assert.equal(deltas[call.id], call.arguments, `the argument deltas of ${call.name} add up to its arguments`);
    assert.equal(snapshots[call.id], call.arguments, `the SDK's snapshot of ${call.name}`);
    assert.equal(done[call.id], call.arguments, `function_call_arguments.done of ${call.name}`);
  }

  const followUp = client.responses.stream(
    { model, previous_response_id: first.id, input: answer(first, runs), tools: responseTools },
    { signal: AbortSignal.timeout(requestTimeoutMs) },
  );
  let text = '';
  followUp.on('response.output_text.delta', (e) => { text += e.delta; });
  const final = await followUp.finalResponse();
  console.log('SAW ' + JSON.stringify({ check: 'responses.stream', output_text: final.output_text }));
  runs.assertRan(s.calls);
  assert.equal(final.status, 'completed');
  assert.equal(final.previous_response_id, first.id);
  assertFinal(final.output_text, s.outputs);
  assert.equal(text, final.output_text, 'the streamed deltas are the answer');
});

await runChecks();
