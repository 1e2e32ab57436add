// Function tools with the OpenAI Agents SDK (@openai/agents), unchanged, against a server whose models
// run on the REAL CLIs (behind mock model servers that call tools as the prompt's markers say; see
// tools.mjs): an Agent with tool({name, description, parameters, execute}) run to its final output,
// over the Responses model (also streamed) and the Chat Completions model.
// Usage: node tools-agents-check.mjs <base url> <model>
// Prints "ok <check>" / "FAIL <check>: ..." per check, "TOOL {json}" per tool run. Exits non-zero if any check fails.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { z } from 'zod';
import { Agent, OpenAIProvider, Runner, setTracingDisabled, tool } from '@openai/agents';
import { check, runChecks } from './checks.mjs';
import { ToolRuns, assertFinal, parseArgs, requestTimeoutMs, scenario, time, weather } from './tools.mjs';

const { baseURL, model } = parseArgs('tools-agents-check.mjs');
// Nothing may leave the machine: tracing would export to OpenAI.
setTracingDisabled(true);
// No retries: a server error must fail the check, not be papered over.
const client = new OpenAI({ apiKey: 'sk-test', baseURL, maxRetries: 0, timeout: requestTimeoutMs });
const runner = (useResponses) => new Runner({ modelProvider: new OpenAIProvider({ openAIClient: client, useResponses }), tracingDisabled: true });

// The same tools as tools.mjs, with zod parameters as the Agents SDK's docs write them.
const agentTools = (runs) => [
  tool({
    name: 'get_weather',
    description: 'The current weather in a city.',
    parameters: z.object({ city: z.string().describe('The city name.') }),
    execute: async (input) => runs.run('get_weather', input),
  }),
  tool({
    name: 'get_time',
    description: 'The local time in a city.',
    parameters: z.object({ city: z.string().describe('The city name.'), format: z.enum(['12h', '24h']).describe('The clock format.') }),
    execute: async (input) => runs.run('get_time', input),
  }),
];

const agent = (runs) => new Agent({ name: 'Assistant', instructions: 'Answer with the tools.', model, tools: agentTools(runs) });

function assertItems(items, s) {
  const calls = items.filter((i) => i.type === 'tool_call_item').map((i) => [i.rawItem.name, JSON.parse(i.rawItem.arguments)]);
  assert.deepEqual(calls, s.calls.map((c) => [c.name, c.args]), 'tool_call_items');
  const outputs = items.filter((i) => i.type === 'tool_call_output_item').map((i) => i.output);
  assert.deepEqual(outputs.slice().sort(), s.outputs.slice().sort(), 'tool_call_output_items');
}

for (const [kind, useResponses] of [['responses', true], ['chat', false]]) {
  check(`${kind} Agent run with function tools`, async () => {
    const s = scenario([weather('Prague'), time('Lagos', '24h')], [time('Denver', '12h')]);
    const runs = new ToolRuns(`${kind} Agent run`);
    const result = await runner(useResponses).run(agent(runs), s.prompt, { maxTurns: 5, signal: AbortSignal.timeout(4 * requestTimeoutMs) });
    console.log('SAW ' + JSON.stringify({ check: `${kind} Agent run`, finalOutput: result.finalOutput }));
    runs.assertRan(s.calls);
    assertItems(result.newItems, s);
    assert.equal(result.rawResponses.length, s.rounds.length + 1, 'a model call per round, then the answer');
    assertFinal(result.finalOutput, s.outputs);
  });
}

check('responses Agent run streamed', async () => {
  const s = scenario([weather('Quebec'), time('Perth', '12h')]);
  const runs = new ToolRuns('responses Agent run streamed');
  const result = await runner(true).run(agent(runs), s.prompt, { stream: true, maxTurns: 5, signal: AbortSignal.timeout(3 * requestTimeoutMs) });
  let text = '';
  for await (const event of result) {
    if (event.type === 'raw_model_stream_event' && event.data.type === 'output_text_delta') {
      text += event.data.delta;
    }
  }
  await result.completed;
  if (result.error) {
    throw result.error;
  }
  console.log('SAW ' + JSON.stringify({ check: 'responses Agent run streamed', finalOutput: result.finalOutput }));
  runs.assertRan(s.calls);
  assertItems(result.newItems, s);
  assertFinal(result.finalOutput, s.outputs);
  assert.ok(text.endsWith(result.finalOutput), `the answer was streamed: ${JSON.stringify(text)}`);
});

await runChecks();
