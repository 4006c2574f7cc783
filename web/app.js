/*
 * mags dashboard: a small dependency-free page app over the public REST API
 * (/api/v1), so it shows nothing the API would not.
 *
 * Signing in exchanges an API token for a session: the browser keeps an
 * HttpOnly cookie that this script cannot read, and this script keeps only
 * the CSRF token (in memory; GET /session gives it back after a reload) and
 * sends it as X-CSRF-Token on every request that changes something.
 *
 * Views are chosen by the URL fragment: #/jobs, #/jobs/<id>, #/workspaces,
 * #/cron, #/tokens, #/usage. /dashboard and /usage.html open the usage view.
 * Every value from the server is put in the page as text (textContent),
 * never as HTML.
 */
'use strict';
(function () {
  const API = '/api/v1';
  const PAGE_SIZE = 25;
  const LOG_LINES_MAX = 5000;
  const TERMINAL = ['completed', 'error', 'stopped'];
  const STATUSES = ['accepted', 'running', 'sleeping', 'completed', 'error', 'stopped'];

  const state = { user: null, csrf: null, timers: [], aborts: [], routeSeq: 0, started: false };

  // ---- small helpers ---------------------------------------------------

  const $ = (sel, root) => (root || document).querySelector(sel);

  /* h('a', {href: '#', class: 'x', onclick: fn}, 'text', child...) */
  function h(tag, attrs) {
    const el = tag === 'svg' || SVG_TAGS.has(tag)
      ? document.createElementNS('http://www.w3.org/2000/svg', tag)
      : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else el.setAttribute(k === 'className' ? 'class' : k, v === true ? '' : String(v));
    }
    for (let i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  const SVG_TAGS = new Set(['g', 'rect', 'line', 'text', 'title', 'desc', 'path']);
  function append(el, kid) {
    if (kid === null || kid === undefined || kid === false) return;
    if (Array.isArray(kid)) { kid.forEach((k) => append(el, k)); return; }
    el.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  function fmtTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  }
  function timeEl(iso) {
    return iso ? h('time', { datetime: iso, title: iso }, fmtTime(iso)) : '—';
  }
  function fmtDuration(ms) {
    if (ms === null || ms === undefined || ms < 0) return '—';
    if (ms < 1000) return Math.round(ms) + ' ms';
    const s = ms / 1000;
    if (s < 60) return s.toFixed(1) + ' s';
    const m = Math.floor(s / 60), hr = Math.floor(m / 60);
    if (hr === 0) return m + 'm ' + Math.floor(s % 60) + 's';
    if (hr < 48) return hr + 'h ' + (m % 60) + 'm';
    return Math.floor(hr / 24) + 'd ' + (hr % 24) + 'h';
  }
  function jobDuration(j) {
    if (j.duration_ms !== null && j.duration_ms !== undefined) return j.duration_ms;
    if (j.started_at && !TERMINAL.includes(j.status)) return Date.now() - Date.parse(j.started_at);
    return null;
  }
  function fmtSeconds(s) {
    if (!s) return '0 s';
    return fmtDuration(s * 1000);
  }
  function fmtBytes(n) {
    if (n === null || n === undefined) return '—';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + ' ' + u[i];
  }
  function badge(status) {
    return h('span', { class: 'badge st-' + String(status).replace(/[^a-z]/g, '') }, status);
  }

  let toastTimer = null;
  function toast(msg) {
    const t = $('#toast');
    t.textContent = msg;
    t.classList.add('show');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => t.classList.remove('show'), 3500);
  }

  /* A modal confirmation; resolves true if confirmed. */
  function confirmDialog(title, text, okLabel) {
    const d = $('#confirm');
    const back = document.activeElement;
    $('#confirm-title').textContent = title;
    $('#confirm-text').textContent = text;
    $('#confirm-ok').textContent = okLabel || 'Delete';
    d.returnValue = '';
    return new Promise((resolve) => {
      d.addEventListener('close', () => {
        if (back && back.focus) back.focus();
        resolve(d.returnValue === 'ok');
      }, { once: true });
      d.showModal();
      $('#confirm-cancel').focus();
    });
  }

  // ---- API -------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, code) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /* The endpoint does not exist on this server (yet): another team's API
   * that has not landed, or an older magsd. */
  function isUnavailable(e) {
    return e instanceof ApiError &&
      ((e.status === 404 && e.code === 'not_found' && /^no route/.test(e.message)) ||
       e.status === 405 || e.status === 501);
  }

  async function api(method, path, body, opts) {
    opts = opts || {};
    const init = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
    if (method !== 'GET' && method !== 'HEAD' && state.csrf) init.headers['X-CSRF-Token'] = state.csrf;
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (opts.signal) init.signal = opts.signal;
    let r;
    try {
      r = await fetch(API + path, init);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'cannot reach the server', 'network');
    }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (r.status === 401 && !opts.noLogin) {
      showLogin('Your session has ended. Sign in again.');
      throw new ApiError(401, (data && data.error) || 'unauthorized', 'unauthorized');
    }
    if (!r.ok) throw new ApiError(r.status, (data && data.error) || r.statusText || 'request failed', data && data.code);
    return data;
  }

  function errorBox(e) {
    return h('div', { class: 'error-box', role: 'alert' }, e && e.message ? e.message : String(e));
  }
  function unavailableBox(what) {
    return h('div', { class: 'panel unavailable', 'data-state': 'unavailable' },
      h('strong', null, what + ' are not available on this server yet.'),
      'This page will work once the server provides the API.');
  }

  // ---- session ---------------------------------------------------------

  function setSession(s) {
    state.user = s.user;
    state.csrf = s.csrf_token || null;
  }

  function safeNext() {
    const n = new URLSearchParams(location.search).get('next');
    return n && n.startsWith('/') && !n.startsWith('//') && !n.startsWith('/\\') ? n : null;
  }

  function cleanup() {
    state.timers.forEach((t) => clearInterval(t));
    state.timers = [];
    state.aborts.forEach((a) => a.abort());
    state.aborts = [];
    state.routeSeq++;
  }

  function showLogin(message) {
    cleanup();
    state.user = null;
    state.csrf = null;
    state.started = false;
    $('#top').hidden = true;
    const main = clear($('#main'));
    const input = h('input', {
      id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false',
      required: true, placeholder: 'mags_…', 'aria-describedby': 'token-help',
    });
    const err = h('div', { id: 'login-error', role: 'alert' });
    if (message) err.appendChild(h('p', { class: 'muted' }, message));
    const button = h('button', { class: 'btn primary', type: 'submit', id: 'signin' }, 'Sign in');
    const form = h('form', { novalidate: true },
      h('div', null, h('label', { for: 'token' }, 'API token'), input,
        h('p', { id: 'token-help', class: 'muted' },
          'Paste an API token (from your administrator, or one you created here). It is exchanged for a browser ' +
          'session and not stored by this page.')),
      err, h('div', null, button));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clear(err);
      const token = input.value.trim();
      if (!token) { err.appendChild(errorBox('Enter an API token.')); input.focus(); return; }
      button.disabled = true;
      try {
        const s = await api('POST', '/session', { token }, { noLogin: true });
        input.value = '';
        setSession(s);
        const next = safeNext();
        if (next && next !== location.pathname) { location.replace(next); return; }
        if (/^\/login/.test(location.pathname)) history.replaceState(null, '', '/' + (location.hash || '#/jobs'));
        start(true);
      } catch (e) {
        err.appendChild(errorBox(e.status === 401 ? 'That token is not valid (unknown or revoked).' : e));
        input.focus();
      } finally {
        button.disabled = false;
      }
    });
    main.appendChild(h('div', { class: 'login panel' },
      h('h1', null, h('img', { src: '/favicon.svg', alt: '', width: 28, height: 28 }), 'Sign in to mags'),
      form));
    input.focus();
  }

  async function logout() {
    try { await api('DELETE', '/session', undefined, { noLogin: true }); } catch (e) { /* signed out anyway */ }
    showLogin('You are signed out.');
  }

  // ---- router ----------------------------------------------------------

  function defaultHash() {
    const p = location.pathname;
    if (p === '/dashboard' || p === '/usage.html' || p === '/usage') return '#/usage';
    if (p === '/tokens') return '#/tokens';
    if (p === '/workspaces') return '#/workspaces';
    if (p === '/cron') return '#/cron';
    return '#/jobs';
  }

  function parseHash() {
    const raw = (location.hash || defaultHash()).replace(/^#/, '');
    const qi = raw.indexOf('?');
    const path = qi >= 0 ? raw.slice(0, qi) : raw;
    return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : '') };
  }

  /* focus: move it to the view's heading (after signing in, the form that
   * had it is gone) */
  function start(focus) {
    state.started = true;
    $('#top').hidden = false;
    $('#who-name').textContent = state.user ? 'Signed in as ' + state.user : '';
    route(!!focus);
  }

  function route(focus) {
    if (!state.started) return;
    cleanup();
    const { parts, params } = parseHash();
    const view = parts[0] || 'jobs';
    document.querySelectorAll('#nav a').forEach((a) => {
      if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
    const main = clear($('#main'));
    const seq = state.routeSeq;
    const views = { jobs: parts[1] ? () => viewJob(main, parts[1], seq) : () => viewJobs(main, params, seq),
      workspaces: () => viewWorkspaces(main, seq), cron: () => viewCron(main, seq),
      tokens: () => viewTokens(main, seq), usage: () => viewUsage(main, params, seq) };
    const fn = views[view];
    if (!fn) {
      main.appendChild(h('div', { class: 'panel empty' }, h('h1', null, 'Not found'), h('a', { href: '#/jobs' }, 'Back to jobs')));
      return;
    }
    fn();
    if (focus) {
      const h1 = $('h1', main);
      if (h1) { h1.setAttribute('tabindex', '-1'); h1.focus(); }
    }
  }

  const live = (seq) => seq === state.routeSeq;

  // ---- jobs ------------------------------------------------------------

  function viewJobs(main, params, seq) {
    const f = { status: params.get('status') || '', q: params.get('q') || '', page: Math.max(1, parseInt(params.get('page') || '1', 10) || 1) };
    const statusSel = h('select', { id: 'status-filter', name: 'status' },
      h('option', { value: '' }, 'All statuses'),
      STATUSES.map((s) => h('option', { value: s, selected: s === f.status }, s)));
    const search = h('input', { id: 'search', type: 'search', name: 'q', value: f.q, placeholder: 'Name, workspace or id', autocomplete: 'off' });
    const body = h('tbody', { id: 'jobs-body' });
    const info = h('span', { class: 'muted', id: 'jobs-info', 'aria-live': 'polite' });
    const prev = h('button', { class: 'btn small', type: 'button', id: 'prev' }, '← Newer');
    const next = h('button', { class: 'btn small', type: 'button', id: 'next' }, 'Older →');
    const msg = h('div');
    let deb = null;
    main.append(
      h('div', { class: 'head' }, h('h1', null, 'Jobs')),
      h('form', { class: 'row', role: 'search', onsubmit: (e) => { e.preventDefault(); clearTimeout(deb); f.q = search.value.trim(); f.page = 1; load(); } },
        h('div', null, h('label', { for: 'status-filter' }, 'Status'), statusSel),
        h('div', { class: 'grow' }, h('label', { for: 'search' }, 'Search'), search)),
      msg,
      h('table', { class: 'list', id: 'jobs-table' },
        h('caption', { class: 'visually-hidden' }, 'Your jobs, newest first'),
        h('thead', null, h('tr', null, ['Status', 'Name', 'Workspace', 'Started', 'Duration', 'Exit code'].map((c) => h('th', { scope: 'col' }, c)))),
        body),
      h('div', { class: 'pager' }, info, prev, next));

    // Keyset paging: cursors[p] is the next_cursor that loads page p + 1,
    // learnt on the way; a page reached without one (a link to ?page=N)
    // asks by page number once, and the cursors continue from there.
    let cursors = [];
    let inflight = null;
    async function load(quiet) {
      if (f.page === 1) cursors = [];
      const cur = f.page > 1 ? cursors[f.page - 1] : null;
      const qs = new URLSearchParams({ page_size: String(PAGE_SIZE) });
      if (cur) qs.set('cursor', cur); else qs.set('page', String(f.page));
      if (f.status) qs.set('status', f.status);
      if (f.q) qs.set('q', f.q);
      const hp = new URLSearchParams();
      if (f.status) hp.set('status', f.status);
      if (f.q) hp.set('q', f.q);
      if (f.page > 1) hp.set('page', String(f.page));
      const want = '#/jobs' + (hp.toString() ? '?' + hp : '');
      if (location.hash !== want) history.replaceState(null, '', want);
      if (inflight) inflight.abort();
      const ctrl = inflight = new AbortController();
      state.aborts.push(ctrl);
      let data;
      try {
        data = await api('GET', '/mags-jobs?' + qs, undefined, { signal: ctrl.signal });
      } catch (e) {
        if (e.name === 'AbortError' || !live(seq)) return;
        clear(msg).appendChild(errorBox(e));
        return;
      }
      if (!live(seq) || ctrl !== inflight) return;
      clear(msg);
      cursors[f.page] = data.next_cursor || null;
      renderRows(data);
      body.dataset.query = qs.toString();   // what is shown (tests wait on it)
      if (!quiet) { /* focus stays where the user is */ }
    }
    function renderRows(data) {
      clear(body);
      if (!data.jobs.length) {
        body.appendChild(h('tr', null, h('td', { colspan: 6, class: 'empty' },
          f.status || f.q ? 'No jobs match.' : 'No jobs yet. Run one with `mags run`.')));
      }
      for (const j of data.jobs) {
        const label = j.name || j.request_id.slice(0, 8);
        body.appendChild(h('tr', { 'data-id': j.request_id },
          h('td', { 'data-label': 'Status' }, badge(j.status)),
          h('td', { 'data-label': 'Name' }, h('a', { href: '#/jobs/' + encodeURIComponent(j.request_id), class: 'job-link' }, label)),
          h('td', { 'data-label': 'Workspace' }, j.workspace_id || '—'),
          h('td', { 'data-label': 'Started' }, timeEl(j.started_at || j.created_at)),
          h('td', { 'data-label': 'Duration', class: 'num' }, fmtDuration(jobDuration(j))),
          h('td', { 'data-label': 'Exit code', class: 'num' }, j.exit_code === null || j.exit_code === undefined ? '—' : String(j.exit_code))));
      }
      const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
      info.textContent = data.total + ' job' + (data.total === 1 ? '' : 's') + ' · page ' + f.page + ' of ' + pages;
      prev.disabled = f.page <= 1;
      next.disabled = !data.next_cursor;
    }
    statusSel.addEventListener('change', () => {
      clearTimeout(deb);
      f.status = statusSel.value; f.q = search.value.trim(); f.page = 1; load();
    });
    search.addEventListener('input', () => {
      clearTimeout(deb);
      deb = setTimeout(() => { f.q = search.value.trim(); f.page = 1; load(); }, 250);
    });
    prev.addEventListener('click', () => { if (f.page > 1) { f.page--; load(); } });
    next.addEventListener('click', () => { f.page++; load(); });
    load();
    state.timers.push(setInterval(() => { if (!document.hidden) load(true); }, 5000));
  }

  async function viewJob(main, id, seq) {
    main.append(h('p', null, h('a', { href: '#/jobs' }, '← All jobs')));
    let job;
    try {
      job = await api('GET', '/mags-jobs/' + encodeURIComponent(id));
    } catch (e) {
      if (!live(seq)) return;
      main.append(e.status === 404 ? h('div', { class: 'panel empty' }, h('h1', null, 'Job not found')) : errorBox(e));
      return;
    }
    if (!live(seq)) return;
    const title = h('h1', null, job.name || ('Job ' + job.request_id.slice(0, 8)));
    const statusSlot = h('span', { id: 'job-status' }, badge(job.status));
    const actions = h('div', { class: 'row' });
    const facts = h('dl', { class: 'facts' });
    const liveTag = h('span', { class: 'live', id: 'live', hidden: true }, 'live');
    const log = h('pre', { class: 'log', id: 'log', role: 'log', 'aria-label': 'Job output', tabindex: '0' });
    const msg = h('div');
    main.append(
      h('div', { class: 'head' }, h('div', { class: 'row' }, title, statusSlot)),
      actions, msg,
      h('section', { class: 'panel', 'aria-labelledby': 'facts-h' }, h('h2', { id: 'facts-h', class: 'visually-hidden' }, 'Details'), facts),
      h('h2', null, 'Output ', liveTag),
      log);

    function renderJob(j) {
      job = j;
      clear(statusSlot).appendChild(badge(j.status));
      clear(facts);
      const add = (k, v) => facts.append(h('dt', null, k), h('dd', null, v));
      add('Request id', h('code', null, j.request_id));
      add('Workspace', j.workspace_id || '—');
      add('Created', timeEl(j.created_at));
      add('Started', timeEl(j.started_at));
      add('Finished', timeEl(j.finished_at));
      add('Duration', h('span', { id: 'job-duration' }, fmtDuration(jobDuration(j))));
      add('Exit code', j.exit_code === null || j.exit_code === undefined ? '—' : String(j.exit_code));
      if (j.error_message) add('Error', j.error_message);
      if (j.script) add('Script', h('pre', { class: 'script' }, j.script));
      clear(actions);
      // public URLs: "url"/"public_url", or "urls": [{"url", "port"}]
      const urls = [j.url, j.public_url].concat((j.urls || []).map((u) => (u && u.url) || u))
        .filter((u) => typeof u === 'string' && /^https?:\/\//.test(u));
      [...new Set(urls)].forEach((url, i) => {
        actions.appendChild(h('a', { class: 'btn', href: url, target: '_blank', rel: 'noopener noreferrer', id: i ? null : 'public-url' },
          urls.length > 1 ? 'Open ' + new URL(url).host + ' ↗' : 'Open public URL ↗'));
      });
      if (!TERMINAL.includes(j.status)) {
        const stop = h('button', { class: 'btn danger', type: 'button', id: 'stop' }, 'Stop job');
        stop.addEventListener('click', async () => {
          stop.disabled = true;
          try {
            const r = await api('POST', '/mags-jobs/' + encodeURIComponent(j.request_id) + '/stop');
            if (!live(seq)) return;
            renderJob(r);
            toast('Job stopped');
          } catch (e) {
            stop.disabled = false;
            clear(msg).appendChild(errorBox(e));
          }
        });
        actions.appendChild(stop);
      }
    }
    renderJob(job);
    // a running job's duration counts up
    state.timers.push(setInterval(() => {
      const d = $('#job-duration');
      if (d && !TERMINAL.includes(job.status)) d.textContent = fmtDuration(jobDuration(job));
    }, 1000));

    let lines = 0;
    function appendLog(rec) {
      const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
      const cls = rec.source === 'stderr' ? 'e' : rec.source === 'stdout' ? null : 's';
      log.appendChild(h('span', { class: cls, title: rec.timestamp || null }, (rec.message || '') + '\n'));
      if (++lines > LOG_LINES_MAX) { log.removeChild(log.firstChild); lines--; }
      if (atBottom) log.scrollTop = log.scrollHeight;
    }

    const ctrl = new AbortController();
    state.aborts.push(ctrl);
    liveTag.hidden = false;
    try {
      const r = await fetch(API + '/mags-jobs/' + encodeURIComponent(id) + '/logs?follow=1',
        { credentials: 'same-origin', cache: 'no-store', signal: ctrl.signal });
      if (r.status === 401) { showLogin('Your session has ended. Sign in again.'); return; }
      if (!r.ok || !r.body) throw new ApiError(r.status, 'could not read the output');
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (!line.trim()) continue;
          let o;
          try { o = JSON.parse(line); } catch (e) { continue; }
          if (o.event === 'end') {
            liveTag.hidden = true;
            try { renderJob(await api('GET', '/mags-jobs/' + encodeURIComponent(id))); } catch (e) { /* keep what we have */ }
          } else {
            appendLog(o);
          }
        }
      }
    } catch (e) {
      if (e.name === 'AbortError' || !live(seq)) return;
      clear(msg).appendChild(errorBox(e));
    }
    if (live(seq)) liveTag.hidden = true;
  }

  // ---- workspaces ------------------------------------------------------

  async function viewWorkspaces(main, seq) {
    main.append(h('div', { class: 'head' }, h('h1', null, 'Workspaces')));
    const slot = h('div');
    main.append(slot);
    async function load() {
      let data;
      try {
        data = await api('GET', '/mags-workspaces');
      } catch (e) {
        if (!live(seq)) return;
        clear(slot).appendChild(isUnavailable(e) ? unavailableBox('Workspaces') : errorBox(e));
        return;
      }
      if (!live(seq)) return;
      clear(slot);
      const list = data.workspaces || [];
      if (!list.length) { slot.appendChild(h('div', { class: 'panel empty' }, 'No workspaces yet. Run a job with `-w NAME` to make one.')); return; }
      const body = h('tbody');
      for (const w of list) {
        const name = w.workspace_id;
        const del = h('button', { class: 'btn small danger', type: 'button', 'aria-label': 'Delete workspace ' + name, 'data-name': name }, 'Delete');
        del.addEventListener('click', async () => {
          const ok = await confirmDialog('Delete workspace?', 'Delete workspace “' + name + '” and all of its stored data? This cannot be undone.', 'Delete workspace');
          if (!ok) return;
          del.disabled = true;
          try {
            await api('DELETE', '/mags-workspaces/' + encodeURIComponent(name));
            toast('Workspace ' + name + ' deleted');
            load();
          } catch (e) {
            del.disabled = false;
            slot.prepend(errorBox(e));
          }
        });
        body.appendChild(h('tr', { 'data-name': name },
          h('td', { 'data-label': 'Name' }, h('strong', null, name)),
          h('td', { 'data-label': 'Size', class: 'num' }, fmtBytes(w.size_bytes) + (w.disk_gb ? ' of ' + w.disk_gb + ' GB' : '')),
          h('td', { 'data-label': 'Last sync' }, w.last_synced_at ? timeEl(w.last_synced_at) : 'never'),
          h('td', { 'data-label': 'Base' }, w.base || '—'),
          h('td', { 'data-label': 'Persistent' }, w.persistent ? 'yes' : 'no'),
          h('td', { 'data-label': 'Jobs', class: 'num' }, w.job_count === undefined ? '—' : String(w.job_count)),
          h('td', { class: 'actions' }, del)));
      }
      slot.appendChild(h('table', { class: 'list', id: 'ws-table' },
        h('caption', { class: 'visually-hidden' }, 'Your workspaces'),
        h('thead', null, h('tr', null, ['Name', 'Size', 'Last sync', 'Base', 'Persistent', 'Jobs', ''].map((c) => h('th', { scope: 'col' }, c || h('span', { class: 'visually-hidden' }, 'Actions'))))),
        body));
    }
    load();
  }

  // ---- cron ------------------------------------------------------------

  async function viewCron(main, seq) {
    main.append(h('div', { class: 'head' }, h('h1', null, 'Cron jobs')));
    const slot = h('div');
    main.append(slot);
    async function load() {
      let data;
      try {
        data = await api('GET', '/mags-cron');
      } catch (e) {
        if (!live(seq)) return;
        clear(slot).appendChild(isUnavailable(e) ? unavailableBox('Cron jobs') : errorBox(e));
        return;
      }
      if (!live(seq)) return;
      clear(slot);
      const list = data.cron_jobs || [];
      if (!list.length) { slot.appendChild(h('div', { class: 'panel empty' }, 'No cron jobs yet. Create one with `mags cron add`.')); return; }
      const body = h('tbody');
      for (const c of list) {
        const toggle = h('button', { class: 'btn small', type: 'button', 'aria-label': (c.enabled ? 'Disable ' : 'Enable ') + c.name }, c.enabled ? 'Disable' : 'Enable');
        toggle.addEventListener('click', async () => {
          toggle.disabled = true;
          try {
            await api('PATCH', '/mags-cron/' + encodeURIComponent(c.id), { enabled: !c.enabled });
            toast('Cron job ' + c.name + (c.enabled ? ' disabled' : ' enabled'));
            load();
          } catch (e) { toggle.disabled = false; slot.prepend(errorBox(e)); }
        });
        const rm = h('button', { class: 'btn small danger', type: 'button', 'aria-label': 'Remove ' + c.name }, 'Remove');
        rm.addEventListener('click', async () => {
          if (!await confirmDialog('Remove cron job?', 'Remove the cron job “' + c.name + '”? Jobs it already ran are kept.', 'Remove')) return;
          rm.disabled = true;
          try {
            await api('DELETE', '/mags-cron/' + encodeURIComponent(c.id));
            toast('Cron job ' + c.name + ' removed');
            load();
          } catch (e) { rm.disabled = false; slot.prepend(errorBox(e)); }
        });
        body.appendChild(h('tr', { 'data-id': c.id },
          h('td', { 'data-label': 'Name' }, h('strong', null, c.name)),
          h('td', { 'data-label': 'Schedule' }, h('code', null, c.cron_expression || c.schedule || ''), ' UTC'),
          h('td', { 'data-label': 'Workspace' }, c.workspace_id || '—'),
          h('td', { 'data-label': 'State' }, c.enabled ? badge('enabled') : badge('disabled')),
          h('td', { 'data-label': 'Next run' }, c.enabled ? timeEl(c.next_run_at) : '—'),
          h('td', { 'data-label': 'Last run' }, timeEl(c.last_run_at), c.last_status ? [' ', badge(c.last_status)] : null,
            c.last_job_id ? [' ', h('a', { href: '#/jobs/' + encodeURIComponent(c.last_job_id) }, 'output')] : null),
          h('td', { class: 'actions' }, toggle, ' ', rm)));
      }
      slot.appendChild(h('table', { class: 'list', id: 'cron-table' },
        h('caption', { class: 'visually-hidden' }, 'Your cron jobs'),
        h('thead', null, h('tr', null, ['Name', 'Schedule', 'Workspace', 'State', 'Next run', 'Last run', ''].map((c) => h('th', { scope: 'col' }, c || h('span', { class: 'visually-hidden' }, 'Actions'))))),
        body));
    }
    load();
  }

  // ---- tokens ----------------------------------------------------------

  async function viewTokens(main, seq) {
    const name = h('input', { id: 'token-name', type: 'text', name: 'name', maxlength: 64, placeholder: 'laptop, CI, …', autocomplete: 'off' });
    const created = h('div', { id: 'token-created', 'aria-live': 'polite' });
    const slot = h('div');
    const form = h('form', { class: 'row', id: 'token-form' },
      h('div', { class: 'grow' }, h('label', { for: 'token-name' }, 'Name for a new token'), name),
      h('div', null, h('button', { class: 'btn primary', type: 'submit', id: 'create-token' }, 'Create token')));
    main.append(h('div', { class: 'head' }, h('h1', null, 'API tokens')),
      h('p', { class: 'muted' }, 'Tokens let the CLI, the SDKs and this dashboard act as you. A new token is shown once.'),
      form, created, slot);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clear(created);
      try {
        const t = await api('POST', '/tokens', { name: name.value.trim() });
        name.value = '';
        const code = h('code', { id: 'new-token' }, t.token);
        const copy = h('button', { class: 'btn small', type: 'button' }, 'Copy');
        copy.addEventListener('click', async () => {
          try { await navigator.clipboard.writeText(t.token); toast('Copied'); } catch (e) {
            const r = document.createRange(); r.selectNodeContents(code);
            const s = getSelection(); s.removeAllRanges(); s.addRange(r);
            toast('Select and copy the token');
          }
        });
        created.appendChild(h('div', { class: 'secret' },
          h('strong', null, 'Copy this token now, it will not be shown again:'), code, copy));
        copy.focus();
        load();
      } catch (e) {
        if (live(seq)) created.appendChild(isUnavailable(e) ? unavailableBox('Tokens') : errorBox(e));
      }
    });
    async function load() {
      let data;
      try {
        data = await api('GET', '/tokens');
      } catch (e) {
        if (!live(seq)) return;
        clear(slot).appendChild(isUnavailable(e) ? unavailableBox('Tokens') : errorBox(e));
        return;
      }
      if (!live(seq)) return;
      clear(slot);
      const body = h('tbody');
      for (const t of data.tokens || []) {
        const label = t.name || '(unnamed)';
        let act = null;
        if (!t.revoked) {
          act = h('button', { class: 'btn small danger', type: 'button', 'aria-label': 'Revoke token ' + label + ' (' + t.id + ')', 'data-id': t.id }, 'Revoke');
          act.addEventListener('click', async () => {
            const text = t.current
              ? 'This is the token of your current session: revoking it signs you out here too.'
              : 'Programs using the token “' + label + '” will be refused from now on.';
            if (!await confirmDialog('Revoke token?', text, 'Revoke')) return;
            act.disabled = true;
            try {
              await api('DELETE', '/tokens/' + encodeURIComponent(t.id));
              toast('Token revoked');
              if (t.current) { showLogin('The token of this session was revoked. Sign in again.'); return; }
              load();
            } catch (e) { act.disabled = false; slot.prepend(errorBox(e)); }
          });
        }
        body.appendChild(h('tr', { 'data-id': t.id },
          h('td', { 'data-label': 'Name' }, h('strong', null, label), t.current ? h('span', { class: 'muted' }, ' (this session)') : null),
          h('td', { 'data-label': 'Id' }, h('code', null, t.id)),
          h('td', { 'data-label': 'Created' }, timeEl(t.created_at)),
          h('td', { 'data-label': 'Last used' }, t.last_used_at ? timeEl(t.last_used_at) : 'never'),
          h('td', { 'data-label': 'State' }, t.revoked ? badge('revoked') : badge('active')),
          h('td', { class: 'actions' }, act)));
      }
      slot.appendChild(h('table', { class: 'list', id: 'tokens-table' },
        h('caption', { class: 'visually-hidden' }, 'Your API tokens'),
        h('thead', null, h('tr', null, ['Name', 'Id', 'Created', 'Last used', 'State', ''].map((c) => h('th', { scope: 'col' }, c || h('span', { class: 'visually-hidden' }, 'Actions'))))),
        body));
    }
    load();
  }

  // ---- usage -----------------------------------------------------------

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  /* A bar chart of days[i][key] as inline SVG (drawn here, no library). */
  function barChart(id, title, days, key, fmt) {
    const W = 720, H = 230, L = 56, R = 10, T = 12, B = 30;
    const vals = days.map((d) => Number(d[key]) || 0);
    const max = niceMax(Math.max(...vals, 0));
    const bw = (W - L - R) / Math.max(1, days.length);
    const y = (v) => T + (H - T - B) * (1 - v / max);
    const svg = h('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-labelledby': id + '-t', id, class: 'chart-svg', 'data-bars': String(days.length) },
      h('title', { id: id + '-t' }, title));
    for (const t of [0, 0.5, 1]) {
      const v = max * t;
      svg.append(h('line', { class: 'axis', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
        h('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt(v)));
    }
    const every = Math.ceil(days.length / 10);
    days.forEach((d, i) => {
      const v = vals[i];
      const x = L + i * bw;
      const bh = Math.max(v > 0 ? 1 : 0, (H - T - B) * v / max);
      svg.append(h('rect', { class: 'bar', x: (x + bw * 0.15).toFixed(1), y: (H - B - bh).toFixed(1), width: (bw * 0.7).toFixed(1), height: bh.toFixed(1), 'data-value': String(v) },
        h('title', null, d.date + ': ' + fmt(v))));
      if (i % every === 0 || i === days.length - 1) {
        svg.append(h('text', { x: (x + bw / 2).toFixed(1), y: H - 10, 'text-anchor': 'middle' }, d.date.slice(5)));
      }
    });
    return h('section', { class: 'chart', 'aria-labelledby': id + '-h' }, h('h2', { id: id + '-h' }, title), svg);
  }

  async function viewUsage(main, params, seq) {
    let days = parseInt(params.get('days') || '7', 10) === 30 ? 30 : 7;
    const seg = h('div', { class: 'seg', role: 'group', 'aria-label': 'Window' });
    const slot = h('div');
    main.append(h('div', { class: 'head' }, h('h1', null, 'Usage'), seg), slot);
    for (const n of [7, 30]) {
      const b = h('button', { type: 'button', 'aria-pressed': String(n === days), id: 'window-' + n }, 'Last ' + n + ' days');
      b.addEventListener('click', () => {
        days = n;
        seg.querySelectorAll('button').forEach((x) => x.setAttribute('aria-pressed', String(x === b)));
        history.replaceState(null, '', '#/usage?days=' + n);
        load();
      });
      seg.append(b);
    }
    async function load() {
      let u;
      try {
        u = await api('GET', '/mags-usage?window_days=' + days);
      } catch (e) {
        if (!live(seq)) return;
        clear(slot).appendChild(isUnavailable(e) ? unavailableBox('Usage statistics') : errorBox(e));
        return;
      }
      if (!live(seq)) return;
      clear(slot);
      const list = u.days || [];
      slot.append(h('div', { class: 'cards' },
        h('div', { class: 'card' }, h('div', { class: 'v', id: 'total-jobs' }, String(u.total_jobs)), h('div', { class: 'k' }, 'jobs')),
        h('div', { class: 'card' }, h('div', { class: 'v' }, fmtSeconds(u.vm_seconds)), h('div', { class: 'k' }, 'sandbox time')),
        u.cpu_seconds !== undefined ? h('div', { class: 'card' }, h('div', { class: 'v' }, fmtSeconds(u.cpu_seconds)), h('div', { class: 'k' }, 'CPU time')) : null,
        u.peak_memory_bytes !== undefined ? h('div', { class: 'card' }, h('div', { class: 'v' }, fmtBytes(u.peak_memory_bytes)), h('div', { class: 'k' }, 'peak memory')) : null));
      if (!list.length) { slot.append(h('div', { class: 'panel empty' }, 'No per-day data.')); return; }
      slot.append(
        barChart('chart-jobs', 'Jobs per day', list, 'jobs', (v) => String(Math.round(v * 10) / 10)),
        barChart('chart-seconds', 'Sandbox seconds per day', list, 'vm_seconds', (v) => v >= 3600 ? (v / 3600).toFixed(1) + ' h' : v >= 60 ? (v / 60).toFixed(0) + ' min' : v.toFixed(0) + ' s'),
        h('details', { class: 'data' }, h('summary', null, 'Show the numbers'),
          h('table', { class: 'list' },
            h('thead', null, h('tr', null, ['Day (UTC)', 'Jobs', 'Sandbox seconds'].map((c) => h('th', { scope: 'col' }, c)))),
            h('tbody', null, list.map((d) => h('tr', null, h('td', { 'data-label': 'Day' }, d.date),
              h('td', { 'data-label': 'Jobs', class: 'num' }, String(d.jobs)),
              h('td', { 'data-label': 'Sandbox seconds', class: 'num' }, (Number(d.vm_seconds) || 0).toFixed(1))))))));
    }
    load();
  }

  // ---- boot ------------------------------------------------------------

  async function boot() {
    $('#logout').addEventListener('click', logout);
    window.addEventListener('hashchange', () => route(true));
    let s;
    try {
      s = await api('GET', '/session', undefined, { noLogin: true });
    } catch (e) {
      if (e.status === 401) { showLogin(); return; }
      clear($('#main')).appendChild(errorBox(e));
      return;
    }
    setSession(s);
    if (new URLSearchParams(location.search).get('logout')) { await logout(); return; }
    const next = safeNext();
    if (next && /^\/login/.test(location.pathname)) { location.replace(next); return; }
    start();
  }

  boot();
})();
