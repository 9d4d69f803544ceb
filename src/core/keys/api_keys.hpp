// API keys (docs/directives.md#api_key_auth): scopes, generation, and validation of the /keys and
// /limits request bodies. Keys are shown once; only SHA-256 is kept.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/util/api_error.hpp"
#include "core/util/json.hpp"

namespace webhook {

enum Scope : uint32_t {
    kScopeRead = 1,
    kScopeReadWrite = 2,
    kScopeWebhooksManage = 4,
    kScopeEventsPublish = 8,
};

std::optional<uint32_t> scope_from_name(std::string_view name);
// `have` grants `need`: readwrite includes read.
bool scopes_satisfy(uint32_t have, uint32_t need);
// Space-separated names, in a fixed order ("read readwrite").
std::string scopes_text(uint32_t scopes);
json_t* scopes_json(uint32_t scopes);

constexpr size_t kKeyRandomChars = 40;
constexpr size_t kKeyDisplayChars = 8;
constexpr size_t kMaxResource = 256;
constexpr size_t kMaxLabel = 200;
constexpr size_t kMaxTenant = 256;
constexpr int64_t kMaxPlanLimit = 100000;
constexpr int64_t kMaxPendingLimit = 10000000;

struct NewKey {
    std::string id;       // key_<16 base62>, public
    std::string secret;   // sk_<40 base62>, returned once
    std::string hash;     // SHA-256 of secret, 32 bytes
    std::string display;  // the first characters, for lists
};
NewKey generate_key();

// True for a value that looks like a key we issue (cheap pre-check before hashing).
bool plausible_key(std::string_view presented);

struct KeyRequest {
    std::string resource;
    uint32_t scopes = 0;
    std::string label;
    int64_t expires_at = 0;  // 0: never
};
std::variant<KeyRequest, ApiError> parse_key_request(const json_t* body, int64_t now);

struct LimitsRequest {
    int64_t max_webhooks = -1;  // -1: unchanged
    int64_t max_keys = -1;
    int64_t max_pending = -1;   // unfinished deliveries of the tenant
};
std::variant<LimitsRequest, ApiError> parse_limits_request(const json_t* body);

}  // namespace webhook
