'use strict';
// Against a real mags server: MAGS_E2E_URL, MAGS_E2E_TOKEN (user alice) and
// MAGS_E2E_TOKEN_BOB (another user) name it. tests/e2e/test_sdk_node.py
// starts one and runs this file; without them every test here is skipped.
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const Mags = require('..');
const { MagsError } = Mags;

const URL_ = process.env.MAGS_E2E_URL;
const TOKEN = process.env.MAGS_E2E_TOKEN;
const TOKEN_BOB = process.env.MAGS_E2E_TOKEN_BOB;
const skip = !(URL_ && TOKEN && TOKEN_BOB) && 'MAGS_E2E_URL/MAGS_E2E_TOKEN/MAGS_E2E_TOKEN_BOB not set';
const NO_JOB = '00000000-0000-4000-8000-000000000000';
const TERMINAL = ['completed', 'error', 'stopped'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const uniq = (p) => `${p}-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
const client = (token = TOKEN) => new Mags({ apiToken: token, apiUrl: URL_ });

async function waitFor(mags, rid, states = TERMINAL, timeout = 30000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const st = await mags.status(rid);
    if (states.includes(st.status)) return st;
    if (Date.now() > deadline) throw new Error(`job ${rid} still ${st.status}`);
    await sleep(50);
  }
}

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Run fn with process.env and HOME replaced (MAGS_* cleared, then vars set). */
async function withEnv(vars, fn) {
  const saved = { ...process.env };
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mags-home-'));
  for (const k of Object.keys(process.env)) if (k.startsWith('MAGS_')) delete process.env[k];
  process.env.HOME = home;
  Object.assign(process.env, vars);
  try {
    return await fn(home);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    fs.rmSync(home, { recursive: true, force: true });
  }
}

function writeConfig(home, cfg) {
  fs.mkdirSync(path.join(home, '.mags'), { mode: 0o700 });
  fs.writeFileSync(path.join(home, '.mags', 'config.json'), JSON.stringify(cfg), { mode: 0o600 });
}

describe('against a real server', { skip }, () => {
  test('run resolves to the API answer with requestId', async () => {
    const mags = client();
    const job = await mags.run('echo submitted');
    assert.equal(job.status, 'accepted');
    assert.equal(typeof job.request_id, 'string');
    assert.equal(job.requestId, job.request_id);
    assert.equal((await waitFor(mags, job.requestId)).status, 'completed');
  });

  test('runAndWait: output, exit code, aliases', async () => {
    const mags = client();
    const result = await mags.runAndWait('echo hello; echo oops >&2; echo world; exit 3', { timeout: 60000 });
    assert.equal(result.status, 'completed');
    assert.equal(result.exit_code, 3);
    assert.equal(result.exitCode, 3);
    assert.equal(result.requestId, result.request_id);
    assert.equal(typeof result.durationMs, 'number');
    assert.deepEqual(result.logs.filter((l) => l.source === 'stdout').map((l) => l.message), ['hello', 'world']);
    assert.deepEqual(result.logs.filter((l) => l.source === 'stderr').map((l) => l.message), ['oops']);
    // The status object plus logs.
    const { logs, ...rest } = result;
    assert.deepEqual(rest, await mags.status(result.requestId));
    assert.deepEqual(logs, (await mags.logs(result.requestId)).logs);
  });

  test('the documented hello world', async () => {
    const mags = new Mags({ apiToken: TOKEN, apiUrl: URL_ });
    const result = await mags.runAndWait('echo Hello World');
    assert.equal(result.status, 'completed');
    assert.deepEqual(result.logs.map((l) => l.message), ['Hello World']);
  });

  test('status fields and logs', async () => {
    const mags = client();
    const job = await mags.run('echo a; echo b >&2', { name: 'node-status', environment: { X: '1' } });
    await waitFor(mags, job.requestId);
    const st = await mags.status(job.requestId);
    for (const k of ['request_id', 'name', 'workspace_id', 'status', 'exit_code', 'error_message',
      'created_at', 'started_at', 'finished_at', 'duration_ms',
      'requestId', 'workspaceId', 'exitCode', 'errorMessage', 'createdAt', 'startedAt', 'finishedAt', 'durationMs']) {
      assert.ok(k in st, k);
    }
    assert.equal(st.name, 'node-status');
    const { logs } = await mags.logs(job.requestId);
    assert.deepEqual(logs.map((l) => [l.source, l.message]), [['stdout', 'a'], ['stderr', 'b']]);
    for (const l of logs) assert.equal(typeof l.timestamp, 'string');
  });

  test('environment reaches the script', async () => {
    const r = await client().runAndWait('echo "$GREETING, $WHO"', { environment: { GREETING: 'hi', WHO: 'node' } });
    assert.deepEqual(r.logs.map((l) => l.message), ['hi, node']);
  });

  test('jobTimeout ends the job', async () => {
    const r = await client().runAndWait('sleep 30', { jobTimeout: 1000, timeout: 30000 });
    assert.equal(r.status, 'error');
    assert.match(r.errorMessage, /timed out/);
  });

  test('runAndWait timeout rejects and stops the job', async () => {
    const mags = client();
    let err;
    try {
      await mags.runAndWait('sleep 60', { timeout: 500, pollInterval: 100 });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof MagsError);
    assert.equal(err.statusCode, null);
    assert.ok(err.requestId);
    assert.equal((await waitFor(mags, err.requestId, TERMINAL, 15000)).status, 'stopped');
  });

  test('runStream yields lines live and in order', async () => {
    const mags = client();
    const stream = await mags.runStream('for i in 1 2 3 4; do echo line$i; sleep 0.3; done; echo bad >&2; exit 4');
    assert.ok(stream.requestId);
    const seen = [];
    for await (const log of stream) seen.push([Date.now(), log]);
    const msgs = seen.map(([, l]) => [l.source, l.message]).filter(([s]) => s !== 'system');
    assert.deepEqual(msgs, [['stdout', 'line1'], ['stdout', 'line2'], ['stdout', 'line3'], ['stdout', 'line4'], ['stderr', 'bad']]);
    assert.ok(seen[seen.length - 1][0] - seen[0][0] > 600, 'lines arrived all at once');
    assert.equal(stream.status, 'completed');
    assert.equal(stream.exitCode, 4);
    assert.equal(stream.end.event, 'end');
    assert.deepEqual((await mags.logs(stream.requestId)).logs, seen.map(([, l]) => l));
  });

  test('streamLogs of a finished job, and of a missing one', async () => {
    const mags = client();
    const job = await mags.run('echo one; echo two');
    await waitFor(mags, job.requestId);
    const stream = mags.streamLogs(job.requestId);
    const msgs = [];
    for await (const l of stream) msgs.push(l.message);
    assert.deepEqual(msgs, ['one', 'two']);
    assert.equal(stream.exitCode, 0);
    await assert.rejects(async () => {
      for await (const l of mags.streamLogs(NO_JOB)) void l;
    }, (e) => e instanceof MagsError && e.statusCode === 404);
  });

  test('list and listJobs', async () => {
    const mags = client();
    const job = await mags.run('true', { name: uniq('node-list') });
    await waitFor(mags, job.requestId);
    const res = await mags.list();
    for (const k of ['jobs', 'page', 'page_size', 'total', 'pageSize']) assert.ok(k in res, k);
    assert.ok(res.jobs.some((j) => j.request_id === job.requestId));
    const one = await mags.listJobs({ page: 1, pageSize: 1 });
    assert.equal(one.jobs.length, 1);
    assert.equal(one.pageSize, 1);
  });

  test('findJob and stop by name, stop by id', async () => {
    const mags = client();
    const name = uniq('node-stop');
    const job = await mags.run('sleep 60', { name });
    try {
      await waitFor(mags, job.requestId, ['running'], 15000);
      const found = await mags.findJob(name);
      assert.equal(found.requestId, job.requestId);
      assert.equal(found.status, 'running');
      assert.equal((await mags.findJob(job.requestId)).request_id, job.requestId);
      const stopped = await mags.stop(name);
      assert.equal(stopped.requestId, job.requestId);
      assert.equal(stopped.status, 'stopped');
      assert.equal(await mags.findJob(name), null);
      assert.equal((await mags.findJob(job.requestId)).status, 'stopped');
      // Like the CLI, stop by name falls back to the newest job of that name.
      assert.equal((await mags.stop(name)).status, 'stopped');
    } finally {
      await mags.stop(job.requestId).catch(() => {});
    }
    const other = await mags.run('sleep 60');
    await waitFor(mags, other.requestId, ['running'], 15000);
    assert.equal((await mags.stop(other.requestId)).status, 'stopped');
  });

  test('unknown names: findJob null, stop 404', async () => {
    const mags = client();
    assert.equal(await mags.findJob(uniq('no-such')), null);
    assert.equal(await mags.findJob(NO_JOB), null);
    await assert.rejects(mags.stop(uniq('no-such')), (e) => e instanceof MagsError && e.statusCode === 404);
  });

  test('new() reports what the server says about sandboxes', async () => {
    const mags = client();
    try {
      const vm = await mags.new(uniq('node-new'), { timeout: 10000 });
      assert.equal(vm.status, 'running');
      await mags.stop(vm.requestId);
    } catch (e) {
      assert.ok(e instanceof MagsError, String(e));
      assert.equal(e.statusCode, 400);
      assert.match(e.message, /workspace/);
    }
  });

  test('errors: 401, 404, 400, unreachable', async () => {
    await assert.rejects(new Mags({ apiToken: 'not-a-token', apiUrl: URL_ }).run('true'), (e) => {
      assert.ok(e instanceof MagsError);
      assert.equal(e.statusCode, 401);
      assert.equal(e.message, 'invalid API token');
      assert.equal(e.code, 'unauthorized');
      return true;
    });
    const mags = client();
    await assert.rejects(mags.status(NO_JOB), (e) => e.statusCode === 404 && e.code === 'not_found');
    await assert.rejects(mags.logs(NO_JOB), (e) => e.statusCode === 404);
    const job = await mags.run('true');
    await assert.rejects(client(TOKEN_BOB).status(job.requestId), (e) => e.statusCode === 404);
    assert.equal(await client(TOKEN_BOB).findJob(job.requestId), null);
    await assert.rejects(mags.run(''), (e) => e.statusCode === 400);
    await assert.rejects(mags.run('#'.repeat(1400 * 1024)), (e) => e.statusCode === 413 && e.code === 'too_large');
    const dead = new Mags({ apiToken: 'x', apiUrl: `http://127.0.0.1:${await freePort()}`, timeout: 5000 });
    await assert.rejects(dead.status(NO_JOB), (e) => e instanceof MagsError && e.statusCode === null && /cannot reach/.test(e.message));
  });

  test('whoami', async () => {
    assert.equal((await client().whoami()).user, 'alice');
    assert.equal((await client(TOKEN_BOB).whoami()).user, 'bob');
  });

  test('credentials: config file', () => withEnv({}, async (home) => {
    writeConfig(home, { api_token: TOKEN, api_url: URL_ });
    const mags = new Mags();
    assert.equal(mags.apiUrl, URL_);
    assert.equal((await mags.whoami()).user, 'alice');
  }));

  test('credentials: MAGS_TOKEN beats the config file', () => withEnv({ MAGS_TOKEN: TOKEN_BOB }, async (home) => {
    writeConfig(home, { api_token: TOKEN, api_url: URL_ });
    assert.equal((await new Mags().whoami()).user, 'bob');
  }));

  test('credentials: MAGS_API_TOKEN beats MAGS_TOKEN', () => withEnv(
    { MAGS_API_TOKEN: TOKEN, MAGS_TOKEN: TOKEN_BOB, MAGS_API_URL: URL_ },
    async () => assert.equal((await new Mags().whoami()).user, 'alice'),
  ));

  test('credentials: options beat the environment', async () => {
    const port = await freePort();
    await withEnv({ MAGS_API_TOKEN: TOKEN, MAGS_API_URL: `http://127.0.0.1:${port}` }, async () => {
      assert.equal((await new Mags({ apiToken: TOKEN_BOB, apiUrl: URL_ }).whoami()).user, 'bob');
    });
  });

  test('credentials: MAGS_API_URL beats the config URL; /api/v1 suffix dropped', async () => {
    const port = await freePort();
    await withEnv({ MAGS_API_URL: `${URL_}/api/v1/` }, async (home) => {
      writeConfig(home, { api_token: TOKEN, api_url: `http://127.0.0.1:${port}` });
      const mags = new Mags();
      assert.equal(mags.apiUrl, URL_);
      assert.equal((await mags.whoami()).user, 'alice');
    });
  });

  test('credentials: no token throws; default URL', () => withEnv({}, async (home) => {
    assert.throws(() => new Mags(), (e) => e instanceof MagsError && /token/.test(e.message));
    assert.equal(new Mags({ apiToken: 't' }).apiUrl, 'http://127.0.0.1:8420');
    fs.mkdirSync(path.join(home, '.mags'));
    fs.writeFileSync(path.join(home, '.mags', 'config.json'), '{not json');
    assert.throws(() => new Mags(), (e) => e instanceof MagsError && /config\.json/.test(e.message));
  }));
});
