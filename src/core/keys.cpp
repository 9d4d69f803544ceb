#include "core/keys.hpp"

#include <ctime>

#include "core/encoding.hpp"
#include "core/hmac.hpp"

namespace webhook {

namespace {

constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

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

bool is_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

int to_int(std::string_view s) {
    int v = 0;
    for (char c : s) v = v * 10 + (c - '0');
    return v;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

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

std::string random_base62(size_t n) {
    std::string out;
    out.reserve(n);
    while (out.size() < n) {
        for (unsigned char b : random_bytes(n)) {
            if (b >= 248) continue;  // 248 = 4 * 62: keeps the draw uniform
            out.push_back(kBase62[b % 62]);
            if (out.size() == n) break;
        }
    }
    return out;
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

std::string format_rfc3339(int64_t t) {
    time_t tt = static_cast<time_t>(t);
    struct tm tm;
    // Out of gmtime's range (parse_key_request does not let such values in).
    if (gmtime_r(&tt, &tm) == nullptr) return t < 0 ? "0000-01-01T00:00:00Z" : "9999-12-31T23:59:59Z";
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::optional<int64_t> parse_rfc3339(std::string_view s) {
    // YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)
    if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        return std::nullopt;
    std::string_view Y = s.substr(0, 4), M = s.substr(5, 2), D = s.substr(8, 2), h = s.substr(11, 2),
                     m = s.substr(14, 2), sec = s.substr(17, 2);
    if (!is_digits(Y) || !is_digits(M) || !is_digits(D) || !is_digits(h) || !is_digits(m) || !is_digits(sec))
        return std::nullopt;
    int mon = to_int(M), day = to_int(D), hour = to_int(h), min = to_int(m), secs = to_int(sec);
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || secs > 60) return std::nullopt;
    int year = to_int(Y);
    bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    static constexpr int kMonthDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (day > kMonthDays[mon - 1] + (mon == 2 && leap)) return std::nullopt;
    size_t pos = 19;
    if (pos < s.size() && s[pos] == '.') {
        pos++;
        size_t start = pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') pos++;
        if (pos == start) return std::nullopt;
    }
    int64_t offset = 0;
    std::string_view zone = s.substr(pos);
    if (zone == "Z" || zone == "z") {
        offset = 0;
    } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' && is_digits(zone.substr(1, 2))
               && is_digits(zone.substr(4, 2)) && to_int(zone.substr(1, 2)) <= 23 && to_int(zone.substr(4, 2)) <= 59) {
        offset = (to_int(zone.substr(1, 2)) * 60 + to_int(zone.substr(4, 2))) * 60;
        if (zone[0] == '-') offset = -offset;
    } else {
        return std::nullopt;
    }
    int64_t days = days_from_civil(year, mon, day);
    return days * 86400 + hour * 3600 + min * 60 + secs - offset;
}

bool header_safe(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
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
