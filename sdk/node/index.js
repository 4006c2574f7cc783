'use strict';
/**
 * mags-sdk: Node.js client for a mags server (self-hosted Linux sandboxes).
 *
 *   const Mags = require('mags-sdk');            // or: const { Mags } = require(...)
 *   const mags = new Mags({ apiToken: process.env.MAGS_API_TOKEN });
 *   const result = await mags.runAndWait('echo hello');
 *   console.log(result.status, result.exitCode, result.logs);
 *
 * No dependencies: Node >= 18 (global fetch, FormData, Blob).
 *
 * Results are the API's JSON, plus a camelCase alias of every snake_case
 * top-level key (`request_id` -> `requestId`, `ssh_host` -> `sshHost`,
 * `cron_jobs` -> `cronJobs`...). API-level failures reject with MagsError
 * (`statusCode` = the HTTP status, or null when no HTTP answer was
 * involved). All durations in options are milliseconds.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');

const VERSION = '0.1.0';
const DEFAULT_API_URL = 'http://127.0.0.1:8420';
const API_PREFIX = '/api/v1';
const TERMINAL_STATUSES = ['completed', 'error', 'stopped'];
const LIVE_STATUSES = ['accepted', 'running', 'sleeping'];

class MagsError extends Error {
  /**
   * @param {string} message
   * @param {number|null} statusCode HTTP status, or null
   * @param {{code?: string|null, body?: any, requestId?: string|null}} [extra]
   */
  constructor(message, statusCode = null, extra = {}) {
    super(message);
    this.name = 'MagsError';
    this.statusCode = statusCode;
    this.code = extra.code != null ? extra.code : null;
    this.body = extra.body !== undefined ? extra.body : null;
    this.requestId = extra.requestId != null ? extra.requestId : null;
  }

  /** Same as statusCode (the Python SDK's name). */
  get status_code() {
    return this.statusCode;
  }
}

function env(name) {
  const v = process.env[name];
  return v ? v : null;
}

function configPath() {
  return path.join(os.homedir(), '.mags', 'config.json');
}

function readConfig() {
  const p = configPath();
  let text;
  try {
    text = fs.readFileSync(p, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return {};
    throw new MagsError(`cannot read ${p}: ${e.message}`);
  }
  let cfg;
  try {
    cfg = JSON.parse(text);
  } catch (e) {
    throw new MagsError(`${p} is not valid JSON: ${e.message}`);
  }
  if (!cfg || typeof cfg !== 'object' || Array.isArray(cfg)) {
    throw new MagsError(`${p} is not a JSON object`);
  }
  return cfg;
}

function normalizeUrl(url) {
  let u = String(url).trim().replace(/\/+$/, '');
  if (u.endsWith(API_PREFIX)) u = u.slice(0, -API_PREFIX.length).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/i.test(u)) {
    throw new MagsError(`API URL ${JSON.stringify(url)}: want http://host[:port] or https://...`);
  }
  return u;
}

const camel = (k) => k.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
const snake = (k) => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());

/** Add camelCase aliases of an object's snake_case top-level keys (in place). */
function withAliases(obj) {
  if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const k of Object.keys(obj)) {
      const c = camel(k);
      if (c !== k && !(c in obj)) obj[c] = obj[k];
    }
  }
  return obj;
}

/** {noSleep: true} -> {no_sleep: true}; undefined values dropped. */
function snakeKeys(opts) {
  const out = {};
  for (const [k, v] of Object.entries(opts || {})) {
    if (v !== undefined) out[snake(k)] = v;
  }
  return out;
}

const seg = (s) => encodeURIComponent(String(s));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseBody(text) {
  if (!text || !text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new MagsError(`the server sent a body that is not JSON: ${text.slice(0, 200)}`);
  }
}

function errorFromResponse(status, statusText, text) {
  let body = text;
  let message = '';
  let code = null;
  try {
    body = text && text.trim() ? JSON.parse(text) : null;
  } catch (_) { /* not JSON */ }
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    let err = body.error || body.message || body.detail;
    if (err && typeof err === 'object') err = err.message;
    if (typeof err === 'string') message = err;
    if (typeof body.code === 'string') code = body.code;
  } else if (typeof body === 'string' && body.trim()) {
    message = body.trim().slice(0, 500);
  }
  if (!message) message = `HTTP ${status} ${statusText || ''}`.trim();
  return new MagsError(message, status, { code, body });
}

function networkError(apiUrl, e) {
  if (e && (e.name === 'TimeoutError' || e.name === 'AbortError')) {
    return new MagsError(`request to the mags server at ${apiUrl} timed out`);
  }
  const why = (e && e.cause && (e.cause.code || e.cause.message)) || (e && e.message) || String(e);
  return new MagsError(`cannot reach the mags server at ${apiUrl}: ${why}`);
}

/**
 * A job's log records as the server writes them (GET /mags-jobs/{id}/logs?follow=1,
 * NDJSON). Use with `for await`; it ends when the job has ended. Then `end`
 * holds the final {event: 'end', status, exit_code, error_message} object and
 * `status`, `exitCode`, `errorMessage` read from it. A dropped connection is
 * re-opened and the records already delivered are skipped.
 */
class LogStream {
  constructor(client, requestId, options = {}) {
    this.requestId = requestId;
    this.end = null;
    this._client = client;
    this._idleTimeout = options.idleTimeout || null;
    this._maxReconnects = options.maxReconnects != null ? options.maxReconnects : 5;
    this._delivered = 0;
  }

  get status() { return this.end ? this.end.status : null; }
  get exitCode() { return this.end ? this.end.exit_code : null; }
  get errorMessage() { return this.end ? this.end.error_message : null; }

  async *[Symbol.asyncIterator]() {
    const p = `/mags-jobs/${seg(this.requestId)}/logs`;
    let failures = 0;
    for (;;) {
      const controller = new AbortController();
      let timer = null;
      const arm = () => {
        if (!this._idleTimeout) return;
        clearTimeout(timer);
        timer = setTimeout(() => controller.abort(), this._idleTimeout);
      };
      arm();
      let res;
      try {
        res = await this._client._fetch('GET', p, {
          query: { follow: '1' }, signal: controller.signal, accept: 'application/x-ndjson',
        });
      } catch (e) {
        clearTimeout(timer);
        throw e;
      }
      let skip = this._delivered;
      let why = 'the connection closed';
      let buf = '';
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body) {
          arm();
          buf += decoder.decode(chunk, { stream: true });
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i).trim();
            buf = buf.slice(i + 1);
            if (!line) continue;
            let rec;
            try { rec = JSON.parse(line); } catch (_) { continue; }
            if (!rec || typeof rec !== 'object' || Array.isArray(rec)) continue;
            if (rec.event === 'end') {
              this.end = withAliases(rec);
              return;
            }
            if (skip > 0) { skip--; continue; }
            this._delivered++;
            failures = 0;
            yield rec;
          }
        }
      } catch (e) {
        why = (e && e.message) || String(e);
      } finally {
        clearTimeout(timer);
        controller.abort();
      }
      failures++;
      if (failures > this._maxReconnects) {
        throw new MagsError(`log stream of job ${this.requestId} ended before the job did (${why})`,
          null, { requestId: this.requestId });
      }
      await sleep(Math.min(100 * failures, 1000));
    }
  }
}

/**
 * The output of Mags#execStream: `for await (const { stream, data } of s)`;
 * then `result` ({exit_code, duration_ms, ...}) and `exitCode`.
 */
class ExecStream {
  constructor(res, requestId, controller) {
    this.requestId = requestId;
    this.result = null;
    this._res = res;
    this._controller = controller;
  }

  get exitCode() { return this.result ? this.result.exit_code : null; }

  async *[Symbol.asyncIterator]() {
    const res = this._res;
    const fail = (msg, body) => new MagsError(msg, null, { requestId: this.requestId, body });
    try {
      const ctype = (res.headers.get('content-type') || '').toLowerCase();
      let lines;
      if (!ctype.includes('ndjson')) {
        const text = await res.text();
        let plain = null;
        try { plain = JSON.parse(text); } catch (_) { /* maybe NDJSON after all */ }
        if (plain && typeof plain === 'object' && !Array.isArray(plain)) {
          for (const name of ['stdout', 'stderr']) {
            if (typeof plain[name] === 'string' && plain[name]) yield { stream: name, data: plain[name] };
          }
          this.result = withAliases(plain);
          return;
        }
        lines = text.split('\n');
      } else {
        lines = (async function* () {
          const decoder = new TextDecoder();
          let buf = '';
          for await (const chunk of res.body) {
            buf += decoder.decode(chunk, { stream: true });
            let i;
            while ((i = buf.indexOf('\n')) >= 0) {
              yield buf.slice(0, i);
              buf = buf.slice(i + 1);
            }
          }
          if (buf) yield buf;
        })();
      }
      for await (const raw of lines) {
        const line = raw.trim();
        if (!line) continue;
        let obj;
        try { obj = JSON.parse(line); } catch (_) { continue; }
        if (!obj || typeof obj !== 'object' || Array.isArray(obj)) continue;
        if ('stream' in obj && 'data' in obj && !('exit_code' in obj)) {
          if (obj.data) yield obj;
        } else {
          this.result = withAliases(obj);
        }
      }
      if (!this.result || !('exit_code' in this.result)) {
        const err = this.result && this.result.error;
        throw fail(typeof err === 'string' && err ? err : `exec stream of job ${this.requestId} ended without an exit code`, this.result);
      }
    } catch (e) {
      if (e instanceof MagsError) throw e;
      throw fail(`exec stream of job ${this.requestId} broke: ${e.message || e}`);
    } finally {
      this._controller.abort();
    }
  }
}

class Mags {
  /**
   * @param {object} [options]
   * @param {string} [options.apiToken] default: MAGS_API_TOKEN, MAGS_TOKEN, then
   *   api_token in ~/.mags/config.json
   * @param {string} [options.apiUrl] server base URL without /api/v1; default:
   *   MAGS_API_URL, api_url in ~/.mags/config.json, then http://127.0.0.1:8420
   * @param {number} [options.timeout] per-request timeout in ms (default 30000)
   */
  constructor(options = {}) {
    let cfg = null;
    const config = () => (cfg === null ? (cfg = readConfig()) : cfg);
    let token = options.apiToken || env('MAGS_API_TOKEN') || env('MAGS_TOKEN');
    if (!token) {
      const v = config().api_token;
      token = typeof v === 'string' && v ? v : null;
    }
    let url = options.apiUrl || env('MAGS_API_URL');
    if (!url) {
      const v = config().api_url;
      url = typeof v === 'string' && v ? v : DEFAULT_API_URL;
    }
    if (!token) {
      throw new MagsError("no API token: pass new Mags({ apiToken }), set MAGS_API_TOKEN, or run 'mags login'");
    }
    Object.defineProperty(this, 'apiToken', { value: token, enumerable: false, writable: true });
    this.apiUrl = normalizeUrl(url);
    this.timeout = options.timeout != null ? options.timeout : 30000;
  }

  // ---- HTTP -----------------------------------------------------------

  /** One request; resolves to the fetch Response when it is 2xx, else rejects with MagsError. */
  async _fetch(method, p, opts = {}) {
    let url = this.apiUrl + API_PREFIX + p;
    if (opts.query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(opts.query)) if (v != null) q.append(k, String(v));
      const s = q.toString();
      if (s) url += '?' + s;
    }
    const headers = {
      Authorization: `Bearer ${this.apiToken}`,
      Accept: opts.accept || 'application/json',
      'User-Agent': `mags-sdk-node/${VERSION}`,
    };
    let body = opts.rawBody;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = 'application/json';
    }
    const timeout = opts.timeout !== undefined ? opts.timeout : this.timeout;
    let signal = opts.signal;
    if (!signal && timeout) signal = AbortSignal.timeout(timeout);
    let res;
    try {
      res = await fetch(url, { method, headers, body, signal });
    } catch (e) {
      throw networkError(this.apiUrl, e);
    }
    if (!res.ok) {
      let text = '';
      try { text = await res.text(); } catch (_) { /* ignore */ }
      throw errorFromResponse(res.status, res.statusText, text);
    }
    return res;
  }

  /** Call the API; resolves to its JSON ({} for an empty body) with camelCase aliases. */
  async _request(method, p, opts = {}) {
    const res = await this._fetch(method, p, opts);
    let text;
    try {
      text = await res.text();
    } catch (e) {
      throw networkError(this.apiUrl, e);
    }
    return withAliases(parseBody(text));
  }

  // ---- jobs -----------------------------------------------------------

  /**
   * Submit a job (returns at once): {request_id, status: 'accepted', requestId}.
   * options: name, workspaceId, baseWorkspaceId, persistent, noSleep, ephemeral,
   * startupCommand, environment, fileIds, diskGb, noSync, jobTimeout (ms),
   * jobIdleTimeout (ms a persistent sandbox may be idle before it sleeps; API
   * idle_timeout in seconds).
   */
  async run(script, options = {}) {
    const payload = { script, type: 'inline' };
    if (options.persistent) payload.persistent = true;
    if (options.noSleep) payload.no_sleep = true;
    if (options.noSync) payload.no_sync = true;
    if (options.name) payload.name = options.name;
    if (!options.ephemeral && options.workspaceId) payload.workspace_id = options.workspaceId;
    if (options.baseWorkspaceId) payload.base_workspace_id = options.baseWorkspaceId;
    if (options.ephemeral) payload.ephemeral = true;
    if (options.startupCommand) payload.startup_command = options.startupCommand;
    if (options.environment) payload.environment = { ...options.environment };
    if (options.fileIds && options.fileIds.length) payload.file_ids = [...options.fileIds];
    if (options.diskGb) payload.disk_gb = Number(options.diskGb);
    if (options.jobTimeout != null) payload.timeout = Math.max(1, Math.ceil(options.jobTimeout / 1000));
    if (options.jobIdleTimeout != null) {
      payload.idle_timeout = Math.max(1, Math.ceil(options.jobIdleTimeout / 1000));
    }
    return this._request('POST', '/mags-jobs', { body: payload });
  }

  /** Poll status until it is one of states or terminal; backs off from 50 ms to pollInterval. */
  async _wait(requestId, states, timeout, pollInterval) {
    const deadline = timeout != null ? Date.now() + timeout : null;
    let pause = Math.min(50, pollInterval);
    for (;;) {
      const st = await this.status(requestId);
      if (states.includes(st.status) || TERMINAL_STATUSES.includes(st.status)) return st;
      const now = Date.now();
      if (deadline !== null && now >= deadline) {
        throw new MagsError(`job ${requestId} is still ${st.status} after ${timeout} ms`, null,
          { requestId });
      }
      await sleep(deadline === null ? pause : Math.min(pause, Math.max(0, deadline - now)));
      pause = Math.min(pause * 2, pollInterval);
    }
  }

  /**
   * Submit and block until the job ends. Extra options: timeout (ms; default:
   * none, the server's job timeout bounds it; on expiry the job is stopped
   * unless persistent and the promise rejects with MagsError), pollInterval
   * (ms, longest pause between polls, default 1000).
   * Resolves to the status object plus `logs` (array of {message, source, timestamp}).
   */
  async runAndWait(script, options = {}) {
    const { timeout, pollInterval = 1000, ...runOpts } = options;
    const job = await this.run(script, runOpts);
    const rid = job.request_id;
    let st;
    try {
      st = await this._wait(rid, TERMINAL_STATUSES, timeout, pollInterval);
    } catch (e) {
      if (e instanceof MagsError && e.requestId === rid && e.statusCode === null && !runOpts.persistent) {
        try { await this._request('POST', `/mags-jobs/${seg(rid)}/stop`); } catch (_) { /* best effort */ }
      }
      throw e;
    }
    const logs = await this.logs(rid);
    return { ...st, logs: logs.logs || [] };
  }

  /** Follow a job's logs: a LogStream (async iterable of log objects). options: idleTimeout (ms). */
  streamLogs(requestId, options = {}) {
    return new LogStream(this, requestId, options);
  }

  /** run() + streamLogs(): resolves to a LogStream over the new job's output. */
  async runStream(script, options = {}) {
    const { idleTimeout, ...runOpts } = options;
    const job = await this.run(script, runOpts);
    return this.streamLogs(job.request_id, { idleTimeout });
  }

  /**
   * Create a VM sandbox and wait until it is running. options: persistent
   * (default false: local disk only), baseWorkspaceId, diskGb, timeout (ms,
   * default 30000), pollInterval (ms, default 1000), jobIdleTimeout (ms idle
   * before it sleeps). Resolves to the job's status once 'running'.
   */
  async new(name, options = {}) {
    const result = await this.run('sleep infinity', {
      name,
      workspaceId: name,
      persistent: true,
      noSync: !options.persistent,
      baseWorkspaceId: options.baseWorkspaceId,
      diskGb: options.diskGb,
      jobIdleTimeout: options.jobIdleTimeout,
    });
    const rid = result.request_id;
    const st = await this._wait(rid, ['running'], options.timeout != null ? options.timeout : 30000,
      options.pollInterval || 1000);
    if (st.status !== 'running') {
      throw new MagsError(`VM creation failed: ${st.error_message || st.status || 'Unknown error'}`,
        null, { requestId: rid, body: st });
    }
    return st;
  }

  async *_jobs(maxPages = 100) {
    for (let page = 1; page <= maxPages; page++) {
      const res = await this.list({ page, pageSize: 100 });
      const jobs = Array.isArray(res.jobs) ? res.jobs : [];
      for (const j of jobs) yield j;
      if (jobs.length < 100 || (typeof res.total === 'number' && page * 100 >= res.total)) return;
    }
  }

  async _find(nameOrId, liveOnly) {
    if (!['', '.', '..'].includes(nameOrId)) {
      let job = null;
      try {
        job = await this.status(nameOrId);
      } catch (e) {
        if (!(e instanceof MagsError) || (e.statusCode !== 404 && e.statusCode !== 400)) throw e;
      }
      // The server resolves names too, a live job first: a name that
      // resolved to a finished job has no live one.
      if (job) {
        if (!liveOnly || job.request_id === nameOrId || LIVE_STATUSES.includes(job.status)) return job;
        return null;
      }
    }
    let fallback = null;
    for await (const job of this._jobs()) {
      if (job.name !== nameOrId && job.workspace_id !== nameOrId) continue;
      if (LIVE_STATUSES.includes(job.status)) return withAliases(job);
      if (!fallback && !liveOnly) fallback = job;
    }
    return fallback ? withAliases(fallback) : null;
  }

  /**
   * Find a job by request ID (any status), or the newest accepted/running/sleeping
   * job with that name or workspace. Resolves to the job or null.
   */
  async findJob(nameOrId) {
    return this._find(nameOrId, true);
  }

  /** Request ID for an ID, name or workspace: a live job first, else the newest of that name (like the CLI). */
  async _resolve(nameOrId) {
    const job = await this._find(nameOrId, false);
    if (!job) {
      throw new MagsError(`no job with id or name ${JSON.stringify(nameOrId)}`, 404, { code: 'not_found' });
    }
    return job.request_id;
  }

  /**
   * Run a command on an existing sandbox (POST /mags-jobs/{id}/exec).
   * options: timeout (ms), env (object). Resolves to {exit_code, output, stdout, stderr, duration_ms, ...}.
   */
  async exec(nameOrId, command, options = {}) {
    const rid = await this._resolve(nameOrId);
    const body = { command };
    if (options.timeout != null) body.timeout = Math.max(1, Math.ceil(options.timeout / 1000));
    if (options.env) body.env = { ...options.env };
    const httpTimeout = options.timeout != null ? options.timeout + this.timeout : Math.max(this.timeout, 600000);
    return this._request('POST', `/mags-jobs/${seg(rid)}/exec`, { body, timeout: httpTimeout });
  }

  /**
   * Run a command on an existing sandbox and stream its output
   * (POST /mags-jobs/{id}/exec?stream=1). Resolves to an ExecStream: an async
   * iterable of {stream: 'stdout'|'stderr', data} chunks; afterwards `result`
   * holds the final object ({exit_code, duration_ms, ...}) and `exitCode` its code.
   * options: timeout (ms), env.
   */
  async execStream(nameOrId, command, options = {}) {
    const rid = await this._resolve(nameOrId);
    const body = { command };
    if (options.timeout != null) body.timeout = Math.max(1, Math.ceil(options.timeout / 1000));
    if (options.env) body.env = { ...options.env };
    const controller = new AbortController();
    const res = await this._fetch('POST', `/mags-jobs/${seg(rid)}/exec`, {
      body, query: { stream: '1' }, signal: controller.signal,
      accept: 'application/x-ndjson, application/json',
    });
    return new ExecStream(res, rid, controller);
  }

  /** Stop a running job (by request ID, name or workspace); resolves to the job. */
  async stop(nameOrId) {
    const rid = await this._resolve(nameOrId);
    return this._request('POST', `/mags-jobs/${seg(rid)}/stop`);
  }

  /** Enable public URL access to a port of a job (default 8080): {url, ...}. */
  async url(nameOrId, port = 8080) {
    return this.enableAccess(await this._resolve(nameOrId), port);
  }

  /**
   * Resize a workspace's disk and resolve to a sandbox running on it: stop
   * the workspace's live job if any (and wait 1 s), POST
   * /mags-workspaces/{ws}/resize {disk_gb}, then new(workspace, {diskGb})
   * (synced or local-disk only as the stopped job was; synced when none
   * ran). A server without that endpoint, or a workspace it does not know
   * yet (404/405), gets the original SDKs' way: new(workspace, {persistent:
   * true, diskGb}). options: timeout, pollInterval (ms).
   */
  async resize(workspace, diskGb, options = {}) {
    const existing = await this.findJob(workspace);
    let persistent = true;
    if (existing && LIVE_STATUSES.includes(existing.status)) {
      persistent = Boolean(existing.persistent) && !existing.no_sync;
      await this._request('POST', `/mags-jobs/${seg(existing.request_id)}/stop`);
      await sleep(1000);
    }
    try {
      await this._request('POST', `/mags-workspaces/${seg(workspace)}/resize`, {
        body: { disk_gb: Number(diskGb) }, timeout: Math.max(this.timeout, 300000),
      });
    } catch (e) {
      if (!(e instanceof MagsError) || (e.statusCode !== 404 && e.statusCode !== 405)) throw e;
      persistent = true;
    }
    return this.new(workspace, { persistent, diskGb, timeout: options.timeout, pollInterval: options.pollInterval });
  }

  /** The job (GET /mags-jobs/{id}/status). */
  async status(requestId) {
    return this._request('GET', `/mags-jobs/${seg(requestId)}/status`);
  }

  /** The job's logs so far: {logs: [{message, source, timestamp}]}. */
  async logs(requestId) {
    return this._request('GET', `/mags-jobs/${seg(requestId)}/logs`);
  }

  /** Recent jobs, newest first: {jobs, page, page_size, total}. options: page, pageSize. */
  async list(options = {}) {
    return this._request('GET', '/mags-jobs', { query: { page: options.page, page_size: options.pageSize } });
  }

  /** Same as list(). */
  async listJobs(options = {}) {
    return this.list(options);
  }

  /** Update job settings: opts noSleep, startupCommand, idleTimeout (seconds; null:
   * the server's) (PATCH /mags-jobs/{id}). */
  async updateJob(requestId, opts = {}) {
    return this._request('PATCH', `/mags-jobs/${seg(requestId)}`, { body: snakeKeys(opts) });
  }

  /** Enable URL or SSH access: port 22 gives {ssh_host, ssh_port, ssh_private_key, sshHost, ...}, others {url}. */
  async enableAccess(requestId, port = 22) {
    return this._request('POST', `/mags-jobs/${seg(requestId)}/access`, { body: { port } });
  }

  /** Sync the job's workspace now without stopping the VM. */
  async sync(requestId) {
    return this._request('POST', `/mags-jobs/${seg(requestId)}/sync`);
  }

  /** Who the token belongs to: {user, user_id, token_id}. */
  async whoami() {
    return this._request('GET', '/whoami');
  }

  // ---- files ----------------------------------------------------------

  /** Upload a file (multipart POST /mags-files, field "file"); resolves to its file ID. */
  async uploadFile(filePath) {
    const name = path.basename(filePath);
    const blob = typeof fs.openAsBlob === 'function'
      ? await fs.openAsBlob(filePath)
      : new Blob([await fs.promises.readFile(filePath)]);
    const form = new FormData();
    form.append('file', blob, name);
    const timeout = Math.max(this.timeout, 300000);
    const res = await this._fetch('POST', '/mags-files', { rawBody: form, timeout });
    const result = parseBody(await res.text());
    let id = result.file_id || result.id;
    if (!id && Array.isArray(result.file_ids) && result.file_ids.length) {
      id = result.file_ids[0];
      if (id && typeof id === 'object') id = id.file_id || id.id;
    }
    if (!id && Array.isArray(result.files) && result.files.length) {
      const f = result.files[0];
      id = f && typeof f === 'object' ? (f.file_id || f.id) : f;
    }
    if (typeof id !== 'string' || !id) {
      throw new MagsError(`upload of ${filePath}: no file ID in the answer`, null, { body: result });
    }
    return id;
  }

  /** Upload files (one request each); resolves to their IDs in order. */
  async uploadFiles(paths) {
    const ids = [];
    for (const p of paths) ids.push(await this.uploadFile(p));
    return ids;
  }

  // ---- workspaces -----------------------------------------------------

  async listWorkspaces() {
    return this._request('GET', '/mags-workspaces');
  }

  async deleteWorkspace(workspaceId) {
    return this._request('DELETE', `/mags-workspaces/${seg(workspaceId)}`);
  }

  // ---- URL aliases ----------------------------------------------------

  async urlAliasCreate(subdomain, workspaceId) {
    return this._request('POST', '/mags-url-aliases', { body: { subdomain, workspace_id: workspaceId } });
  }

  async urlAliasList() {
    return this._request('GET', '/mags-url-aliases');
  }

  async urlAliasDelete(subdomain) {
    return this._request('DELETE', `/mags-url-aliases/${seg(subdomain)}`);
  }

  // ---- cron -----------------------------------------------------------

  /** Create a cron job: {name, cronExpression, script, workspaceId?, ...more API fields}. */
  async cronCreate(options = {}) {
    return this._request('POST', '/mags-cron', { body: snakeKeys(options) });
  }

  /** {cron_jobs: [...], cronJobs: [...]} */
  async cronList() {
    return this._request('GET', '/mags-cron');
  }

  async cronGet(id) {
    return this._request('GET', `/mags-cron/${seg(id)}`);
  }

  /** Change a cron job, e.g. cronUpdate(id, {enabled: false}). */
  async cronUpdate(id, opts = {}) {
    return this._request('PATCH', `/mags-cron/${seg(id)}`, { body: snakeKeys(opts) });
  }

  async cronDelete(id) {
    return this._request('DELETE', `/mags-cron/${seg(id)}`);
  }

  // ---- usage ----------------------------------------------------------

  /** Usage stats: {total_jobs, vm_seconds, ...}. options: {windowDays} (default 30) or a number. */
  async usage(options = {}) {
    const days = typeof options === 'number' ? options : (options.windowDays != null ? options.windowDays : 30);
    return this._request('GET', '/mags-usage', { query: { window_days: days } });
  }
}

module.exports = Mags;
module.exports.Mags = Mags;
module.exports.MagsError = MagsError;
module.exports.LogStream = LogStream;
module.exports.ExecStream = ExecStream;
module.exports.DEFAULT_API_URL = DEFAULT_API_URL;
module.exports.default = Mags;
