// bench/fleet/fleet.mjs — the client side of bench/run's fleet section:
// publishes events at a set rate alternating over nodes (publish -> 202 and
// the send times, for matching the receiver's log), and measures how long a
// key created on one node takes to authenticate on another.  Node's own http
// module only; keepalive connections.
//
//   node fleet.mjs rate       BASES ADMIN TENANT EVENTS_PER_S SECONDS TIMES_FILE
//   node fleet.mjs visibility BASES ADMIN SAMPLES TIMEOUT_S OUT_FILE
//
// BASES is a comma-separated list of http://127.0.0.1:PORT (one or more
// nodes).  Results are printed as NAME=VALUE lines; failures exit non-zero
// with a message on stderr.
import fs from "node:fs";
import { performance } from "node:perf_hooks";
import { request } from "../lib/http.mjs";

const now = () => performance.timeOrigin + performance.now(); // ms since the epoch, sub-ms
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function fail(msg) {
  process.stderr.write(`fleet.mjs: ${msg}\n`);
  process.exit(1);
}

// p-quantile of sorted values (nearest rank), NaN when empty
const pct = (s, q) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(s.length * q) - 1))] : NaN);

const [cmd, basesArg, ...args] = process.argv.slice(2);
const bases = (basesArg || "").split(",").filter(Boolean);
if (!bases.length) fail("no BASES");

if (cmd === "rate") {
  // Publishes EVENTS_PER_S events for SECONDS on a fixed schedule (a late tick
  // sends what is due, so the average rate holds), event i on node i mod n.
  // TIMES_FILE gets "EVENT_ID T_SEND T_202 NODE_INDEX" lines (ms since the
  // epoch), to be matched with the receiver's log on webhook-id.
  const [admin, tenant, perS, seconds, timesFile] = args;
  const times = [];
  const total = Math.round(Number(perS) * Number(seconds));
  const start = now();
  let sent = 0, bad = 0;
  const lags = [];
  const inflight = new Set();
  while (sent < total) {
    const due = Math.min(total, Math.floor(((now() - start) / 1000) * Number(perS)) + 1);
    while (sent < due) {
      const node = sent % bases.length;
      sent++;
      const t = now();
      const p = request(bases[node], "POST", "/v1/events", {
        admin, body: { type: "bench.lat", tenant, data: { t } },
      }).then((r) => {
        const t202 = now();
        if (r.status !== 202) { bad++; if (bad < 5) process.stderr.write(`POST /v1/events (node ${node}): HTTP ${r.status} ${r.body}\n`); return; }
        times.push(`${JSON.parse(r.body).id} ${t.toFixed(3)} ${t202.toFixed(3)} ${node}`);
        lags.push(t202 - t);
      }, (e) => { bad++; process.stderr.write(`POST /v1/events (node ${node}): ${e.message}\n`); });
      inflight.add(p);
      p.finally(() => inflight.delete(p));
    }
    await sleep(1);
  }
  await Promise.all(inflight);
  fs.writeFileSync(timesFile, times.join("\n") + "\n");
  lags.sort((a, b) => a - b);
  console.log(`events=${sent}`);
  console.log(`accepted=${lags.length}`);
  console.log(`non202=${bad}`);
  console.log(`seconds=${((now() - start) / 1000).toFixed(3)}`);
  console.log(`p50_publish_ms=${pct(lags, 0.5).toFixed(2)}`);
  console.log(`p99_publish_ms=${pct(lags, 0.99).toFixed(2)}`);
  console.log(`max_publish_ms=${pct(lags, 1).toFixed(2)}`);
  if (bad) fail(`${bad} events were not accepted`);
} else if (cmd === "visibility") {
  // SAMPLES keys, sample i created (POST /v1/keys, its own resource) on node
  // i mod n and polled for on node (i + 1) mod n: GET /read with the key
  // until 200, back to back on one keepalive connection.  OUT_FILE gets
  // "I FROM TO MS_AFTER_201 MS_AFTER_SEND FIRST_STATUS" lines: the delay from
  // the creating node's 201 (and from sending the POST) to the first 200.
  if (bases.length < 2) fail("visibility needs two nodes");
  const [admin, samples, timeoutS, outFile] = args;
  const out = [];
  const afterAck = [];
  let never = 0, atOnce = 0;
  const tag = Math.floor(now()).toString(36);
  for (let i = 0; i < Number(samples); i++) {
    const from = i % bases.length, to = (i + 1) % bases.length;
    const t0 = now();
    const r = await request(bases[from], "POST", "/v1/keys", {
      admin, body: { resource: `room:vis-${tag}-${i}`, scopes: ["read"] },
    });
    const t1 = now();
    if (r.status !== 201) fail(`POST /v1/keys on node ${from}: HTTP ${r.status} ${r.body}`);
    const key = JSON.parse(r.body).key;
    let first = 0, t2 = NaN;
    for (;;) {
      const g = await request(bases[to], "GET", "/read", { key });
      if (!first) first = g.status;
      if (g.status === 200) { t2 = now(); break; }
      if (g.status !== 401) fail(`GET /read on node ${to}: HTTP ${g.status} ${g.body.slice(0, 200)}`);
      if (now() - t1 > Number(timeoutS) * 1000) break;
    }
    if (Number.isNaN(t2)) never++;
    else {
      if (first === 200) atOnce++;
      afterAck.push(t2 - t1);
    }
    out.push(`${i} ${from} ${to} ${(t2 - t1).toFixed(3)} ${(t2 - t0).toFixed(3)} ${first}`);
    await sleep(5 + Math.random() * 20);   // not in step with the nodes' 1 s poll
  }
  fs.writeFileSync(outFile, out.join("\n") + "\n");
  afterAck.sort((a, b) => a - b);
  console.log(`samples=${samples}`);
  console.log(`seen=${afterAck.length}`);
  console.log(`never=${never}`);
  console.log(`at_once=${atOnce}`);
  console.log(`p50_ms=${pct(afterAck, 0.5).toFixed(2)}`);
  console.log(`p99_ms=${pct(afterAck, 0.99).toFixed(2)}`);
  console.log(`max_ms=${pct(afterAck, 1).toFixed(2)}`);
} else {
  fail(`unknown command ${cmd}`);
}
