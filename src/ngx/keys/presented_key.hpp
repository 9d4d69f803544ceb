// Who is calling: the API key presented with a request (docs/directives.md#api_key_auth), shared by
// api_key_auth and the management API.
#pragma once

#include <optional>
#include <string_view>

#include "ngx/keys/key_store.hpp"

namespace webhook::ngx {

// From `Authorization: Bearer <key>` or `X-API-Key: <key>`; nullopt when the
// request presents neither.
std::optional<std::string_view> presented_key(ngx_http_request_t* r);

// What a caller is told when its key is absent or not valid (api_key_auth
// and webhook_api answer alike; unknown, revoked and expired look the same).
constexpr std::string_view kMissingKeyMessage =
    "an API key is required: send it as Authorization: Bearer <key> or X-API-Key: <key>";
constexpr std::string_view kInvalidKeyMessage = "the API key is not valid (unknown, revoked or expired)";

enum class KeyCheck { ok, invalid };

// Unknown, revoked and expired keys are one answer: invalid.
KeyCheck check_key(Zone* zone, ngx_http_request_t* r, std::string_view presented, KeyAuth* out);

// Whether a key bound to `key_resource` may act on `resource`.
inline bool resource_allows(std::string_view key_resource, std::string_view resource) {
    return key_resource == "*" || key_resource == resource;
}

}  // namespace webhook::ngx
