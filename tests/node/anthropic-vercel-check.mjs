// The Vercel AI SDK's Anthropic provider (ai + @ai-sdk/anthropic), unchanged, against our /v1/messages
// with models that run on the REAL CLIs behind mock model servers: generateText, streamText, thinking
// as reasoning, and executed tools over several steps (see tools.mjs for how the mocks call them).
// Usage: node anthropic-vercel-check.mjs <base url> <model> <expected answer> <prompt tokens> <completion tokens> <cached tokens> <expected thinking>
//   <expected thinking>: what the mock reasons when the prompt says THINK_MARKER, or "" if it does not.
// Prints "ok <check>" / "FAIL <check>: ..." per check, "TOOL {json}" per tool run. Exits non-zero if any check fails.
import assert from 'node:assert/strict';
import { generateText, stepCountIs, streamText } from 'ai';
import { createAnthropic } from '@ai-sdk/anthropic';
import { check, runChecks } from './checks.mjs';
import { assertSteps, toolSet } from './vercel-tools.mjs';
import { ToolRuns, assertFinal, scenario, time, weather } from './tools.mjs';
import { parseArgs, requestTimeoutMs } from './anthropic.mjs';

const { base, model: modelId, expected, usage, rest: [expectedThinking] } = parseArgs('anthropic-vercel-check.mjs', ['expected thinking']);
const THINK_MARKER = '[think first]';
// Sends the key as x-api-key.
const anthropic = createAnthropic({ baseURL: `${base}/v1`, apiKey: 'sk-ant-test' });
const model = anthropic(modelId);
// No retries: a server error must fail the check, not be papered over.
const common = () => ({ model, maxOutputTokens: 1024, maxRetries: 0, abortSignal: AbortSignal.timeout(requestTimeoutMs) });

/** The provider reports the whole prompt as inputTokens, the cached part apart. */
function assertUsage(u) {
  assert.equal(u.inputTokens, usage.prompt, `inputTokens: ${JSON.stringify(u)}`);
  assert.equal(u.inputTokenDetails.cacheReadTokens ?? 0, usage.cached, `cacheReadTokens: ${JSON.stringify(u)}`);
  assert.equal(u.outputTokens, usage.completion, `outputTokens: ${JSON.stringify(u)}`);
}

check('generateText', async () => {
  const result = await generateText({ ...common(), system: 'You are terse.', prompt: 'こんにちは' });
  console.log('SAW ' + JSON.stringify({ check: 'generateText', text: result.text, finishReason: result.finishReason, usage: result.usage, response: result.response.id }));
  assert.equal(result.text, expected);
  assert.equal(result.finishReason, 'stop');
  assertUsage(result.usage);
  assert.match(result.response.id ?? '', /^msg_/, 'the message id');
  assert.equal(result.response.modelId, modelId);
});

check('streamText', async () => {
  let streamError;
  const result = streamText({ ...common(), prompt: 'ストリームで', onError: ({ error }) => { streamError = error; } });
  const deltas = [];
  for await (const delta of result.textStream) {
    deltas.push(delta);
  }
  if (streamError) throw streamError;
  const [text, finishReason, total] = await Promise.all([result.text, result.finishReason, result.totalUsage]);
  console.log('SAW ' + JSON.stringify({ check: 'streamText', deltas, finishReason, usage: total }));
  assert.equal(deltas.join(''), expected);
  assert.ok(deltas.length > 1, `the answer came in pieces: ${JSON.stringify(deltas)}`);
  assert.equal(text, expected);
  assert.equal(finishReason, 'stop');
  assertUsage(total);
});

check('streamText with thinking enabled', async () => {
  let streamError;
  const result = streamText({
    ...common(),
    prompt: `Think it over, then greet me. ${THINK_MARKER}`,
    providerOptions: { anthropic: { thinking: { type: 'enabled', budgetTokens: 2048 } } },
    onError: ({ error }) => { streamError = error; },
  });
  let reasoning = '';
  for await (const part of result.fullStream) {
    if (part.type === 'reasoning-delta') reasoning += part.text;
    if (part.type === 'error') throw part.error;
  }
  if (streamError) throw streamError;
  const [text, reasoningText] = await Promise.all([result.text, result.reasoningText]);
  console.log('SAW ' + JSON.stringify({ check: 'thinking', text, reasoning, reasoningText }));
  assert.equal(text, expected);
  if (expectedThinking) {
    assert.equal(reasoning, expectedThinking, 'the reasoning deltas');
    assert.equal(reasoningText, expectedThinking);
  }
});

check('generateText with tools, several steps', async () => {
  const s = scenario([weather('Madrid'), time('Sydney', '24h')], [time('Quito', '12h')]);
  const runs = new ToolRuns('generateText tools');
  const result = await generateText({
    ...common(), prompt: s.prompt, tools: toolSet(runs), stopWhen: stepCountIs(5), abortSignal: AbortSignal.timeout(4 * requestTimeoutMs),
  });
  console.log('SAW ' + JSON.stringify({ check: 'generateText tools', text: result.text, steps: result.steps.map((st) => st.finishReason) }));
  runs.assertRan(s.calls);
  assertSteps(result.steps, s);
  assert.equal(result.finishReason, 'stop');
  assertFinal(result.text, s.outputs);
});

check('streamText with tools, several steps', async () => {
  const s = scenario([weather('Vienna'), time('Manila', '12h')], [weather('Accra')]);
  const runs = new ToolRuns('streamText tools');
  let streamError;
  const result = streamText({
    ...common(), prompt: s.prompt, tools: toolSet(runs), stopWhen: stepCountIs(5), abortSignal: AbortSignal.timeout(4 * requestTimeoutMs),
    onError: ({ error }) => { streamError = error; },
  });
  const streamedCalls = [];
  for await (const part of result.fullStream) {
    if (part.type === 'tool-call') streamedCalls.push([part.toolName, part.input]);
    if (part.type === 'tool-error' || part.type === 'error') throw part.error;
  }
  if (streamError) throw streamError;
  const [steps, finishReason, text] = await Promise.all([result.steps, result.finishReason, result.text]);
  console.log('SAW ' + JSON.stringify({ check: 'streamText tools', text, steps: steps.map((st) => st.finishReason) }));
  runs.assertRan(s.calls);
  assertSteps(steps, s);
  assert.deepEqual(streamedCalls, s.calls.map((c) => [c.name, c.args]), 'tool-call parts');
  assert.equal(finishReason, 'stop');
  assertFinal(text, s.outputs);
});

await runChecks();
