// A hostile HTTP/2 (h2c, prior knowledge) client for t/hostile_*.t, on node's
// built-in http2 module only.
//
//   node h2client.mjs SPEC.json
//
// SPEC: {
//   "port": 8080,
//   "sessions": 2,              connections, run at once
//   "streams": 5,               streams per connection, run at once
//   "request": { "method": "POST", "path": "/x", "headers": { "x-a": "b" },
//                "body": ["piece", {"fill": 4096}, ...] },   pieces sent in order
//   "pause_ms": 300,            between pieces (and before a delayed action)
//   "pause_step_ms": 0,         connection i waits pause_ms + i * pause_step_ms
//                               before its delayed action (spreads the moment)
//   "action": "complete"               send everything, END_STREAM, read the answer
//           | "rst_after_headers"      HEADERS without END_STREAM, pause, RST_STREAM(CANCEL)
//           | "rst_mid_body"           first piece, pause, RST_STREAM(CANCEL)
//           | "rst_after_body"         every piece + END_STREAM (sent), pause, RST_STREAM(CANCEL)
//           | "rst_after_response"     every piece + END_STREAM, RST_STREAM(CANCEL) at the response HEADERS
//           | "tcp_reset_mid_body"     first piece, pause, TCP RST of the connection (SO_LINGER 0)
//           | "tcp_reset_after_body"   every piece + END_STREAM (sent), pause, TCP RST of the connection
//   "timeout_ms": 5000          how long a stream may take to close
// }
// Prints one JSON object: { streams: [ { session, stream, status, body, ended,
// closed, rst_code, error } ], sessions: [ { closed, goaway } ] }.
// "ended": the server ended the stream (END_STREAM); "closed": the stream is
// closed by any means within timeout_ms.

import http2 from 'node:http2';
import net from 'node:net';
import fs from 'node:fs';

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const req = spec.request || {};
const pieces = (req.body || []).map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.alloc(p.fill, p.char || 'x')));
const action = spec.action || 'complete';
const pause = spec.pause_ms ?? 300;
const timeout = spec.timeout_ms ?? 5000;
const { NGHTTP2_CANCEL } = http2.constants;

// Hard bound on the whole run.
const hard = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: 'hard timeout', streams: [], sessions: [] }));
  process.exit(2);
}, timeout * 2 + 10000);

// Resolves once END_STREAM has been sent and the socket has handed every
// byte to the kernel (bounded: 1 s), so that "after the body" means after
// the body has left, not after it was queued in node.
async function flushed(st, conn) {
  const until = Date.now() + 1000;
  while (Date.now() < until) {
    const sent = st.closed || st.destroyed || (st.state && st.state.localClose === 1);
    if (sent && conn.sock.writableLength === 0) return;
    await new Promise((r) => setImmediate(r));
  }
}

function writeAsync(st, buf) {
  return new Promise((resolve) => {
    if (st.destroyed || st.closed) return resolve(false);
    st.write(buf, (err) => resolve(!err));
  });
}

async function runStream(conn, si, k) {
  const actionPause = pause + si * (spec.pause_step_ms ?? 0);
  const res = { session: si, stream: k, status: 0, body: '', ended: false, closed: false, rst_code: null, error: null };
  const headers = { ':method': req.method || 'GET', ':path': req.path || '/', ...(req.headers || {}) };
  const endAtOnce = pieces.length === 0 && !['rst_after_headers', 'rst_mid_body', 'tcp_reset_mid_body'].includes(action);
  let st;
  try {
    st = conn.session.request(headers, { endStream: endAtOnce });
  } catch (e) {
    res.error = e.code || String(e);
    return res;
  }
  const closed = new Promise((resolve) => {
    st.on('close', () => {
      res.closed = true;
      res.rst_code = st.rstCode ?? null;
      resolve();
    });
  });
  st.on('response', (h) => {
    res.status = h[':status'];
    if (action === 'rst_after_response') st.close(NGHTTP2_CANCEL);
  });
  st.on('data', (d) => {
    if (res.body.length < 4096) res.body += d.toString('latin1');
  });
  st.on('end', () => {
    res.ended = true;
  });
  st.on('error', (e) => {
    res.error = e.code || String(e);
  });

  const drive = async () => {
    if (action === 'rst_after_headers') {
      await sleep(pause);
      st.close(NGHTTP2_CANCEL);
      return;
    }
    if (action === 'rst_mid_body' || action === 'tcp_reset_mid_body') {
      if (pieces.length) await writeAsync(st, pieces[0]);
      await sleep(pause);
      if (action === 'rst_mid_body') st.close(NGHTTP2_CANCEL);
      else conn.reset();
      return;
    }
    for (let i = 0; i < pieces.length; i++) {
      if (i > 0) await sleep(pause);
      if (!(await writeAsync(st, pieces[i]))) break;
    }
    if (!endAtOnce && !st.closed && !st.destroyed) st.end();
    if (action === 'rst_after_body' || action === 'tcp_reset_after_body') await flushed(st, conn);
    if (action === 'rst_after_body') {
      if (actionPause > 0) await sleep(actionPause);
      st.close(NGHTTP2_CANCEL);
    } else if (action === 'tcp_reset_after_body') {
      if (actionPause > 0) await sleep(actionPause);
      conn.reset();
    }
  };
  await drive().catch((e) => {
    res.error = res.error || e.code || String(e);
  });
  await Promise.race([closed, sleep(timeout)]);
  if (!res.closed) {
    try {
      st.close(NGHTTP2_CANCEL);
    } catch (e) {
      /* already gone */
    }
  }
  return res;
}

function connect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const conn = { sock, info: { closed: false, goaway: null } };
    conn.reset = () => {
      if (!sock.destroyed) sock.resetAndDestroy();
    };
    conn.session = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => sock });
    conn.session.on('error', () => {});
    conn.session.on('goaway', (code) => {
      conn.info.goaway = code;
    });
    conn.session.on('close', () => {
      conn.info.closed = true;
    });
    conn.session.on('connect', () => resolve(conn));
    sock.on('error', () => resolve(conn));
    setTimeout(() => resolve(conn), 3000);
  });
}

const conns = await Promise.all(Array.from({ length: spec.sessions ?? 1 }, () => connect(spec.port)));
const results = await Promise.all(
  conns.map((conn, si) => Promise.all(Array.from({ length: spec.streams ?? 1 }, (_, k) => runStream(conn, si, k)))),
);
// End the sessions: GOAWAY and close, then make sure the sockets are gone.
await Promise.all(
  conns.map(async (conn) => {
    if (!conn.session.closed && !conn.session.destroyed) {
      conn.session.close();
      const until = Date.now() + 300;
      while (!conn.info.closed && Date.now() < until) await sleep(20);
    }
    conn.session.destroy();
    if (!conn.sock.destroyed) conn.sock.destroy();
  }),
);
clearTimeout(hard);
process.stdout.write(JSON.stringify({ streams: results.flat(), sessions: conns.map((c) => c.info) }));
process.exit(0);
