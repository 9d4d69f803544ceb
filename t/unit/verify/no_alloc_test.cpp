// The accepting path of webhook_verify allocates nothing (issue 11): what the
// NGINX glue runs per request — parse the headers, copy the keyed HMAC, hash
// the signed prefix and the body, compare, make the replay key — is run here
// for every scheme with operator new counted.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "core/util/encoding.hpp"
#include "core/util/hmac.hpp"
#include "core/verify/signature.hpp"

namespace {
thread_local bool counting = false;
std::atomic<size_t> allocations{0};
}  // namespace

// Counts while `counting` is on; otherwise the usual allocation. GCC cannot
// see that this operator new is malloc, hence the pragma.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
    if (counting) allocations++;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

using namespace webhook;

namespace {

struct Case {
    Scheme scheme;
    std::string secret;
    std::string signature, timestamp, id;
};

TEST(NoAllocation, AcceptingPathOfEveryScheme) {
    const std::string body = R"({"action":"opened","number":1})";
    const std::string ts = "1731705121";
    const int64_t now = 1731705121;
    auto hex_mac = [](const std::string& key, const std::string& m) { return hex_encode(hmac(HashAlg::sha256, key, m)); };
    auto b64_mac = [](const std::string& key, const std::string& m) { return base64_encode(hmac(HashAlg::sha256, key, m)); };
    const std::string std_secret = "whsec_" + base64_encode("0123456789abcdef0123456789abcdef");
    const std::string std_key = *derive_key(Scheme::standard, std_secret);
    // An id of the maximum length: the signed prefix at its largest.
    const std::string long_id(kMaxIdHeader, 'i');

    const Case cases[] = {
        {Scheme::github, "gh", "sha256=" + hex_mac("gh", body), "", "delivery-1"},
        {Scheme::stripe, "st", "t=" + ts + ",v1=" + hex_mac("st", ts + "." + body) + ",v0=00", "", ""},
        {Scheme::slack, "sl", "v0=" + hex_mac("sl", "v0:" + ts + ":" + body), ts, ""},
        {Scheme::shopify, "sh", b64_mac("sh", body), "", "shop-1"},
        {Scheme::hmac, "hm", hex_mac("hm", body), "", ""},
        {Scheme::standard, std_secret, "v1,xxxx v1," + b64_mac(std_key, "msg_1." + ts + "." + body), ts, "msg_1"},
        {Scheme::standard, std_secret, "v1," + b64_mac(std_key, long_id + "." + ts + "." + body), ts, long_id},
    };
    for (const Case& c : cases) {
        SchemeConfig cfg;
        cfg.scheme = c.scheme;
        const std::vector<HeaderFamily> families = header_families(cfg);   // configuration time
        const std::string key = *derive_key(c.scheme, c.secret);
        const Hmac keyed(HashAlg::sha256, key);
        const Digest key_id = replay_key_id(key);
        HeaderValues h;
        h.signature = c.signature;
        if (!c.timestamp.empty()) h.timestamp = c.timestamp;
        if (!c.id.empty()) h.id = c.id;

        allocations = 0;
        counting = true;
        Parsed p = parse_request(cfg, families, h, now);
        Hmac mac = keyed;
        mac.update(p.signed_prefix);
        mac.update(body);
        Digest d = mac.finish();
        bool ok = p.verdict == Verdict::ok && signature_matches(p.signatures, d);
        Digest rk = replay_key(cfg.scheme, key_id, p.replay_id.empty() ? d.view() : p.replay_id);
        counting = false;

        EXPECT_TRUE(ok) << scheme_name(c.scheme) << ": " << p.detail;
        EXPECT_EQ(rk.size, 32u);
        EXPECT_EQ(allocations.load(), 0u) << scheme_name(c.scheme) << " allocated on the accepting path";
    }
}

// A Standard Webhooks header with v1a (Ed25519) entries, alone or mixed with
// v1, parses without allocating too (the glue copies the candidates into the
// request's pool; only the signature check itself, OpenSSL's, allocates, and
// only for such a request).
TEST(NoAllocation, ParsingV1aEntries) {
    const std::string ts = "1731705121";
    const std::string sig64 = "v1a," + base64_encode(std::string(64, '\x5a'));
    const std::string v1 = "v1," + base64_encode(std::string(32, '\x33'));
    SchemeConfig cfg;
    cfg.scheme = Scheme::standard;
    const std::vector<HeaderFamily> families = header_families(cfg);
    for (const std::string& header : {sig64, v1 + " " + sig64 + " v1a,short " + sig64}) {
        HeaderValues h;
        h.signature = header;
        h.timestamp = ts;
        h.id = std::string_view("msg_1");
        allocations = 0;
        counting = true;
        Parsed p = parse_request(cfg, families, h, 1731705121);
        bool ok = p.verdict == Verdict::ok && !p.ed25519.empty();
        counting = false;
        EXPECT_TRUE(ok) << p.detail;
        EXPECT_EQ(allocations.load(), 0u) << header;
    }
}

// The counter itself works (the test above cannot pass by not counting).
TEST(NoAllocation, CounterCounts) {
    allocations = 0;
    counting = true;
    std::string* s = new std::string(100, 'x');
    counting = false;
    delete s;
    EXPECT_GE(allocations.load(), 1u);
}

}  // namespace
