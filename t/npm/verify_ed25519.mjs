#!/usr/bin/env node
// Verifies recorded deliveries' Standard Webhooks v1a (Ed25519) signatures
// with three independent implementations: Node's own crypto (OpenSSL),
// @noble/ed25519 and tweetnacl (pure JavaScript). Used by t/deliver/ed25519.t.
//
//   node verify_ed25519.mjs FILE
//
// FILE: a JSON array of {public_key: "whpk_…", headers: {name: value}, body_b64}.
// Prints a JSON array, one entry per item: {node, noble, tweetnacl}, each
// true when one v1a entry of webhook-signature is the key's signature of
// "${webhook-id}.${webhook-timestamp}.${body}", else a reason.
import { readFileSync } from "node:fs";
import { createPublicKey, verify as nodeVerify, createHash } from "node:crypto";
import * as noble from "@noble/ed25519";
import nacl from "tweetnacl";

noble.hashes.sha512 = (m) => new Uint8Array(createHash("sha512").update(m).digest());

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: node verify_ed25519.mjs FILE\n");
  process.exit(2);
}

// The SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410): Node takes DER.
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

const impls = {
  node: (pub, msg, sig) =>
    nodeVerify(null, msg, createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: "der", type: "spki" }), sig),
  noble: (pub, msg, sig) => noble.verify(sig, msg, pub),
  tweetnacl: (pub, msg, sig) => nacl.sign.detached.verify(msg, sig, pub),
};

const out = [];
for (const item of JSON.parse(readFileSync(file, "utf8"))) {
  const headers = {};
  for (const [k, v] of Object.entries(item.headers)) headers[k.toLowerCase()] = v;
  const result = {};
  const id = headers["webhook-id"], ts = headers["webhook-timestamp"], sigs = headers["webhook-signature"];
  if (!item.public_key.startsWith("whpk_")) {
    for (const name of Object.keys(impls)) result[name] = "not a whpk_ key";
    out.push(result);
    continue;
  }
  const pub = new Uint8Array(Buffer.from(item.public_key.slice(5), "base64"));
  const msg = new Uint8Array(Buffer.concat([Buffer.from(`${id}.${ts}.`), Buffer.from(item.body_b64, "base64")]));
  const v1a = (sigs ?? "").split(" ").filter((s) => s.startsWith("v1a,")).map((s) => Buffer.from(s.slice(4), "base64"));
  for (const [name, check] of Object.entries(impls)) {
    if (id === undefined || ts === undefined || sigs === undefined) result[name] = "webhook-id/timestamp/signature missing";
    else if (v1a.length === 0) result[name] = "no v1a signature";
    else {
      try {
        result[name] = v1a.some((sig) => sig.length === 64 && check(pub, msg, new Uint8Array(sig))) ? true : "no v1a signature verifies";
      } catch (e) {
        result[name] = String(e && e.message ? e.message : e);
      }
    }
  }
  out.push(result);
}
process.stdout.write(JSON.stringify(out) + "\n");
