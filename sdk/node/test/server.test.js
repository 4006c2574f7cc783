'use strict';
// Against a real mags server: MAGS_E2E_URL, MAGS_E2E_TOKEN (user alice) and
// MAGS_E2E_TOKEN_BOB (another user) name it, MAGS_E2E_PROXY_PORT its HTTP
// proxy (sandbox URLs). tests/e2e/test_sdk_node.py starts one and runs this
// file; without them every test here is skipped.
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');

const Mags = require('..');
const { MagsError } = Mags;

const URL_ = process.env.MAGS_E2E_URL;
const TOKEN = process.env.MAGS_E2E_TOKEN;
const TOKEN_BOB = process.env.MAGS_E2E_TOKEN_BOB;
const PROXY_PORT = Number(process.env.MAGS_E2E_PROXY_PORT);
const skip = !(URL_ && TOKEN && TOKEN_BOB && PROXY_PORT) &&
  'MAGS_E2E_URL/MAGS_E2E_TOKEN/MAGS_E2E_TOKEN_BOB/MAGS_E2E_PROXY_PORT not set';
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

/** GET a http://<sub>.localhost:<port>/ URL through the proxy on 127.0.0.1
 * (the resolver here does not know *.localhost): {status, body}. */
function proxyGet(url) {
  const u = new URL(url);
  assert.ok(u.hostname.endsWith('.localhost') && Number(u.port) === PROXY_PORT, url);
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: PROXY_PORT, path: u.pathname, headers: { Host: u.host }, timeout: 5000 },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

async function proxyWait(url, want, timeout = 10000) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await proxyGet(url);
      if (last.status === 200 && last.body.includes(want)) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`${url}: ${last && (last.message || JSON.stringify(last))}`);
}

function sshBanner(host, port) {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host, port }, () => {});
    c.setTimeout(5000, () => c.destroy(new Error('timeout')));
    c.once('data', (d) => { c.destroy(); resolve(d.toString()); });
    c.on('error', reject);
  });
}

const rejectsWith = (p, status) => assert.rejects(p, (e) => {
  assert.ok(e instanceof MagsError, String(e));
  assert.equal(e.statusCode, status, e.message);
  return true;
});

describe('sandboxes, files, workspaces, aliases, cron, usage', { skip }, () => {
  test('new, exec, execStream, findJob, stop', async () => {
    const mags = client();
    const name = uniq('node-new');
    const vm = await mags.new(name, { pollInterval: 100 });
    try {
      assert.equal(vm.status, 'running');
      assert.equal(vm.requestId, vm.request_id);
      assert.equal(vm.name, name);
      assert.equal(vm.workspace_id, name);
      assert.equal(vm.no_sync, true);
      let r = await mags.exec(name, 'echo hi; echo err >&2; exit 3');
      assert.equal(r.exit_code, 3);
      assert.equal(r.exitCode, 3);
      assert.equal(r.stdout, 'hi\n');
      assert.equal(r.stderr, 'err\n');
      assert.equal(r.output, 'hi\nerr\n');
      assert.equal(typeof r.duration_ms, 'number');
      assert.equal((await mags.exec(vm.requestId, 'echo kept > /root/f')).exit_code, 0);
      r = await mags.exec(name, 'cat /root/f; echo "$X"', { env: { X: 'from-env' }, timeout: 5000 });
      assert.equal(r.stdout, 'kept\nfrom-env\n');
      const t0 = Date.now();
      r = await mags.exec(name, 'sleep 20', { timeout: 1000 });
      assert.ok(Date.now() - t0 < 10000);
      assert.equal(r.exit_code, 124);
      assert.equal(r.timed_out, true);
      const seen = [];
      const s = await mags.execStream(name, 'echo a; sleep 0.5; echo b >&2; exit 2');
      for await (const chunk of s) seen.push([Date.now(), chunk]);
      assert.deepEqual(seen.map((x) => x[1]), [{ stream: 'stdout', data: 'a\n' }, { stream: 'stderr', data: 'b\n' }]);
      assert.ok(seen[1][0] - seen[0][0] > 300);
      assert.equal(s.exitCode, 2);
      assert.equal(typeof s.result.duration_ms, 'number');
      assert.equal((await mags.findJob(name)).requestId, vm.requestId);
      const bob = client(TOKEN_BOB);
      assert.equal(await bob.findJob(name), null);
      await rejectsWith(bob.exec(vm.requestId, 'true'), 404);
    } finally {
      assert.equal((await mags.stop(name)).status, 'stopped');
    }
    await rejectsWith(mags.exec(vm.requestId, 'true'), 409);
    await rejectsWith(mags.exec(uniq('no-such-box'), 'true'), 404);
  });

  test('updateJob, url through the proxy, enableAccess for SSH', async () => {
    const mags = client();
    const name = uniq('node-web');
    const vm = await mags.new(name, { pollInterval: 100 });
    try {
      const job = await mags.updateJob(vm.requestId, { noSleep: true, startupCommand: 'httpd -f -p 8080 -h /www' });
      assert.equal(job.requestId, vm.requestId);
      const st = await mags.status(vm.requestId);
      assert.equal(st.no_sleep, true);
      assert.equal(st.startup_command, 'httpd -f -p 8080 -h /www');
      const r = await mags.exec(name, 'mkdir -p /www && echo node-page > /www/index.html && (httpd -f -p 8080 -h /www >/dev/null 2>&1 &)');
      assert.equal(r.exit_code, 0);
      const { url } = await mags.url(name, 8080);
      assert.match(url, /^http:\/\/[a-z0-9-]+\.localhost:\d+\/$/);
      assert.equal((await proxyWait(url, 'node-page')).body, 'node-page\n');
      const ssh = await mags.enableAccess(vm.requestId, 22);
      assert.equal(ssh.sshHost, ssh.ssh_host);
      assert.equal(typeof ssh.sshPort, 'number');
      assert.match(ssh.sshPrivateKey, /PRIVATE KEY/);
      assert.match(await sshBanner(ssh.sshHost, ssh.sshPort), /^SSH-2\.0-/);
    } finally {
      await mags.stop(vm.requestId);
    }
    await rejectsWith(mags.updateJob(NO_JOB, { noSleep: true }), 404);
  });

  test('persistent: sync, resize, listWorkspaces, deleteWorkspace', async () => {
    const mags = client();
    const name = uniq('node-ws');
    const vm = await mags.new(name, { persistent: true, pollInterval: 100 });
    assert.equal(vm.no_sync, false);
    assert.equal((await mags.exec(name, 'echo keep-me > /root/keep.txt')).exit_code, 0);
    const synced = await mags.sync(vm.requestId);
    assert.equal(synced.status, 'synced');
    assert.equal(synced.requestId, vm.requestId);
    assert.ok(synced.snapshot && synced.synced_at);
    let ws = (await mags.listWorkspaces()).workspaces.find((w) => w.workspace_id === name);
    assert.equal(ws.persistent, true);
    assert.ok(ws.last_synced_at);
    const big = await mags.resize(name, 3, { pollInterval: 100 });
    assert.equal(big.status, 'running');
    assert.notEqual(big.requestId, vm.requestId);
    assert.equal(big.no_sync, false);
    assert.equal((await mags.status(vm.requestId)).status, 'stopped');
    assert.equal((await mags.exec(name, 'cat /root/keep.txt')).stdout, 'keep-me\n');
    ws = (await mags.listWorkspaces()).workspaces.find((w) => w.workspace_id === name);
    assert.equal(ws.disk_gb, 3);
    const kb = Number((await mags.exec(name, 'df -k /root | tail -1')).stdout.trim().split(/\s+/)[1]);
    assert.ok(kb > 2.5 * 1024 * 1024, String(kb));
    await rejectsWith(mags.deleteWorkspace(name), 409);
    await mags.stop(name);
    const del = await mags.deleteWorkspace(name);
    assert.equal(del.deleted, true);
    assert.ok(!(await mags.listWorkspaces()).workspaces.some((w) => w.workspace_id === name));
    await rejectsWith(mags.deleteWorkspace(name), 404);
  });

  test('uploadFile(s) reach the job', async () => {
    const mags = client();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mags-up-'));
    try {
      const a = path.join(dir, 'data.csv');
      fs.writeFileSync(a, 'a,b\n1,2\n');
      const b = path.join(dir, 'blob.bin');
      const blob = Buffer.alloc(256 * 4096);
      for (let i = 0; i < blob.length; i++) blob[i] = i % 256;
      fs.writeFileSync(b, blob);
      const one = await mags.uploadFile(a);
      assert.equal(typeof one, 'string');
      const ids = await mags.uploadFiles([a, b]);
      assert.equal(ids.length, 2);
      assert.equal(new Set([one, ...ids]).size, 3);
      const r = await mags.runAndWait('cat /root/data.csv; wc -c < /root/blob.bin; md5sum /root/blob.bin',
        { fileIds: ids, timeout: 30000 });
      assert.equal(r.exit_code, 0);
      const out = r.logs.filter((l) => l.source === 'stdout').map((l) => l.message);
      const md5 = require('node:crypto').createHash('md5').update(blob).digest('hex');
      assert.deepEqual([out[0], out[1], out[2].trim(), out[3].split(/\s+/)[0]], ['a,b', '1,2', String(blob.length), md5]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('URL aliases: create, list, served by the proxy, 409, delete, 404', async () => {
    const mags = client();
    const ws = uniq('node-al');
    const sub = `nal${Math.floor(Math.random() * 1e9)}`;
    const vm = await mags.new(ws, { pollInterval: 100 });
    try {
      await mags.exec(ws, 'mkdir -p /www && echo via-alias > /www/index.html && (httpd -f -p 8080 -h /www >/dev/null 2>&1 &)');
      const a = await mags.urlAliasCreate(sub, ws);
      assert.equal(a.subdomain, sub);
      assert.equal(a.workspace_id, ws);
      assert.ok(a.url.startsWith(`http://${sub}.`));
      assert.ok((await mags.urlAliasList()).aliases.some((x) => x.subdomain === sub && x.url === a.url));
      assert.equal((await proxyWait(a.url, 'via-alias')).body, 'via-alias\n');
      await rejectsWith(mags.urlAliasCreate(sub, ws), 409);
      assert.ok(!(await client(TOKEN_BOB).urlAliasList()).aliases.some((x) => x.subdomain === sub));
      await mags.urlAliasDelete(sub);
      assert.ok(!(await mags.urlAliasList()).aliases.some((x) => x.subdomain === sub));
      await rejectsWith(mags.urlAliasDelete(sub), 404);
    } finally {
      await mags.stop(vm.requestId);
    }
  });

  test('cron: create, list, update, get, delete', async () => {
    const mags = client();
    const cron = await mags.cronCreate({ name: uniq('node-cron'), cronExpression: '*/5 * * * *', script: 'echo tick' });
    assert.equal(cron.enabled, true);
    assert.equal(cron.cron_expression, '*/5 * * * *');
    assert.ok(cron.next_run_at);
    const list = await mags.cronList();
    assert.ok(list.cron_jobs.some((c) => c.id === cron.id));
    assert.deepEqual(list.cronJobs, list.cron_jobs);
    const off = await mags.cronUpdate(cron.id, { enabled: false });
    assert.equal(off.enabled, false);
    assert.equal((await mags.cronGet(cron.id)).enabled, false);
    await rejectsWith(client(TOKEN_BOB).cronGet(cron.id), 404);
    await rejectsWith(mags.cronCreate({ name: 'bad', cronExpression: 'not a cron', script: 'true' }), 400);
    await mags.cronDelete(cron.id);
    assert.ok(!(await mags.cronList()).cron_jobs.some((c) => c.id === cron.id));
    await rejectsWith(mags.cronDelete(cron.id), 404);
  });

  test('usage', async () => {
    const mags = client();
    const before = await mags.usage({ windowDays: 7 });
    assert.equal(before.window_days, 7);
    assert.equal(typeof before.total_jobs, 'number');
    assert.equal(typeof before.vm_seconds, 'number');
    await mags.runAndWait('sleep 0.3', { timeout: 30000 });
    const after = await mags.usage(7);
    assert.equal(after.total_jobs, before.total_jobs + 1);
    assert.ok(after.vm_seconds >= before.vm_seconds + 0.2);
    assert.equal((await mags.usage()).window_days, 30);
  });
});
