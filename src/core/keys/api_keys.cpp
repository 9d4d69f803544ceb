#include "core/keys/api_keys.hpp"

#include "core/util/hmac.hpp"
#include "core/util/rfc3339.hpp"
#include "core/util/text.hpp"

namespace webhook {

namespace {

struct ScopeName {
    uint32_t bit;
    const char* name;
};
constexpr ScopeName kScopes[] = {
    {kScopeRead, "read"},
    {kScopeReadWrite, "readwrite"},
    {kScopeWebhooksManage, "webhooks:manage"},
    {kScopeEventsPublish, "events:publish"},
};

std::optional<std::string> string_field(const json_t* body, const char* name, size_t max, bool required,
                                        ApiError* err) {
    json_t* v = json_object_get(body, name);
    if (v == nullptr || json_is_null(v)) {
        if (required) *err = invalid_request(std::string(name) + " is required");
        return std::nullopt;
    }
    if (!json_is_string(v)) {
        *err = invalid_request(std::string(name) + " must be a string");
        return std::nullopt;
    }
    std::string_view s = json_sv(v);
    if (s.size() > max) {
        *err = invalid_request(std::string(name) + " is longer than " + std::to_string(max) + " bytes");
        return std::nullopt;
    }
    if (!header_safe(s)) {
        *err = invalid_request(std::string(name) + " contains control characters");
        return std::nullopt;
    }
    return std::string(s);
}

}  // namespace

std::optional<uint32_t> scope_from_name(std::string_view name) {
    for (const auto& s : kScopes)
        if (name == s.name) return s.bit;
    return std::nullopt;
}

bool scopes_satisfy(uint32_t have, uint32_t need) {
    if (have & kScopeReadWrite) have |= kScopeRead;
    return (have & need) == need;
}

std::string scopes_text(uint32_t scopes) {
    std::string out;
    for (const auto& s : kScopes) {
        if (!(scopes & s.bit)) continue;
        if (!out.empty()) out.push_back(' ');
        out += s.name;
    }
    return out;
}

json_t* scopes_json(uint32_t scopes) {
    json_t* a = json_array();
    for (const auto& s : kScopes)
        if (scopes & s.bit) json_array_append_new(a, json_string(s.name));
    return a;
}

NewKey generate_key() {
    NewKey k;
    k.id = "key_" + random_base62(16);
    k.secret = "sk_" + random_base62(kKeyRandomChars);
    k.hash = sha256(k.secret);
    k.display = k.secret.substr(0, kKeyDisplayChars);
    return k;
}

bool plausible_key(std::string_view presented) {
    return presented.size() >= 8 && presented.size() <= 128 && header_safe(presented);
}

std::variant<KeyRequest, ApiError> parse_key_request(const json_t* body, int64_t now) {
    if (!json_is_object(body)) return invalid_request("the body must be a JSON object");
    if (auto e = reject_unknown_fields(body, {"resource", "scopes", "label", "expires_at"})) return *e;

    KeyRequest req;
    ApiError err{0, "", ""};
    auto resource = string_field(body, "resource", kMaxResource, true, &err);
    if (!resource) return err;
    if (resource->empty()) return invalid_request("resource must not be empty");
    req.resource = *resource;

    json_t* scopes = json_object_get(body, "scopes");
    if (scopes == nullptr) return invalid_request("scopes is required");
    if (!json_is_array(scopes) || json_array_size(scopes) == 0 || json_array_size(scopes) > 8)
        return invalid_request("scopes must be a non-empty array of scope names");
    size_t i;
    json_t* s;
    json_array_foreach(scopes, i, s) {
        if (!json_is_string(s)) return invalid_request("scopes must contain strings");
        auto bit = scope_from_name(json_sv(s));
        if (!bit) {
            return unprocessable("unknown_scope", "scopes: unknown scope \"" + std::string(json_sv(s).substr(0, 64))
                                                      + "\" (read, readwrite, webhooks:manage, events:publish)");
        }
        req.scopes |= *bit;
    }

    auto label = string_field(body, "label", kMaxLabel, false, &err);
    if (!label && err.status) return err;
    if (label) req.label = *label;

    json_t* exp = json_object_get(body, "expires_at");
    if (exp != nullptr && !json_is_null(exp)) {
        std::optional<int64_t> t;
        if (json_is_string(exp)) t = parse_rfc3339(json_sv(exp));
        else if (json_is_integer(exp)) t = json_integer_value(exp);
        // Up to 9999-12-31T23:59:59Z: what RFC 3339 (and format_rfc3339) can represent.
        if (!t || *t > 253402300799)
            return invalid_request("expires_at must be an RFC 3339 time such as 2030-01-01T00:00:00Z");
        if (*t <= now) return unprocessable("invalid_expires_at", "expires_at is in the past");
        req.expires_at = *t;
    }
    return req;
}

std::variant<LimitsRequest, ApiError> parse_limits_request(const json_t* body) {
    if (!json_is_object(body)) return invalid_request("the body must be a JSON object");
    if (auto e = reject_unknown_fields(body, {"max_webhooks", "max_keys", "max_pending"})) return *e;
    LimitsRequest req;
    struct Field {
        const char* name;
        int64_t* value;
        int64_t max;
    };
    for (const Field& f : {Field{"max_webhooks", &req.max_webhooks, kMaxPlanLimit},
                           Field{"max_keys", &req.max_keys, kMaxPlanLimit},
                           Field{"max_pending", &req.max_pending, kMaxPendingLimit}}) {
        json_t* v = json_object_get(body, f.name);
        if (v == nullptr) continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > f.max)
            return invalid_request(std::string(f.name) + " must be an integer from 0 to " + std::to_string(f.max));
        *f.value = json_integer_value(v);
    }
    if (req.max_keys < 0 && req.max_webhooks < 0 && req.max_pending < 0)
        return invalid_request("give max_webhooks, max_keys or max_pending");
    return req;
}

}  // namespace webhook
