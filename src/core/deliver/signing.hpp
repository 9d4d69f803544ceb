// How outbound requests are signed: endpoint secrets, Standard Webhooks
// signatures (v1: HMAC-SHA256; v1a: Ed25519), and single-header HMAC
// signatures.
//
// An endpoint's secret says how it signs: "whsk_…" is an Ed25519 secret key
// (the receiver verifies with its public key, "whpk_…"), anything else an
// HMAC secret ("whsec_…" or raw bytes). So the kind needs no field of its
// own in the store, and a rotation may change it (both sign meanwhile).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/hmac.hpp"
#include "core/verify/signature.hpp"

namespace webhook {

enum class Signing { hmac, ed25519 };
std::optional<Signing> signing_from_name(std::string_view name);
std::string_view signing_name(Signing s);
Signing signing_of(std::string_view secret);

// hmac: "whsec_" + base64 of 24 random bytes; ed25519: "whsk_" + base64 of
// a new key's 32-byte seed.
std::string generate_endpoint_secret(Signing kind = Signing::hmac);
// The public key ("whpk_…") of an Ed25519 endpoint secret; nullopt for an
// HMAC secret or a whsk_ text that is not a key.
std::optional<std::string> endpoint_public_key(std::string_view secret);
// The HMAC key of an endpoint secret (whsec_<base64> decoded, else raw).
std::string endpoint_key(std::string_view secret);

// webhook-signature: "v1,<b64> v1,<b64>" over id.timestamp.body, one per key.
std::string standard_signature(const std::vector<std::string>& keys, std::string_view msg_id, int64_t timestamp,
                               std::string_view body);
// The webhook-signature of an endpoint's secrets, one entry each (current
// first): "v1,…" for an HMAC secret, "v1a,<base64 Ed25519 signature>" over
// the same id.timestamp.body for a whsk_ one. nullopt when a whsk_ secret is
// not a key or OpenSSL fails.
std::optional<std::string> endpoint_signature(const std::vector<std::string>& secrets, std::string_view msg_id,
                                              int64_t timestamp, std::string_view body);
// prefix + hex/base64 HMAC of the body (Stairoids-style X-…-Signature).
std::string body_signature(HashAlg alg, std::string_view key, std::string_view body, Encoding enc,
                           std::string_view prefix);

}  // namespace webhook
