#!/usr/bin/env node
// Prints a new Ed25519 key pair as tweetnacl makes it, in Standard Webhooks'
// forms: "whsk_<base64 of the 64-byte secret key (seed || public key)>
// whpk_<base64 of the public key>". Used by t/deliver/ed25519.t to import a key
// made elsewhere.
import nacl from "tweetnacl";

const kp = nacl.sign.keyPair();
process.stdout.write(`whsk_${Buffer.from(kp.secretKey).toString("base64")} whpk_${Buffer.from(kp.publicKey).toString("base64")}\n`);
