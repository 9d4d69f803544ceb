// The webhooks console (docs/console.md): a single page over the webhook_api
// location named by <meta name="webhook-api">. Plain DOM, no framework.
//
// Rules this file keeps:
// - everything that comes from the API is put on the page as text
//   (textContent, Node.append of strings, attribute values): never parsed as HTML;
// - the key lives in this tab only (sessionStorage), goes out only in the
//   Authorization header, never in a URL;
// - no inline script or style anywhere (the page's CSP forbids both).
'use strict';

(() => {
  const API = (() => {
    const meta = document.querySelector('meta[name="webhook-api"]');
    const uri = meta ? meta.content : '/';
    return uri.endsWith('/') ? uri : uri + '/';
  })();
  // Per API: two consoles of one origin never send one key to the other's API.
  const KEY_ITEM = 'webhook-console-key:' + API;
  // The ids the API hands out (wh_…, dlv_…, key_…): anything else in a link
  // is refused before it can become part of an API path.
  const ID = /^[A-Za-z0-9_-]{1,128}$/;
  const DELIVERIES_PAGE = 10;
  const KEYS_PAGE = 25;
  const SCOPES = [
    ['read', 'read the resource'],
    ['readwrite', 'read and change the resource (includes read)'],
    ['webhooks:manage', 'manage this tenant\'s endpoints and keys (signs in here)'],
    ['events:publish', 'publish events (POST /events)'],
  ];

  const main = document.getElementById('main');
  const nav = document.getElementById('nav');
  const signOutButton = document.getElementById('sign-out');
  const notice = document.getElementById('notice');

  // --- the key ------------------------------------------------------------------

  let key = null;
  try { key = sessionStorage.getItem(KEY_ITEM); } catch (e) { key = null; }

  function keep(k) {
    key = k;
    try { sessionStorage.setItem(KEY_ITEM, k); } catch (e) { /* memory only */ }
  }

  function signOut(reason) {
    key = null;
    try { sessionStorage.removeItem(KEY_ITEM); } catch (e) { /* nothing kept */ }
    pendingNotice = reason ? { text: reason, error: true } : { text: 'Signed out.', error: false };
    if (location.hash === '' || location.hash === '#/') route();
    else location.hash = '#/';
  }

  // --- the API ------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // One call; resolves with the decoded answer (null for 204), rejects with
  // an ApiError carrying the API's own message.
  // A path segment that decodes to "." or ".." or holds a slash would let
  // NGINX resolve the call outside api= (with the key): never sent.
  function escapesApi(path) {
    return path.split('?')[0].split('/').some((s) => {
      let d;
      try { d = decodeURIComponent(s); } catch (e) { return true; }
      return d === '.' || d === '..' || /[\/\\]/.test(d);
    });
  }

  async function api(method, path, body, withKey = key) {
    if (escapesApi(path)) throw new ApiError(0, 'invalid_path', 'Refused: that address would leave ' + API + '.');
    const headers = { Accept: 'application/json', Authorization: 'Bearer ' + withKey };
    const init = { method, headers, cache: 'no-store', redirect: 'error', referrerPolicy: 'no-referrer' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(API + path, init);
    } catch (e) {
      throw new ApiError(0, 'network', 'The API did not answer (' + e.message + ').');
    }
    let data = null;
    if (res.status !== 204) {
      try { data = await res.json(); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const err = data && data.error ? data.error : {};
      throw new ApiError(res.status, err.code || 'http_' + res.status,
                         err.message || 'The API answered ' + res.status + '.');
    }
    return data;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
    const s = q.toString();
    return s ? '?' + s : '';
  }

  const enc = encodeURIComponent;

  // --- the DOM --------------------------------------------------------------------

  // h('a', {href: '#/x', class: 'button'}, 'text', node, ...): strings become
  // text nodes; attributes are set as attributes: nothing is parsed as HTML.
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  let fieldSeq = 0;
  // A labelled control: <label for>text<span.hint></label><control id>.
  function field(labelText, control, hint) {
    const id = control.id || 'f' + (++fieldSeq);
    control.id = id;
    const wrap = h('div', { class: 'field' },
      h('label', { for: id }, labelText, hint ? h('span', { class: 'hint' }, hint) : null), control);
    return wrap;
  }

  function check(labelText, props, hint) {
    const input = h('input', Object.assign({ type: 'checkbox' }, props));
    return h('label', { class: 'check' }, input,
      h('span', {}, labelText, hint ? h('span', { class: 'hint' }, hint) : null));
  }

  function when(s) { return s ? s.replace('T', ' ').replace(/Z$/, ' UTC') : '—'; }

  function badge(text) { return h('span', { class: 'badge ' + text }, text); }

  // A table that becomes one card per row at phone width (app.css).
  function table(columns, rows) {
    return h('div', { class: 'table-wrap' },
      h('table', { class: 'cards' },
        h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, rows.map((cells) => h('tr', {},
          // One box per cell: at phone width the label and it are the cell's two columns.
          cells.map((cell, i) => h('td', { 'data-label': columns[i] }, h('div', {}, cell))))))));
  }

  function formError() { return h('div', { class: 'form-error', role: 'alert', hidden: true }); }
  function showFormError(box, err) {
    box.textContent = err.message;
    box.hidden = false;
  }

  // --- notices --------------------------------------------------------------------

  let pendingNotice = null;

  function say(text, error = false) {
    notice.textContent = text;
    notice.className = error ? 'notice error' : 'notice';
    notice.setAttribute('role', error ? 'alert' : 'status');
    notice.hidden = false;
  }
  function clearNotice() {
    notice.hidden = true;
    notice.textContent = '';
  }
  // A notice for the page the next navigation shows.
  function flash(text) { pendingNotice = { text, error: false }; }

  // An action's failure: the API's message, or signing out when the key is refused.
  function failed(err) {
    if (err instanceof ApiError && err.status === 401) {
      signOut('The API key was refused: ' + err.message + '. Sign in again.');
      return;
    }
    say(err.message, true);
  }

  // Runs an action from a button, which stays disabled meanwhile. A dialog
  // closed meanwhile cannot give the focus back to a disabled button: it
  // goes back to the button then (or to the one of the same id that a
  // refresh put in its place).
  function action(button, fn) {
    return async (ev) => {
      if (ev) ev.preventDefault();
      button.disabled = true;
      try { await fn(); } catch (err) { failed(err); } finally {
        button.disabled = false;
        const lost = !document.activeElement || document.activeElement === document.body;
        const target = button.isConnected ? button : (button.id && document.getElementById(button.id));
        if (lost && target && !document.querySelector('dialog[open]')) target.focus();
      }
    };
  }

  // --- dialogs --------------------------------------------------------------------

  function openDialog(dialog, onClose) {
    dialog.addEventListener('close', () => { onClose(); dialog.remove(); });
    document.body.append(dialog);
    dialog.showModal();
  }

  // Resolves true when the person confirms; Cancel and Escape resolve false.
  function confirmDialog({ title, text, confirm, danger }) {
    return new Promise((resolve) => {
      let ok = false;
      const cancelButton = h('button', { type: 'button', autofocus: true }, 'Cancel');
      const confirmButton = h('button', { type: 'button', class: danger ? 'danger' : 'primary' }, confirm);
      const dialog = h('dialog', { 'aria-labelledby': 'confirm-title', class: 'confirm' },
        h('h2', { id: 'confirm-title' }, title), h('p', {}, text),
        h('div', { class: 'actions' }, cancelButton, confirmButton));
      cancelButton.addEventListener('click', () => dialog.close());
      confirmButton.addEventListener('click', () => { ok = true; dialog.close(); });
      openDialog(dialog, () => resolve(ok));
    });
  }

  // Copies `value` to the clipboard; `status` says how it went. Without the
  // clipboard API, `select` (if given) selects the text for Ctrl+C.
  async function copyText(value, status, select) {
    try {
      await navigator.clipboard.writeText(value);
      status.textContent = 'Copied to the clipboard.';
    } catch (e) {
      let copied = false;
      if (select) {
        select();
        try { copied = document.execCommand('copy'); } catch (e2) { copied = false; }
      }
      status.textContent = copied ? 'Copied to the clipboard.' : 'Select the text and copy it (Ctrl+C).';
    }
  }

  // A secret or key shown once, with a copy button; resolves when closed
  // (Done or Escape), after which it is gone from the page. A public key
  // (once: false) is no secret: the dialog says the endpoint shows it any time.
  function showSecret({ title, label, value, note, once = true }) {
    return new Promise((resolve) => {
      const input = h('input', { type: 'text', readonly: true, id: 'secret-value', spellcheck: 'false',
                                 autocomplete: 'off', value });
      const status = h('p', { class: 'hint', role: 'status' });
      const copy = h('button', { type: 'button', class: 'primary', id: 'copy-secret' }, 'Copy');
      const done = h('button', { type: 'button', id: 'secret-done' }, 'Done');
      const dialog = h('dialog', { 'aria-labelledby': 'secret-title', class: 'secret' },
        h('h2', { id: 'secret-title' }, title),
        h('p', {}, once ? h('strong', {}, 'Copy it now: it is shown only this once.')
                        : 'A public key is no secret: the endpoint\'s page shows it any time.', ' ', note || ''),
        h('label', { for: 'secret-value' }, label),
        h('div', { class: 'secret-row' }, input, copy), status,
        h('div', { class: 'actions' }, done));
      copy.addEventListener('click', () => copyText(value, status, () => { input.focus(); input.select(); }));
      done.addEventListener('click', () => dialog.close());
      openDialog(dialog, () => { input.value = ''; resolve(); });
      copy.focus();
    });
  }

  // What an answer with a new signing secret or key shows (create, rotate,
  // switching kinds): an HMAC secret once, or the Ed25519 public key.
  function showSigning(res, title, note) {
    if (res.signing === 'ed25519' || (!res.secret && res.public_key)) {
      return showSecret({ title, label: 'Public key (give it to the receiver)', value: res.public_key, once: false,
                          note: note || 'The receiver verifies each delivery\'s v1a signature with it.' });
    }
    return showSecret({ title, label: 'Signing secret', value: res.secret,
                        note: note || 'The receiver verifies each delivery\'s signature with it.' });
  }

  const SIGNING = {
    hmac: ['HMAC', 'HMAC shared secret',
           'One secret, shown once, that the module and the receiver share; the receiver checks each v1 signature with it.'],
    ed25519: ['Ed25519', 'Ed25519 key pair',
              'The module keeps the private key; the receiver holds only the public key (v1a signatures), '
              + 'so whoever reads the receiver\'s configuration cannot forge a webhook.'],
  };
  function signingOf(ep) { return ep.signing === 'ed25519' ? 'ed25519' : 'hmac'; }

  // --- the router -----------------------------------------------------------------

  let renderSeq = 0;

  // Replaces the page's content; focuses its heading for keyboard and
  // screen-reader users when this is a new page.
  function screen(title, ...content) {
    const heading = h('h2', { tabindex: '-1' }, title);
    main.replaceChildren(heading, ...content.flat().filter(Boolean));
    document.title = title + ' · Webhooks console';
    return heading;
  }

  function loading() {
    main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
  }

  function markSection(section) {
    for (const a of nav.querySelectorAll('a')) {
      if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  async function route(focus = true) {
    const seq = ++renderSeq;
    const hash = location.hash.replace(/^#/, '') || '/';
    const [path, search] = hash.split('?');
    const params = new URLSearchParams(search || '');
    let parts;
    try { parts = path.split('/').filter(Boolean).map(decodeURIComponent); } catch (e) { parts = ['?']; }

    if (pendingNotice) {
      say(pendingNotice.text, pendingNotice.error);
      pendingNotice = null;
    } else {
      clearNotice();
    }
    const signedIn = !!key;
    nav.hidden = !signedIn;
    signOutButton.hidden = !signedIn;
    if (!signedIn) {
      markSection(null);
      main.removeAttribute('aria-busy');
      return viewSignIn();
    }
    markSection(parts[0] === 'keys' ? 'keys' : 'endpoints');
    // A new page shows that it is loading; a refresh keeps the current one
    // until the new one is ready, and then the focus where it was.
    const focusedId = focus ? '' : document.activeElement && document.activeElement.id;
    main.setAttribute('aria-busy', 'true');
    if (focus) loading();
    const stale = () => seq !== renderSeq;
    let heading;
    try {
      if (parts.length === 0) { location.replace('#/endpoints'); return; }
      const idOk = parts.length < 2 || parts[1] === 'new' || ID.test(parts[1]);
      if (!idOk) heading = screen('Not found', h('p', {}, 'There is no such page. ', h('a', { href: '#/endpoints' }, 'Endpoints')));
      else if (parts[0] === 'endpoints' && parts.length === 1) heading = await viewEndpoints(params, stale);
      else if (parts[0] === 'endpoints' && parts[1] === 'new' && parts.length === 2) heading = await viewEndpointForm(null, stale);
      else if (parts[0] === 'endpoints' && parts.length === 2) heading = await viewEndpoint(parts[1], stale);
      else if (parts[0] === 'endpoints' && parts.length === 3 && parts[2] === 'edit') heading = await viewEndpointForm(parts[1], stale);
      else if (parts[0] === 'deliveries' && parts.length === 2) heading = await viewDelivery(parts[1], stale);
      else if (parts[0] === 'keys' && parts.length === 1) heading = await viewKeys(params, stale);
      else heading = screen('Not found', h('p', {}, 'There is no such page. ', h('a', { href: '#/endpoints' }, 'Endpoints')));
    } catch (err) {
      if (stale()) return;
      if (err instanceof ApiError && err.status === 401) { failed(err); return; }
      heading = screen('Could not load this page', h('p', { class: 'error-text', role: 'alert' }, err.message),
        h('p', {}, h('a', { href: '#/endpoints' }, 'Back to the endpoints')));
    }
    if (stale()) return;
    main.removeAttribute('aria-busy');
    if (focus && heading) heading.focus();
    else if (focusedId && document.getElementById(focusedId)) document.getElementById(focusedId).focus();
  }

  // Renders the current page again (after an action), keeping the focus.
  function refresh() { return route(false); }

  // --- sign in --------------------------------------------------------------------

  function viewSignIn() {
    const input = h('input', { type: 'password', id: 'api-key', name: 'key', autocomplete: 'off', spellcheck: 'false',
                               required: true });
    const error = formError();
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
    const form = h('form', { class: 'stack', id: 'sign-in' },
      field('API key', input, 'The admin key, or an API key with the webhooks:manage scope (it sees its own tenant).'),
      error, h('div', { class: 'actions' }, submit));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const candidate = input.value.trim();
      if (!candidate) { showFormError(error, { message: 'Enter a key.' }); return; }
      submit.disabled = true;
      try {
        // A key that may list endpoints may use every page here.
        await api('GET', 'webhooks', undefined, candidate);
        input.value = '';
        keep(candidate);
        // Stay on the page the address names (a link followed before signing in).
        if (location.hash && location.hash !== '#/') route();
        else location.hash = '#/endpoints';
      } catch (err) {
        showFormError(error, { message: 'Sign-in failed: ' + err.message });
        input.focus();
      } finally {
        submit.disabled = false;
      }
    });
    screen('Sign in',
      h('p', {}, 'Manage webhook endpoints, their deliveries and API keys. The key stays in this browser tab ',
        '(session storage) until you sign out or close the tab.'),
      form);
    input.focus();
  }

  // --- endpoints ------------------------------------------------------------------

  async function viewEndpoints(params, stale) {
    const tenant = params.get('tenant') || '';
    const data = await api('GET', 'webhooks' + query({ tenant }));
    if (stale()) return null;
    const tenantInput = h('input', { type: 'text', name: 'tenant', value: tenant, autocomplete: 'off' });
    const filter = h('form', { class: 'inline', id: 'endpoint-filter' },
      field('Tenant', tenantInput, 'Blank: every tenant your key may see.'),
      h('button', { type: 'submit' }, 'Show'));
    filter.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const t = tenantInput.value.trim();
      location.hash = '#/endpoints' + (t ? '?tenant=' + enc(t) : '');
    });
    const list = data.webhooks || [];
    const rows = list.map((w) => [
      h('a', { href: '#/endpoints/' + enc(w.id), class: 'endpoint-link' }, w.name || w.id),
      h('span', { class: 'mono' }, w.url),
      (w.events || []).join(', '),
      w.tenant,
      h('span', { class: 'badge signing', title: SIGNING[signingOf(w)][1] }, SIGNING[signingOf(w)][0]),
      badge(w.enabled ? 'enabled' : 'disabled'),
      w.last_error ? h('span', { class: 'error-text' }, w.last_error, h('span', { class: 'hint' }, when(w.last_error_at))) : '—',
    ]);
    return screen('Endpoints',
      h('div', { class: 'actions' }, h('a', { href: '#/endpoints/new', class: 'button primary', id: 'new-endpoint' }, 'New endpoint')),
      filter,
      list.length === 0
        ? h('p', { class: 'muted' }, 'No endpoints yet.')
        : [h('p', { class: 'muted' }, data.total === 1 ? '1 endpoint' : data.total + ' endpoints'),
           table(['Name', 'URL', 'Events', 'Tenant', 'Signing', 'Status', 'Last error'], rows)]);
  }

  // The event filter picker: the catalog's types (GET /event-types) as
  // checkboxes, "*" for everything, and free text for prefixes (room.*) or
  // types outside the catalog.
  function eventPicker(catalog, current) {
    const known = new Set(catalog.map((t) => t.type));
    const chosen = new Set(current);
    const declared = catalog.filter((t) => !t.operational);
    const operational = catalog.filter((t) => t.operational);
    const box = (t) => check(t.type, { name: 'event', value: t.type, checked: chosen.has(t.type) }, t.description || '');
    const boxes = [check('All events (*)', { name: 'event', value: '*', checked: chosen.has('*') },
                         'Every event type, present and future (but not the operational events below).')];
    for (const t of declared) boxes.push(box(t));
    const other = h('input', { type: 'text', name: 'other-events', autocomplete: 'off',
      value: current.filter((f) => f !== '*' && !known.has(f)).join(' ') });
    const fieldset = h('fieldset', { id: 'event-picker' }, h('legend', {}, 'Events'),
      declared.length === 0
        ? h('p', { class: 'hint' }, 'No event catalog is declared (webhook_event_type): type the events below.')
        : null,
      boxes,
      operational.length === 0 ? null : h('fieldset', { id: 'operational-picker' },
        h('legend', {}, 'Operational events'),
        h('p', { class: 'hint' }, 'Sent by the module about this tenant\'s other endpoints (never about this one).'),
        operational.map(box)),
      field('Other filters', other, 'Separated by spaces or commas: exact types, or a prefix such as room.*'));
    fieldset.chosenEvents = () => {
      const picked = [...fieldset.querySelectorAll('input[name="event"]:checked')].map((i) => i.value);
      const typed = other.value.split(/[\s,]+/).filter(Boolean);
      return [...new Set([...picked, ...typed])];
    };
    return fieldset;
  }

  async function viewEndpointForm(id, stale) {
    const [catalogData, ep] = await Promise.all([
      api('GET', 'event-types'),
      id ? api('GET', 'webhooks/' + enc(id)) : Promise.resolve(null),
    ]);
    if (stale()) return null;
    const catalog = catalogData.event_types || [];
    const url = h('input', { type: 'text', name: 'url', inputmode: 'url', autocomplete: 'off', required: true,
                             placeholder: 'https://example.com/webhooks', value: ep ? ep.url : '' });
    const name = h('input', { type: 'text', name: 'name', autocomplete: 'off', value: ep && ep.name ? ep.name : '' });
    const description = h('textarea', { name: 'description' });
    description.value = ep && ep.description ? ep.description : '';
    const picker = eventPicker(catalog, ep ? ep.events : []);
    const timeout = h('input', { type: 'number', name: 'timeout', min: 1, max: 30, step: 1, value: ep ? ep.timeout : '' });
    const tenant = h('input', { type: 'text', name: 'tenant', autocomplete: 'off' });
    const enabledBox = check('Enabled', { name: 'enabled', checked: true }, 'Deliveries start at once.');
    // How deliveries are signed (a new endpoint; an existing one switches on its page).
    const signing = h('fieldset', { id: 'signing-picker' }, h('legend', {}, 'Signing'),
      ['hmac', 'ed25519'].map((k) => check(SIGNING[k][1],
        { type: 'radio', name: 'signing', value: k, checked: k === 'hmac' }, SIGNING[k][2])));
    const error = formError();
    const submit = h('button', { type: 'submit', class: 'primary' }, ep ? 'Save changes' : 'Create endpoint');
    const back = ep ? '#/endpoints/' + enc(ep.id) : '#/endpoints';
    const form = h('form', { class: 'stack', id: 'endpoint-form', novalidate: true },
      field('URL', url, 'Where the signed POSTs go.'),
      field('Name', name),
      field('Description', description),
      picker,
      field('Timeout (seconds)', timeout, '1 to 30; blank: the default.'),
      ep ? null : signing,
      ep ? null : field('Tenant', tenant, 'Blank: your key\'s tenant (the admin key: "default").'),
      ep ? null : enabledBox,
      error,
      h('div', { class: 'actions' }, submit, h('a', { href: back, class: 'button' }, 'Cancel')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.hidden = true;
      const body = { url: url.value.trim(), events: picker.chosenEvents() };
      if (timeout.value !== '') body.timeout = Number(timeout.value);
      if (ep) {
        body.name = name.value;
        body.description = description.value;
      } else {
        if (name.value) body.name = name.value;
        if (description.value) body.description = description.value;
        if (tenant.value.trim()) body.tenant = tenant.value.trim();
        body.enabled = enabledBox.querySelector('input').checked;
        const kind = signing.querySelector('input:checked');
        if (kind && kind.value !== 'hmac') body.signing = kind.value;
      }
      submit.disabled = true;
      try {
        if (ep) {
          await api('PATCH', 'webhooks/' + enc(ep.id), body);
          flash('Saved.');
          location.hash = '#/endpoints/' + enc(ep.id);
        } else {
          const created = await api('POST', 'webhooks', body);
          await showSigning(created, 'Endpoint created');
          flash('Endpoint created.');
          location.hash = '#/endpoints/' + enc(created.id);
        }
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) failed(err);
        else showFormError(error, err);
      } finally {
        submit.disabled = false;
      }
    });
    return screen(ep ? 'Edit ' + (ep.name || ep.id) : 'New endpoint', form);
  }

  async function viewEndpoint(id, stale) {
    const ep = await api('GET', 'webhooks/' + enc(id));
    if (stale()) return null;
    const path = 'webhooks/' + enc(ep.id);
    const kind = signingOf(ep);
    const copyStatus = h('span', { class: 'hint', role: 'status' });
    const copyKey = h('button', { type: 'button', id: 'copy-public-key', 'aria-label': 'Copy the public key' }, 'Copy');
    copyKey.addEventListener('click', () => copyText(ep.public_key, copyStatus));
    const facts = h('dl', { class: 'facts', id: 'endpoint-facts' },
      h('dt', {}, 'ID'), h('dd', { class: 'mono' }, ep.id),
      h('dt', {}, 'Tenant'), h('dd', {}, ep.tenant),
      h('dt', {}, 'URL'), h('dd', { class: 'mono' }, ep.url),
      h('dt', {}, 'Events'), h('dd', {}, (ep.events || []).join(', ')),
      h('dt', {}, 'Timeout'), h('dd', {}, ep.timeout + ' s'),
      h('dt', {}, 'Signing'), h('dd', { id: 'endpoint-signing', 'data-signing': kind }, SIGNING[kind][1]),
      ep.public_key ? [h('dt', {}, 'Public key'), h('dd', { class: 'key-row' },
        h('span', { class: 'mono', id: 'public-key' }, ep.public_key), copyKey, copyStatus)] : null,
      ep.previous_secret_expires_at ? [h('dt', {}, ep.previous_public_key ? 'Previous public key' : 'Previous secret'),
        h('dd', { id: 'previous-key' },
          ep.previous_public_key ? [h('span', { class: 'mono', id: 'previous-public-key' }, ep.previous_public_key), ' '] : null,
          'signs beside the new ' + (kind === 'ed25519' ? 'key' : 'secret') + ' until ' + when(ep.previous_secret_expires_at))]
        : null,
      h('dt', {}, 'Status'), h('dd', {}, badge(ep.enabled ? 'enabled' : 'disabled'),
        ep.disabled_reason ? ' ' + ep.disabled_reason : ''),
      h('dt', {}, 'Last error'), h('dd', { id: 'last-error' }, ep.last_error
        ? [h('span', { class: 'error-text' }, ep.last_error), ' at ' + when(ep.last_error_at)]
        : 'none'),
      ep.description ? [h('dt', {}, 'Description'), h('dd', { class: 'description' }, ep.description)] : null,
      h('dt', {}, 'Created'), h('dd', {}, when(ep.created_at)),
      h('dt', {}, 'Updated'), h('dd', {}, when(ep.updated_at)));

    const toggle = h('button', { type: 'button', id: 'toggle-endpoint' }, ep.enabled ? 'Disable' : 'Enable');
    toggle.addEventListener('click', action(toggle, async () => {
      await api('PATCH', path, { enabled: !ep.enabled });
      pendingNotice = { text: ep.enabled ? 'Endpoint disabled.' : 'Endpoint enabled.', error: false };
      await refresh();
    }));
    const rotate = h('button', { type: 'button', id: 'rotate-secret' }, kind === 'ed25519' ? 'Rotate key' : 'Rotate secret');
    rotate.addEventListener('click', action(rotate, async () => {
      const ok = await confirmDialog(kind === 'ed25519'
        ? { title: 'Rotate the signing key?', confirm: 'Rotate',
            text: 'A new key pair signs every delivery from now on; the current key keeps signing beside it for 24 hours '
                + '(two v1a signatures), so the receiver can switch to the new public key.' }
        : { title: 'Rotate the signing secret?', confirm: 'Rotate',
            text: 'A new secret signs every delivery from now on; the current one keeps signing beside it for 24 hours, '
                + 'so the receiver can switch over.' });
      if (!ok) return;
      const res = await api('POST', path + '/rotate-secret');
      await showSigning(res, kind === 'ed25519' ? 'New public key' : 'New signing secret',
        (kind === 'ed25519' ? 'The previous key' + (res.previous_public_key ? ' (' + res.previous_public_key + ')' : '')
                            : 'The previous secret') + ' keeps signing until ' + when(res.previous_secret_expires_at) + '.');
      pendingNotice = { text: kind === 'ed25519' ? 'Key rotated.' : 'Secret rotated.', error: false };
      await refresh();
    }));
    // Another kind of signing is a rotation into it: both sign for 24 h.
    const other = kind === 'ed25519' ? 'hmac' : 'ed25519';
    const switchKind = h('button', { type: 'button', id: 'switch-signing' }, 'Switch to ' + SIGNING[other][0]);
    switchKind.addEventListener('click', action(switchKind, async () => {
      const ok = await confirmDialog({ title: 'Sign with an ' + SIGNING[other][1] + '?', confirm: 'Switch',
        text: (other === 'ed25519' ? 'A new Ed25519 key pair' : 'A new HMAC secret') + ' signs every delivery from now on; '
            + 'the current ' + (kind === 'ed25519' ? 'key' : 'secret') + ' keeps signing beside it for 24 hours, '
            + 'so the receiver can move over at its pace.' });
      if (!ok) return;
      const res = await api('PATCH', path, { signing: other });
      await showSigning(res, other === 'ed25519' ? 'New public key' : 'New signing secret',
        'The previous ' + (kind === 'ed25519' ? 'key' : 'secret') + ' keeps signing until '
        + when(res.previous_secret_expires_at) + '.');
      pendingNotice = { text: 'Deliveries are now signed with an ' + SIGNING[other][1] + '.', error: false };
      await refresh();
    }));
    const recover = h('button', { type: 'button', id: 'recover-deliveries' }, 'Recover');
    recover.addEventListener('click', action(recover, async () => {
      const res = await recoverDialog(ep, path);
      if (!res) return;
      const n = res.deliveries;
      pendingNotice = { error: false,
        text: (n === 1 ? '1 failed delivery' : n + ' failed deliveries') + ' re-queued'
            + ' (since ' + when(res.since) + ', until ' + when(res.until) + ').'
            + (res.remaining > 0 ? ' ' + res.remaining + (res.remaining === 1 ? ' more remains' : ' more remain')
                                 + ': recover again.' : '') };
      await refresh();
    }));
    const test = h('button', { type: 'button', id: 'send-test' }, 'Send test event');
    test.addEventListener('click', action(test, async () => {
      const res = await api('POST', path + '/test');
      pendingNotice = { text: 'Test event sent (' + res.id + ').', error: false };
      await refresh();
    }));
    const del = h('button', { type: 'button', class: 'danger', id: 'delete-endpoint' }, 'Delete');
    del.addEventListener('click', action(del, async () => {
      const ok = await confirmDialog({ title: 'Delete ' + (ep.name || ep.id) + '?', confirm: 'Delete', danger: true,
        text: 'The endpoint and its pending deliveries are removed. This cannot be undone.' });
      if (!ok) return;
      await api('DELETE', path);
      flash('Endpoint deleted.');
      location.hash = '#/endpoints';
    }));

    const log = await deliveryLog(ep, stale);
    if (stale()) return null;
    return screen(ep.name || ep.id,
      h('p', {}, h('a', { href: '#/endpoints' }, '← All endpoints')),
      facts,
      h('div', { class: 'actions' }, h('a', { href: '#/endpoints/' + enc(ep.id) + '/edit', class: 'button', id: 'edit-endpoint' }, 'Edit'),
        toggle, rotate, switchKind, test, recover, del),
      log);
  }

  // "YYYY-MM-DDTHH:MM" of a datetime-local input, in the browser's time zone.
  function localInput(date) {
    const p = (n) => String(n).padStart(2, '0');
    return date.getFullYear() + '-' + p(date.getMonth() + 1) + '-' + p(date.getDate())
      + 'T' + p(date.getHours()) + ':' + p(date.getMinutes());
  }
  // A datetime-local value (local time) as RFC 3339 UTC; null when invalid.
  function utc(value) {
    const t = new Date(value);
    return Number.isNaN(t.getTime()) ? null : t.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  // POST …/recover from a dialog: resolves with the API's answer, or null when
  // cancelled. The API's refusals (a disabled endpoint, a bad time, a full
  // backlog) are shown in the dialog, which stays open.
  function recoverDialog(ep, path) {
    return new Promise((resolve) => {
      let answer = null;
      const since = h('input', { type: 'datetime-local', name: 'since', required: true,
                                 value: localInput(new Date(Date.now() - 24 * 3600 * 1000)) });
      const until = h('input', { type: 'datetime-local', name: 'until' });
      const error = formError();
      const cancel = h('button', { type: 'button', autofocus: true }, 'Cancel');
      const submit = h('button', { type: 'submit', class: 'primary' }, 'Recover');
      const form = h('form', { class: 'stack', id: 'recover-form', novalidate: true },
        field('Since', since, 'In your local time.'),
        field('Until', until, 'Blank: now. In your local time.'),
        error, h('div', { class: 'actions' }, cancel, submit));
      const dialog = h('dialog', { 'aria-labelledby': 'recover-title', class: 'recover' },
        h('h2', { id: 'recover-title' }, 'Recover failed deliveries'),
        h('p', {}, 'Every failed delivery of this endpoint whose event was published in this window gets one more '
                 + 'attempt (at most 1000 at a time).'),
        ep.enabled ? null : h('p', { class: 'hint', id: 'recover-disabled' },
          'This endpoint is disabled: enable it first, or its deliveries would only wait.'),
        form);
      cancel.addEventListener('click', () => dialog.close());
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        error.hidden = true;
        const body = { since: since.value ? utc(since.value) : null };
        if (!body.since) { showFormError(error, { message: 'Since is not a valid time.' }); since.focus(); return; }
        if (until.value) {
          body.until = utc(until.value);
          if (!body.until) { showFormError(error, { message: 'Until is not a valid time.' }); until.focus(); return; }
        }
        submit.disabled = true;
        try {
          answer = await api('POST', path + '/recover', body);
          dialog.close();
        } catch (err) {
          if (err instanceof ApiError && err.status === 401) { dialog.close(); failed(err); }
          else showFormError(error, err);
        } finally {
          submit.disabled = false;
        }
      });
      openDialog(dialog, () => resolve(answer));
      cancel.focus();
    });
  }

  // Newest first, DELIVERIES_PAGE at a time: "Older" follows the after=
  // cursor, "Newer" goes back along the cursors already seen.
  async function deliveryLog(ep, stale) {
    const state = { status: '', cursors: [''] };
    const section = h('section', { id: 'deliveries', 'aria-labelledby': 'deliveries-title' });
    const statusSelect = h('select', { name: 'status', id: 'delivery-status' },
      h('option', { value: '' }, 'All'), h('option', { value: 'pending' }, 'Pending'),
      h('option', { value: 'succeeded' }, 'Succeeded'), h('option', { value: 'failed' }, 'Failed'));
    const filter = h('form', { class: 'inline', id: 'delivery-filter' }, field('Status', statusSelect),
      h('button', { type: 'submit' }, 'Show'));
    const body = h('div', { 'aria-live': 'polite' });
    filter.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      state.status = statusSelect.value;
      state.cursors = [''];
      try { await load(); } catch (err) { failed(err); }
    });

    async function load() {
      const after = state.cursors[state.cursors.length - 1];
      const data = await api('GET', 'webhooks/' + enc(ep.id) + '/deliveries' +
                             query({ status: state.status, limit: DELIVERIES_PAGE, after }));
      const list = data.deliveries || [];
      const page = state.cursors.length;
      const seen = (page - 1) * DELIVERIES_PAGE + list.length;
      const newer = h('button', { type: 'button', id: 'newer-deliveries', disabled: page === 1 }, '← Newer');
      const older = h('button', { type: 'button', id: 'older-deliveries',
                                  disabled: list.length < DELIVERIES_PAGE || seen >= data.total }, 'Older →');
      const refreshButton = h('button', { type: 'button', id: 'refresh-deliveries' }, 'Refresh');
      newer.addEventListener('click', action(newer, async () => { state.cursors.pop(); await load(); }));
      older.addEventListener('click', action(older, async () => { state.cursors.push(list[list.length - 1].id); await load(); }));
      refreshButton.addEventListener('click', action(refreshButton, load));
      const rows = list.map((d) => [
        when(d.created_at),
        d.event,
        badge(d.status),
        String(d.attempts),
        d.response_status === null ? '—' : d.response_status + (d.response_time_ms === null ? '' : ' · ' + d.response_time_ms + ' ms'),
        d.error ? h('span', { class: 'error-text' }, d.error) : '—',
        h('a', { href: '#/deliveries/' + enc(d.id), 'aria-label': 'Details of delivery ' + d.id, class: 'delivery-link' }, 'Details'),
      ]);
      body.replaceChildren(
        list.length === 0 ? h('p', { class: 'muted' }, 'No deliveries' + (state.status ? ' with this status.' : ' yet.'))
          : table(['Created', 'Event', 'Status', 'Attempts', 'Response', 'Error', ''], rows),
        h('div', { class: 'pager' }, newer,
          h('span', { class: 'muted', id: 'delivery-page' }, 'Page ' + page + ' · ' + data.total + ' in all'), older,
          refreshButton));
    }
    await load();
    if (stale()) return null;
    section.append(h('h3', { id: 'deliveries-title' }, 'Deliveries'), filter, body);
    return section;
  }

  async function viewDelivery(id, stale) {
    const d = await api('GET', 'deliveries/' + enc(id));
    if (stale()) return null;
    const replay = h('button', { type: 'button', class: 'primary', id: 'replay-delivery' }, 'Replay');
    replay.addEventListener('click', action(replay, async () => {
      await api('POST', 'deliveries/' + enc(d.id) + '/replay');
      pendingNotice = { text: 'Replay queued: the delivery is sent again now.', error: false };
      await refresh();
    }));
    const refreshButton = h('button', { type: 'button', id: 'refresh-delivery' }, 'Refresh');
    refreshButton.addEventListener('click', action(refreshButton, refresh));
    const attempts = (d.attempt_log || []).map((a, i) => [
      String(i + 1),
      when(a.time),
      a.response_status === null || a.response_status === undefined ? '—' : String(a.response_status),
      a.response_time_ms + ' ms',
      a.error ? h('span', { class: 'error-text' }, a.error) : '—',
      a.response ? h('pre', { class: 'excerpt' }, a.response) : '—',
    ]);
    return screen('Delivery ' + d.id,
      h('p', {}, h('a', { href: '#/endpoints/' + enc(d.endpoint_id) }, '← Back to the endpoint')),
      h('dl', { class: 'facts', id: 'delivery-facts' },
        h('dt', {}, 'Status'), h('dd', {}, badge(d.status)),
        h('dt', {}, 'Event'), h('dd', {}, d.event, ' ', h('span', { class: 'mono muted' }, d.event_id)),
        h('dt', {}, 'Endpoint'), h('dd', { class: 'mono' }, d.endpoint_id),
        h('dt', {}, 'Attempts'), h('dd', {}, String(d.attempts)),
        h('dt', {}, 'Last response'), h('dd', {}, d.response_status === null ? '—'
          : d.response_status + (d.response_time_ms === null ? '' : ' in ' + d.response_time_ms + ' ms')),
        h('dt', {}, 'Last error'), h('dd', {}, d.error || 'none'),
        h('dt', {}, 'Created'), h('dd', {}, when(d.created_at)),
        h('dt', {}, 'Next attempt'), h('dd', {}, when(d.next_attempt_at)),
        ...(d.traceparent ? [h('dt', {}, 'Trace'), h('dd', { class: 'mono', id: 'delivery-trace' }, d.traceparent)] : [])),
      h('div', { class: 'actions' }, replay, refreshButton),
      h('h3', {}, 'Attempts'),
      attempts.length === 0 ? h('p', { class: 'muted' }, 'No attempt yet.')
        : h('div', { id: 'attempts' }, table(['#', 'Time', 'Response status', 'Response time', 'Error', 'Response'], attempts)),
      h('h3', {}, 'Payload'),
      h('pre', { id: 'payload' }, JSON.stringify(d.payload, null, 2)));
  }

  // --- API keys -------------------------------------------------------------------

  async function viewKeys(params, stale) {
    const resource = params.get('resource') || '';
    const state = { cursors: [''] };
    const listBox = h('div', { id: 'key-list', 'aria-live': 'polite' });

    async function load() {
      const after = state.cursors[state.cursors.length - 1];
      const data = await api('GET', 'keys' + query({ resource, limit: KEYS_PAGE, after }));
      const list = data.keys || [];
      const page = state.cursors.length;
      const rows = list.map((k) => {
        const revoke = h('button', { type: 'button', class: 'danger', 'aria-label': 'Revoke ' + k.prefix + '…',
                                     'data-key-id': k.id }, 'Revoke');
        revoke.addEventListener('click', action(revoke, async () => {
          const ok = await confirmDialog({ title: 'Revoke ' + k.prefix + '…?', confirm: 'Revoke', danger: true,
            text: 'Requests with this key are refused from now on, on every worker. This cannot be undone.' });
          if (!ok) return;
          await api('DELETE', 'keys/' + enc(k.id));
          say('Key ' + k.prefix + '… revoked.');
          await load();
        }));
        return [h('span', { class: 'mono' }, k.prefix + '…'), k.label || '—', k.resource, (k.scopes || []).join(', '),
                when(k.created_at), k.expires_at ? when(k.expires_at) : 'never', revoke];
      });
      const newer = h('button', { type: 'button', disabled: page === 1 }, '← Previous');
      const older = h('button', { type: 'button',
        disabled: list.length < KEYS_PAGE || (page - 1) * KEYS_PAGE + list.length >= data.total }, 'Next →');
      newer.addEventListener('click', action(newer, async () => { state.cursors.pop(); await load(); }));
      older.addEventListener('click', action(older, async () => { state.cursors.push(list[list.length - 1].id); await load(); }));
      listBox.replaceChildren(
        list.length === 0 ? h('p', { class: 'muted' }, 'No keys.')
          : table(['Key', 'Label', 'Resource', 'Scopes', 'Created', 'Expires', ''], rows),
        h('div', { class: 'pager' }, newer, h('span', { class: 'muted' }, 'Page ' + page + ' · ' + data.total + ' in all'), older));
    }
    await load();
    if (stale()) return null;

    const filterInput = h('input', { type: 'text', name: 'resource', value: resource, autocomplete: 'off' });
    const filter = h('form', { class: 'inline', id: 'key-filter' },
      field('Resource', filterInput, 'Blank: every resource your key may see.'), h('button', { type: 'submit' }, 'Show'));
    filter.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const r = filterInput.value.trim();
      location.hash = '#/keys' + (r ? '?resource=' + enc(r) : '');
    });

    const res = h('input', { type: 'text', name: 'resource', value: resource, autocomplete: 'off', required: true });
    const label = h('input', { type: 'text', name: 'label', autocomplete: 'off' });
    const expires = h('input', { type: 'datetime-local', name: 'expires_at' });
    const scopes = h('fieldset', { id: 'scope-picker' }, h('legend', {}, 'Scopes'),
      SCOPES.map(([s, hint]) => check(s, { name: 'scope', value: s }, hint)));
    const error = formError();
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Create key');
    const form = h('form', { class: 'stack', id: 'key-form', novalidate: true },
      field('Resource', res, 'A tenant, room or organisation: the key acts for it only.'),
      scopes, field('Label', label, 'What the key is for, e.g. "lobby screen".'),
      field('Expires', expires, 'Blank: never. In your local time.'), error,
      h('div', { class: 'actions' }, submit));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.hidden = true;
      const body = { resource: res.value.trim(),
                     scopes: [...scopes.querySelectorAll('input:checked')].map((i) => i.value) };
      if (label.value.trim()) body.label = label.value.trim();
      if (expires.value) {
        body.expires_at = utc(expires.value);
        if (!body.expires_at) { showFormError(error, { message: 'Expires is not a valid time.' }); return; }
      }
      submit.disabled = true;
      try {
        const created = await api('POST', 'keys', body);
        await showSecret({ title: 'API key created', label: 'API key', value: created.key,
                           note: 'Only its prefix (' + created.prefix + '…) is kept.' });
        form.reset();
        res.value = resource;
        say('Key ' + created.prefix + '… created.');
        state.cursors = [''];
        await load();
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) failed(err);
        else showFormError(error, err);
      } finally {
        submit.disabled = false;
      }
    });

    return screen('API keys',
      h('p', {}, 'Keys are bound to a resource and shown once, when created; only their prefix is kept.'),
      filter,
      h('section', { 'aria-labelledby': 'keys-title' }, h('h3', { id: 'keys-title' }, 'Keys'), listBox),
      h('section', { 'aria-labelledby': 'new-key-title' }, h('h3', { id: 'new-key-title' }, 'Create a key'), form));
  }

  // --- start ----------------------------------------------------------------------

  signOutButton.addEventListener('click', () => signOut());
  window.addEventListener('hashchange', () => route());
  route();
})();
