// Function calling with LangChain's ChatOpenAI (@langchain/openai), unchanged, against a server whose
// models run on the REAL CLIs (behind mock model servers that call tools as the prompt's markers
// say; see tools.mjs): bindTools, invoke → AIMessage.tool_calls → run → ToolMessage → invoke again,
// over Chat Completions and over the Responses API (useResponsesApi: true), and a streamed first step.
// Usage: node tools-langchain-check.mjs <base url> <model>
// Prints "ok <check>" / "FAIL <check>: ..." per check, "TOOL {json}" per tool run. Exits non-zero if any check fails.
import assert from 'node:assert/strict';
import { ChatOpenAI } from '@langchain/openai';
import { HumanMessage, ToolMessage } from '@langchain/core/messages';
import { check, runChecks } from './checks.mjs';
import { ToolRuns, assertFinal, parseArgs, requestTimeoutMs, scenario, time, tools, weather } from './tools.mjs';

const { baseURL, model } = parseArgs('tools-langchain-check.mjs');
// @langchain/openai sends any model whose name contains "codex" to the Responses API on its own, so
// the Chat Completions checks of the codex model use the same model without it.
const chatModel = model.replace(/-codex$/, '');
const maxRounds = 4;

// No retries: a server error must fail the check, not be papered over.
const llm = (options) => new ChatOpenAI({
  model: chatModel,
  useResponsesApi: false,
  apiKey: 'x',
  maxRetries: 0,
  timeout: requestTimeoutMs,
  configuration: { baseURL },
  ...options,
}).bindTools(tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } })));

const kinds = [
  ['chat', {}],
  ['responses', { model, useResponsesApi: true }],
];

function assertToolCalls(message, round) {
  assert.deepEqual((message.tool_calls ?? []).map((c) => [c.name, c.args]), round.map((c) => [c.name, c.args]), 'AIMessage.tool_calls');
  for (const call of message.tool_calls) {
    assert.match(call.id ?? '', /\S/, 'each call has an id');
  }
  assert.deepEqual(message.invalid_tool_calls ?? [], [], 'no invalid_tool_calls');
}

const toolMessages = (message, runs) => message.tool_calls.map((call) =>
  new ToolMessage({ content: runs.run(call.name, call.args), tool_call_id: call.id, name: call.name }));

for (const [kind, options] of kinds) {
  check(`${kind} bindTools invoke, ToolMessage, invoke again`, async () => {
    const s = scenario([weather('Dublin'), time('Hanoi', '24h')], [weather('Bern')]);
    const runs = new ToolRuns(`${kind} bindTools invoke`);
    const withTools = llm(options);
    const messages = [new HumanMessage(s.prompt)];
    let message = await withTools.invoke(messages, { signal: AbortSignal.timeout(requestTimeoutMs) });
    for (let round = 0; round < maxRounds && message.tool_calls?.length; round++) {
      assertToolCalls(message, s.rounds[round] ?? []);
      if (kind === 'chat') {
        assert.equal(message.response_metadata.finish_reason, 'tool_calls');
      }
      messages.push(message, ...toolMessages(message, runs));
      message = await withTools.invoke(messages, { signal: AbortSignal.timeout(requestTimeoutMs) });
    }
    console.log('SAW ' + JSON.stringify({ check: `${kind} bindTools invoke`, text: message.text }));
    runs.assertRan(s.calls);
    assert.equal(messages.filter((m) => m instanceof ToolMessage).length, s.calls.length);
    assert.deepEqual(message.tool_calls ?? [], [], 'no more calls');
    assertFinal(message.text, s.outputs);
    if (kind === 'chat') {
      assert.equal(message.response_metadata.finish_reason, 'stop');
    } else {
      assert.equal(message.response_metadata.status, 'completed');
    }
  });

  // Streamed, the calls arrive as tool_call_chunks (chat: tool_calls deltas; responses: function_call
  // argument deltas) that LangChain joins by index into the message's tool_calls.
  check(`${kind} bindTools stream, then invoke`, async () => {
    const s = scenario([weather('Porto'), time('Nairobi', '12h')]);
    const runs = new ToolRuns(`${kind} bindTools stream`);
    const withTools = llm(options);
    const messages = [new HumanMessage(s.prompt)];
    let full;
    for await (const chunk of await withTools.stream(messages, { signal: AbortSignal.timeout(requestTimeoutMs) })) {
      full = full ? full.concat(chunk) : chunk;
    }
    assert.ok(full, 'at least one chunk');
    assertToolCalls(full, s.rounds[0]);
    messages.push(full, ...toolMessages(full, runs));
    const message = await withTools.invoke(messages, { signal: AbortSignal.timeout(requestTimeoutMs) });
    console.log('SAW ' + JSON.stringify({ check: `${kind} bindTools stream`, text: message.text }));
    runs.assertRan(s.calls);
    assertFinal(message.text, s.outputs);
  });
}

await runChecks();
