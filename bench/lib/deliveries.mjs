// bench/lib/deliveries.mjs — the client side of bench/run's deliveries
// section: registers endpoints, publishes events at a set rate, waits for the
// queue to drain.  Node's own http module only; keepalive connections.
//
//   node deliveries.mjs register BASE ADMIN TENANT URL COUNT IDS_FILE
//   node deliveries.mjs drain    BASE TIMEOUT_S
//   node deliveries.mjs rate     BASE ADMIN TENANT EVENTS_PER_S SECONDS [TIMES_FILE]
//   node deliveries.mjs fanout   BASE ADMIN TENANT IDS_FILE TIMEOUT_S
//   node deliveries.mjs fsync    DIR
//
// BASE is http://127.0.0.1:PORT.  Results are printed as NAME=VALUE lines;
// failures exit non-zero with a message on stderr.
import fs from "node:fs";
import { performance } from "node:perf_hooks";
import { request } from "./http.mjs";

const now = () => performance.timeOrigin + performance.now(); // ms since the epoch, sub-ms

function fail(msg) {
  process.stderr.write(`deliveries.mjs: ${msg}\n`);
  process.exit(1);
}

async function metrics(base) {
  const r = await request(base, "GET", "/metrics");
  if (r.status !== 200) fail(`GET /metrics: HTTP ${r.status}`);
  const m = {};
  for (const line of r.body.split("\n")) {
    const g = /^(webhook_[a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!g) continue;
    const outcome = /outcome="([^"]+)"/.exec(g[2] || "");
    m[g[1] + (outcome ? `:${outcome[1]}` : "")] = Number(g[3]);
  }
  return m;
}

// Runs fn(i) for i in [0, n) with at most `width` in flight.
async function pool(n, width, fn) {
  let next = 0;
  const worker = async () => { while (next < n) await fn(next++); };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls /metrics until the queue is empty; prints the counters at the first
// and the last poll and the time between them.
async function drain(base, timeoutS) {
  const m0 = await metrics(base);
  const t0 = now();
  let m = m0;
  while (m.webhook_queue_depth > 0) {
    if (now() - t0 > timeoutS * 1000) fail(`queue not empty after ${timeoutS}s: ${JSON.stringify(m)}`);
    await sleep(5);
    m = await metrics(base);
  }
  const t1 = now();
  console.log(`depth0=${m0.webhook_queue_depth}`);
  console.log(`succeeded0=${m0["webhook_attempts_total:succeeded"]}`);
  console.log(`succeeded1=${m["webhook_attempts_total:succeeded"]}`);
  console.log(`failed0=${m0["webhook_attempts_total:failed"]}`);
  console.log(`failed1=${m["webhook_attempts_total:failed"]}`);
  console.log(`seconds=${((t1 - t0) / 1000).toFixed(4)}`);
  console.log(`t_end=${t1.toFixed(1)}`);
}

const [cmd, base, ...args] = process.argv.slice(2);

if (cmd === "register") {
  const [admin, tenant, url, count, idsFile] = args;
  const ids = new Array(Number(count));
  await pool(ids.length, 16, async (i) => {
    const r = await request(base, "POST", "/v1/webhooks", {
      admin, body: { url: url.replace("{i}", String(i)), events: ["*"], tenant },
    });
    if (r.status !== 201) fail(`POST /v1/webhooks: HTTP ${r.status} ${r.body}`);
    ids[i] = JSON.parse(r.body).id;
  });
  fs.writeFileSync(idsFile, ids.join("\n") + "\n");
  console.log(`registered=${ids.length}`);
} else if (cmd === "drain") {
  await drain(base, Number(args[0]));
} else if (cmd === "rate") {
  // Publishes EVENTS_PER_S events for SECONDS, each carrying its publish time
  // in data.t (ms since the epoch), on a fixed schedule: a late tick sends
  // what is due, so the average rate holds.  TIMES_FILE gets "EVENT_ID T T202"
  // lines, for matching the receiver's log (webhook-id) with publish times.
  const [admin, tenant, perS, seconds, timesFile] = args;
  const times = [];
  const total = Math.round(Number(perS) * Number(seconds));
  const start = now();
  let sent = 0, answered = 0, bad = 0, maxLag = 0;
  const lags = [];
  const inflight = new Set();
  while (sent < total) {
    const due = Math.min(total, Math.floor(((now() - start) / 1000) * Number(perS)) + 1);
    while (sent < due) {
      sent++;
      const t = now();
      const p = request(base, "POST", "/v1/events", {
        admin, body: { type: "bench.tick", tenant, data: { t } },
      }).then((r) => {
        answered++;
        const lag = now() - t;
        if (r.status !== 202) { bad++; if (bad < 5) process.stderr.write(`POST /v1/events: HTTP ${r.status} ${r.body}\n`); }
        else times.push(`${JSON.parse(r.body).id} ${t.toFixed(3)} ${(t + lag).toFixed(3)}`);
        lags.push(lag);
        maxLag = Math.max(maxLag, lag);
      }, (e) => { bad++; process.stderr.write(`POST /v1/events: ${e.message}\n`); });
      inflight.add(p);
      p.finally(() => inflight.delete(p));
    }
    await sleep(1);
  }
  await Promise.all(inflight);
  if (timesFile) fs.writeFileSync(timesFile, times.join("\n") + "\n");
  console.log(`events=${sent}`);
  console.log(`non202=${bad}`);
  console.log(`seconds=${((now() - start) / 1000).toFixed(3)}`);
  console.log(`max_publish_ms=${maxLag.toFixed(1)}`);
  lags.sort((a, b) => a - b);
  const pct = (q) => (lags.length ? lags[Math.min(lags.length - 1, Math.floor(lags.length * q))] : NaN);
  console.log(`p50_publish_ms=${pct(0.5).toFixed(1)}`);
  console.log(`p99_publish_ms=${pct(0.99).toFixed(1)}`);
  if (bad) fail(`${bad} events were not accepted`);
} else if (cmd === "fanout") {
  // One event to every endpoint of TENANT; prints the 202's time, then waits
  // for the queue to drain and checks every endpoint has one succeeded delivery.
  const [admin, tenant, idsFile, timeoutS] = args;
  const ids = fs.readFileSync(idsFile, "utf8").split("\n").filter(Boolean);
  const m0 = await metrics(base);
  const t0 = now();
  const r = await request(base, "POST", "/v1/events", {
    admin, body: { type: "bench.fanout", tenant, data: { t: t0 } },
  });
  const t202 = now();
  if (r.status !== 202) fail(`POST /v1/events: HTTP ${r.status} ${r.body}`);
  const ev = JSON.parse(r.body);
  let m = m0;
  while (m["webhook_attempts_total:succeeded"] + m["webhook_attempts_total:failed"] -
         m0["webhook_attempts_total:succeeded"] - m0["webhook_attempts_total:failed"] < ids.length ||
         m.webhook_queue_depth > 0) {
    if (now() - t202 > Number(timeoutS) * 1000) break;
    await sleep(2);
    m = await metrics(base);
  }
  const tDone = now();
  let ok = 0;
  const bad = [];
  await pool(ids.length, 16, async (i) => {
    const d = await request(base, "GET", `/v1/webhooks/${ids[i]}/deliveries?status=succeeded`, { admin });
    const j = d.status === 200 ? JSON.parse(d.body) : null;
    if (j && j.total === 1 && j.deliveries[0].event_id === ev.id) ok++;
    else if (bad.length < 5) bad.push(`${ids[i]}: HTTP ${d.status} ${d.body.slice(0, 200)}`);
  });
  for (const b of bad) process.stderr.write(`not delivered: ${b}\n`);
  console.log(`event_id=${ev.id}`);
  console.log(`deliveries=${ev.deliveries}`);
  console.log(`publish_ms=${(t202 - t0).toFixed(1)}`);
  console.log(`t202=${t202.toFixed(1)}`);
  console.log(`done_seen_ms=${(tDone - t202).toFixed(1)}`);
  console.log(`succeeded=${m["webhook_attempts_total:succeeded"] - m0["webhook_attempts_total:succeeded"]}`);
  console.log(`failed=${m["webhook_attempts_total:failed"] - m0["webhook_attempts_total:failed"]}`);
  console.log(`endpoints_ok=${ok}`);
} else if (cmd === "fsync") {
  // The disk under BASE (a directory here): 200 appends of 256 bytes, each
  // fsynced; prints the median and p99 in ms, for context.
  const file = `${base}/fsync.probe`;
  const fd = fs.openSync(file, "a");
  const buf = Buffer.alloc(256, 120);
  const t = [];
  for (let i = 0; i < 200; i++) {
    const t0 = now();
    fs.writeSync(fd, buf);
    fs.fsyncSync(fd);
    t.push(now() - t0);
  }
  fs.closeSync(fd);
  fs.unlinkSync(file);
  t.sort((a, b) => a - b);
  console.log(`p50_ms=${t[100].toFixed(2)}`);
  console.log(`p99_ms=${t[198].toFixed(2)}`);
} else {
  fail(`unknown command ${cmd}`);
}
