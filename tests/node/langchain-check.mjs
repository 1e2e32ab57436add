// Drives a running server with LangChain's ChatOpenAI (@langchain/openai), unchanged: invoke and
// stream over Chat Completions (with and without streamUsage) and over the Responses API
// (useResponsesApi: true).
// Usage: node langchain-check.mjs <base url> [expected json]
//   expected json: {"text": "...", "usage": {"input": n, "output": n, "cached": n, "reasoning": n}}
//   Without it the checks only require some text and non-zero usage.
// Prints "ok <check>" / "FAIL <check>: ..." per check and "SAW <json>" with what LangChain returned.
// Exits non-zero if any check fails.
import assert from 'node:assert/strict';
import { check, runChecks } from './checks.mjs';
import { ChatOpenAI } from '@langchain/openai';
import { HumanMessage, SystemMessage } from '@langchain/core/messages';

const base = process.argv[2];
if (!base) {
  console.error('usage: node langchain-check.mjs <base url> [expected json]');
  process.exit(2);
}
const expected = process.argv[3] ? JSON.parse(process.argv[3]) : null;
// @langchain/openai sends any model whose name contains "codex" to the Responses API on its own,
// so the Chat Completions checks use a model without it.
const chatModel = 'gpt-5.2';
const responsesModel = 'gpt-5.2-codex';
const messages = [new SystemMessage('Be brief.'), new HumanMessage('Say hello in Japanese.')];

// No retries: a server error must fail the check, not be papered over.
const chat = (options) => new ChatOpenAI({
  model: chatModel,
  useResponsesApi: false,
  apiKey: 'x',
  maxRetries: 0,
  timeout: 20000,
  configuration: { baseURL: base.replace(/\/$/, '') + '/v1' },
  ...options,
});

function checkText(message) {
  // .text joins the text blocks whether content is a string (chat) or blocks (responses).
  if (expected) {
    assert.equal(message.text, expected.text);
  } else {
    assert.ok(message.text.length > 0, 'some text');
  }
}

function checkUsage(usage) {
  assert.ok(usage, 'usage_metadata');
  if (expected) {
    const u = expected.usage;
    assert.equal(usage.input_tokens, u.input, 'input_tokens');
    assert.equal(usage.output_tokens, u.output, 'output_tokens');
    assert.equal(usage.total_tokens, u.input + u.output, 'total_tokens');
    assert.equal(usage.input_token_details?.cache_read, u.cached, 'cache_read');
    assert.equal(usage.output_token_details?.reasoning, u.reasoning, 'reasoning');
  } else {
    assert.ok(usage.total_tokens > 0, 'total_tokens');
  }
}

function saw(check, message) {
  const usage = message.usage_metadata;
  console.log('SAW ' + JSON.stringify({
    check,
    text: message.text,
    finishReason: message.response_metadata?.finish_reason ?? message.response_metadata?.status,
    usage: usage && {
      input: usage.input_tokens,
      output: usage.output_tokens,
      total: usage.total_tokens,
      cached: usage.input_token_details?.cache_read,
      reasoning: usage.output_token_details?.reasoning,
    },
  }));
}

async function streamAll(llm, check) {
  let full;
  let chunks = 0;
  for await (const chunk of await llm.stream(messages)) {
    full = full ? full.concat(chunk) : chunk;
    chunks++;
  }
  assert.ok(full, 'at least one chunk');
  saw(check, full);
  assert.ok(chunks > 1 || !expected, `streamed in several chunks (got ${chunks})`);
  return full;
}


check('chat invoke', async () => {
  const message = await chat().invoke(messages);
  saw('chat invoke', message);
  checkText(message);
  assert.equal(message.response_metadata.finish_reason, 'stop');
  assert.equal(message.response_metadata.model_name, chatModel);
  assert.match(message.id, /^chatcmpl-/);
  checkUsage(message.usage_metadata);
});

check('chat stream', async () => {
  const full = await streamAll(chat({ streamUsage: false }), 'chat stream');
  checkText(full);
  assert.equal(full.response_metadata.finish_reason, 'stop');
  // Asked for no usage, so the server must not have sent a usage chunk.
  assert.equal(full.usage_metadata, undefined);
});

check('chat stream streamUsage', async () => {
  const full = await streamAll(chat({ streamUsage: true }), 'chat stream streamUsage');
  checkText(full);
  assert.equal(full.response_metadata.finish_reason, 'stop');
  checkUsage(full.usage_metadata);
});

check('responses invoke', async () => {
  const message = await chat({ model: responsesModel, useResponsesApi: true }).invoke(messages);
  saw('responses invoke', message);
  checkText(message);
  assert.equal(message.response_metadata.status, 'completed');
  assert.equal(message.response_metadata.model_name, responsesModel);
  assert.match(message.response_metadata.id, /^resp_/);
  checkUsage(message.usage_metadata);
});

check('responses stream', async () => {
  const full = await streamAll(chat({ model: responsesModel, useResponsesApi: true }), 'responses stream');
  checkText(full);
  checkUsage(full.usage_metadata);
});

// Reasoning summaries over the Responses API come back as standard "reasoning" content blocks.
check('responses reasoning summary invoke', async () => {
  const message = await chat({ model: responsesModel, useResponsesApi: true, reasoning: { effort: 'low', summary: 'auto' } }).invoke(messages);
  saw('responses reasoning summary invoke', message);
  checkText(message);
  const reasoning = message.contentBlocks.filter((b) => b.type === 'reasoning').map((b) => b.reasoning).join('');
  if (expected) {
    assert.equal(reasoning, expected.reasoning, JSON.stringify(message.contentBlocks));
  } else {
    assert.ok(reasoning.length > 0, 'some reasoning');
  }
});

// A second turn carrying the first answer as an AIMessage (LangChain replays it as input items
// over Responses, as an assistant message over Chat Completions).
for (const [kind, options] of [['chat', {}], ['responses', { model: responsesModel, useResponsesApi: true, reasoning: { summary: 'auto' } }]]) {
  check(`${kind} multi-turn invoke`, async () => {
    const llm = chat(options);
    const first = await llm.invoke(messages);
    checkText(first);
    const second = await llm.invoke([...messages, first, new HumanMessage('Once more, please.')]);
    saw(`${kind} multi-turn invoke`, second);
    checkText(second);
    checkUsage(second.usage_metadata);
  });
}

// What most users write: the default ChatOpenAI with a codex model (LangChain picks the Responses API).
check('codex model default stream', async () => {
  const llm = new ChatOpenAI({ model: responsesModel, apiKey: 'x', maxRetries: 0, configuration: { baseURL: base.replace(/\/$/, '') + '/v1' } });
  const full = await streamAll(llm, 'codex model default stream');
  checkText(full);
  checkUsage(full.usage_metadata);
});

// Structured output: for these models LangChain defaults to the jsonSchema method (response_format /
// text.format) and parses the answer.
const greetingSchema = {
  title: 'greeting',
  type: 'object',
  properties: { greeting: { type: 'string' }, language: { type: 'string' } },
  required: ['greeting', 'language'],
  additionalProperties: false,
};
for (const [kind, options] of [['chat', {}], ['responses', { model: responsesModel, useResponsesApi: true }]]) {
  check(`${kind} withStructuredOutput`, async () => {
    const result = await chat(options).withStructuredOutput(greetingSchema).invoke(messages);
    console.log('SAW ' + JSON.stringify({ check: `${kind} withStructuredOutput`, object: result }));
    if (expected) {
      assert.deepEqual(result, expected.object);
    } else {
      assert.equal(typeof result.greeting, 'string');
    }
  });
}

await runChecks();
