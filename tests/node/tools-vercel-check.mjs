// Function calling with the Vercel AI SDK (ai + @ai-sdk/openai), unchanged, against a server whose
// models run on the REAL CLIs (behind mock model servers that call tools as the prompt's markers
// say; see tools.mjs): generateText and streamText with executed tools over several steps, through
// both the Responses and the Chat Completions models.
// Usage: node tools-vercel-check.mjs <base url> <model>
// Prints "ok <check>" / "FAIL <check>: ..." per check, "TOOL {json}" per tool run. Exits non-zero if any check fails.
import assert from 'node:assert/strict';
import { generateText, stepCountIs, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { check, runChecks } from './checks.mjs';
import { assertSteps, toolSet } from './vercel-tools.mjs';
import { ToolRuns, assertFinal, parseArgs, requestTimeoutMs, scenario, time, weather } from './tools.mjs';

const { baseURL, model: modelId } = parseArgs('tools-vercel-check.mjs');
const openai = createOpenAI({ baseURL, apiKey: 'x' });

// No retries: a server error must fail the check, not be papered over. At most 5 steps.
const common = (s, runs) => ({
  prompt: s.prompt,
  tools: toolSet(runs),
  stopWhen: stepCountIs(5),
  maxRetries: 0,
  abortSignal: AbortSignal.timeout(4 * requestTimeoutMs),
});

const models = [
  ['responses', openai.responses(modelId)],
  ['chat', openai.chat(modelId)],
];

for (const [kind, model] of models) {
  check(`${kind} generateText with tools, several steps`, async () => {
    const s = scenario([weather('Madrid'), time('Sydney', '24h')], [time('Quito', '12h')]);
    const runs = new ToolRuns(`${kind} generateText`);
    const result = await generateText({ model, ...common(s, runs) });
    console.log('SAW ' + JSON.stringify({ check: `${kind} generateText`, text: result.text, steps: result.steps.map((st) => st.finishReason) }));
    runs.assertRan(s.calls);
    assertSteps(result.steps, s);
    assert.equal(result.finishReason, 'stop');
    assertFinal(result.text, s.outputs);
  });

  check(`${kind} streamText with tools, several steps`, async () => {
    const s = scenario([weather('Vienna'), time('Manila', '12h')], [weather('Accra')]);
    const runs = new ToolRuns(`${kind} streamText`);
    let streamError;
    const result = streamText({ model, ...common(s, runs), onError: ({ error }) => { streamError = error; } });
    const streamedCalls = [];
    const streamedResults = [];
    let text = '';
    for await (const part of result.fullStream) {
      if (part.type === 'tool-call') streamedCalls.push([part.toolName, part.input]);
      if (part.type === 'tool-result') streamedResults.push(part.output);
      if (part.type === 'tool-error') throw part.error;
      if (part.type === 'error') throw part.error;
      if (part.type === 'text-delta') text += part.text;
    }
    if (streamError) {
      throw streamError;
    }
    const [steps, finishReason, finalText] = await Promise.all([result.steps, result.finishReason, result.text]);
    console.log('SAW ' + JSON.stringify({ check: `${kind} streamText`, text: finalText, steps: steps.map((st) => st.finishReason) }));
    runs.assertRan(s.calls);
    assertSteps(steps, s);
    assert.deepEqual(streamedCalls, s.calls.map((c) => [c.name, c.args]), 'tool-call parts');
    assert.deepEqual(streamedResults.slice().sort(), s.outputs.slice().sort(), 'tool-result parts');
    assert.equal(finishReason, 'stop');
    assertFinal(finalText, s.outputs);
    assert.ok(text.endsWith(finalText), 'the last step streamed the answer');
  });
}

await runChecks();
