#!/usr/bin/env node
// Signs a webhook body with the sender's own library and prints the headers it
// produces, one "Name: value" per line. Used by t/verify_*.t for interop.
//
//   node sign.mjs LIBRARY --secret SECRET --body FILE [--id MSG_ID] [--timestamp UNIX]
//
// LIBRARY: standardwebhooks | svix | stripe | octokit
import { readFileSync } from "node:fs";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";
import Stripe from "stripe";
import { sign as octokitSign } from "@octokit/webhooks-methods";

function usage(msg) {
  process.stderr.write(`sign.mjs: ${msg}\n` +
    "usage: node sign.mjs standardwebhooks|svix|stripe|octokit --secret S --body FILE [--id ID] [--timestamp UNIX]\n");
  process.exit(2);
}

const [lib, ...rest] = process.argv.slice(2);
const opts = {};
for (let i = 0; i < rest.length; i += 2) {
  if (!rest[i].startsWith("--") || i + 1 >= rest.length) usage(`bad argument ${rest[i]}`);
  opts[rest[i].slice(2)] = rest[i + 1];
}
if (opts.secret === undefined || opts.body === undefined) usage("--secret and --body are required");
const body = readFileSync(opts.body);  // exact bytes
const ts = opts.timestamp !== undefined ? Number(opts.timestamp) : Math.floor(Date.now() / 1000);
const id = opts.id ?? `msg_${process.pid}_${Date.now()}`;

const out = [];
switch (lib) {
  case "standardwebhooks": {
    const wh = new StandardWebhook(opts.secret);
    out.push(["webhook-id", id], ["webhook-timestamp", String(ts)],
             ["webhook-signature", wh.sign(id, new Date(ts * 1000), body)]);
    break;
  }
  case "svix": {
    const wh = new SvixWebhook(opts.secret);
    out.push(["svix-id", id], ["svix-timestamp", String(ts)],
             ["svix-signature", wh.sign(id, new Date(ts * 1000), body)]);
    break;
  }
  case "stripe": {
    const stripe = new Stripe("sk_test_interop_only");
    out.push(["Stripe-Signature", stripe.webhooks.generateTestHeaderString({
      payload: body.toString("utf8"), secret: opts.secret, timestamp: ts })]);
    break;
  }
  case "octokit": {
    out.push(["X-Hub-Signature-256", await octokitSign(opts.secret, body.toString("utf8"))],
             ["X-GitHub-Delivery", id]);
    break;
  }
  default:
    usage(`unknown library ${lib}`);
}
for (const [k, v] of out) process.stdout.write(`${k}: ${v}\n`);
