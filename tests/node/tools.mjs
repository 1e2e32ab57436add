// What the tools-*-check.mjs scripts share: two client tools (get_weather, get_time), their
// implementations, and the markers that make the mock model servers behind the real CLIs call them
// (tests/CodexApiServer.Tests/Support/ToolScript.cs): `<<call NAME {json args}>>`, several in one
// round being parallel calls of one model step, `<<next>>` between rounds; once the rounds are used
// up the mock answers "TOOL RESULTS: out1 | out2 ...".
//
// Each tool's output is derived from its arguments, so a result in the final answer proves that the
// arguments the mock chose reached the client and the client's output reached the model. Every run
// is printed as a "TOOL {json}" line; the xunit side checks each output reached the mock upstream.
import assert from 'node:assert/strict';

export const tools = [
  {
    name: 'get_weather',
    description: 'The current weather in a city.',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', description: 'The city name.' } },
      required: ['city'],
      additionalProperties: false,
    },
    run: ({ city }) => `sunny in ${city}, 21C`,
  },
  {
    name: 'get_time',
    description: 'The local time in a city.',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string', description: 'The city name.' },
        format: { type: 'string', enum: ['12h', '24h'], description: 'The clock format.' },
      },
      required: ['city', 'format'],
      additionalProperties: false,
    },
    run: ({ city, format }) => `${format === '12h' ? '9:30 PM' : '21:30'} in ${city}`,
  },
];

const byName = Object.fromEntries(tools.map((t) => [t.name, t]));

export const weather = (city) => ({ name: 'get_weather', args: { city } });
export const time = (city, format) => ({ name: 'get_time', args: { city, format } });

/**
 * A test case: rounds of calls (each round a list of parallel calls), the prompt that makes the mock
 * make them, and the outputs the final answer must carry.
 */
export function scenario(...rounds) {
  const markers = rounds.map((round) => round.map((c) => `<<call ${c.name} ${JSON.stringify(c.args)}>>`).join(' '));
  const calls = rounds.flat();
  return {
    rounds,
    calls,
    // Text first: the xunit side's Upstream helper skips user texts that start with '<'.
    prompt: `Use the tools to answer: what is the weather and the time? ${markers.join(' <<next>> ')}`,
    outputs: calls.map((c) => byName[c.name].run(c.args)),
  };
}

/** The tool runs of one check, in the order the client library made them. */
export class ToolRuns {
  constructor(check) {
    this.check = check;
    this.runs = [];
  }

  /** Runs tool `name` with the arguments the library parsed (an object) or was given (a JSON text). */
  run(name, args) {
    const tool = byName[name];
    assert.ok(tool, `the model called an unknown tool ${JSON.stringify(name)}`);
    const parsed = typeof args === 'string' ? JSON.parse(args) : args;
    const output = tool.run(parsed);
    this.runs.push({ name, args: parsed, output });
    console.log('TOOL ' + JSON.stringify({ check: this.check, name, args: parsed, output }));
    return output;
  }

  /** Each expected call ran once with exactly the mock's arguments (parallel calls may run in any order). */
  assertRan(expected) {
    const key = (c) => JSON.stringify([c.name, c.args]);
    assert.deepEqual(this.runs.map(key).sort(), expected.map(key).sort(), 'the tools ran with the arguments the mock chose');
  }
}

/** The final answer is the mock's: every tool output, so every output reached the model. */
export function assertFinal(text, outputs) {
  assert.equal(typeof text, 'string', 'a final text');
  assert.ok(text.includes('TOOL RESULTS: '), `the model's final answer, got ${JSON.stringify(text)}`);
  for (const output of outputs) {
    assert.ok(text.includes(output), `the answer carries ${JSON.stringify(output)}: ${JSON.stringify(text)}`);
  }
}

/** Each request to our server gets this long; the loops in the scripts are bounded too. */
export const requestTimeoutMs = 60000;

export function parseArgs(script) {
  const [base, model] = process.argv.slice(2);
  if (!model) {
    console.error(`usage: node ${script} <base url> <model>`);
    process.exit(2);
  }
  return { baseURL: base.replace(/\/$/, '') + '/v1', model };
}
