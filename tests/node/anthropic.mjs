// What the anthropic-*-check.mjs scripts share: their arguments, the expected usage, the client tools
// of tools.mjs as Anthropic declares them (input_schema), and a small PNG.
import assert from 'node:assert/strict';
import { tools } from './tools.mjs';

/**
 * node SCRIPT <base url> <model> <expected answer> <prompt tokens> <completion tokens> <cached tokens> [more...]
 * The token counts are the mock model server's; prompt tokens include the cached ones.
 */
export function parseArgs(script, more = []) {
  const names = ['base url', 'model', 'expected answer', 'prompt tokens', 'completion tokens', 'cached tokens', ...more];
  const args = process.argv.slice(2);
  if (args.length < names.length) {
    console.error(`usage: node ${script} ${names.map((n) => `<${n}>`).join(' ')}`);
    process.exit(2);
  }
  const [base, model, expected, prompt, completion, cached, ...rest] = args;
  return {
    // The Anthropic SDK's paths start with /v1; @ai-sdk/anthropic's base URL ends with it.
    base: base.replace(/\/$/, ''),
    model,
    expected,
    usage: { prompt: Number(prompt), completion: Number(completion), cached: Number(cached) },
    rest,
  };
}

/**
 * Anthropic's usage: input_tokens are the tokens not read from the cache, cache_read_input_tokens
 * the ones that were; together the model's whole prompt.
 */
export function assertUsage(u, expected, what = 'usage') {
  assert.ok(u, `${what}: present`);
  assert.equal(typeof u.input_tokens, 'number', `${what}.input_tokens is a number: ${JSON.stringify(u)}`);
  assert.equal(u.input_tokens + (u.cache_read_input_tokens ?? 0), expected.prompt, `${what}: input_tokens + cache_read_input_tokens: ${JSON.stringify(u)}`);
  assert.equal(u.cache_read_input_tokens ?? 0, expected.cached, `${what}.cache_read_input_tokens: ${JSON.stringify(u)}`);
  assert.equal(u.output_tokens, expected.completion, `${what}.output_tokens: ${JSON.stringify(u)}`);
}

/** The tools of tools.mjs as the Messages API declares them. */
export const anthropicTools = tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters }));

/** A 2x2 PNG (red, green / blue, white): small, but a real image any decoder accepts. */
export const png =
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEklEQVR42mP4z8DAAMIM/4EAAB/uBfvxq7p3AAAAAElFTkSuQmCC';

/** Each request to our server gets this long; the loops in the scripts are bounded too. */
export const requestTimeoutMs = 60000;
