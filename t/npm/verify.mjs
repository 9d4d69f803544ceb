#!/usr/bin/env node
// Verifies recorded webhook deliveries with the receivers' own libraries
// (standardwebhooks and svix), as a customer's endpoint would. Used by
// t/delivery_*.t.
//
//   node verify.mjs FILE
//
// FILE: a JSON array of {secret, headers: {name: value}, body_b64}. Prints a
// JSON array, one entry per item: {standardwebhooks: true|"<error>", svix: true|"<error>"}.
import { readFileSync } from "node:fs";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: node verify.mjs FILE\n");
  process.exit(2);
}
const items = JSON.parse(readFileSync(file, "utf8"));
const out = [];
for (const item of items) {
  const body = Buffer.from(item.body_b64, "base64").toString("utf8");
  const headers = {};
  for (const [k, v] of Object.entries(item.headers)) headers[k.toLowerCase()] = v;
  const result = {};
  for (const [name, Lib] of [["standardwebhooks", StandardWebhook], ["svix", SvixWebhook]]) {
    try {
      const payload = new Lib(item.secret).verify(body, headers);
      // Both libraries return the parsed payload: it must be the body's JSON.
      result[name] = JSON.stringify(payload) === JSON.stringify(JSON.parse(body)) ? true : "payload differs";
    } catch (e) {
      result[name] = String(e && e.message ? e.message : e);
    }
  }
  out.push(result);
}
process.stdout.write(JSON.stringify(out) + "\n");
