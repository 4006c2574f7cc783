'use strict';
// The requests each method sends (method, path, query, body), checked against
// a small HTTP server on loopback. Needs no mags server.
const { test, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const Mags = require('..');
const { MagsError } = Mags;

let server;
let base;
let requests = [];
let routes = new Map();

function route(method, p, answer, status = 200, ctype = 'application/json') {
  routes.set(`${method} /api/v1${p}`, { status, answer, ctype });
}
const last = () => requests[requests.length - 1];
const calls = () => requests.map((r) => `${r.method} ${r.path}`);

before(async () => {
  server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const [p, query = ''] = req.url.split('?');
      const rec = { method: req.method, path: p, query, headers: req.headers, raw, json: null };
      if (raw.length && (req.headers['content-type'] || '').includes('json')) rec.json = JSON.parse(raw);
      requests.push(rec);
      const r = routes.get(`${req.method} ${p}`) || { status: 200, answer: { ok: true }, ctype: 'application/json' };
      const data = r.answer === null ? '' : (typeof r.answer === 'string' ? r.answer : JSON.stringify(r.answer));
      res.writeHead(r.status, { 'Content-Type': r.ctype, 'Content-Length': Buffer.byteLength(data) });
      res.end(data);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => new Promise((r) => server.close(r)));

beforeEach(() => {
  requests = [];
  routes = new Map();
});

const client = () => new Mags({ apiToken: 'tok-123', apiUrl: base });
const RUNNING = { request_id: 'job-1', name: 'box', workspace_id: 'box', status: 'running' };

test('exports: CommonJS default, named Mags and MagsError', () => {
  assert.equal(typeof Mags, 'function');
  assert.equal(Mags.Mags, Mags);
  assert.equal(Mags.default, Mags);
  assert.ok(new MagsError('x', 404) instanceof Error);
  assert.equal(new MagsError('x', 404).statusCode, 404);
  assert.equal(new MagsError('x', 404).status_code, 404);
});

test('run: auth header, payload mapping, camelCase aliases', async () => {
  route('POST', '/mags-jobs', { request_id: 'job-1', status: 'accepted' });
  const mags = client();
  const job = await mags.run('echo hi');
  assert.deepEqual(job, { request_id: 'job-1', status: 'accepted', requestId: 'job-1' });
  assert.equal(last().method, 'POST');
  assert.equal(last().path, '/api/v1/mags-jobs');
  assert.equal(last().headers.authorization, 'Bearer tok-123');
  assert.equal(last().headers['content-type'], 'application/json');
  assert.deepEqual(last().json, { script: 'echo hi', type: 'inline' });

  await mags.run('s', {
    name: 'n', workspaceId: 'ws', baseWorkspaceId: 'base', persistent: true, noSleep: true,
    startupCommand: 'serve', environment: { A: '1' }, fileIds: ['f1'], diskGb: 5, noSync: true,
    jobTimeout: 60000,
  });
  assert.deepEqual(last().json, {
    script: 's', type: 'inline', name: 'n', workspace_id: 'ws', base_workspace_id: 'base',
    persistent: true, no_sleep: true, startup_command: 'serve', environment: { A: '1' },
    file_ids: ['f1'], disk_gb: 5, no_sync: true, timeout: 60,
  });
  await mags.run('s', { workspaceId: 'ws', ephemeral: true });
  assert.deepEqual(last().json, { script: 's', type: 'inline', ephemeral: true });
  // a persistent sandbox's own idle time: ms, sent as whole seconds
  await mags.run('s', { persistent: true, jobIdleTimeout: 90500 });
  assert.deepEqual(last().json, { script: 's', type: 'inline', persistent: true, idle_timeout: 91 });
});

test('new: sleep infinity sandbox, polls status until running', async () => {
  route('POST', '/mags-jobs', { request_id: 'job-1', status: 'accepted' });
  route('GET', '/mags-jobs/job-1/status', RUNNING);
  const mags = client();
  const vm = await mags.new('box', { pollInterval: 50 });
  assert.equal(vm.requestId, 'job-1');
  assert.equal(vm.status, 'running');
  assert.deepEqual(requests[0].json, {
    script: 'sleep infinity', type: 'inline', name: 'box', workspace_id: 'box', persistent: true, no_sync: true,
  });
  assert.equal(calls()[1], 'GET /api/v1/mags-jobs/job-1/status');
  await mags.new('box', { persistent: true, baseWorkspaceId: 'golden', diskGb: 4 });
  assert.deepEqual(requests[2].json, {
    script: 'sleep infinity', type: 'inline', name: 'box', workspace_id: 'box', persistent: true,
    base_workspace_id: 'golden', disk_gb: 4,
  });
});

test('new: a VM that fails to start rejects', async () => {
  route('POST', '/mags-jobs', { request_id: 'job-1', status: 'accepted' });
  route('GET', '/mags-jobs/job-1/status', { request_id: 'job-1', status: 'error', error_message: 'no space' });
  await assert.rejects(client().new('box'), (e) => e instanceof MagsError && /no space/.test(e.message));
});

test('exec: resolves the name through the job list, then POST /exec', async () => {
  route('GET', '/mags-jobs/box/status', { error: 'job not found', code: 'not_found' }, 404);
  route('GET', '/mags-jobs', {
    jobs: [{ request_id: 'old', name: 'box', workspace_id: 'box', status: 'completed' }, RUNNING],
    page: 1, page_size: 100, total: 2,
  });
  const answer = { exit_code: 0, output: 'hi\n', stdout: 'hi\n', stderr: '', duration_ms: 3 };
  route('POST', '/mags-jobs/job-1/exec', answer);
  const mags = client();
  const r = await mags.exec('box', 'echo hi');
  assert.equal(r.output, 'hi\n');
  assert.equal(r.exitCode, 0);
  assert.equal(r.durationMs, 3);
  assert.deepEqual(last().json, { command: 'echo hi' });
  assert.deepEqual(calls(), ['GET /api/v1/mags-jobs/box/status', 'GET /api/v1/mags-jobs',
    'POST /api/v1/mags-jobs/job-1/exec']);
  assert.match(requests[1].query, /page_size=100/);
  await mags.exec('box', 'env', { timeout: 5000, env: { X: 'y' } });
  assert.deepEqual(last().json, { command: 'env', timeout: 5, env: { X: 'y' } });
});

test('execStream: NDJSON chunks, then the exit code; plain answers too', async () => {
  route('GET', '/mags-jobs/job-1/status', RUNNING);
  const nd = [{ stream: 'stdout', data: 'hel' }, { stream: 'stdout', data: 'lo\n' },
    { stream: 'stderr', data: 'warn\n' }, { exit_code: 2, duration_ms: 7 }].map((o) => JSON.stringify(o) + '\n').join('');
  route('POST', '/mags-jobs/job-1/exec', nd, 200, 'application/x-ndjson');
  const mags = client();
  const s = await mags.execStream('job-1', 'echo hello', { timeout: 9000 });
  const chunks = [];
  for await (const c of s) chunks.push(c);
  assert.deepEqual(chunks, [{ stream: 'stdout', data: 'hel' }, { stream: 'stdout', data: 'lo\n' }, { stream: 'stderr', data: 'warn\n' }]);
  assert.equal(s.exitCode, 2);
  assert.equal(s.result.durationMs, 7);
  assert.equal(`${last().method} ${last().path}?${last().query}`, 'POST /api/v1/mags-jobs/job-1/exec?stream=1');
  assert.deepEqual(last().json, { command: 'echo hello', timeout: 9 });

  const plain = { exit_code: 0, output: 'a\nb\n', stdout: 'a\n', stderr: 'b\n', duration_ms: 1 };
  route('POST', '/mags-jobs/job-1/exec', plain);
  const p = await mags.execStream('job-1', 'x');
  const got = [];
  for await (const c of p) got.push(c);
  assert.deepEqual(got, [{ stream: 'stdout', data: 'a\n' }, { stream: 'stderr', data: 'b\n' }]);
  assert.equal(p.exitCode, 0);

  route('POST', '/mags-jobs/job-1/exec', '{"stream": "stdout", "data": "x"}\n', 200, 'application/x-ndjson');
  const cut = await mags.execStream('job-1', 'x');
  await assert.rejects(async () => { for await (const c of cut) void c; }, (e) => e instanceof MagsError);
});

test('url and enableAccess (SSH keys get camelCase aliases)', async () => {
  route('GET', '/mags-jobs/job-1/status', RUNNING);
  route('POST', '/mags-jobs/job-1/access', { url: 'http://abc.localhost:8421' });
  const mags = client();
  const { url } = await mags.url('job-1');
  assert.equal(url, 'http://abc.localhost:8421');
  assert.deepEqual(last().json, { port: 8080 });
  await mags.url('job-1', 3000);
  assert.deepEqual(last().json, { port: 3000 });
  route('POST', '/mags-jobs/job-1/access', { ssh_host: 'h', ssh_port: 2222, ssh_private_key: 'KEY' });
  const ssh = await mags.enableAccess('job-1', 22);
  assert.equal(`ssh root@${ssh.sshHost} -p ${ssh.sshPort}`, 'ssh root@h -p 2222');
  assert.equal(ssh.sshPrivateKey, 'KEY');
  assert.equal(ssh.ssh_host, 'h');
  assert.deepEqual(last().json, { port: 22 });
  assert.equal(last().path, '/api/v1/mags-jobs/job-1/access');
});

test('resize: stop, wait 1 s, resize the workspace, new as it was with diskGb', async () => {
  route('GET', '/mags-jobs/box/status', { error: 'job not found' }, 404);
  route('GET', '/mags-jobs', { jobs: [{ ...RUNNING, persistent: true, no_sync: false }], page: 1, page_size: 100, total: 1 });
  route('POST', '/mags-jobs', { request_id: 'job-2', status: 'accepted' });
  route('GET', '/mags-jobs/job-2/status', { ...RUNNING, request_id: 'job-2' });
  route('POST', '/mags-workspaces/box/resize', { workspace_id: 'box', disk_gb: 10 });
  const t0 = Date.now();
  const r = await client().resize('box', 10, { pollInterval: 50 });
  assert.ok(Date.now() - t0 >= 950);
  assert.equal(r.requestId, 'job-2');
  const c = calls();
  const stop = c.indexOf('POST /api/v1/mags-jobs/job-1/stop');
  const resize = c.indexOf('POST /api/v1/mags-workspaces/box/resize');
  const create = c.indexOf('POST /api/v1/mags-jobs');
  assert.ok(stop >= 0 && stop < resize && resize < create, c.join(', '));
  assert.deepEqual(requests[resize].json, { disk_gb: 10 });
  assert.deepEqual(requests[create].json, {
    script: 'sleep infinity', type: 'inline', name: 'box', workspace_id: 'box', persistent: true, disk_gb: 10,
  });
});

test('resize: a local-disk sandbox comes back local-disk; no endpoint: new persistent', async () => {
  route('GET', '/mags-jobs/box/status', { error: 'job not found' }, 404);
  route('GET', '/mags-jobs', { jobs: [{ ...RUNNING, persistent: true, no_sync: true }], page: 1, page_size: 100, total: 1 });
  route('POST', '/mags-jobs', { request_id: 'job-2', status: 'accepted' });
  route('GET', '/mags-jobs/job-2/status', { ...RUNNING, request_id: 'job-2' });
  route('POST', '/mags-workspaces/box/resize', { workspace_id: 'box', disk_gb: 4 });
  await client().resize('box', 4, { pollInterval: 50 });
  let create = requests.filter((q) => q.method === 'POST' && q.path === '/api/v1/mags-jobs');
  assert.deepEqual(create[0].json, {
    script: 'sleep infinity', type: 'inline', name: 'box', workspace_id: 'box', persistent: true, no_sync: true, disk_gb: 4,
  });
  requests = [];
  route('GET', '/mags-jobs', { jobs: [], page: 1, page_size: 100, total: 0 });
  route('POST', '/mags-workspaces/box/resize', { error: 'not found' }, 404);
  await client().resize('box', 4, { pollInterval: 50 });
  assert.ok(!calls().includes('POST /api/v1/mags-jobs/job-1/stop'));
  create = requests.filter((q) => q.method === 'POST' && q.path === '/api/v1/mags-jobs');
  assert.deepEqual(create[0].json, {
    script: 'sleep infinity', type: 'inline', name: 'box', workspace_id: 'box', persistent: true, disk_gb: 4,
  });
  route('POST', '/mags-workspaces/box/resize', { error: 'disk busy', code: 'conflict' }, 409);
  await assert.rejects(client().resize('box', 4), (e) => e instanceof MagsError && e.statusCode === 409);
});

test('updateJob and sync', async () => {
  const mags = client();
  await mags.updateJob('job-1', { noSleep: true, startupCommand: 'serve' });
  assert.equal(`${last().method} ${last().path}`, 'PATCH /api/v1/mags-jobs/job-1');
  assert.deepEqual(last().json, { no_sleep: true, startup_command: 'serve' });
  await mags.updateJob('job-1', { idleTimeout: null });
  assert.deepEqual(last().json, { idle_timeout: null });
  await mags.sync('job-1');
  assert.equal(`${last().method} ${last().path}`, 'POST /api/v1/mags-jobs/job-1/sync');
});

test('uploadFile / uploadFiles: multipart with field "file"', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mags-up-'));
  const f = path.join(dir, 'data.csv');
  const content = Buffer.concat([Buffer.from('a,b\n1,2\n'), Buffer.alloc(5000, 7)]);
  fs.writeFileSync(f, content);
  route('POST', '/mags-files', { file_id: 'file-1' });
  const mags = client();
  assert.equal(await mags.uploadFile(f), 'file-1');
  const r = last();
  assert.equal(`${r.method} ${r.path}`, 'POST /api/v1/mags-files');
  const m = /^multipart\/form-data; boundary=(.+)$/.exec(r.headers['content-type']);
  assert.ok(m, r.headers['content-type']);
  const raw = r.raw;
  const head = raw.indexOf('\r\n\r\n');
  const headers = raw.subarray(0, head).toString();
  assert.match(headers, /Content-Disposition: form-data; name="file"; filename="data.csv"/i);
  const end = raw.lastIndexOf(Buffer.from(`\r\n--${m[1]}--`));
  assert.deepEqual(raw.subarray(head + 4, end), content);
  route('POST', '/mags-files', { file_ids: ['file-2'] });
  assert.deepEqual(await mags.uploadFiles([f, f]), ['file-2', 'file-2']);
  route('POST', '/mags-files', { file_ids: [{ file_id: 'file-3' }] });
  assert.equal(await mags.uploadFile(f), 'file-3');
  assert.deepEqual(calls().slice(-2), ['POST /api/v1/mags-files', 'POST /api/v1/mags-files']);
  fs.rmSync(dir, { recursive: true });
});

test('workspaces and URL aliases', async () => {
  const mags = client();
  route('GET', '/mags-workspaces', { workspaces: [{ workspace_id: 'w', job_count: 2 }] });
  const ws = await mags.listWorkspaces();
  assert.equal(ws.workspaces[0].workspace_id, 'w');
  await mags.deleteWorkspace('old ws');
  assert.equal(`${last().method} ${last().path}`, 'DELETE /api/v1/mags-workspaces/old%20ws');
  await mags.urlAliasCreate('myapp', 'w');
  assert.equal(`${last().method} ${last().path}`, 'POST /api/v1/mags-url-aliases');
  assert.deepEqual(last().json, { subdomain: 'myapp', workspace_id: 'w' });
  route('GET', '/mags-url-aliases', { aliases: [] });
  assert.deepEqual((await mags.urlAliasList()).aliases, []);
  await mags.urlAliasDelete('myapp');
  assert.equal(`${last().method} ${last().path}`, 'DELETE /api/v1/mags-url-aliases/myapp');
});

test('cron: create, list ({ cron_jobs }), get, update, delete', async () => {
  const mags = client();
  route('POST', '/mags-cron', { id: 'cron-1', name: 'health-check' });
  route('GET', '/mags-cron', { cron_jobs: [{ id: 'cron-1', name: 'health-check', cron_expression: '*/5 * * * *', enabled: true }] });
  const cron = await mags.cronCreate({ name: 'health-check', cronExpression: '*/5 * * * *', script: 'echo ok', workspaceId: 'w' });
  assert.deepEqual(last().json, { name: 'health-check', cron_expression: '*/5 * * * *', script: 'echo ok', workspace_id: 'w' });
  const { cron_jobs } = await mags.cronList();
  assert.equal(cron_jobs[0].cron_expression, '*/5 * * * *');
  assert.equal((await mags.cronList()).cronJobs.length, 1);
  await mags.cronUpdate(cron.id, { enabled: false });
  assert.equal(`${last().method} ${last().path}`, 'PATCH /api/v1/mags-cron/cron-1');
  assert.deepEqual(last().json, { enabled: false });
  await mags.cronGet('cron-1');
  assert.equal(`${last().method} ${last().path}`, 'GET /api/v1/mags-cron/cron-1');
  await mags.cronDelete(cron.id);
  assert.equal(`${last().method} ${last().path}`, 'DELETE /api/v1/mags-cron/cron-1');
});

test('usage', async () => {
  route('GET', '/mags-usage', { total_jobs: 3, vm_seconds: 12.5 });
  const u = await client().usage({ windowDays: 7 });
  assert.equal(u.totalJobs, 3);
  assert.equal(u.vm_seconds, 12.5);
  assert.equal(last().query, 'window_days=7');
  await client().usage();
  assert.equal(last().query, 'window_days=30');
});

test('error mapping to MagsError.statusCode', async () => {
  const mags = client();
  for (const [status, code] of [[401, 'unauthorized'], [404, 'not_found'], [409, 'conflict'], [413, 'too_large'], [500, 'internal']]) {
    route('DELETE', '/mags-workspaces/w', { error: `msg ${status}`, code }, status);
    await assert.rejects(mags.deleteWorkspace('w'), (e) => {
      assert.ok(e instanceof MagsError);
      assert.equal(e.statusCode, status);
      assert.equal(e.message, `msg ${status}`);
      assert.equal(e.code, code);
      return true;
    });
  }
  route('DELETE', '/mags-workspaces/w', null, 409);
  await assert.rejects(mags.deleteWorkspace('w'), (e) => e.statusCode === 409 && /409/.test(e.message));
  route('DELETE', '/mags-cron/c', null, 204);
  assert.deepEqual(await mags.cronDelete('c'), {});
});
