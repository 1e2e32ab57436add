// The official openai npm SDK against a server whose models run on the REAL CLIs (behind a mock model server).
// Usage: node sdk-real-check.mjs <base url> <model> <expected answer> <prompt tokens> <completion tokens>
// Exits non-zero if any check fails.
import assert from 'node:assert/strict';
import { check, runChecks } from './checks.mjs';
import OpenAI from 'openai';

const [base, model, expected, promptArg, completionArg] = process.argv.slice(2);
if (!completionArg) {
  console.error('usage: node sdk-real-check.mjs <base url> <model> <expected answer> <prompt tokens> <completion tokens>');
  process.exit(2);
}
const promptTokens = Number(promptArg);
const completionTokens = Number(completionArg);
const client = new OpenAI({ apiKey: 'sk-test', baseURL: base.replace(/\/$/, '') + '/v1', maxRetries: 0, timeout: 30000 });

const checkUsage = (u) => {
  assert.equal(u.prompt_tokens ?? u.input_tokens, promptTokens);
  assert.equal(u.completion_tokens ?? u.output_tokens, completionTokens);
  assert.equal(u.total_tokens, promptTokens + completionTokens);
};


let firstAnswer;
check('chat.completions.create', async () => {
  const c = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'こんにちは' }] });
  assert.equal(c.choices[0].message.content, expected);
  assert.equal(c.choices[0].finish_reason, 'stop');
  checkUsage(c.usage);
  firstAnswer = c.choices[0].message.content;
});

check('chat.completions.create stream, then a follow-up', async () => {
  const stream = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'こんにちは' }, { role: 'assistant', content: firstAnswer }, { role: 'user', content: 'もう一度' }],
    stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  let deltas = 0;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      if (choice.delta.content) deltas++;
      text += choice.delta.content ?? '';
      finish = choice.finish_reason ?? finish;
    }
    usage = chunk.usage ?? usage;
  }
  assert.equal(text, expected);
  assert.ok(deltas >= 2, `${deltas} deltas`);
  assert.equal(finish, 'stop');
  checkUsage(usage);
});

check('chat.completions.stream finalChatCompletion', async () => {
  const runner = client.chat.completions.stream({ model, messages: [{ role: 'user', content: 'やあ' }], stream_options: { include_usage: true } });
  let deltas = '';
  runner.on('content', (delta) => { deltas += delta; });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, expected);
  assert.equal(deltas, expected);
  checkUsage(final.usage);
});

let firstResponseId;
check('responses.create', async () => {
  const r = await client.responses.create({ model, input: 'こんにちは', instructions: 'Be brief.' });
  assert.equal(r.status, 'completed');
  assert.equal(r.output_text, expected);
  checkUsage(r.usage);
  firstResponseId = r.id;
});

check('responses.stream finalResponse with previous_response_id', async () => {
  const stream = client.responses.stream({ model, input: 'もう一度', previous_response_id: firstResponseId });
  let deltas = '';
  stream.on('response.output_text.delta', (e) => { deltas += e.delta; });
  const final = await stream.finalResponse();
  assert.equal(final.status, 'completed');
  assert.equal(final.previous_response_id, firstResponseId);
  assert.equal(final.output_text, expected);
  assert.equal(deltas, expected);
  checkUsage(final.usage);
});

check('responses.retrieve', async () => {
  const r = await client.responses.retrieve(firstResponseId);
  assert.equal(r.output_text ?? r.output[0].content[0].text, expected);
});

await runChecks();
