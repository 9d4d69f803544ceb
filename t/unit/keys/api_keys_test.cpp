// Unit tests for src/core/keys/api_keys: scopes, key generation and the
// validation of the /keys and /limits request bodies (docs/directives.md#api_key_auth, docs/api.md).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/keys/api_keys.hpp"
#include "core/util/encoding.hpp"
#include "core/util/hmac.hpp"
#include "core/util/json.hpp"

using namespace webhook;

namespace {

constexpr int64_t kNow = 1893456000;  // 2030-01-01T00:00:00Z

const std::string kAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

bool all_base62(std::string_view s) {
    for (char c : s)
        if (kAlphabet.find(c) == std::string::npos) return false;
    return true;
}

Json parse(std::string_view text) {
    std::string err;
    Json j = json_parse(text, &err);
    EXPECT_TRUE(j) << text << ": " << err;
    return j;
}

KeyRequest key_ok(std::string_view body) {
    Json j = parse(body);
    auto r = parse_key_request(j.get(), kNow);
    if (auto* e = std::get_if<ApiError>(&r)) {
        ADD_FAILURE() << body << " -> " << e->status << " " << e->code << ": " << e->message;
        return {};
    }
    return std::get<KeyRequest>(r);
}

ApiError key_err(std::string_view body) {
    Json j = parse(body);
    auto r = parse_key_request(j.get(), kNow);
    if (!std::holds_alternative<ApiError>(r)) {
        ADD_FAILURE() << body << " was accepted";
        return {0, "", ""};
    }
    return std::get<ApiError>(r);
}

LimitsRequest limits_ok(std::string_view body) {
    Json j = parse(body);
    auto r = parse_limits_request(j.get());
    if (auto* e = std::get_if<ApiError>(&r)) {
        ADD_FAILURE() << body << " -> " << e->status << " " << e->code << ": " << e->message;
        return {};
    }
    return std::get<LimitsRequest>(r);
}

ApiError limits_err(std::string_view body) {
    Json j = parse(body);
    auto r = parse_limits_request(j.get());
    if (!std::holds_alternative<ApiError>(r)) {
        ADD_FAILURE() << body << " was accepted";
        return {0, "", ""};
    }
    return std::get<ApiError>(r);
}

#define EXPECT_API_ERROR(err, st, cd, field)                                            \
    do {                                                                                \
        ApiError e_ = (err);                                                            \
        EXPECT_EQ(e_.status, (st));                                                     \
        EXPECT_EQ(e_.code, (cd));                                                       \
        EXPECT_NE(e_.message.find(field), std::string::npos) << "message: " << e_.message; \
    } while (0)

}  // namespace

// ---- scopes -----------------------------------------------------------------

TEST(Scopes, FromName) {
    EXPECT_EQ(scope_from_name("read"), std::optional<uint32_t>(kScopeRead));
    EXPECT_EQ(scope_from_name("readwrite"), std::optional<uint32_t>(kScopeReadWrite));
    EXPECT_EQ(scope_from_name("webhooks:manage"), std::optional<uint32_t>(kScopeWebhooksManage));
    EXPECT_EQ(scope_from_name("events:publish"), std::optional<uint32_t>(kScopeEventsPublish));
    for (const char* bad : {"", "READ", "Read", "write", "read ", " read", "webhooks", "webhooks:*", "events:Publish",
                            "admin", "*"})
        EXPECT_FALSE(scope_from_name(bad)) << bad;
    EXPECT_FALSE(scope_from_name(std::string_view("read\0", 5)));
}

TEST(Scopes, Satisfy) {
    EXPECT_TRUE(scopes_satisfy(kScopeRead, kScopeRead));
    EXPECT_TRUE(scopes_satisfy(kScopeReadWrite, kScopeRead));
    EXPECT_TRUE(scopes_satisfy(kScopeReadWrite, kScopeReadWrite));
    EXPECT_FALSE(scopes_satisfy(kScopeRead, kScopeReadWrite));
    EXPECT_FALSE(scopes_satisfy(kScopeWebhooksManage, kScopeEventsPublish));
    EXPECT_FALSE(scopes_satisfy(kScopeEventsPublish, kScopeWebhooksManage));
    EXPECT_FALSE(scopes_satisfy(kScopeReadWrite, kScopeWebhooksManage));
    EXPECT_FALSE(scopes_satisfy(kScopeWebhooksManage, kScopeRead));
    EXPECT_FALSE(scopes_satisfy(0, kScopeRead));
    EXPECT_TRUE(scopes_satisfy(kScopeWebhooksManage | kScopeEventsPublish, kScopeEventsPublish));
    EXPECT_TRUE(scopes_satisfy(kScopeReadWrite | kScopeEventsPublish, kScopeRead | kScopeEventsPublish));
    EXPECT_FALSE(scopes_satisfy(kScopeRead | kScopeEventsPublish, kScopeReadWrite | kScopeEventsPublish));
}

TEST(Scopes, Text) {
    EXPECT_EQ(scopes_text(0), "");
    EXPECT_EQ(scopes_text(kScopeRead), "read");
    EXPECT_EQ(scopes_text(kScopeEventsPublish | kScopeRead), "read events:publish");
    EXPECT_EQ(scopes_text(kScopeReadWrite | kScopeRead), "read readwrite");
    EXPECT_EQ(scopes_text(kScopeEventsPublish | kScopeWebhooksManage | kScopeReadWrite | kScopeRead),
              "read readwrite webhooks:manage events:publish");
}

TEST(Scopes, Json) {
    Json j = json_take(scopes_json(kScopeEventsPublish | kScopeReadWrite));
    EXPECT_EQ(json_dump(j.get()), R"(["readwrite","events:publish"])");
    Json none = json_take(scopes_json(0));
    EXPECT_EQ(json_dump(none.get()), "[]");
}

// ---- key generation ---------------------------------------------------------

TEST(GenerateKey, Shape) {
    NewKey k = generate_key();
    ASSERT_EQ(k.secret.size(), 3 + kKeyRandomChars);
    EXPECT_EQ(k.secret.substr(0, 3), "sk_");
    EXPECT_TRUE(all_base62(k.secret.substr(3))) << k.secret;
    ASSERT_EQ(k.id.size(), 4u + 16u);
    EXPECT_EQ(k.id.substr(0, 4), "key_");
    EXPECT_TRUE(all_base62(k.id.substr(4))) << k.id;
    EXPECT_EQ(k.hash.size(), 32u);
    EXPECT_EQ(k.hash, sha256(k.secret));
    EXPECT_EQ(hex_encode(k.hash), hex_encode(sha256(k.secret)));
    EXPECT_EQ(k.display, k.secret.substr(0, 8));
    EXPECT_EQ(k.display.size(), kKeyDisplayChars);
    EXPECT_TRUE(plausible_key(k.secret));
}

TEST(GenerateKey, KeysDiffer) {
    std::set<std::string> ids, secrets;
    for (int i = 0; i < 50; i++) {
        NewKey k = generate_key();
        ids.insert(k.id);
        secrets.insert(k.secret);
    }
    EXPECT_EQ(ids.size(), 50u);
    EXPECT_EQ(secrets.size(), 50u);
}

TEST(PlausibleKey, Bounds) {
    EXPECT_FALSE(plausible_key(""));
    EXPECT_FALSE(plausible_key("1234567"));
    EXPECT_TRUE(plausible_key("12345678"));
    EXPECT_TRUE(plausible_key(std::string(128, 'a')));
    EXPECT_FALSE(plausible_key(std::string(129, 'a')));
    EXPECT_FALSE(plausible_key("sk_abc\r\ndef"));
    EXPECT_FALSE(plausible_key(std::string("sk_abcd\0ef", 10)));
}

// ---- parse_key_request -----------------------------------------------------------

TEST(KeyRequest, Minimal) {
    KeyRequest r = key_ok(R"({"resource":"room:1","scopes":["read"]})");
    EXPECT_EQ(r.resource, "room:1");
    EXPECT_EQ(r.scopes, static_cast<uint32_t>(kScopeRead));
    EXPECT_EQ(r.label, "");
    EXPECT_EQ(r.expires_at, 0);
}

TEST(KeyRequest, Full) {
    KeyRequest r = key_ok(R"({"resource":"*","scopes":["readwrite","webhooks:manage","events:publish","read"],
                             "label":"ci deploy key","expires_at":"2031-01-01T00:00:00+01:00"})");
    EXPECT_EQ(r.resource, "*");
    EXPECT_EQ(r.scopes, static_cast<uint32_t>(kScopeRead | kScopeReadWrite | kScopeWebhooksManage | kScopeEventsPublish));
    EXPECT_EQ(r.label, "ci deploy key");
    EXPECT_EQ(r.expires_at, 1924988400);  // 2030-12-31T23:00:00Z
}

TEST(KeyRequest, NullOptionalsAndLimits) {
    KeyRequest r = key_ok(R"({"resource":"t","scopes":["events:publish"],"label":null,"expires_at":null})");
    EXPECT_EQ(r.label, "");
    EXPECT_EQ(r.expires_at, 0);
    // Exactly at the length limits.
    std::string body = R"({"resource":")" + std::string(kMaxResource, 'r') + R"(","scopes":["read"],"label":")"
                       + std::string(kMaxLabel, 'l') + R"("})";
    r = key_ok(body);
    EXPECT_EQ(r.resource.size(), kMaxResource);
    EXPECT_EQ(r.label.size(), kMaxLabel);
}

TEST(KeyRequest, IntegerExpiresAt) {
    KeyRequest r = key_ok(R"({"resource":"t","scopes":["read"],"expires_at":1893459600})");
    EXPECT_EQ(r.expires_at, kNow + 3600);
}

TEST(KeyRequest, NotAnObject) {
    for (const char* body : {"[]", R"("x")", "42", "null", "true"}) {
        Json j = parse(body);
        auto r = parse_key_request(j.get(), kNow);
        ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << body;
        EXPECT_EQ(std::get<ApiError>(r).status, 400);
        EXPECT_EQ(std::get<ApiError>(r).code, "invalid_request");
        EXPECT_NE(std::get<ApiError>(r).message.find("object"), std::string::npos);
    }
    auto r = parse_key_request(nullptr, kNow);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r));
    EXPECT_EQ(std::get<ApiError>(r).status, 400);
}

TEST(KeyRequest, UnknownField) {
    EXPECT_API_ERROR(key_err(R"({"resource":"t","scopes":["read"],"scope":"read"})"), 400, "invalid_request",
                     "\"scope\"");
    EXPECT_API_ERROR(key_err(R"({"secret":"x"})"), 400, "invalid_request", "secret");
}

TEST(KeyRequest, ResourceErrors) {
    EXPECT_API_ERROR(key_err(R"({"scopes":["read"]})"), 400, "invalid_request", "resource");
    EXPECT_API_ERROR(key_err(R"({"resource":null,"scopes":["read"]})"), 400, "invalid_request", "resource");
    EXPECT_API_ERROR(key_err(R"({"resource":7,"scopes":["read"]})"), 400, "invalid_request", "resource");
    EXPECT_API_ERROR(key_err(R"({"resource":["a"],"scopes":["read"]})"), 400, "invalid_request", "resource");
    EXPECT_API_ERROR(key_err(R"({"resource":"","scopes":["read"]})"), 400, "invalid_request", "resource");
    std::string long_body = R"({"resource":")" + std::string(kMaxResource + 1, 'r') + R"(","scopes":["read"]})";
    ApiError e = key_err(long_body);
    EXPECT_API_ERROR(e, 400, "invalid_request", "resource");
    EXPECT_NE(e.message.find("256"), std::string::npos) << e.message;
    EXPECT_API_ERROR(key_err(R"({"resource":"a\nb","scopes":["read"]})"), 400, "invalid_request", "resource");
}

TEST(KeyRequest, LabelErrors) {
    EXPECT_API_ERROR(key_err(R"({"resource":"t","scopes":["read"],"label":"bad\u0007bell"})"), 400,
                     "invalid_request", "label");
    EXPECT_API_ERROR(key_err(R"({"resource":"t","scopes":["read"],"label":"cr\rlf"})"), 400, "invalid_request",
                     "label");
    EXPECT_API_ERROR(key_err(R"({"resource":"t","scopes":["read"],"label":5})"), 400, "invalid_request", "label");
    std::string long_body =
        R"({"resource":"t","scopes":["read"],"label":")" + std::string(kMaxLabel + 1, 'l') + R"("})";
    EXPECT_API_ERROR(key_err(long_body), 400, "invalid_request", "label");
}

TEST(KeyRequest, ScopesErrors) {
    EXPECT_API_ERROR(key_err(R"({"resource":"t"})"), 400, "invalid_request", "scopes");
    EXPECT_API_ERROR(key_err(R"({"resource":"t","scopes":[]})"), 400, "invalid_request", "scopes");
    EXPECT_API_ERROR(key_err(R"({"resource":"t","scopes":"read"})"), 400, "invalid_request", "scopes");
    EXPECT_API_ERROR(key_err(R"({"resource":"t","scopes":null})"), 400, "invalid_request", "scopes");
    EXPECT_API_ERROR(key_err(R"({"resource":"t","scopes":[1]})"), 400, "invalid_request", "scopes");
    EXPECT_API_ERROR(key_err(R"({"resource":"t","scopes":["read",null]})"), 400, "invalid_request", "scopes");
    // At most 8 entries.
    EXPECT_API_ERROR(key_err(R"({"resource":"t","scopes":["read","read","read","read","read","read","read","read",)"
                             R"("read"]})"),
                     400, "invalid_request", "scopes");
    ApiError e = key_err(R"({"resource":"t","scopes":["read","admin"]})");
    EXPECT_API_ERROR(e, 422, "unknown_scope", "scopes");
    EXPECT_NE(e.message.find("\"admin\""), std::string::npos) << e.message;
    // The echoed name is bounded.
    e = key_err(R"({"resource":"t","scopes":[")" + std::string(5000, 'x') + R"("]})");
    EXPECT_EQ(e.status, 422);
    EXPECT_LT(e.message.size(), 300u);
}

TEST(KeyRequest, ExpiresAtErrors) {
    for (const char* v : {R"("tomorrow")", R"("2031-01-01")", R"("2031-13-01T00:00:00Z")", "1.5", "true",
                          R"({"t":1})", "[1]"}) {
        std::string body = std::string(R"({"resource":"t","scopes":["read"],"expires_at":)") + v + "}";
        SCOPED_TRACE(body);
        EXPECT_API_ERROR(key_err(body), 400, "invalid_request", "expires_at");
    }
    for (const char* v : {R"("2029-12-31T23:59:59Z")", R"("2030-01-01T00:00:00Z")", R"("1970-01-01T00:00:00Z")",
                          "1893456000", "1", "-5"}) {
        std::string body = std::string(R"({"resource":"t","scopes":["read"],"expires_at":)") + v + "}";
        SCOPED_TRACE(body);
        EXPECT_API_ERROR(key_err(body), 422, "invalid_expires_at", "expires_at");
    }
    // One second in the future is fine.
    EXPECT_EQ(key_ok(R"({"resource":"t","scopes":["read"],"expires_at":"2030-01-01T00:00:01Z"})").expires_at,
              kNow + 1);
}

TEST(KeyRequest, ExpiresAtBeyondYear9999IsRejected) {
    // An integer that gmtime cannot represent would otherwise be stored and
    // later rendered by format_rfc3339 from an unset struct tm.
    EXPECT_API_ERROR(key_err(R"({"resource":"t","scopes":["read"],"expires_at":9223372036854775807})"), 400,
                     "invalid_request", "expires_at");
    EXPECT_API_ERROR(key_err(R"({"resource":"t","scopes":["read"],"expires_at":253402300800})"), 400,
                     "invalid_request", "expires_at");
    EXPECT_EQ(key_ok(R"({"resource":"t","scopes":["read"],"expires_at":253402300799})").expires_at, 253402300799);
}

// ---- parse_limits_request --------------------------------------------------------

TEST(LimitsRequest, Valid) {
    LimitsRequest r = limits_ok(R"({"max_webhooks":5,"max_keys":20})");
    EXPECT_EQ(r.max_webhooks, 5);
    EXPECT_EQ(r.max_keys, 20);
    r = limits_ok(R"({"max_keys":0})");
    EXPECT_EQ(r.max_webhooks, -1);
    EXPECT_EQ(r.max_keys, 0);
    r = limits_ok(R"({"max_webhooks":100000})");
    EXPECT_EQ(r.max_webhooks, kMaxPlanLimit);
    EXPECT_EQ(r.max_keys, -1);
}

TEST(LimitsRequest, Errors) {
    EXPECT_API_ERROR(limits_err("{}"), 400, "invalid_request", "max_webhooks");
    EXPECT_API_ERROR(limits_err("[]"), 400, "invalid_request", "object");
    EXPECT_API_ERROR(limits_err(R"({"max_keys":-1})"), 400, "invalid_request", "max_keys");
    EXPECT_API_ERROR(limits_err(R"({"max_webhooks":-3,"max_keys":1})"), 400, "invalid_request", "max_webhooks");
    EXPECT_API_ERROR(limits_err(R"({"max_webhooks":100001})"), 400, "invalid_request", "max_webhooks");
    EXPECT_API_ERROR(limits_err(R"({"max_keys":2.0})"), 400, "invalid_request", "max_keys");
    EXPECT_API_ERROR(limits_err(R"({"max_keys":"5"})"), 400, "invalid_request", "max_keys");
    EXPECT_API_ERROR(limits_err(R"({"max_keys":null})"), 400, "invalid_request", "max_keys");
    EXPECT_API_ERROR(limits_err(R"({"max_keys":true})"), 400, "invalid_request", "max_keys");
    EXPECT_API_ERROR(limits_err(R"({"max_keys":1,"tenant":"x"})"), 400, "invalid_request", "\"tenant\"");
}
