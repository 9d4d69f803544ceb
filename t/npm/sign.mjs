#!/usr/bin/env node
// Signs a webhook body with the sender's own library and prints the headers it
// produces, one "Name: value" per line. Used by t/verify_*.t for interop.
//
//   node sign.mjs LIBRARY --secret SECRET --body FILE [--id MSG_ID] [--timestamp UNIX]
//   node sign.mjs keypair
//
// LIBRARY: standardwebhooks | svix | stripe | octokit, or Standard Webhooks'
// asymmetric scheme (v1a,<base64 of the Ed25519 signature of "id.ts.body">,
// SECRET a whsk_<base64 of the 32-byte seed>) made by one of three
// independent Ed25519 implementations: ed25519-node (Node's crypto.sign, i.e.
// OpenSSL), ed25519-noble (@noble/ed25519, pure JS), ed25519-tweetnacl
// (tweetnacl, pure JS). `keypair` prints a new "secret: whsk_…" and
// "public: whpk_…", the public key derived by all three (which must agree).
import { createPrivateKey, randomBytes, sign as nodeSign } from "node:crypto";
import { readFileSync } from "node:fs";
import * as noble from "@noble/ed25519";
import nacl from "tweetnacl";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";
import Stripe from "stripe";
import { sign as octokitSign } from "@octokit/webhooks-methods";

function usage(msg) {
  process.stderr.write(`sign.mjs: ${msg}\n` +
    "usage: node sign.mjs standardwebhooks|svix|stripe|octokit|ed25519-node|ed25519-noble|ed25519-tweetnacl " +
    "--secret S --body FILE [--id ID] [--timestamp UNIX]\n       node sign.mjs keypair\n");
  process.exit(2);
}

// Ed25519 over a 32-byte seed, three ways.
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");  // RFC 8410 prefix of a seed
const ed25519 = {
  node: {
    sign: async (msg, seed) =>
      nodeSign(null, msg, createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: "der", type: "pkcs8" })),
    publicKey: async (seed) => {
      const jwk = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: "der", type: "pkcs8" })
        .export({ format: "jwk" });
      return Buffer.from(jwk.x, "base64url");
    },
  },
  noble: {
    sign: async (msg, seed) => Buffer.from(await noble.signAsync(new Uint8Array(msg), new Uint8Array(seed))),
    publicKey: async (seed) => Buffer.from(await noble.getPublicKeyAsync(new Uint8Array(seed))),
  },
  tweetnacl: {
    sign: async (msg, seed) =>
      Buffer.from(nacl.sign.detached(new Uint8Array(msg), nacl.sign.keyPair.fromSeed(new Uint8Array(seed)).secretKey)),
    publicKey: async (seed) => Buffer.from(nacl.sign.keyPair.fromSeed(new Uint8Array(seed)).publicKey),
  },
};

const [lib, ...rest] = process.argv.slice(2);
if (lib === "keypair") {
  const seed = randomBytes(32);
  const pubs = await Promise.all(Object.values(ed25519).map((impl) => impl.publicKey(seed)));
  if (!pubs.every((p) => p.length === 32 && p.equals(pubs[0])))
    usage(`the implementations derive different public keys: ${pubs.map((p) => p.toString("hex")).join(" ")}`);
  process.stdout.write(`secret: whsk_${seed.toString("base64")}\npublic: whpk_${pubs[0].toString("base64")}\n`);
  process.exit(0);
}
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
  case "ed25519-node":
  case "ed25519-noble":
  case "ed25519-tweetnacl": {
    const m = /^whsk_(.*)$/s.exec(opts.secret);
    const seed = m && Buffer.from(m[1], "base64");
    if (!seed || seed.length !== 32) usage("--secret must be whsk_<base64 of a 32-byte seed>");
    const signed = Buffer.concat([Buffer.from(`${id}.${ts}.`), body]);
    const sig = await ed25519[lib.slice(8)].sign(signed, seed);
    if (sig.length !== 64) usage(`${lib} made a signature of ${sig.length} bytes`);
    out.push(["webhook-id", id], ["webhook-timestamp", String(ts)], ["webhook-signature", `v1a,${sig.toString("base64")}`]);
    break;
  }
  default:
    usage(`unknown library ${lib}`);
}
for (const [k, v] of out) process.stdout.write(`${k}: ${v}\n`);
