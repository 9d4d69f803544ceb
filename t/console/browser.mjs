// Drives the console (webhook_console) in headless Chromium through every flow,
// checking each through the API too. Run by t/console/browser.t, which starts
// nginx and the receiver and passes, in the environment:
//   WEBHOOK_NPM_DIR  t/npm (puppeteer-core)      CHROMIUM      the browser
//   CONSOLE_URL      http://127.0.0.1:P/console/ API_URL       http://127.0.0.1:P/v1/
//   ADMIN_KEY        the admin key              RECEIVER_URL  http://127.0.0.1:R
//   ARTIFACTS_DIR    where screenshots go        RESULTS_FILE  JSON for browser.t's own checks
// Prints one JSON line per check: {"ok":true|false,"name":…,"diag":…}.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const env = process.env;
const require = createRequire(path.join(env.WEBHOOK_NPM_DIR, 'package.json'));
const puppeteer = require('puppeteer-core');

const CONSOLE = env.CONSOLE_URL;
const ORIGIN = new URL(CONSOLE).origin;
const API = env.API_URL;
const ADMIN = env.ADMIN_KEY;
const RECV = env.RECEIVER_URL;
const ART = env.ARTIFACTS_DIR;
const results = {};

// --- reporting ------------------------------------------------------------------------

function check(ok, name, diag) {
  process.stdout.write(JSON.stringify({ ok: !!ok, name, diag: ok ? undefined : diag }) + '\n');
  return !!ok;
}
function eq(got, want, name) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  return check(g === w, name, `got ${g}, want ${w}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- the API, as the test sees it -------------------------------------------------------

async function api(method, p, body, key = ADMIN) {
  const headers = { Authorization: 'Bearer ' + key };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(API + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let json = null;
  try { json = await res.json(); } catch (e) { json = null; }
  return { status: res.status, json };
}

async function until(fn, what, timeout = 15000) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(150);
  }
}

// The delivery list of an endpoint (newest first).
async function deliveries(id, q = '') {
  const r = await api('GET', `webhooks/${id}/deliveries${q}`);
  return r.json ? r.json.deliveries : [];
}

// --- the browser ------------------------------------------------------------------------

const browser = await puppeteer.launch({
  executablePath: env.CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage', '--disable-extensions'],
});
// Everything below runs under one deadline: a hung step fails the test, it never hangs it.
const deadline = setTimeout(() => {
  check(false, 'the browser flows finish within 120 s');
  process.exit(1);
}, 120000);

const page = await browser.newPage();
await browser.defaultBrowserContext().overridePermissions(ORIGIN, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
const DESKTOP = { width: 1280, height: 900 };
await page.setViewport(DESKTOP);
page.setDefaultTimeout(10000);

// Anything the CSP refused, any script error, any request off this origin.
const problems = [];
page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) problems.push('console: ' + m.text()); });
page.on('pageerror', (e) => problems.push('page error: ' + e.message));
page.on('request', (r) => { if (!r.url().startsWith(ORIGIN) && !r.url().startsWith('data:')) problems.push('request to ' + r.url()); });
await page.evaluateOnNewDocument(() => {
  document.addEventListener('securitypolicyviolation', (e) => {
    console.error('Refused to ' + e.violatedDirective + ' ' + e.blockedURI);
  });
});

let shots = 0;
// A screenshot at desktop width and at 375 px (the page must not scroll sideways there).
async function shot(name) {
  shots++;
  const base = path.join(ART, String(shots).padStart(2, '0') + '-' + name);
  await page.screenshot({ path: base + '-desktop.png', fullPage: true });
  await page.setViewport({ width: 375, height: 812, deviceScaleFactor: 2 });
  await sleep(50);
  const widths = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(widths[0] <= widths[1], `${name}: readable at 375 px (no sideways scroll)`, `scrollWidth ${widths[0]} > ${widths[1]}`);
  await page.screenshot({ path: base + '-phone.png', fullPage: true });
  await page.setViewport(DESKTOP);
}

const text = (sel) => page.$eval(sel, (e) => e.textContent);
// Clicks `sel` once the page is rendered (aria-busy gone: a page rendered
// again after an action replaces its buttons).
async function ready() { await page.waitForSelector('main:not([aria-busy])'); }
async function tap(sel) {
  await ready();
  await (await page.waitForSelector(sel)).click();
}
async function waitText(sel, t) {
  await page.waitForFunction((s, x) => [...document.querySelectorAll(s)].some((e) => e.textContent.includes(x)), {}, sel, t);
}
async function heading(t) { await waitText('main h2', t); }
// The element matching `sel` whose text is exactly `t`.
async function byText(sel, t) {
  const h = await page.waitForFunction((s, x) => [...document.querySelectorAll(s)].find((e) => e.textContent.trim() === x), {}, sel, t);
  return h.asElement();
}
async function clickText(sel, t) { await (await byText(sel, t)).click(); }
async function fill(sel, value) {
  await page.$eval(sel, (e) => { e.value = ''; });
  await page.type(sel, value);
}
async function noticeSays(t) { await waitText('#notice:not([hidden])', t); }
const dialogOpen = () => page.evaluate(() => !!document.querySelector('dialog[open]'));
// Navigates inside the page; the same address again renders the page afresh.
// Returns once the new page has its heading (the old one's buttons are gone).
async function go(hash) {
  await page.evaluate(() => { const h = document.querySelector('main h2'); if (h) h.dataset.old = ''; });
  if (await page.evaluate(() => location.hash) === hash) await page.reload({ waitUntil: 'networkidle0' });
  else await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForSelector('main h2:not([data-old])');
}

// Runs one flow; an exception fails it (with the page's state) and the run goes on.
async function flow(name, fn) {
  try {
    await fn();
  } catch (e) {
    const main = await page.evaluate(() => document.querySelector('main') && document.querySelector('main').innerText).catch(() => '');
    const note = await page.evaluate(() => document.getElementById('notice').textContent).catch(() => '');
    check(false, `${name}: completes`, `${e.stack}\nnotice: ${note}\npage: ${String(main).slice(0, 800)}`);
    await page.screenshot({ path: path.join(ART, 'failed-' + name.replace(/\W+/g, '-') + '.png') }).catch(() => {});
  }
}

// --- the flows ----------------------------------------------------------------------------

let okId, flakyId, xssId, acmeKey, publisherKey;
const XSS_NAME = '<img src=x onerror="window.__xss=1">';
const XSS_DESC = '<script>window.__xss=2</script><b onmouseover="window.__xss=3">bold</b>';
const XSS_URL = RECV + '/x?q=<img/src=x/onerror=window.__xss=4>';

await flow('page', async () => {
  const res = await page.goto(CONSOLE, { waitUntil: 'networkidle0' });
  eq(res.status(), 200, 'the console loads');
  check((res.headers()['content-security-policy'] || '').includes("script-src 'self'"), 'the page comes with its CSP');
  await heading('Sign in');
  eq(await page.evaluate(() => document.activeElement.id), 'api-key', 'sign-in: the key field has the focus');
  eq(await page.$eval('#api-key', (e) => e.type), 'password', 'sign-in: the key is not shown while typed');
  await shot('sign-in');
});

await flow('sign-in refused', async () => {
  await page.keyboard.type('not-a-key-0000');
  await page.keyboard.press('Enter');
  await waitText('.form-error', 'Sign-in failed');
  const refusal = (await api('GET', 'webhooks', undefined, 'not-a-key-0000')).json.error.message;
  eq(await text('.form-error'), 'Sign-in failed: ' + refusal, 'a refused key: the API\'s message');
  eq(await page.evaluate(() => sessionStorage.length), 0, 'a refused key is not kept');
  await shot('sign-in-refused');
  // A valid key without webhooks:manage cannot sign in either.
  const reader = (await api('POST', 'keys', { resource: 'room:1', scopes: ['read', 'events:publish'] })).json.key;
  const scope = (await api('GET', 'webhooks', undefined, reader)).json.error.message;
  await fill('#api-key', reader);
  await page.keyboard.press('Enter');
  await waitText('.form-error', scope);
  eq(await text('.form-error'), 'Sign-in failed: ' + scope, 'a key without webhooks:manage: the API\'s refusal');
  eq(await page.evaluate(() => sessionStorage.length), 0, 'that key is not kept either');
});

await flow('sign-in admin (keyboard only)', async () => {
  await page.$eval('#api-key', (e) => { e.value = ''; e.focus(); });
  await page.keyboard.type(ADMIN);
  await page.keyboard.press('Enter');
  await heading('Endpoints');
  eq(await page.evaluate((item) => sessionStorage.getItem(item), 'webhook-console-key:' + new URL(API).pathname), ADMIN,
     'the key is kept in sessionStorage, under the name of its API');
  eq(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
  check(!page.url().includes(ADMIN), 'the key is not in the address');
  eq(await page.evaluate(() => document.cookie), '', 'no cookie');
  // Tab from the page's heading: the next control shows where the focus is.
  await page.keyboard.press('Tab');
  const focus = await page.evaluate(() => {
    const e = document.activeElement;
    const s = getComputedStyle(e);
    return { id: e.id, outline: s.outlineStyle, width: s.outlineWidth };
  });
  eq(focus.id, 'new-endpoint', 'Tab reaches "New endpoint"');
  check(focus.outline !== 'none' && focus.width !== '0px', 'the keyboard focus is visible', JSON.stringify(focus));
  await shot('endpoints-empty');
});

await flow('create endpoint (event picker, secret once, copy)', async () => {
  await page.keyboard.press('Enter');   // follows the focused "New endpoint" link
  await page.waitForSelector('#endpoint-form');
  const offered = await page.$$eval('#event-picker input[name="event"]', (l) => l.map((i) => i.value));
  eq(offered, ['*', 'room.on_air', 'room.off_air', 'ticket.sold', 'webhook.endpoint.disabled', 'webhook.endpoint.enabled',
               'webhook.endpoint.failing', 'webhook.delivery.failed'],
     'the picker offers "*", the catalog and the operational types (GET /event-types)');
  eq(await page.$$eval('#operational-picker input[name="event"]', (l) => l.map((i) => i.value)),
     ['webhook.endpoint.disabled', 'webhook.endpoint.enabled', 'webhook.endpoint.failing', 'webhook.delivery.failed'],
     'the operational types are grouped apart');
  check((await text('#event-picker')).includes('Room goes on air'), 'the picker shows the types\' descriptions');
  await fill('#endpoint-form input[name="url"]', RECV + '/ok');
  await fill('#endpoint-form input[name="name"]', 'Studio hooks');
  await fill('#endpoint-form textarea[name="description"]', 'Room events for the studio');
  await tap('#event-picker input[value="room.on_air"]');
  await fill('#event-picker input[name="other-events"]', 'ticket.*');
  await fill('#endpoint-form input[name="timeout"]', '5');
  await shot('endpoint-new');
  await clickText('#endpoint-form button', 'Create endpoint');
  await page.waitForSelector('dialog[open] #secret-value');
  const secret = await page.$eval('#secret-value', (e) => e.value);
  results.created_secret = secret;
  check(/^whsec_/.test(secret), 'the new endpoint\'s secret is shown', secret);
  eq(await page.evaluate(() => document.activeElement.id), 'copy-secret', 'the Copy button has the focus');
  await page.keyboard.press('Enter');
  await waitText('dialog[open] [role="status"]', 'Copied');
  eq(await page.evaluate(() => navigator.clipboard.readText()), secret, 'Copy puts the secret on the clipboard');
  await shot('endpoint-secret-once');
  await page.keyboard.press('Escape');
  await heading('Studio hooks');
  check(!(await dialogOpen()), 'Escape closes the secret dialog');
  check(!(await page.evaluate((s) => document.documentElement.outerHTML.includes(s), secret)), 'the secret is gone from the page');
  okId = await page.$eval('#endpoint-facts dd.mono', (e) => e.textContent);
  const got = await api('GET', 'webhooks/' + okId);
  eq(got.status, 200, 'API: the endpoint exists');
  eq(got.json.events, ['room.on_air', 'ticket.*'], 'API: events from the picker and the free text');
  eq([got.json.name, got.json.description, got.json.timeout, got.json.url, got.json.tenant],
     ['Studio hooks', 'Room events for the studio', 5, RECV + '/ok', 'default'], 'API: the fields as typed');
  check(!JSON.stringify(got.json).includes(secret), 'API: the secret is not shown again');
  await noticeSays('Endpoint created.');
  await shot('endpoint-detail');
});

await flow('API errors are shown', async () => {
  await go('#/endpoints/new');
  await page.waitForSelector('#endpoint-form');
  const before = (await api('GET', 'webhooks')).json.total;
  await fill('#endpoint-form input[name="url"]', 'ftp://example.com/in');
  await tap('#event-picker input[value="*"]');
  await clickText('#endpoint-form button', 'Create endpoint');
  await page.waitForSelector('#endpoint-form .form-error:not([hidden])');
  const direct = await api('POST', 'webhooks', { url: 'ftp://example.com/in', events: ['*'] });
  eq(direct.status, 400, 'API: the same body is refused');
  eq(await text('#endpoint-form .form-error'), direct.json.error.message, 'the form shows the API\'s error message');
  eq((await api('GET', 'webhooks')).json.total, before, 'nothing was created');
  await shot('endpoint-api-error');
});

// Creates an endpoint through the form; returns its id (the secret dialog closed with Done).
async function createEndpoint({ url, name, description, events = [], other = '' }) {
  await go('#/endpoints/new');
  await page.waitForSelector('#endpoint-form');
  await fill('#endpoint-form input[name="url"]', url);
  if (name) await fill('#endpoint-form input[name="name"]', name);
  if (description) await fill('#endpoint-form textarea[name="description"]', description);
  for (const e of events) await tap(`#event-picker input[value="${e}"]`);
  if (other) await fill('#event-picker input[name="other-events"]', other);
  await clickText('#endpoint-form button', 'Create endpoint');
  await page.waitForSelector('dialog[open] #secret-done');
  await tap('#secret-done');
  await page.waitForSelector('#endpoint-facts');
  return page.$eval('#endpoint-facts dd.mono', (e) => e.textContent);
}

await flow('create endpoint that fails', async () => {
  flakyId = await createEndpoint({ url: RECV + '/flaky', name: 'Flaky receiver', events: ['*'] });
  eq((await api('GET', 'webhooks/' + flakyId)).json.events, ['*'], 'API: "*" from the picker');
});

await flow('untrusted text is shown as text', async () => {
  xssId = await createEndpoint({ url: XSS_URL, name: XSS_NAME, description: XSS_DESC, other: 'room.*' });
  const got = (await api('GET', 'webhooks/' + xssId)).json;
  eq([got.name, got.description, got.url], [XSS_NAME, XSS_DESC, XSS_URL], 'API: the markup was stored as given');
  eq(await text('main h2'), XSS_NAME, 'detail: the name is shown literally');
  eq(await text('#endpoint-facts dd.description'), XSS_DESC, 'detail: the description is shown literally');
  await go('#/endpoints');
  await page.waitForSelector('a.endpoint-link');
  const names = await page.$$eval('a.endpoint-link', (l) => l.map((a) => a.textContent));
  check(names.includes(XSS_NAME), 'list: the name is shown literally', JSON.stringify(names));
  eq(await page.evaluate(() => document.querySelectorAll('img, main script, main b').length), 0,
     'no element was made from the markup');
  eq(await page.evaluate(() => window.__xss), undefined, 'no script ran');
  await shot('endpoints-list-untrusted-text');
});

await flow('edit endpoint', async () => {
  await go('#/endpoints/' + okId);
  await page.waitForSelector('#edit-endpoint');
  await tap('#edit-endpoint');
  await page.waitForSelector('#endpoint-form');
  eq(await page.$eval('#endpoint-form input[name="url"]', (e) => e.value), RECV + '/ok', 'edit: the URL is filled in');
  eq(await page.$$eval('#event-picker input[name="event"]:checked', (l) => l.map((i) => i.value)), ['room.on_air'],
     'edit: the catalog types are ticked');
  eq(await page.$eval('#event-picker input[name="other-events"]', (e) => e.value), 'ticket.*', 'edit: the other filters');
  await fill('#endpoint-form input[name="name"]', 'Studio hooks (edited)');
  await tap('#event-picker input[value="ticket.sold"]');
  await shot('endpoint-edit');
  await clickText('#endpoint-form button', 'Save changes');
  await noticeSays('Saved.');
  await heading('Studio hooks (edited)');
  const got = (await api('GET', 'webhooks/' + okId)).json;
  eq([got.name, got.events], ['Studio hooks (edited)', ['room.on_air', 'ticket.sold', 'ticket.*']], 'API: PATCH applied');
});

await flow('disable and enable', async () => {
  await clickText('#toggle-endpoint', 'Disable');
  await noticeSays('Endpoint disabled.');
  await waitText('#endpoint-facts .badge', 'disabled');
  eq((await api('GET', 'webhooks/' + okId)).json.enabled, false, 'API: disabled');
  await shot('endpoint-disabled');
  await clickText('#toggle-endpoint', 'Enable');
  await noticeSays('Endpoint enabled.');
  eq((await api('GET', 'webhooks/' + okId)).json.enabled, true, 'API: enabled again');
});

await flow('send test', async () => {
  await tap('#send-test');
  await noticeSays('Test event sent');
  await until(async () => (await deliveries(okId, '?status=succeeded')).length === 1, 'the test delivery');
  await tap('#refresh-deliveries');
  await waitText('#deliveries tbody', 'succeeded');
  const row = await page.$eval('#deliveries tbody tr', (tr) => [...tr.cells].map((c) => c.textContent));
  eq([row[1], row[2], row[3]], ['webhook.test', 'succeeded', '1'], 'the log shows the test delivery');
  check(/^200 · \d+ ms$/.test(row[4]), 'the log shows the response status and time', row[4]);
});

let flakyDelivery;
await flow('last error, delivery detail, replay', async () => {
  await go('#/endpoints/' + flakyId);
  await page.waitForSelector('#send-test');
  await tap('#send-test');
  await noticeSays('Test event sent');
  const d = await until(async () => (await deliveries(flakyId, '?status=failed'))[0], 'the failed delivery');
  flakyDelivery = d.id;
  const ep = (await api('GET', 'webhooks/' + flakyId)).json;
  check(ep.last_error, 'API: the endpoint has a last_error', JSON.stringify(ep));
  await page.reload({ waitUntil: 'networkidle0' });
  await waitText('#last-error', ep.last_error);
  check((await text('#last-error')).includes(ep.last_error_at.replace('T', ' ').replace('Z', ' UTC')),
        'the endpoint shows last_error and last_error_at');
  await shot('endpoint-last-error');
  await page.select('#delivery-status', 'failed');
  await clickText('#delivery-filter button', 'Show');
  await waitText('#delivery-page', '1 in all');
  eq(await page.$$eval('#deliveries tbody tr', (l) => l.length), 1, 'status filter: the failed delivery only');
  await tap('a.delivery-link');
  await heading('Delivery ' + flakyDelivery);
  const rows = await page.$$eval('#attempts tbody tr', (l) => l.map((tr) => [...tr.cells].map((c) => c.textContent)));
  eq(rows.length, 2, 'detail: both attempts');
  eq(rows.map((r) => r[2]), ['500', '500'], 'detail: each attempt\'s response status');
  check(rows.every((r) => /^\d+ ms$/.test(r[3])), 'detail: each attempt\'s response time', JSON.stringify(rows));
  check(rows.every((r) => r[5].includes('receiver down for maintenance')), 'detail: the response excerpt', JSON.stringify(rows));
  eq(await page.$$eval('#attempts img', (l) => l.length), 0, 'detail: markup in a response excerpt stays text');
  check(rows.every((r) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/.test(r[1])), 'detail: each attempt\'s time', JSON.stringify(rows));
  const payload = JSON.parse(await text('#payload'));
  eq([payload.type, payload.data], ['webhook.test', { webhook_id: flakyId }], 'detail: the payload');
  check(!(await page.$('#delivery-trace')), 'detail: no trace line for an event without trace context');
  await shot('delivery-detail-failed');
  await tap('#replay-delivery');
  await noticeSays('Replay queued');
  await until(async () => (await api('GET', 'deliveries/' + flakyDelivery)).json.status === 'succeeded', 'the replay');
  await tap('#refresh-delivery');
  await waitText('#delivery-facts .badge', 'succeeded');
  eq(await page.$$eval('#attempts tbody tr', (l) => l.length), 3, 'after the replay: a third attempt, answered 200');
  await shot('delivery-detail-replayed');
});

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
let tracedEvent;

await flow('delivery log pagination', async () => {
  for (let i = 0; i < 12; i++) {
    // The first with the publisher's trace context (shown in its detail).
    const r = i > 0 ? await api('POST', 'events', { type: 'room.on_air', data: { n: i } })
      : await fetch(API + 'events', {
        method: 'POST',
        headers: { Authorization: 'Bearer ' + ADMIN, 'Content-Type': 'application/json', traceparent: TRACEPARENT },
        body: JSON.stringify({ type: 'room.on_air', data: { n: i } }),
      });
    if (r.status !== 202) throw new Error('POST /events: ' + r.status);
    if (i === 0) tracedEvent = (await r.json()).id;
  }
  await until(async () => (await deliveries(okId, '?status=succeeded&limit=100')).length === 13, '13 succeeded deliveries');
  const page1 = (await deliveries(okId, '?status=succeeded&limit=10')).map((d) => d.id);
  const page2 = (await deliveries(okId, `?status=succeeded&limit=10&after=${page1[9]}`)).map((d) => d.id);
  await go('#/endpoints/' + okId);
  await page.waitForSelector('#delivery-status');
  await page.select('#delivery-status', 'succeeded');
  await clickText('#delivery-filter button', 'Show');
  await waitText('#delivery-page', '13 in all');
  const ids = () => page.$$eval('#deliveries a.delivery-link', (l) => l.map((a) => decodeURIComponent(a.hash.split('/')[2])));
  eq(await ids(), page1, 'page 1: the newest 10, as the API lists them');
  await shot('delivery-log');
  await tap('#older-deliveries');
  await waitText('#delivery-page', 'Page 2');
  eq(await ids(), page2, 'page 2 (after=): the other 3');
  check(await page.$eval('#older-deliveries', (b) => b.disabled), 'no page after the last');
  await tap('#newer-deliveries');
  await waitText('#delivery-page', 'Page 1');
  eq(await ids(), page1, 'back to page 1');
  const traced = (await deliveries(okId, '?status=succeeded&limit=100')).find((d) => d.event_id === tracedEvent);
  await go('#/deliveries/' + encodeURIComponent(traced.id));
  await heading('Delivery ' + traced.id);
  await waitText('#delivery-trace', TRACEPARENT);
  await go('#/endpoints/' + okId);
  await page.waitForSelector('#delivery-status');
});

await flow('rotate secret', async () => {
  await tap('#rotate-secret');
  await page.waitForSelector('dialog[open].confirm');
  eq(await page.evaluate(() => document.activeElement.textContent), 'Cancel', 'the confirmation focuses Cancel');
  await shot('rotate-confirm');
  await clickText('dialog[open] button', 'Rotate');
  await page.waitForSelector('dialog[open] #secret-value');
  const secret = await page.$eval('#secret-value', (e) => e.value);
  results.rotated_secret = secret;
  check(/^whsec_/.test(secret) && secret !== results.created_secret, 'a new secret is shown once');
  check((await text('dialog[open]')).includes('previous secret keeps signing until'), 'the overlap is explained');
  await shot('rotate-secret-once');
  await tap('#secret-done');
  await noticeSays('Secret rotated.');
  // The delivery browser.t checks against the new secret.
  await tap('#send-test');
  await noticeSays('Test event sent');
  await until(async () => (await deliveries(okId, '?status=succeeded&limit=100')).length === 14, 'the test after the rotation');
});

// --- Ed25519 signing ----------------------------------------------------------------------

let edId;
// The endpoint's page, its signing kind and public keys as shown.
async function signingFacts() {
  return page.evaluate(() => {
    const t = (id) => (document.getElementById(id) ? document.getElementById(id).textContent : null);
    const s = document.getElementById('endpoint-signing');
    return { signing: s && s.dataset.signing, text: t('endpoint-signing'), public_key: t('public-key'),
             previous: t('previous-public-key'), rotation: t('previous-key') };
  });
}
// Sends the endpoint a test event through its page; waits for it to succeed.
async function testSucceeds(id, n) {
  await tap('#send-test');
  await noticeSays('Test event sent');
  await ready();   // the page rendered again: its buttons are new
  await until(async () => (await deliveries(id, '?status=succeeded&limit=100')).length === n, `${n} succeeded deliveries`);
}

await flow('create endpoint (Ed25519)', async () => {
  await go('#/endpoints/new');
  await page.waitForSelector('#endpoint-form');
  eq(await page.$$eval('#signing-picker input[name="signing"]', (l) => l.map((i) => [i.type, i.value, i.checked])),
     [['radio', 'hmac', true], ['radio', 'ed25519', false]], 'the signing choice: HMAC (the default) or Ed25519');
  check((await text('#signing-picker')).includes('public key'), 'the signing choice explains each kind');
  await fill('#endpoint-form input[name="url"]', RECV + '/ed');
  await fill('#endpoint-form input[name="name"]', 'Signed by key');
  await tap('#event-picker input[value="room.off_air"]');
  // By keyboard: the focused radio group moves with the arrow keys.
  await page.focus('#signing-picker input[value="hmac"]');
  await page.keyboard.press('ArrowDown');
  eq(await page.$eval('#signing-picker input:checked', (i) => i.value), 'ed25519', 'the arrow key picks Ed25519');
  await shot('endpoint-new-ed25519');
  await clickText('#endpoint-form button', 'Create endpoint');
  await page.waitForSelector('dialog[open] #secret-value');
  const pk = await page.$eval('#secret-value', (e) => e.value);
  results.ed_public_key = pk;
  check(/^whpk_[A-Za-z0-9+/]{43}=$/.test(pk), 'the dialog shows the public key (whpk_…)', pk);
  eq(await text('#secret-title'), 'Endpoint created', 'the dialog\'s title');
  eq(await text('dialog[open] label'), 'Public key (give it to the receiver)', 'the dialog names the public key');
  const said = await text('dialog[open]');
  check(said.includes('any time') && !said.includes('only this once'), 'a public key is said to be shown any time, not once', said);
  eq(await page.evaluate(() => document.activeElement.id), 'copy-secret', 'the Copy button has the focus');
  await page.keyboard.press('Enter');
  await waitText('dialog[open] [role="status"]', 'Copied');
  eq(await page.evaluate(() => navigator.clipboard.readText()), pk, 'Copy puts the public key on the clipboard');
  await shot('endpoint-public-key');
  await tap('#secret-done');
  await page.waitForSelector('#endpoint-facts');
  edId = await page.$eval('#endpoint-facts dd.mono', (e) => e.textContent);
  const got = (await api('GET', 'webhooks/' + edId)).json;
  eq([got.signing, got.public_key, got.url], ['ed25519', pk, RECV + '/ed'], 'API: an Ed25519 endpoint with the key shown');
  check(!('secret' in got), 'API: no secret in the endpoint');
  const f = await signingFacts();
  eq([f.signing, f.text, f.public_key, f.previous], ['ed25519', 'Ed25519 key pair', pk, null],
     'detail: signing ed25519 and its public key');
  eq(await text('#rotate-secret'), 'Rotate key', 'an Ed25519 endpoint rotates a key');
  await tap('#copy-public-key');
  await waitText('#endpoint-facts [role="status"]', 'Copied');
  eq(await page.evaluate(() => navigator.clipboard.readText()), pk, 'detail: Copy puts the public key on the clipboard');
  await shot('endpoint-ed25519');
  // browser.t checks this delivery against the key shown.
  await testSucceeds(edId, 1);
});

await flow('the list shows each endpoint\'s signing', async () => {
  await go('#/endpoints');
  await page.waitForSelector('a.endpoint-link');
  const shown = await page.$$eval('#main tbody tr', (l) => l.map((tr) =>
    [decodeURIComponent(tr.querySelector('a.endpoint-link').hash.split('/')[2]), tr.querySelector('td[data-label="Signing"]').textContent]));
  const listed = (await api('GET', 'webhooks')).json.webhooks.map((w) => [w.id, w.signing === 'ed25519' ? 'Ed25519' : 'HMAC']);
  eq(shown, listed, 'list: the signing kind of every endpoint, as the API lists them');
  check(shown.some(([id, k]) => id === edId && k === 'Ed25519') && shown.some(([id, k]) => id === okId && k === 'HMAC'),
        'list: both kinds', JSON.stringify(shown));
  await shot('endpoints-signing');
});

await flow('rotate key (Ed25519)', async () => {
  await go('#/endpoints/' + edId);
  await tap('#rotate-secret');
  await page.waitForSelector('dialog[open].confirm');
  check((await text('dialog[open]')).includes('new key pair'), 'the confirmation explains a key rotation');
  eq(await page.evaluate(() => document.activeElement.textContent), 'Cancel', 'the confirmation focuses Cancel');
  await clickText('dialog[open] button', 'Rotate');
  await page.waitForSelector('dialog[open] #secret-value');
  const pk = await page.$eval('#secret-value', (e) => e.value);
  results.ed_rotated_key = pk;
  check(/^whpk_/.test(pk) && pk !== results.ed_public_key, 'the new public key is shown', pk);
  eq(await text('#secret-title'), 'New public key', 'the dialog\'s title');
  check((await text('dialog[open]')).includes(results.ed_public_key), 'the dialog names the previous key');
  await shot('rotate-key');
  await page.keyboard.press('Escape');
  await noticeSays('Key rotated.');
  await ready();
  eq(await page.evaluate(() => document.activeElement.id), 'rotate-secret', 'the focus is back on the button');
  const got = (await api('GET', 'webhooks/' + edId)).json;
  eq([got.public_key, got.previous_public_key], [pk, results.ed_public_key], 'API: the new key and the previous one');
  const f = await signingFacts();
  eq([f.public_key, f.previous], [pk, results.ed_public_key], 'detail: the new public key and the previous one');
  check(f.rotation.includes('until ' + got.previous_secret_expires_at.replace('T', ' ').replace('Z', ' UTC')),
        'detail: until when the previous key signs', f.rotation);
  await shot('endpoint-ed25519-rotating');
  await testSucceeds(edId, 2);
});

await flow('switch signing (Ed25519 to HMAC)', async () => {
  await clickText('#switch-signing', 'Switch to HMAC');
  await page.waitForSelector('dialog[open].confirm');
  check((await text('dialog[open]')).includes('24 hours'), 'the confirmation says both sign for 24 hours');
  eq(await page.evaluate(() => document.activeElement.textContent), 'Cancel', 'the confirmation focuses Cancel');
  await shot('switch-signing-confirm');
  await clickText('dialog[open] button', 'Switch');
  await page.waitForSelector('dialog[open] #secret-value');
  const secret = await page.$eval('#secret-value', (e) => e.value);
  results.ed_switched_secret = secret;
  check(/^whsec_/.test(secret), 'the new HMAC secret is shown', secret);
  check((await text('dialog[open]')).includes('only this once'), 'the secret is said to be shown once');
  await tap('#secret-done');
  await noticeSays('HMAC shared secret');
  await ready();
  check(!(await page.evaluate((s) => document.documentElement.outerHTML.includes(s), secret)), 'the secret is gone from the page');
  const got = (await api('GET', 'webhooks/' + edId)).json;
  eq([got.signing, got.public_key, got.previous_public_key], ['hmac', undefined, results.ed_rotated_key],
     'API: HMAC now, the last key signing beside it');
  const f = await signingFacts();
  eq([f.signing, f.public_key, f.previous], ['hmac', null, results.ed_rotated_key], 'detail: HMAC, and the previous public key');
  eq(await text('#rotate-secret'), 'Rotate secret', 'an HMAC endpoint rotates a secret');
  await shot('endpoint-switched-hmac');
  await testSucceeds(edId, 3);
});

// --- recover ----------------------------------------------------------------------------

let downId;
await flow('recover failed deliveries', async () => {
  // /down fails its first 4 requests (browser.t): two test events, two attempts each.
  downId = (await api('POST', 'webhooks', { url: RECV + '/down', events: ['ticket.sold'], name: 'Down for a while' })).json.id;
  for (let i = 0; i < 2; i++) eq((await api('POST', `webhooks/${downId}/test`)).status, 202, 'API: a test event for /down');
  const failed = await until(async () => {
    const l = await deliveries(downId, '?status=failed');
    return l.length === 2 && l;
  }, 'two failed deliveries');
  await page.emulateTimezone('America/New_York');
  await go('#/endpoints/' + downId);
  await tap('#recover-deliveries');
  await page.waitForSelector('dialog[open] #recover-form');
  eq(await page.evaluate(() => document.activeElement.textContent), 'Cancel', 'the recover dialog focuses Cancel');
  const since0 = await page.$eval('#recover-form input[name="since"]', (e) => [e.type, new Date(e.value).getTime()]);
  eq(since0[0], 'datetime-local', 'since: a local date and time');
  check(Math.abs(since0[1] - (Date.now() - 24 * 3600e3)) < 120e3, 'since: 24 h ago by default', JSON.stringify(since0));
  check(!(await page.$('#recover-disabled')), 'no "disabled" hint for an enabled endpoint');
  await shot('recover-dialog');
  // A window that ends before it starts: the API's message, in the dialog.
  const oldest = Date.parse(failed[failed.length - 1].created_at);
  const sinceLocal = await page.evaluate((t) => {
    const d = new Date(t - 120e3);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }, oldest);
  const sinceUtc = new Date(Math.floor((oldest - 120e3) / 60e3) * 60e3).toISOString().replace('.000Z', 'Z');
  await page.$eval('#recover-form input[name="since"]', (e, v) => { e.value = v; }, sinceLocal);
  await page.$eval('#recover-form input[name="until"]', (e) => { e.value = '2001-01-01T00:00'; });
  await clickText('#recover-form button', 'Recover');
  await page.waitForSelector('#recover-form .form-error:not([hidden])');
  const bad = await api('POST', `webhooks/${downId}/recover`, { since: sinceUtc, until: '2001-01-01T05:00:00Z' });
  eq(bad.status, 400, 'API: until before since is refused');
  eq(await text('#recover-form .form-error'), bad.json.error.message, 'the dialog shows the API\'s message');
  check(await dialogOpen(), 'the dialog stays open to fix it');
  await page.$eval('#recover-form input[name="until"]', (e) => { e.value = ''; });
  await clickText('#recover-form button', 'Recover');
  await noticeSays('2 failed deliveries re-queued');
  check((await text('#notice')).includes('since ' + sinceUtc.replace('T', ' ').replace('Z', ' UTC')),
        'the local time of the form went out as UTC (New York)', await text('#notice'));
  check(!(await text('#notice')).includes('remain'), 'nothing remains');
  await page.emulateTimezone('UTC');
  await ready();
  eq(await page.evaluate(() => document.activeElement.id), 'recover-deliveries', 'the focus is back on Recover');
  const statuses = await page.$$eval('#deliveries tbody tr td[data-label="Status"]', (l) => l.map((c) => c.textContent));
  check(statuses.length === 2 && statuses.every((x) => x === 'pending' || x === 'succeeded'),
        'the list shows the recovered deliveries pending (or already succeeded)', JSON.stringify(statuses));
  await until(async () => (await deliveries(downId, '?status=succeeded')).length === 2, 'the recovered deliveries succeed');
  await tap('#refresh-deliveries');
  await page.waitForFunction(() => [...document.querySelectorAll('#deliveries tbody td[data-label="Status"]')]
    .filter((c) => c.textContent === 'succeeded').length === 2);
  eq(await page.$$eval('#deliveries tbody td[data-label="Attempts"]', (l) => l.map((c) => c.textContent)), ['3', '3'],
     'each recovered delivery: a third attempt');
  await shot('recovered');
});

// max_pending leaves room for one: the first recover takes the oldest, the page says one remains.
await flow('recover in parts (max_pending)', async () => {
  const id = (await api('POST', 'webhooks', { url: RECV + '/down2', events: ['ticket.sold'], tenant: 'slowco', name: 'Slow co' })).json.id;
  for (let i = 0; i < 2; i++) eq((await api('POST', `webhooks/${id}/test`)).status, 202, 'API: a test event for /down2');
  await until(async () => (await deliveries(id, '?status=failed')).length === 2, 'two failed deliveries');
  eq((await api('PUT', 'limits/slowco', { max_pending: 1 })).status, 200, 'API: max_pending 1 for slowco');
  await go('#/endpoints/' + id);
  for (const [n, remain] of [[1, true], [2, false]]) {
    await tap('#recover-deliveries');
    await page.waitForSelector('dialog[open] #recover-form');
    await page.$eval('#notice', (e) => { e.textContent = ''; });   // the previous round's
    await clickText('#recover-form button', 'Recover');
    await noticeSays('1 failed delivery re-queued');
    const said = await text('#notice');
    eq(said.includes('1 more remains: recover again.'), remain, `recover ${n}: ` + (remain ? 'one more remains' : 'nothing remains'));
    if (remain) await shot('recover-remaining');
    await until(async () => (await deliveries(id, '?status=succeeded')).length === n, `${n} recovered`);
  }
});

await flow('recover on a disabled endpoint', async () => {
  await go('#/endpoints/' + downId);
  await clickText('#toggle-endpoint', 'Disable');
  await noticeSays('Endpoint disabled.');
  await tap('#recover-deliveries');
  await page.waitForSelector('dialog[open] #recover-form');
  check(await page.$('#recover-disabled'), 'the dialog says to enable the endpoint first');
  await clickText('#recover-form button', 'Recover');
  await page.waitForSelector('#recover-form .form-error:not([hidden])');
  const since = await page.$eval('#recover-form input[name="since"]', (e) => new Date(e.value).toISOString().replace('.000Z', 'Z'));
  const refused = await api('POST', `webhooks/${downId}/recover`, { since });
  eq([refused.status, refused.json.error.code], [422, 'endpoint_disabled'], 'API: a disabled endpoint is refused');
  eq(await text('#recover-form .form-error'), refused.json.error.message, 'the dialog shows the API\'s 422 message');
  await shot('recover-disabled');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => !document.querySelector('dialog'));
});

await flow('delete endpoint', async () => {
  await go('#/endpoints/' + xssId);
  await page.waitForSelector('#delete-endpoint');
  await tap('#delete-endpoint');
  await page.waitForSelector('dialog[open].confirm');
  await shot('delete-confirm');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => !document.querySelector('dialog'));
  eq((await api('GET', 'webhooks/' + xssId)).status, 200, 'Escape cancels: the endpoint is still there');
  await tap('#delete-endpoint');
  await page.waitForSelector('dialog[open].confirm');
  await clickText('dialog[open] button', 'Delete');
  await heading('Endpoints');
  await noticeSays('Endpoint deleted.');
  eq((await api('GET', 'webhooks/' + xssId)).status, 404, 'API: deleted');
});

await flow('API keys (admin)', async () => {
  await clickText('#nav a', 'API keys');
  await heading('API keys');
  await fill('#key-form input[name="resource"]', 'acme');
  await tap('#scope-picker input[value="webhooks:manage"]');
  await fill('#key-form input[name="label"]', 'acme console');
  // "Expires" is the person's local time: 07:08 in Paris (summer) is 05:08 UTC.
  await page.emulateTimezone('Europe/Paris');
  await page.$eval('#key-form input[name="expires_at"]', (e) => { e.value = '2031-05-06T07:08'; });
  await shot('keys-create');
  await clickText('#key-form button', 'Create key');
  await page.waitForSelector('dialog[open] #secret-value');
  acmeKey = await page.$eval('#secret-value', (e) => e.value);
  results.tenant_key = acmeKey;
  await tap('#copy-secret');
  await waitText('dialog[open] [role="status"]', 'Copied');
  eq(await page.evaluate(() => navigator.clipboard.readText()), acmeKey, 'Copy puts the key on the clipboard');
  await shot('key-once');
  await tap('#secret-done');
  await noticeSays('created');
  await waitText('#key-list', 'acme console');
  const keys = (await api('GET', 'keys?resource=acme')).json.keys;
  eq(keys.map((k) => [k.label, k.scopes, k.expires_at]), [['acme console', ['webhooks:manage'], '2031-05-06T05:08:00Z']],
     'API: the key, with its scope and expiry (local time to UTC)');
  await page.emulateTimezone('UTC');
  check(acmeKey.startsWith(keys[0].prefix), 'the key shown is the one listed');
  check(!JSON.stringify(keys).includes(acmeKey), 'API: the key is not shown again');
  eq((await api('GET', 'webhooks', undefined, acmeKey)).status, 200, 'the new key works');
  // Another key of acme (to revoke as the tenant), and an endpoint of acme's.
  publisherKey = (await api('POST', 'keys', { resource: 'acme', scopes: ['events:publish'], label: 'acme publisher' })).json.key;
  eq((await api('POST', 'webhooks', { url: RECV + '/acme', events: ['*'], tenant: 'acme', name: 'Acme hooks' })).status, 201,
     'API: an endpoint for acme');
  await fill('#key-filter input[name="resource"]', 'acme');
  await clickText('#key-filter button', 'Show');
  await waitText('#key-list', 'acme publisher');
  eq(await page.$$eval('#key-list tbody tr', (l) => l.length), 2, 'the resource filter lists acme\'s keys');
  await shot('keys-list');
});

// A link with a crafted id ("..%2F" decodes to "../" only inside NGINX) must not
// make the page send the key anywhere but api=: such ids are no page at all.
await flow('links cannot leave the API', async () => {
  const seen = [];
  const onRequest = (r) => seen.push(r.url());
  page.on('request', onRequest);
  for (const hash of ['#/deliveries/..%2F..%2Fprobe', '#/endpoints/..%2F..%2Fprobe', '#/endpoints/..%2F..%2Fprobe/edit']) {
    await go(hash);
    await heading('Not found');
  }
  page.off('request', onRequest);
  check(!seen.some((u) => /probe/.test(u)), 'a crafted id in a link is never sent to the API', JSON.stringify(seen));
});

await flow('sign out', async () => {
  await tap('#sign-out');
  await heading('Sign in');
  await noticeSays('Signed out.');
  eq(await page.evaluate(() => sessionStorage.length), 0, 'signing out forgets the key');
  check(await page.$eval('#nav', (e) => e.hidden), 'signed out: no navigation');
});

await flow('tenant key', async () => {
  await go('#/endpoints');
  await page.waitForSelector('#api-key');
  await fill('#api-key', acmeKey);
  await page.keyboard.press('Enter');
  await heading('Endpoints');
  await page.waitForSelector('a.endpoint-link');
  const names = await page.$$eval('a.endpoint-link', (l) => l.map((a) => a.textContent));
  eq(names, ['Acme hooks'], 'a tenant\'s key sees its own endpoints only');
  await shot('tenant-endpoints');
  const id = await createEndpoint({ url: RECV + '/acme2', name: 'Acme second', events: ['ticket.sold'] });
  eq((await api('GET', 'webhooks/' + id)).json.tenant, 'acme', 'an endpoint created with a tenant\'s key is the tenant\'s');
  await go('#/endpoints?tenant=default');
  await heading('Could not load this page');
  const want = (await api('GET', 'webhooks?tenant=default', undefined, acmeKey)).json.error.message;
  eq(await text('main [role="alert"]'), want, 'another tenant: the API\'s refusal is shown');
  await shot('tenant-forbidden');
});

await flow('revoke keys (tenant)', async () => {
  await clickText('#nav a', 'API keys');
  await heading('API keys');
  await waitText('#key-list', 'acme publisher');
  eq(await page.$$eval('#key-list tbody tr', (l) => l.length), 2, 'the tenant lists its own keys');
  const pubId = (await api('GET', 'keys?resource=acme')).json.keys.find((k) => k.label === 'acme publisher').id;
  eq((await api('POST', 'events', { type: 'room.off_air', data: {} }, publisherKey)).status, 202, 'the publisher key works before');
  await tap(`#key-list button[data-key-id="${pubId}"]`);
  await page.waitForSelector('dialog[open].confirm');
  await shot('revoke-confirm');
  await clickText('dialog[open] button', 'Revoke');
  await noticeSays('revoked');
  await page.waitForFunction(() => document.querySelectorAll('#key-list tbody tr').length === 1);
  eq((await api('POST', 'events', { type: 'room.off_air', data: {} }, publisherKey)).status, 401, 'API: the revoked key is refused');
  eq((await api('GET', 'keys/' + pubId)).status, 404, 'API: the key is gone');
  // The signed-in key itself revoked elsewhere: the next call signs out.
  const selfId = (await api('GET', 'keys?resource=acme')).json.keys[0].id;
  eq((await api('DELETE', 'keys/' + selfId)).status, 204, 'API: the tenant\'s own key revoked');
  await go('#/endpoints');
  await heading('Sign in');
  await noticeSays('The API key was refused');
  eq(await page.evaluate(() => sessionStorage.length), 0, 'a refused key is forgotten');
  await shot('signed-out-refused');
});

check(problems.length === 0, 'no CSP violation, script error or request to another origin', problems.join('\n'));
fs.writeFileSync(env.RESULTS_FILE, JSON.stringify(results));
clearTimeout(deadline);
await browser.close();
