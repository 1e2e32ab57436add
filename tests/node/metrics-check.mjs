// /metrics as a scraper from outside sees it, read with a Prometheus text-format parser.
// Usage: node metrics-check.mjs BASE_URL MASTER_KEY CODEX_MODEL CLAUDE_MODEL
// (run after one chat completion on each model went through the server)
import assert from "node:assert/strict";
import parse from "parse-prometheus-text-format";
import { check, runChecks } from "./checks.mjs";

const [base, masterKey, codexModel, claudeModel] = process.argv.slice(2);
// A forwarding header makes the server treat the call as from outside (as through the tunnel).
const outside = { "X-Forwarded-For": "203.0.113.7" };
let families = [];
let text = "";
// parse-prometheus-text-format 1.1.1 folds a histogram's series into one and reads sum and count only
// without labels: read one provider's series of a histogram family at a time, its label taken off.
const histogram = (name, provider) => {
  const full = "codex_api_server_" + name;
  const lines = text.split("\n").filter((l) => l.startsWith(`# HELP ${full} `) || l.startsWith(`# TYPE ${full} `)
    || (l.startsWith(full + "_") && l.includes(`provider="${provider}"`)))
    .map((l) => l.replace(`{provider="${provider}"}`, "").replace(`provider="${provider}",`, ""));
  const [f] = parse(lines.join("\n") + "\n");
  assert.equal(f?.type, "HISTOGRAM", `${name} is no histogram`);
  return f.metrics[0];
};
const family = (name) => {
  const found = families.find((f) => f.name === "codex_api_server_" + name);
  assert.ok(found, `no family codex_api_server_${name}`);
  return found;
};

check("from outside without a key: 401, OpenAI-shaped", async () => {
  const response = await fetch(base + "/metrics", { headers: outside });
  assert.equal(response.status, 401);
  assert.ok((await response.json()).error.message);
});

check("from outside with the master key: the text format, which the parser reads", async () => {
  const response = await fetch(base + "/metrics", { headers: { ...outside, Authorization: `Bearer ${masterKey}` } });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  text = await response.text();
  families = parse(text);
  assert.ok(families.length >= 15, `${families.length} families`);
  for (const f of families) assert.ok(f.help && f.type, `${f.name} has HELP and TYPE`);
});

check("build info with the version", () => {
  assert.match(family("build_info").metrics[0].labels.version, /^\d+\.\d+\.\d+/);
});

check("requests by route, method, status and model", () => {
  for (const model of [codexModel, claudeModel]) {
    const sample = family("requests_total").metrics.find((m) =>
      m.labels.route === "/v1/chat/completions" && m.labels.method === "POST" && m.labels.status === "200" && m.labels.model === model);
    assert.ok(sample && Number(sample.value) >= 1, `no 200 of ${model}`);
  }
});

check("latency and time-to-first-token histograms per provider", () => {
  for (const name of ["turn_duration_seconds", "time_to_first_token_seconds"]) {
    for (const provider of ["codex", "claude"]) {
      const h = histogram(name, provider);
      assert.ok(h && Number(h.count) >= 1 && Number(h.sum) > 0, `${name} ${provider}: ${JSON.stringify(h)}`);
      assert.equal(h.buckets["+Inf"], h.count);
    }
  }
  const ttft = histogram("time_to_first_token_seconds", "claude");
  const total = histogram("turn_duration_seconds", "claude");
  assert.ok(Number(ttft.sum) <= Number(total.sum), "first token after the whole request?");
});

check("tokens in and out per provider and model", () => {
  const tokens = family("tokens_total").metrics;
  for (const [provider, model] of [["codex", codexModel], ["claude", claudeModel]]) {
    for (const direction of ["input", "output"]) {
      assert.ok(tokens.some((m) => m.labels.provider === provider && m.labels.model === model && m.labels.direction === direction && Number(m.value) > 0),
        `no ${direction} tokens of ${provider}`);
    }
  }
});

check("turns running and queued per provider", () => {
  for (const name of ["turns_running", "turns_queued"]) {
    assert.deepEqual(family(name).metrics.map((m) => m.labels.provider).sort(), ["claude", "codex"]);
  }
});

check("CLI processes alive with their memory", () => {
  const alive = family("cli_processes").metrics;
  assert.ok(alive.some((m) => m.labels.cli === "claude" && Number(m.value) >= 1), JSON.stringify(alive));
  assert.ok(alive.some((m) => m.labels.cli === "codex" && m.labels.role === "app-server"), JSON.stringify(alive));
  const rss = family("cli_process_resident_memory_bytes").metrics;
  assert.ok(rss.length >= 2 && rss.every((m) => Number(m.value) > 1e6), JSON.stringify(rss));
});

check("tunnel state", () => {
  assert.equal(family("tunnel_up").metrics[0].value, "0");
  const states = family("tunnel_state").metrics;
  assert.equal(states.find((m) => m.labels.state === "stopped").value, "1");
});

check("usage windows per CLI and window", () => {
  family("usage_window_used_ratio");
  family("usage_window_exhausted");
});

await runChecks();
