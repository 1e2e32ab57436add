// Drives a running server with the Vercel AI SDK (ai + @ai-sdk/openai), unchanged, through both the
// Responses and the Chat Completions models, with generateText and streamText.
// Usage: node vercel-check.mjs <base url> [expected json]
//   expected json: {"text": "...", "usage": {"input": n, "output": n, "cached": n, "reasoning": n}}
//   Without it the checks only require some text and non-zero usage.
// Prints "ok <check>" / "FAIL <check>: ..." per check and "SAW <json>" with what the SDK returned.
// Exits non-zero if any check fails.
import assert from 'node:assert/strict';
import { check, runChecks } from './checks.mjs';
import { Output, generateText, jsonSchema, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';

const base = process.argv[2];
if (!base) {
  console.error('usage: node vercel-check.mjs <base url> [expected json]');
  process.exit(2);
}
const expected = process.argv[3] ? JSON.parse(process.argv[3]) : null;
// Keeps the last request body, to see what the SDK sent (item_reference) without changing how it sends.
let lastBody;
const recordingFetch = (url, init) => {
  lastBody = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
  return fetch(url, init);
};
const openai = createOpenAI({ baseURL: base.replace(/\/$/, '') + '/v1', apiKey: 'x', fetch: recordingFetch });
const modelId = 'gpt-5.2-codex';
const prompt = 'Say hello in Japanese.';
// No retries: a server error must fail the check, not be papered over.
const common = { prompt, maxRetries: 0, abortSignal: AbortSignal.timeout(20000) };

function checkText(text) {
  if (expected) {
    assert.equal(text, expected.text);
  } else {
    assert.ok(text.length > 0, 'some text');
  }
}

function checkUsage(usage) {
  assert.ok(usage, 'usage');
  if (expected) {
    const u = expected.usage;
    assert.equal(usage.inputTokens, u.input, 'inputTokens');
    assert.equal(usage.outputTokens, u.output, 'outputTokens');
    assert.equal(usage.totalTokens, u.input + u.output, 'totalTokens');
    assert.equal(usage.inputTokenDetails.cacheReadTokens, u.cached, 'cacheReadTokens');
    assert.equal(usage.inputTokenDetails.noCacheTokens, u.input - u.cached, 'noCacheTokens');
    assert.equal(usage.outputTokenDetails.reasoningTokens, u.reasoning, 'reasoningTokens');
  } else {
    assert.ok(usage.totalTokens > 0, 'totalTokens');
  }
}

function saw(check, text, usage, finishReason) {
  console.log('SAW ' + JSON.stringify({
    check,
    text,
    finishReason,
    usage: {
      input: usage?.inputTokens,
      output: usage?.outputTokens,
      total: usage?.totalTokens,
      cached: usage?.inputTokenDetails?.cacheReadTokens,
      reasoning: usage?.outputTokenDetails?.reasoningTokens,
    },
  }));
}

const models = [
  ['responses', openai.responses(modelId)],
  ['chat', openai.chat(modelId)],
];


for (const [kind, model] of models) {
  check(`${kind} generateText`, async () => {
    const result = await generateText({ model, ...common });
    saw(`${kind} generateText`, result.text, result.usage, result.finishReason);
    checkText(result.text);
    assert.equal(result.finishReason, 'stop');
    checkUsage(result.usage);
    assert.equal(result.response.modelId, modelId);
    assert.match(result.response.id, kind === 'responses' ? /^resp_/ : /^chatcmpl-/);
    assert.deepEqual(result.warnings ?? [], []);
  });

  check(`${kind} streamText`, async () => {
    let streamError;
    const result = streamText({ model, ...common, onError: ({ error }) => { streamError = error; } });
    let streamed = '';
    let deltas = 0;
    for await (const delta of result.textStream) {
      streamed += delta;
      deltas++;
    }
    if (streamError) {
      throw streamError;
    }
    const [text, usage, finishReason, response] = await Promise.all([result.text, result.usage, result.finishReason, result.response]);
    saw(`${kind} streamText`, streamed, usage, finishReason);
    checkText(streamed);
    assert.equal(text, streamed, 'result.text equals the streamed deltas');
    assert.ok(deltas > 1 || !expected, `streamed in several deltas (got ${deltas})`);
    assert.equal(finishReason, 'stop');
    checkUsage(usage);
    checkUsage(await result.totalUsage);
    assert.equal(response.modelId, modelId);
    assert.match(response.id, kind === 'responses' ? /^resp_/ : /^chatcmpl-/);
  });
}

// Reasoning summaries (Responses only): the SDK shows them as reasoningText.
check('responses reasoning summary streamText', async () => {
  const result = streamText({
    model: openai.responses(modelId), ...common, providerOptions: { openai: { reasoningSummary: 'auto' } },
  });
  let streamed = '';
  for await (const delta of result.textStream) {
    streamed += delta;
  }
  const reasoning = (await result.finalStep).reasoningText;
  saw('responses reasoning summary streamText', streamed, await result.usage, await result.finishReason);
  checkText(streamed);
  if (expected) {
    assert.equal(reasoning, expected.reasoning);
  } else {
    assert.ok(reasoning?.length > 0, 'some reasoning');
  }
});

// A second turn that carries the first one's messages: over Responses the SDK sends the earlier
// reasoning and message items back as item_reference (store defaults to true).
for (const [kind, model] of models) {
  check(`${kind} multi-turn generateText`, async () => {
    const providerOptions = kind === 'responses' ? { openai: { reasoningSummary: 'auto' } } : undefined;
    const first = await generateText({ model, ...common, providerOptions });
    checkText(first.text);
    const second = await generateText({
      model,
      maxRetries: 0,
      abortSignal: AbortSignal.timeout(20000),
      providerOptions,
      messages: [{ role: 'user', content: prompt }, ...first.response.messages, { role: 'user', content: 'Once more, please.' }],
    });
    saw(`${kind} multi-turn generateText`, second.text, second.usage, second.finishReason);
    checkText(second.text);
    assert.equal(second.finishReason, 'stop');
    checkUsage(second.usage);
    if (kind === 'responses') {
      const body = lastBody;
      assert.ok(body.input.some((item) => item.type === 'item_reference'), 'sent item_reference: ' + JSON.stringify(body.input));
    }
  });
}

// Structured output: the SDK sends the schema (response_format / text.format json_schema) and parses the answer.
const greetingSchema = {
  type: 'object',
  properties: { greeting: { type: 'string' }, language: { type: 'string' } },
  required: ['greeting', 'language'],
  additionalProperties: false,
};
for (const [kind, model] of models) {
  check(`${kind} structured output`, async () => {
    const result = await generateText({ model, ...common, output: Output.object({ schema: jsonSchema(greetingSchema) }) });
    console.log('SAW ' + JSON.stringify({ check: `${kind} structured output`, object: result.output }));
    const format = kind === 'chat' ? lastBody.response_format : lastBody.text?.format;
    assert.equal(format?.type, 'json_schema', 'sent a json_schema format: ' + JSON.stringify(lastBody));
    if (expected) {
      assert.deepEqual(result.output, expected.object);
    } else {
      assert.equal(typeof result.output.greeting, 'string');
    }
    assert.equal(result.finishReason, 'stop');
    checkUsage(result.usage);
  });
}

await runChecks();
