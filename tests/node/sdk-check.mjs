// Drives a running server with the official openai npm SDK and checks what the SDK hands back.
// Usage: node sdk-check.mjs <base url, e.g. http://127.0.0.1:8080>. Exits non-zero if any check fails.
// The server under test answers every turn with "Hello world" (the tests' fake provider).
import assert from 'node:assert/strict';
import { check, runChecks } from './checks.mjs';
import OpenAI from 'openai';

const base = process.argv[2];
if (!base) {
  console.error('usage: node sdk-check.mjs <base url>');
  process.exit(2);
}
const client = new OpenAI({ apiKey: 'sk-test', baseURL: base.replace(/\/$/, '') + '/v1', maxRetries: 0, timeout: 20000 });
const model = 'gpt-5.2-codex';
const expected = 'Hello world';


check('chat.completions.create', async () => {
  const c = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }] });
  assert.equal(c.object, 'chat.completion');
  assert.equal(typeof c.created, 'number');
  assert.equal(c.choices[0].message.role, 'assistant');
  assert.equal(c.choices[0].message.content, expected);
  assert.equal(c.choices[0].finish_reason, 'stop');
  assert.ok(c.usage.total_tokens > 0);
});

check('chat.completions.create stream', async () => {
  const stream = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  const ids = new Set();
  for await (const chunk of stream) {
    ids.add(chunk.id);
    for (const choice of chunk.choices) {
      text += choice.delta.content ?? '';
      finish = choice.finish_reason ?? finish;
    }
    usage = chunk.usage ?? usage;
  }
  assert.equal(text, expected);
  assert.equal(finish, 'stop');
  assert.equal(ids.size, 1);
  assert.ok(usage && usage.total_tokens > 0, 'usage chunk');
});

check('chat.completions.stream finalChatCompletion', async () => {
  const runner = client.chat.completions.stream({ model, messages: [{ role: 'user', content: 'Hi' }], stream_options: { include_usage: true } });
  let deltas = '';
  runner.on('content', (delta) => { deltas += delta; });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, expected);
  assert.equal(final.choices[0].message.role, 'assistant');
  assert.equal(final.choices[0].finish_reason, 'stop');
  assert.equal(deltas, expected);
  assert.ok(final.usage && final.usage.total_tokens > 0, 'usage merged');
});

let firstResponseId;
check('responses.create', async () => {
  const r = await client.responses.create({ model, input: 'Hi', instructions: 'Be brief.', metadata: { run: 'sdk' } });
  assert.equal(r.object, 'response');
  assert.equal(r.status, 'completed');
  assert.equal(r.output_text, expected);
  assert.equal(r.output[0].type, 'message');
  assert.equal(r.metadata.run, 'sdk');
  assert.ok(r.usage.total_tokens > 0);
  firstResponseId = r.id;
});

check('responses.create stream', async () => {
  const stream = await client.responses.create({ model, input: 'Hi', stream: true });
  const types = [];
  let text = '';
  let completed;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'response.output_text.delta') text += event.delta;
    if (event.type === 'response.completed') completed = event.response;
  }
  assert.equal(types[0], 'response.created');
  assert.equal(types.at(-1), 'response.completed');
  assert.equal(text, expected);
  assert.equal(completed.status, 'completed');
  assert.ok(completed.usage.total_tokens > 0);
});

check('responses.stream finalResponse', async () => {
  const stream = client.responses.stream({ model, input: 'Hi' });
  let deltas = '';
  stream.on('response.output_text.delta', (e) => { deltas += e.delta; });
  const final = await stream.finalResponse();
  assert.equal(final.status, 'completed');
  assert.equal(final.output_text, expected);
  assert.equal(deltas, expected);
});

check('responses.stream with a reasoning summary', async () => {
  const stream = client.responses.stream({ model, input: 'Hi', reasoning: { effort: 'low', summary: 'auto' } });
  let summary = '';
  stream.on('response.reasoning_summary_text.delta', (e) => { summary += e.delta; });
  const final = await stream.finalResponse();
  assert.deepEqual(final.output.map((o) => o.type), ['reasoning', 'message']);
  assert.equal(final.output[0].summary[0].text, summary);
  assert.ok(summary.length > 0);
  assert.equal(final.output_text, expected);
});

check('responses.retrieve', async () => {
  const r = await client.responses.retrieve(firstResponseId);
  assert.equal(r.id, firstResponseId);
  assert.equal(r.status, 'completed');
  assert.equal(r.output[0].content[0].text, expected);
});

check('responses.inputItems.list', async () => {
  const page = await client.responses.inputItems.list(firstResponseId);
  const items = [];
  for await (const item of page) items.push(item);
  assert.equal(items.length, 1);
  assert.equal(items[0].type, 'message');
  assert.equal(items[0].role, 'user');
  assert.equal(items[0].content[0].text, 'Hi');
});

check('previous_response_id', async () => {
  const r = await client.responses.create({ model, input: 'More', previous_response_id: firstResponseId });
  assert.equal(r.previous_response_id, firstResponseId);
  assert.equal(r.output_text, expected);
  await assert.rejects(
    client.responses.create({ model, input: 'More', previous_response_id: 'resp_does_not_exist' }),
    (e) => e instanceof OpenAI.NotFoundError,
  );
});

check('responses.delete', async () => {
  const r = await client.responses.create({ model, input: 'Delete me' });
  await client.responses.delete(r.id);
  await assert.rejects(client.responses.retrieve(r.id), (e) => e instanceof OpenAI.NotFoundError);
});

check('errors are APIErrors with status and code', async () => {
  await assert.rejects(
    client.models.retrieve('no-such-model'),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found',
  );
  await assert.rejects(
    client.chat.completions.create({ model, n: 2, messages: [{ role: 'user', content: 'Hi' }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'n',
  );
});

await runChecks();
