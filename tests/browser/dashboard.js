/*
 * dashboard.js - drives the mags dashboard, and pages served through the
 * public-URL proxy, in headless Chromium (Debian's /usr/bin/chromium
 * through playwright-core, never a downloaded browser) for
 * tests/e2e/test_dashboard*.py and test_proxy_browser.py.
 *
 *   node dashboard.js '<plan JSON>'
 *
 * The plan names a scenario and what it needs ({"scenario", "base",
 * "token", "artifacts", ...}). The last line printed is a JSON result that
 * the Python test asserts on; failures are thrown (exit 1, message on
 * stderr) with a screenshot saved under artifacts when possible.
 *
 * Every request the page makes to a host other than the plan's allowed
 * origins is blocked and reported (the dashboard must make none), and so
 * are page errors and Content-Security-Policy violations.
 */
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const plan = JSON.parse(process.argv[2] || '{}');
const T = plan.timeout_ms || 20000;

async function launch() {
  return chromium.launch({
    executablePath: plan.chromium || '/usr/bin/chromium',
    headless: true,
    // As root, without a network: no sandbox, no GPU, nothing phoning home
    // (playwright gives each launch a fresh --user-data-dir).
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

function origin(u) { return new URL(u).origin; }

async function newPage(browser, result, viewport) {
  const context = await browser.newContext({ viewport: viewport || { width: 1280, height: 860 } });
  const allowed = new Set([origin(plan.base), ...(plan.allowed_origins || [])]);
  result.external = result.external || [];
  result.page_errors = result.page_errors || [];
  result.console_errors = result.console_errors || [];
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith('data:') || allowed.has(origin(u))) return route.continue();
    result.external.push(u);
    return route.abort();
  });
  const page = await context.newPage();
  page.setDefaultTimeout(T);
  page.on('pageerror', (e) => result.page_errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') result.console_errors.push(m.text()); });
  return { context, page };
}

async function shot(page, name) {
  if (!plan.artifacts) return null;
  fs.mkdirSync(plan.artifacts, { recursive: true });
  const p = path.join(plan.artifacts, name + '.png');
  await page.screenshot({ path: p, fullPage: true });
  return p;
}

async function login(page, token) {
  await page.goto(plan.base + (plan.start_path || '/'));
  await page.waitForSelector('#token');
  await page.fill('#token', token || plan.token);
  await page.click('#signin');
  await page.waitForSelector('#top:not([hidden])');
}

const scenarios = {
  /* Any page whose script reports into #out (plan.out_selector): load it,
   * wait until the script has replaced plan.waiting_text, take the text.
   * Used for a sandbox's port through the public-URL proxy. */
  async page(browser, r) {
    const { page } = await newPage(browser, r);
    const sel = plan.out_selector || '#out';
    await page.goto(plan.base);
    await page.waitForFunction(([s, w]) => {
      const e = document.querySelector(s);
      return e && e.textContent !== w;
    }, [sel, plan.waiting_text || 'waiting']);
    r.out = await page.textContent(sel);
  },

  /* Sign in, see the jobs list, look at the cookie from both sides. */
  async login(browser, r) {
    const { context, page } = await newPage(browser, r);
    await page.goto(plan.base + '/');
    await page.waitForSelector('#token');
    r.nav_visible_before_login = await page.isVisible('#top');
    r.login_shot = await shot(page, 'dashboard-login');
    // a wrong token is refused with a message, nothing set
    await page.fill('#token', 'mags_' + '0'.repeat(40));
    await page.click('#signin');
    await page.waitForSelector('#login-error .error-box');
    r.bad_token_message = await page.textContent('#login-error');
    await page.fill('#token', plan.token);
    await page.click('#signin');
    await page.waitForSelector('#jobs-body tr[data-id]');
    if (plan.expect_job) await page.waitForSelector(`#jobs-body tr[data-id="${plan.expect_job}"]`);
    r.rows = await page.$$eval('#jobs-body tr[data-id]', (trs) => trs.map((t) => ({
      id: t.dataset.id, text: t.innerText })));
    r.document_cookie = await page.evaluate(() => document.cookie);
    const cookies = await context.cookies();
    r.cookies = cookies.map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite, secure: c.secure, path: c.path }));
    r.who = await page.textContent('#who-name');
    r.jobs_shot = await shot(page, 'dashboard-jobs');
    // a reload keeps the session (cookie) and gets the CSRF token back
    await page.reload();
    await page.waitForSelector('#jobs-body tr[data-id]');
    r.after_reload_signed_in = await page.isVisible('#top');
    // filters: status and search go to the server
    if (plan.search) {
      await page.fill('#search', plan.search);
      await page.waitForFunction((q) => new URLSearchParams(document.querySelector('#jobs-body').dataset.query || '').get('q') === q, plan.search);
      r.search_rows = await page.$$eval('#jobs-body tr[data-id]', (trs) => trs.map((t) => t.dataset.id));
      await page.fill('#search', '');
    }
    if (plan.status_filter) {
      await page.selectOption('#status-filter', plan.status_filter);
      await page.waitForFunction((s) => {
        const q = new URLSearchParams(document.querySelector('#jobs-body').dataset.query || '');
        return q.get('status') === s && !q.get('q');
      }, plan.status_filter);
      r.status_rows = await page.$$eval('#jobs-body tr[data-id]', (trs) => trs.map((t) => t.dataset.id));
      r.status_badges = await page.$$eval('#jobs-body tr[data-id] .badge', (b) => b.map((x) => x.textContent));
      r.hash_after_filter = await page.evaluate(() => location.hash);
    }
    // sign out: the cookie is gone and the API refuses the old session
    await page.click('#logout');
    await page.waitForSelector('#token');
    r.cookies_after_logout = (await context.cookies()).map((c) => c.name);
    // the original's login.html?logout=1 signs out too, ?next= goes on
    await page.fill('#token', plan.token);
    await page.click('#signin');
    await page.waitForSelector('#jobs-table');
    await page.goto(plan.base + '/login.html?logout=1');
    await page.waitForSelector('#token');
    r.cookies_after_logout_param = (await context.cookies()).map((c) => c.name);
    await page.goto(plan.base + '/login.html?next=/usage.html');
    await page.fill('#token', plan.token);
    await page.click('#signin');
    await page.waitForSelector('#chart-jobs, [data-state="unavailable"]');
    r.after_next = await page.evaluate(() => location.pathname);
    await page.goto(plan.base + '/login.html?next=//evil.example/');
    await page.waitForSelector('#jobs-table');
    r.after_bad_next = await page.evaluate(() => location.href);
  },

  /* Open a running job and watch its output arrive, then stop it. */
  async live(browser, r) {
    const { page } = await newPage(browser, r);
    await login(page);
    await page.goto(plan.base + '/#/jobs/' + plan.job);
    await page.waitForSelector('#log');
    const t0 = Date.now();
    r.seen = [];
    for (const line of plan.expect_lines) {
      await page.waitForFunction((l) => document.querySelector('#log').textContent.includes(l), line);
      r.seen.push({ line, at_ms: Date.now() - t0 });
    }
    r.live_visible = await page.isVisible('#live');
    // the job's public URL (once /access made one) is a link on its page
    const link = await page.$('#public-url');
    r.public_url = link ? await link.getAttribute('href') : null;
    r.live_shot = await shot(page, 'dashboard-job-live');
    await page.click('#stop');
    await page.waitForFunction(() => document.querySelector('#job-status .badge').textContent === 'stopped');
    await page.waitForSelector('#stop', { state: 'detached' });
    r.status_after_stop = await page.textContent('#job-status');
    await page.waitForSelector('#live', { state: 'hidden' });
    r.live_visible_after_stop = await page.isVisible('#live');
    r.log_text = await page.textContent('#log');
    r.stopped_shot = await shot(page, 'dashboard-job-stopped');
  },

  /* Create a token (shown once), prove it works, revoke it. */
  async tokens(browser, r) {
    const { page } = await newPage(browser, r);
    await login(page);
    await page.goto(plan.base + '/#/tokens');
    await page.waitForSelector('#tokens-table');
    await page.fill('#token-name', plan.name);
    await page.click('#create-token');
    await page.waitForSelector('#new-token');
    r.token = (await page.textContent('#new-token')).trim();
    r.created_shot = await shot(page, 'dashboard-token-created');
    r.whoami_with_new = await page.evaluate(async (t) => (await fetch('/api/v1/whoami', { headers: { Authorization: 'Bearer ' + t } })).status, r.token);
    const row = page.locator('#tokens-table tr', { hasText: plan.name });
    await row.waitFor();
    r.token_id = await row.getAttribute('data-id');
    await row.locator('button', { hasText: 'Revoke' }).click();
    await page.waitForSelector('#confirm[open]');
    await page.click('#confirm-ok');
    await page.waitForFunction((id) => {
      const tr = document.querySelector(`#tokens-table tr[data-id="${id}"]`);
      return tr && tr.innerText.includes('revoked');
    }, r.token_id);
    r.whoami_after_revoke = await page.evaluate(async (t) => (await fetch('/api/v1/whoami', { headers: { Authorization: 'Bearer ' + t } })).status, r.token);
    r.token_shown_again = (await page.content()).split(r.token).length - 1 > 0 &&
      (await page.$('#new-token')) !== null;
    await page.reload();
    await page.waitForSelector('#tokens-table');
    r.token_in_page_after_reload = (await page.content()).includes(r.token);
    r.revoked_shot = await shot(page, 'dashboard-tokens');
  },

  /* Delete a workspace through the confirmation dialog (or see the
   * graceful state when the server has no workspaces API). */
  async workspaces(browser, r) {
    const { page } = await newPage(browser, r);
    await login(page);
    await page.goto(plan.base + '/#/workspaces');
    await page.waitForSelector('#ws-table, [data-state="unavailable"], .panel.empty');
    if (await page.$('[data-state="unavailable"]')) {
      r.unavailable = true;
      r.shot = await shot(page, 'dashboard-workspaces');
      return;
    }
    r.names = await page.$$eval('#ws-table tr[data-name]', (trs) => trs.map((t) => t.dataset.name));
    r.shot = await shot(page, 'dashboard-workspaces');
    if (!plan.delete) return;
    const sel = `#ws-table tr[data-name="${plan.delete}"]`;
    await page.click(sel + ' button');
    await page.waitForSelector('#confirm[open]');
    r.dialog_text = await page.textContent('#confirm-text');
    // cancelling keeps it
    await page.click('#confirm-cancel');
    await page.waitForFunction(() => !document.querySelector('#confirm').open);
    r.still_there_after_cancel = (await page.$(sel)) !== null;
    await page.click(sel + ' button');
    await page.waitForSelector('#confirm[open]');
    await page.click('#confirm-ok');
    await page.waitForSelector(sel, { state: 'detached' });
    r.deleted = true;
  },

  /* Cron: see next/last run, disable, enable, remove. */
  async cron(browser, r) {
    const { page } = await newPage(browser, r);
    await login(page);
    await page.goto(plan.base + '/#/cron');
    await page.waitForSelector('#cron-table, [data-state="unavailable"], .panel.empty');
    if (await page.$('[data-state="unavailable"]')) { r.unavailable = true; return; }
    const sel = `#cron-table tr[data-id="${plan.cron_id}"]`;
    await page.waitForSelector(sel);
    r.row_text = await page.innerText(sel);
    r.shot = await shot(page, 'dashboard-cron');
    await page.click(sel + ' button:has-text("Disable")');
    await page.waitForSelector(sel + ' button:has-text("Enable")');
    r.disabled_text = await page.innerText(sel);
    await page.click(sel + ' button:has-text("Enable")');
    await page.waitForSelector(sel + ' button:has-text("Disable")');
    await page.click(sel + ' button:has-text("Remove")');
    await page.waitForSelector('#confirm[open]');
    await page.click('#confirm-ok');
    await page.waitForSelector(sel, { state: 'detached' });
    r.removed = true;
  },

  /* The usage page (at /dashboard, the original's link): two charts. */
  async usage(browser, r) {
    const { page } = await newPage(browser, r);
    plan.start_path = '/dashboard';
    await login(page);
    await page.waitForSelector('#chart-jobs, [data-state="unavailable"]');
    if (await page.$('[data-state="unavailable"]')) { r.unavailable = true; r.shot = await shot(page, 'dashboard-usage'); return; }
    r.path = await page.evaluate(() => location.pathname + location.hash);
    r.bars7 = await page.$$eval('#chart-jobs rect.bar', (b) => b.length);
    r.values7 = await page.$$eval('#chart-jobs rect.bar', (b) => b.map((x) => Number(x.dataset.value)));
    r.seconds7 = await page.$$eval('#chart-seconds rect.bar', (b) => b.map((x) => Number(x.dataset.value)));
    r.total_jobs = await page.textContent('#total-jobs');
    r.shot = await shot(page, 'dashboard-usage');
    await page.click('#window-30');
    await page.waitForFunction(() => document.querySelectorAll('#chart-jobs rect.bar').length === 30);
    r.bars30 = await page.$$eval('#chart-jobs rect.bar', (b) => b.length);
    // readable on a phone: no horizontal scrolling
    await page.setViewportSize({ width: 390, height: 844 });
    r.phone_overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    r.phone_shot = await shot(page, 'dashboard-usage-phone');
    await page.goto(plan.base + '/#/jobs');
    await page.waitForSelector('#jobs-table');
    r.phone_jobs_overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    r.phone_jobs_shot = await shot(page, 'dashboard-jobs-phone');
  },

  /* A server without the workspaces, cron and usage APIs (an older
   * magsd): simulated by answering them as magsd answers unknown routes.
   * Each page says "not available" instead of breaking. */
  async unavailable(browser, r) {
    const { context, page } = await newPage(browser, r);
    for (const p of ['mags-workspaces', 'mags-cron', 'mags-usage']) {
      await context.route(new RegExp('/api/v1/' + p + '(\\?.*)?$'), (route) => route.fulfill({
        status: 404, contentType: 'application/json',
        body: JSON.stringify({ error: "no route for GET '/api/v1/" + p + "'", code: 'not_found' }),
      }));
    }
    await login(page);
    r.pages = {};
    for (const v of ['workspaces', 'cron', 'usage']) {
      await page.goto(plan.base + '/#/' + v);
      await page.waitForSelector('[data-state="unavailable"]');
      r.pages[v] = await page.innerText('[data-state="unavailable"]');
    }
    r.shot = await shot(page, 'dashboard-unavailable');
  },

  /* Keyboard only: sign in and reach a nav link with Tab. */
  async keyboard(browser, r) {
    const { page } = await newPage(browser, r);
    await page.goto(plan.base + '/');
    await page.waitForSelector('#token');
    r.focused_on_load = await page.evaluate(() => document.activeElement.id);
    await page.keyboard.type(plan.token);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#top:not([hidden])');
    // after signing in, focus is on the view's heading
    await page.waitForFunction(() => document.activeElement && document.activeElement.tagName === 'H1');
    r.focused_after_login = await page.evaluate(() => document.activeElement.textContent);
    // from the top of a fresh page: skip link, brand, the nav links
    await page.reload();
    await page.waitForSelector('#jobs-table');
    const seen = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      seen.push(await page.evaluate(() => {
        const a = document.activeElement;
        return (a.tagName + ':' + (a.textContent || a.id || '')).trim().slice(0, 40);
      }));
    }
    r.tab_order = seen;
    // Enter on the Tokens link opens the view
    await page.focus('#nav a[data-view="tokens"]');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#tokens-table');
    r.hash = await page.evaluate(() => location.hash);
  },

  /* A page on another loopback port posts a form (and tries a fetch) to
   * magsd while the browser holds a session cookie. */
  async cross_site(browser, r) {
    const { context, page } = await newPage(browser, r);
    await login(page);
    r.attacks = [];
    for (const attack of plan.attack_pages) {
      const p2 = await context.newPage();
      p2.setDefaultTimeout(T);
      const nav = p2.waitForNavigation({ url: (u) => u.href.startsWith(plan.base + '/api/'), timeout: T });
      await p2.goto(attack);
      const resp = await nav;
      const a = { page: attack, form_status: resp ? resp.status() : null, form_body: await p2.textContent('body') };
      // and a script on that page trying fetch with credentials
      await p2.goto(attack.replace('form.html', 'blank.html'));
      a.fetch = await p2.evaluate(async (u) => {
        try {
          const res = await fetch(u + '/api/v1/mags-jobs', { method: 'POST', credentials: 'include',
            headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ script: 'echo pwned-fetch' }) });
          return 'status ' + res.status;
        } catch (e) { return 'blocked: ' + e.name; }
      }, plan.base);
      a.simple_fetch = await p2.evaluate(async (u) => {
        try {
          const res = await fetch(u + '/api/v1/mags-jobs', { method: 'POST', credentials: 'include', mode: 'no-cors',
            headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ script: 'echo pwned-nocors' }) });
          return 'opaque ' + res.type;
        } catch (e) { return 'blocked: ' + e.name; }
      }, plan.base);
      r.attacks.push(a);
      await p2.close();
    }
  },

  /* A user with thousands of jobs: the first page, paging forward with
   * the cursors (each page new rows), back, and a search. Times are what
   * the page waited for each list (request + render). */
  async many(browser, r) {
    const { page } = await newPage(browser, r);
    const shown = () => page.$$eval('#jobs-body tr[data-id]', (trs) => trs.map((t) => t.dataset.id));
    const waitQuery = (prevQuery) => page.waitForFunction(
      (pq) => { const b = document.querySelector('#jobs-body'); return b && b.dataset.query && b.dataset.query !== pq; }, prevQuery);
    const query = () => page.evaluate(() => document.querySelector('#jobs-body').dataset.query || '');
    let t0 = Date.now();
    await login(page);
    await page.waitForSelector('#jobs-body tr[data-id]');
    r.first_ms = Date.now() - t0;
    r.info_first = await page.textContent('#jobs-info');
    r.pages = [await shown()];
    r.queries = [await query()];
    r.page_ms = [];
    for (let i = 1; i < (plan.forward || 5); i++) {
      const q = await query();
      t0 = Date.now();
      await page.click('#next');
      await waitQuery(q);
      r.page_ms.push(Date.now() - t0);
      r.pages.push(await shown());
      r.queries.push(await query());
    }
    r.info_forward = await page.textContent('#jobs-info');
    r.hash_forward = await page.evaluate(() => location.hash);
    await page.evaluate(() => window.scrollTo(0, 0));   // the header is sticky
    r.forward_shot = await shot(page, 'dashboard-many-paged');
    let q = await query();
    await page.click('#prev');
    await waitQuery(q);
    r.back_rows = await shown();
    r.info_back = await page.textContent('#jobs-info');
    if (plan.search) {
      q = await query();
      t0 = Date.now();
      await page.fill('#search', plan.search);
      await page.waitForFunction((s) => new URLSearchParams(document.querySelector('#jobs-body').dataset.query || '').get('q') === s, plan.search);
      r.search_ms = Date.now() - t0;   // includes the 250 ms typing debounce
      r.search_rows = await shown();
      r.info_search = await page.textContent('#jobs-info');
      r.search_shot = await shot(page, 'dashboard-many-search');
    }
    // a link to a deep page opens it by number and pages on by cursor
    if (plan.deep_page) {
      await page.goto(plan.base + '/#/jobs?page=' + plan.deep_page);
      await page.waitForFunction((n) => / page (\d+) of/.test(document.querySelector('#jobs-info').textContent) &&
        document.querySelector('#jobs-info').textContent.includes(' page ' + n + ' of'), plan.deep_page);
      r.deep_rows = await shown();
      r.deep_next_disabled = await page.isDisabled('#next');
      q = await query();
      if (!r.deep_next_disabled) {
        await page.click('#next');
        await waitQuery(q);
        r.deep_after_rows = await shown();
        r.deep_after_query = await query();
      }
    }
  },

  /* Another user signs in: none of the first user's objects show. */
  async isolation(browser, r) {
    const { page } = await newPage(browser, r);
    await login(page);
    await page.waitForSelector('#jobs-table');
    await page.waitForFunction(() => !document.querySelector('#jobs-info') || document.querySelector('#jobs-info').textContent !== '');
    r.rows = await page.$$eval('#jobs-body tr[data-id]', (trs) => trs.map((t) => t.dataset.id));
    r.page_text = await page.innerText('main');
    await page.goto(plan.base + '/#/jobs/' + plan.other_job);
    await page.waitForSelector('main h1');
    r.other_job_page = await page.innerText('main');
    await page.goto(plan.base + '/#/tokens');
    await page.waitForSelector('#tokens-table');
    r.token_ids = await page.$$eval('#tokens-table tr[data-id]', (trs) => trs.map((t) => t.dataset.id));
    await page.goto(plan.base + '/#/workspaces');
    await page.waitForSelector('#ws-table, [data-state="unavailable"], .panel.empty');
    r.ws_text = await page.innerText('main');
    r.shot = await shot(page, 'dashboard-other-user');
  },
};

(async () => {
  const fn = scenarios[plan.scenario];
  if (!fn) throw new Error('unknown scenario ' + plan.scenario);
  const browser = await launch();
  const r = { scenario: plan.scenario };
  try {
    await fn(browser, r);
  } catch (e) {
    try {
      const pages = browser.contexts().flatMap((c) => c.pages());
      if (pages.length) r.failure_shot = await shot(pages[pages.length - 1], 'failure-' + plan.scenario);
    } catch (e2) { /* best effort */ }
    process.stderr.write('scenario ' + plan.scenario + ' failed: ' + (e.stack || e) + '\n' + JSON.stringify(r) + '\n');
    await browser.close();
    process.exit(1);
  }
  await browser.close();
  process.stdout.write(JSON.stringify(r) + '\n');
})();
