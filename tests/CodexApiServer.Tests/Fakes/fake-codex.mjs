// A stand-in for `codex app-server` (and `codex exec --json`) that speaks the protocol and
// misbehaves on demand. FAKE_CODEX_MODE picks the behaviour; FAKE_CODEX_LOG (a file) receives every
// line we read, so tests can check what the provider sent; FAKE_CODEX_STATE (a file) makes
// "*-once" modes misbehave only in the first process.
import fs from 'node:fs';
import readline from 'node:readline';

const mode = process.env.FAKE_CODEX_MODE ?? 'normal';
const slowStops = new Set(); // turns whose interrupt winds down slowly
const logFile = process.env.FAKE_CODEX_LOG;
const stateFile = process.env.FAKE_CODEX_STATE;
const args = process.argv.slice(2);
const sleep = ms => new Promise(r => setTimeout(r, ms));
const write = obj => new Promise(r => process.stdout.write(JSON.stringify(obj) + '\n', r));
const log = line => { if (logFile) fs.appendFileSync(logFile, line + '\n'); };

if (args[0] === '--help') {
  console.log('Codex CLI\n\nCommands:\n  exec        Run Codex non-interactively');
  if (!mode.includes('no-app-server')) console.log('  app-server  [experimental] Run the app server');
  process.exit(0);
}

if (args[0] === '--version') { console.log('codex-cli 0.0.0-fake'); process.exit(0); }
if (args[0] === 'login' && args[1] === 'status') { console.log('Logged in using an API key'); process.exit(0); }

if (args[0] === 'exec') {
  log('argv ' + JSON.stringify(args));
  let prompt = '';
  process.stdin.on('data', d => prompt += d);
  process.stdin.on('end', async () => {
    log('prompt ' + JSON.stringify(prompt));
    await write({ type: 'thread.started', thread_id: 'exec-thread' });
    await write({ type: 'turn.started' });
    if (mode.startsWith('exec-auth')) {
      await write({ type: 'error', message: 'Reconnecting... 1/5 (unexpected status 401 Unauthorized: bad key)' });
      await sleep(10000);
      process.exit(1);
    }
    await write({ type: 'item.completed', item: { id: 'item_1', type: 'agent_message', text: 'exec says: ' + prompt } });
    await write({ type: 'turn.completed', usage: { input_tokens: 7, cached_input_tokens: 1, output_tokens: 3, reasoning_output_tokens: 0 } });
    process.exit(0);
  });
} else if (args[0] === 'app-server') {
  appServer();
} else {
  console.error('unexpected arguments: ' + args.join(' '));
  process.exit(2);
}

function firstTime() {
  if (!stateFile) return true;
  if (fs.existsSync(stateFile)) return false;
  fs.writeFileSync(stateFile, 'x');
  return true;
}

function appServer() {
  if (mode === 'die-at-start') { console.error('error: config.toml is invalid: something specific (token sk-SECRETSECRET for http://10.9.8.7:8443/v1)'); process.exit(1); }
  let threads = 0, turns = 0, srvReq = 0;
  const knownThreads = new Set((process.env.FAKE_CODEX_RESUMABLE ?? '').split(',').filter(Boolean));
  const waiting = new Map(); // id of our request -> resolve
  const active = new Map(); // threadId -> turnId
  const injected = new Map(); // threadId -> items injected since its last turn
  console.error('fake codex app-server starting, mode ' + mode);

  let frozen = false; // 'freeze': a hung app-server, which answers nothing more
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', async line => {
    log(line);
    if (frozen) return;
    const msg = JSON.parse(line);
    if (msg.id !== undefined && msg.method === undefined) { waiting.get(msg.id)?.(msg); return; }
    const p = msg.params ?? {};
    switch (msg.method) {
      case 'initialize':
        if (mode === 'init-hang') return;
        await write({ id: msg.id, result: { userAgent: 'fake/0.0.1', codexHome: '/tmp', platformFamily: 'unix', platformOs: 'linux' } });
        await write({ method: 'configWarning', params: { summary: 'fake warning', details: null } });
        return;
      case 'initialized': return;
      case 'model/list':
        await write({ id: msg.id, result: { data: [{ id: 'fake-model-a', model: 'fake-model-a' }, { id: 'fake-model-b', model: 'fake-model-b' }], nextCursor: null } });
        return;
      case 'config/read':
        await write({ id: msg.id, result: { config: { mcp_servers: {} } } });
        return;
      case 'thread/start': {
        if (mode === 'reject-config' && p.config) {
          await write({ id: msg.id, error: { code: -32600, message: 'failed to load configuration: invalid type: boolean `false`, expected struct X' } });
          return;
        }
        const id = `thr-${process.pid}-${++threads}`;
        knownThreads.add(id);
        await write({ id: msg.id, result: { thread: { id, sessionId: id } } });
        await write({ method: 'thread/started', params: { thread: { id } } });
        return;
      }
      case 'thread/resume':
        if (knownThreads.has(p.threadId)) await write({ id: msg.id, result: { thread: { id: p.threadId } } });
        else await write({ id: msg.id, error: { code: -32600, message: 'no rollout found for thread id ' + p.threadId } });
        return;
      case 'thread/inject_items':
        injected.set(p.threadId, [...(injected.get(p.threadId) ?? []), ...p.items]);
        await write({ id: msg.id, result: {} });
        return;
      case 'thread/unsubscribe':
        await write({ id: msg.id, result: {} });
        return;
      case 'turn/interrupt': {
        await write({ id: msg.id, result: {} });
        const turnId = active.get(p.threadId);
        if (turnId) {
          if (slowStops.has(turnId)) { await sleep(300); slowStops.delete(turnId); } // codex taking its time to wind the turn down
          active.delete(p.threadId);
          await write({ method: 'turn/completed', params: { threadId: p.threadId, turn: { id: turnId, status: 'interrupted', items: [], error: null } } });
        }
        return;
      }
      case 'turn/start':
        if (p.effort === 'bogus') { await write({ id: msg.id, error: { code: -32600, message: 'Invalid request: unknown reasoning effort bogus' } }); return; }
        await runTurn(msg, p);
        return;
      default:
        await write({ id: msg.id, error: { code: -32601, message: 'unknown method ' + msg.method } });
    }
  });
  rl.on('close', () => process.exit(0));

  function request(method, params) {
    const id = mode === 'approval' && srvReq === 0 ? `srv-${++srvReq}` : 100 + (++srvReq);
    return new Promise(resolve => { waiting.set(id, resolve); write({ id, method, params }); });
  }

  async function runTurn(msg, p) {
    if (slowStops.has(active.get(p.threadId))) {
      // Like codex: one turn at a time on a thread, and an interrupted one runs until it has wound down.
      await write({ id: msg.id, error: { code: -32600, message: 'a turn is still running on this thread' } });
      return;
    }
    const threadId = p.threadId, turnId = `turn-${++turns}`;
    active.set(threadId, turnId);
    const n = (method, params) => write({ method, params: { threadId, turnId, ...params } });
    const delta = text => n('item/agentMessage/delta', { itemId: 'msg_1', delta: text });
    await write({ id: msg.id, result: { turn: { id: turnId, status: 'inProgress', items: [] } } });
    await n('turn/started', { turn: { id: turnId, status: 'inProgress', items: [] } });
    // A notification for another turn of the same thread must not leak into this one.
    await write({ method: 'item/agentMessage/delta', params: { threadId, turnId: 'some-old-turn', itemId: 'x', delta: 'LEAK' } });
    const input = (p.input ?? []).filter(i => i.type === 'text').map(i => i.text).join('|');
    // Items injected before this turn, as "role:text" ("type" for calls and results), then " > " and the input.
    const items = injected.get(threadId) ?? [];
    injected.delete(threadId);
    const history = items.map(i => i.type === 'message' ? i.role + ':' + i.content.map(c => c.text ?? c.type).join(' ') : i.type).map(x => x + ' > ').join('');
    let text = ['Hello', ' from', ' fake', ' codex.'];
    // "#mode=NAME" in the message picks the behaviour of this turn only.
    const turnMode = (/#mode=([a-z-]+)/.exec(input) || [])[1] ?? mode;

    switch (turnMode) {
      case 'echo': text = ['echo:', history + input]; break;
      case 'crash-once':
        if (firstTime()) { await delta('partial '); await sleep(50); process.exit(3); }
        break;
      case 'hang': await delta('waiting '); return; // only turn/interrupt ends this turn
      case 'hang-slow-stop': slowStops.add(turnId); await delta('waiting '); return; // and the interrupt takes 300 ms
      case 'silent': return; // nothing at all until turn/interrupt
      case 'freeze': frozen = true; return;
      case 'unknown-model': {
        const err = { message: 'The model `gpt-9-nope` does not exist or you do not have access to it.', codexErrorInfo: 'modelNotFound', additionalDetails: null };
        await n('error', { error: err, willRetry: false });
        active.delete(threadId);
        await n('turn/completed', { turn: { id: turnId, status: 'failed', items: [], error: err } });
        return;
      }
      case 'garbage':
        await new Promise(r => process.stdout.write('this is not json\n{"broken": \n[1,2,3]\n\n\u0000\u0001 binary\n', r));
        break;
      case 'huge': {
        const big = 'x'.repeat(5 * 1024 * 1024);
        await write({ method: 'item/agentMessage/delta', params: { threadId, turnId, itemId: 'msg_0', delta: big } });
        text = [' after huge'];
        break;
      }
      case 'slow':
        for (const t of text) { await delta(t); await sleep(200); }
        text = [];
        break;
      case 'multibyte': {
        const line = Buffer.from(JSON.stringify({ method: 'item/agentMessage/delta', params: { threadId, turnId, itemId: 'msg_1', delta: 'こんにちは、世界 🌏🎉 ñ' } }) + '\n', 'utf8');
        for (const byte of line) {
          await new Promise(r => process.stdout.write(Buffer.from([byte]), r));
          await sleep(2);
        }
        text = [];
        break;
      }
      case 'approval': {
        const approval = await request('item/commandExecution/requestApproval', { threadId, turnId, itemId: 'cmd_1', command: 'rm -rf /' });
        const perms = await request('execCommandApproval', { conversationId: threadId, callId: 'c1', command: ['ls'] });
        const unknown = await request('some/futureRequest', { threadId });
        text = [`approval=${JSON.stringify(approval.result)}`, ` legacy=${JSON.stringify(perms.result)}`, ` unknown=${unknown.error ? 'error ' + unknown.error.code : 'answered'}`];
        break;
      }
      case 'auth': {
        const err = { message: 'Reconnecting... 1/5', codexErrorInfo: { responseStreamDisconnected: { httpStatusCode: 401 } }, additionalDetails: 'unexpected status 401 Unauthorized' };
        await n('error', { error: err, willRetry: true });
        return; // like codex, keeps retrying until interrupted
      }
      case 'upstream500': {
        const err = { message: 'unexpected status 500 Internal Server Error', codexErrorInfo: { responseTooManyFailedAttempts: { httpStatusCode: 500 } }, additionalDetails: null };
        await n('error', { error: err, willRetry: false });
        active.delete(threadId);
        await n('turn/completed', { turn: { id: turnId, status: 'failed', items: [], error: err } });
        return;
      }
      case 'whole-message':
        await n('item/completed', { item: { type: 'agentMessage', id: 'msg_9', text: 'arrived whole' } });
        text = [];
        break;
      case 'reasoning':
        await n('item/reasoning/summaryTextDelta', { itemId: 'rs_1', delta: 'thinking...', summaryIndex: 0 });
        break;
    }
    for (const t of text) await delta(t);
    await n('item/completed', { item: { type: 'agentMessage', id: 'msg_1', text: text.join('') } });
    await n('thread/tokenUsage/updated', { tokenUsage: { total: { inputTokens: 100, outputTokens: 50, cachedInputTokens: 10, reasoningOutputTokens: 5, totalTokens: 150 }, last: { inputTokens: 12, outputTokens: 4, cachedInputTokens: 3, reasoningOutputTokens: 1, totalTokens: 16 } } });
    active.delete(threadId);
    await n('turn/completed', { turn: { id: turnId, status: 'completed', items: [] } });
  }
}
