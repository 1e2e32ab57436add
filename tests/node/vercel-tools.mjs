// The test tools as a Vercel AI SDK tool set, and what every multi-step tool run must show; shared by
// tools-vercel-check.mjs (OpenAI provider) and anthropic-vercel-check.mjs (Anthropic provider).
import assert from 'node:assert/strict';
import { jsonSchema, tool } from 'ai';
import { tools } from './tools.mjs';

export const toolSet = (runs) => Object.fromEntries(tools.map((t) => [t.name, tool({
  description: t.description,
  inputSchema: jsonSchema(t.parameters),
  execute: async (input) => runs.run(t.name, input),
})]));

export function assertSteps(steps, s) {
  assert.equal(steps.length, s.rounds.length + 1, `a step per round, then the answer: ${JSON.stringify(steps.map((st) => st.finishReason))}`);
  for (const [i, round] of s.rounds.entries()) {
    assert.equal(steps[i].finishReason, 'tool-calls', `step ${i}`);
    assert.deepEqual(steps[i].toolCalls.map((c) => [c.toolName, c.input]), round.map((c) => [c.name, c.args]), `step ${i} calls`);
    assert.deepEqual(steps[i].toolResults.map((r) => r.toolCallId).sort(), steps[i].toolCalls.map((c) => c.toolCallId).sort(), `step ${i} results`);
  }
  assert.equal(steps.at(-1).finishReason, 'stop');
  assert.equal(steps.at(-1).toolCalls.length, 0);
}
