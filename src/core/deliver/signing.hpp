// How outbound requests are signed: endpoint secrets, Standard Webhooks
// signatures, and single-header HMAC signatures.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/hmac.hpp"
#include "core/verify/signature.hpp"

namespace webhook {

// "whsec_" + base64 of 24 random bytes.
std::string generate_endpoint_secret();
// The HMAC key of an endpoint secret (whsec_<base64> decoded, else raw).
std::string endpoint_key(std::string_view secret);

// webhook-signature: "v1,<b64> v1,<b64>" over id.timestamp.body, one per key.
std::string standard_signature(const std::vector<std::string>& keys, std::string_view msg_id, int64_t timestamp,
                               std::string_view body);
// prefix + hex/base64 HMAC of the body (Stairoids-style X-…-Signature).
std::string body_signature(HashAlg alg, std::string_view key, std::string_view body, Encoding enc,
                           std::string_view prefix);

}  // namespace webhook
