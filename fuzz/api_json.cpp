// Fuzz target: management-API request bodies (core/util/json.hpp, core/keys/api_keys.hpp,
// core/deliver/*.hpp). The input is the request body, JSON text as received.
//
// Checks:
//  - json_parse never crashes; what it accepts dumps (json_dump) to text that
//    parses back to an equal value.
//  - parse_key_request / parse_limits_request accept only what README.md#api_key_auth/§5 allow
//    (bounded, header-safe strings, known scopes, future expiry ≤ 9999-12-31,
//    limits 0..100000).
//  - reject_unknown_fields refuses exactly the objects with a field outside the list.
//  - event types and filters: valid_event_filter/event_matches agree with a
//    reference; build_payload of a valid type and JSON data is JSON with the
//    same data.
//  - json_set_str takes any bytes (a response excerpt, a header): json_dump does
//    not throw, and what has no NUL parses back (the same bytes when they were
//    UTF-8).
#include <cstdint>
#include <new>
#include <string>
#include <vector>

#include "core/deliver/events.hpp"
#include "core/deliver/retry.hpp"
#include "core/deliver/signing.hpp"
#include "core/deliver/url_policy.hpp"
#include "core/util/json.hpp"
#include "core/keys/api_keys.hpp"
#include "core/util/rfc3339.hpp"
#include "core/util/text.hpp"
#include "fuzz_util.hpp"

using namespace webhook;

namespace {

constexpr int64_t kNow = 1731705121;
constexpr int64_t kMaxTime = 253402300799;  // 9999-12-31T23:59:59Z

bool is_valid_type_ref(std::string_view t) {
    if (t.empty() || t.size() > kMaxEventType || t.front() == '.' || t.back() == '.') return false;
    for (char c : t)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == ':'))
            return false;
    return true;
}

bool filter_matches_ref(std::string_view f, std::string_view t) {
    if (f == "*") return true;
    if (f.size() > 2 && f.substr(f.size() - 2) == ".*") {
        std::string_view stem = f.substr(0, f.size() - 1);   // "room."
        return t.size() > stem.size() && t.substr(0, stem.size()) == stem;
    }
    return f == t;
}

void check_roundtrip(const json_t* j) {
    std::string text = json_dump(j);
    std::string err;
    Json back = json_parse(text, &err);
    FUZZ_CHECK(back, "json_dump output does not parse (%s): %s", err.c_str(), text.c_str());
    FUZZ_CHECK(json_equal(const_cast<json_t*>(j), back.get()), "dump/parse changed the value: %s", text.c_str());
}

void check_key_request(const json_t* body) {
    auto r = parse_key_request(body, kNow);
    if (auto* e = std::get_if<ApiError>(&r)) {
        FUZZ_CHECK(e->status == 400 || e->status == 422, "status %d", e->status);
        FUZZ_CHECK(!e->code.empty() && !e->message.empty(), "an error without code or message");
        return;
    }
    const KeyRequest& k = std::get<KeyRequest>(r);
    FUZZ_CHECK(!k.resource.empty() && k.resource.size() <= kMaxResource && header_safe(k.resource), "resource");
    FUZZ_CHECK(k.label.size() <= kMaxLabel && header_safe(k.label), "label");
    FUZZ_CHECK(k.scopes != 0 && (k.scopes & ~15u) == 0, "scopes %u", k.scopes);
    FUZZ_CHECK(k.expires_at == 0 || (k.expires_at > kNow && k.expires_at <= kMaxTime), "expires_at %lld",
               static_cast<long long>(k.expires_at));
    FUZZ_CHECK(!scopes_text(k.scopes).empty(), "scopes_text empty");
    Json names = json_take(scopes_json(k.scopes));
    FUZZ_CHECK(json_array_size(names.get()) >= 1, "scopes_json empty");
    (void) format_rfc3339(k.expires_at);
}

void check_limits_request(const json_t* body) {
    auto r = parse_limits_request(body);
    if (std::holds_alternative<ApiError>(r)) return;
    const LimitsRequest& l = std::get<LimitsRequest>(r);
    FUZZ_CHECK(l.max_keys >= -1 && l.max_keys <= kMaxPlanLimit, "max_keys");
    FUZZ_CHECK(l.max_webhooks >= -1 && l.max_webhooks <= kMaxPlanLimit, "max_webhooks");
    FUZZ_CHECK(l.max_keys >= 0 || l.max_webhooks >= 0, "neither limit given");
}

void check_unknown_fields(const json_t* obj) {
    static const std::vector<std::vector<const char*>> lists = {
        {"resource", "scopes", "label", "expires_at"},
        {"max_webhooks", "max_keys"},
        {"url", "events", "tenant", "name", "description", "secret", "timeout", "enabled"},
        {"type", "tenant", "data"},
    };
    auto run = [&](std::initializer_list<const char*> known, const std::vector<const char*>& ref) {
        bool all_known = true;
        const char* key;
        json_t* value;
        json_object_foreach(const_cast<json_t*>(obj), key, value) {
            bool k = false;
            for (const char* r : ref) k |= std::string_view(r) == key;
            all_known &= k;
        }
        auto e = reject_unknown_fields(obj, known);
        FUZZ_CHECK(e.has_value() != all_known, "reject_unknown_fields disagrees");
        if (e) FUZZ_CHECK(e->status == 400, "status %d", e->status);
    };
    run({"resource", "scopes", "label", "expires_at"}, lists[0]);
    run({"max_webhooks", "max_keys"}, lists[1]);
    run({"url", "events", "tenant", "name", "description", "secret", "timeout", "enabled"}, lists[2]);
    run({"type", "tenant", "data"}, lists[3]);
}

// Every string in the document, depth-first, bounded.
void collect_strings(const json_t* j, std::vector<std::string_view>* out, int depth = 0) {
    if (out->size() >= 32 || depth > 8) return;
    if (json_is_string(j)) {
        out->push_back(json_sv(j));
    } else if (json_is_array(j)) {
        size_t i;
        json_t* v;
        json_array_foreach(const_cast<json_t*>(j), i, v) collect_strings(v, out, depth + 1);
    } else if (json_is_object(j)) {
        const char* key;
        json_t* v;
        json_object_foreach(const_cast<json_t*>(j), key, v) {
            if (out->size() < 32) out->push_back(key);
            collect_strings(v, out, depth + 1);
        }
    }
}

void check_events(const json_t* doc) {
    std::vector<std::string_view> strings;
    collect_strings(doc, &strings);
    for (std::string_view s : strings) {
        bool type = valid_event_type(s);
        FUZZ_CHECK(type == is_valid_type_ref(s), "valid_event_type(\"%.*s\")", static_cast<int>(s.size()), s.data());
        bool filter = valid_event_filter(s);
        if (type) FUZZ_CHECK(filter && event_matches(s, s), "a type is not its own filter");
        if (filter) {
            FUZZ_CHECK(event_matches(s, "") == (s == "*"), "a filter matched the empty type");
            for (std::string_view t : strings)
                if (valid_event_type(t))
                    FUZZ_CHECK(event_matches(s, t) == filter_matches_ref(s, t), "event_matches(\"%.*s\", \"%.*s\")",
                               static_cast<int>(s.size()), s.data(), static_cast<int>(t.size()), t.data());
        }
        (void) scope_from_name(s);
        (void) plausible_key(s);
        (void) header_safe(s);
    }

    // POST /events {type, tenant, data}: the payload we would deliver.
    if (json_is_object(doc)) {
        std::string_view type = json_str_field(doc, "type");
        json_t* data = json_object_get(doc, "data");
        if (valid_event_type(type)) {
            std::string data_json = data ? json_dump(data) : "null";
            int64_t ts = json_int_field(doc, "timestamp", kNow);
            if (ts < 0 || ts > kMaxTime) ts = kNow;
            std::string payload = build_payload(type, ts, data_json);
            std::string err;
            Json p = json_parse(payload, &err);
            FUZZ_CHECK(p && json_is_object(p.get()), "payload is not a JSON object (%s): %s", err.c_str(),
                       payload.c_str());
            FUZZ_CHECK(json_str_field(p.get(), "type") == type, "payload type");
            FUZZ_CHECK(parse_rfc3339(json_str_field(p.get(), "timestamp")) == ts, "payload timestamp");
            Json want = json_take(data ? json_incref(data) : json_null());
            FUZZ_CHECK(json_equal(json_object_get(p.get(), "data"), want.get()), "payload data changed");
        }
        std::string_view url = json_str_field(doc, "url");
        if (!url.empty()) {
            (void) parse_webhook_url(url, false);
            (void) parse_webhook_url(url, true);
        }
        (void) json_int_field(doc, "timeout", 10);
        (void) json_bool_field(doc, "enabled", true);
    }
}

// json_set_str with bytes we did not validate (the raw body stands in for a
// receiver's response excerpt or a header value).
void check_set_str(std::string_view raw) {
    raw = raw.substr(0, 2048);
    Json o = json_take(json_object());
    json_set_str(o.get(), "v", raw);
    std::string text;
    try {
        text = json_dump(o.get());
    } catch (const std::bad_alloc&) {
        FUZZ_CHECK(false, "json_dump threw after json_set_str of %zu bytes (valid UTF-8: %d)", raw.size(),
                   fuzz::valid_utf8(raw));
    }
    if (raw.find('\0') != std::string_view::npos) return;  // NUL dumps as \u0000, which json_parse refuses
    std::string err;
    Json back = json_parse(text, &err);
    FUZZ_CHECK(back, "json_set_str + json_dump gave text json_parse refuses (%s)", err.c_str());
    std::string_view got = json_str_field(back.get(), "v");
    if (fuzz::valid_utf8(raw)) FUZZ_CHECK(got == raw, "json_set_str changed valid UTF-8");
    FUZZ_CHECK(fuzz::valid_utf8(got), "a string that is not UTF-8 came back");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text = fuzz::as_view(data, size);
    check_set_str(text);

    std::string err;
    Json doc = json_parse(text, &err);
    if (!doc) {
        FUZZ_CHECK(!err.empty(), "json_parse failed without a reason");
        return 0;
    }
    check_roundtrip(doc.get());
    check_key_request(doc.get());
    check_limits_request(doc.get());
    if (json_is_object(doc.get())) check_unknown_fields(doc.get());
    check_events(doc.get());
    return 0;
}
