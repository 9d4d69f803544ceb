// Unit tests for Standard Webhooks' asymmetric signatures (v1a, Ed25519) in
// src/core/verify/signature: which entries are candidates, mixed v1 / v1a
// headers, malformed entries and what the sender is told, key kinds by text.
#include <gtest/gtest.h>

#include <string>

#include "core/util/ed25519.hpp"
#include "core/util/encoding.hpp"
#include "core/util/hmac.hpp"
#include "core/verify/signature.hpp"

using namespace webhook;

namespace {

const std::string kId = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
const std::string kTs = "1731705121";
const int64_t kNow = 1731705121;
const std::string kBody = R"({"type":"invoice.paid","data":{"id":"in_1"}})";
const std::string kHmacSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

SchemeConfig standard() {
    SchemeConfig c;
    c.scheme = Scheme::standard;
    return c;
}

HeaderValues headers(std::string_view sig, std::string_view ts = kTs, std::string_view id = kId) {
    HeaderValues h;
    h.signature = sig;
    h.timestamp = ts;
    h.id = id;
    return h;
}

std::string b64(const unsigned char* p, size_t n) {
    return base64_encode(std::string_view(reinterpret_cast<const char*>(p), n));
}

// "v1a,<base64>" of key's signature over id.ts.body.
std::string v1a(const Ed25519Key& key, std::string_view body = kBody, std::string_view id = kId,
                std::string_view ts = kTs) {
    Ed25519Signature sig;
    EXPECT_TRUE(key.sign(std::string(id) + "." + std::string(ts) + "." + std::string(body), &sig));
    return "v1a," + b64(sig.data(), sig.size());
}

std::string v1(std::string_view secret = kHmacSecret, std::string_view body = kBody) {
    auto key = derive_key(Scheme::standard, secret);
    return "v1," + base64_encode(hmac(HashAlg::sha256, *key, kId + "." + kTs + "." + std::string(body)));
}

// What the NGINX glue does for v1a: the public key checks each candidate
// over the signed prefix and the body, kept whole.
bool ed25519_verifies(const Parsed& p, const Ed25519Key& pub, std::string_view body = kBody) {
    std::string message = std::string(p.signed_prefix.view()) + std::string(body);
    bool any = false;
    for (const Digest& d : p.ed25519) any |= pub.verify(message, d.bytes, d.size);
    return any;
}

Ed25519Key public_of(const Ed25519Key& k) { return *Ed25519Key::from_public(k.public_text()); }

std::string refusal(const HeaderValues& h) {
    Parsed p = parse_request(standard(), h, kNow);
    return std::string(verdict_code(p.verdict)) + ": " + p.detail;
}

}  // namespace

TEST(V1a, SignatureIsACandidateOverTheSignedContent) {
    Ed25519Key key = Ed25519Key::generate();
    Parsed p = parse_request(standard(), headers(v1a(key)), kNow);
    ASSERT_EQ(p.verdict, Verdict::ok) << p.detail;
    EXPECT_TRUE(p.signatures.empty());
    ASSERT_EQ(p.ed25519.size(), 1u);
    EXPECT_EQ(p.ed25519[0].size, kEd25519SignatureSize);
    EXPECT_EQ(p.signed_prefix.view(), kId + "." + kTs + ".");
    EXPECT_EQ(p.replay_id, kId);
    EXPECT_TRUE(ed25519_verifies(p, public_of(key)));
    EXPECT_FALSE(ed25519_verifies(p, public_of(key), kBody + " "));
    EXPECT_FALSE(ed25519_verifies(p, public_of(Ed25519Key::generate())));
}

TEST(V1a, TheIdAndTimestampAreSigned) {
    Ed25519Key key = Ed25519Key::generate();
    const std::string sig = v1a(key);
    Parsed other_id = parse_request(standard(), headers(sig, kTs, "msg_other"), kNow);
    ASSERT_EQ(other_id.verdict, Verdict::ok);
    EXPECT_FALSE(ed25519_verifies(other_id, public_of(key)));
    const std::string ts = std::to_string(kNow + 1);   // outlives the views in headers()
    Parsed other_ts = parse_request(standard(), headers(sig, ts), kNow);
    ASSERT_EQ(other_ts.verdict, Verdict::ok);
    EXPECT_FALSE(ed25519_verifies(other_ts, public_of(key)));
}

TEST(V1a, MixedWithV1InAnyOrder) {
    Ed25519Key key = Ed25519Key::generate();
    for (const std::string& header : {v1() + " " + v1a(key), v1a(key) + " " + v1(), v1a(key) + " v2,abc " + v1()}) {
        Parsed p = parse_request(standard(), headers(header), kNow);
        ASSERT_EQ(p.verdict, Verdict::ok) << header;
        EXPECT_EQ(p.signatures.size(), 1u) << header;
        EXPECT_EQ(p.ed25519.size(), 1u) << header;
        EXPECT_TRUE(ed25519_verifies(p, public_of(key)));
        Hmac h(HashAlg::sha256, *derive_key(Scheme::standard, kHmacSecret));
        h.update(p.signed_prefix);
        h.update(kBody);
        EXPECT_TRUE(signature_matches(p.signatures, h.finish()));
    }
}

TEST(V1a, RotationTwoSignaturesEitherKey) {
    Ed25519Key old_key = Ed25519Key::generate(), new_key = Ed25519Key::generate();
    Parsed p = parse_request(standard(), headers(v1a(old_key) + " " + v1a(new_key)), kNow);
    ASSERT_EQ(p.verdict, Verdict::ok);
    ASSERT_EQ(p.ed25519.size(), 2u);
    EXPECT_TRUE(ed25519_verifies(p, public_of(old_key)));
    EXPECT_TRUE(ed25519_verifies(p, public_of(new_key)));
}

TEST(V1a, SvixNames) {
    Ed25519Key key = Ed25519Key::generate();
    const std::string sig = v1a(key);   // the header values are views
    HeaderValues h = headers(sig);
    h.names = header_families(standard())[1];
    Parsed p = parse_request(standard(), h, kNow);
    ASSERT_EQ(p.verdict, Verdict::ok);
    EXPECT_EQ(p.names.signature, "svix-signature");
    EXPECT_TRUE(ed25519_verifies(p, public_of(key)));
}

TEST(V1a, MalformedEntriesArePassedOverAndCounted) {
    Ed25519Key key = Ed25519Key::generate();
    const std::string thirty_two = "v1a," + base64_encode(std::string(32, 'x'));   // an HMAC's size
    const std::string sixty_five = "v1a," + base64_encode(std::string(65, 'x'));
    const std::string not_b64 = "v1a,****";
    const std::string v1_short = "v1," + base64_encode(std::string(31, 'x'));
    Parsed p = parse_request(standard(),
                             headers(thirty_two + " " + sixty_five + " " + not_b64 + " v1a, " + v1_short + " " + v1a(key)),
                             kNow);
    ASSERT_EQ(p.verdict, Verdict::ok) << p.detail;
    EXPECT_EQ(p.ed25519.size(), 1u);
    EXPECT_EQ(p.ignored.v1a, 4u);
    EXPECT_EQ(p.ignored.v1, 1u);
    // Prefixes that are not v1a's: neither candidates nor counted.
    Parsed q = parse_request(standard(), headers("v1a " + v1a(key).substr(4) + " V1A," + v1a(key).substr(4) + " v1a=x " +
                                                 v1a(key)),
                             kNow);
    ASSERT_EQ(q.verdict, Verdict::ok);
    EXPECT_EQ(q.ed25519.size(), 1u);
    EXPECT_EQ(q.ignored.v1a, 0u);
}

TEST(V1a, OnlyMalformedEntriesAreNamed) {
    const std::string thirty_two = "v1a," + base64_encode(std::string(32, 'x'));
    EXPECT_EQ(refusal(headers(thirty_two)),
              "malformed_signature: webhook-signature has a v1a entry that is not the base64 of a 64-byte Ed25519 "
              "signature");
    EXPECT_EQ(refusal(headers("v1a,")),
              "malformed_signature: webhook-signature has a v1a entry that is not the base64 of a 64-byte Ed25519 "
              "signature");
    EXPECT_EQ(refusal(headers("v1,abcd")),
              "malformed_signature: webhook-signature has a v1 entry that is not the base64 of a 32-byte HMAC-SHA256");
    EXPECT_EQ(refusal(headers("v1,abcd " + thirty_two)),
              "malformed_signature: webhook-signature has no v1,<base64> signature of a 32-byte HMAC-SHA256 nor "
              "v1a,<base64> of a 64-byte Ed25519 signature");
    EXPECT_EQ(refusal(headers("v2,abcd")),
              "malformed_signature: webhook-signature has no v1,<base64> signature of a 32-byte HMAC-SHA256 nor "
              "v1a,<base64> of a 64-byte Ed25519 signature");
    // The headers still come first.
    Ed25519Key key = Ed25519Key::generate();
    const std::string sig = v1a(key);
    HeaderValues no_id = headers(sig);
    no_id.id.reset();
    EXPECT_EQ(refusal(no_id), "malformed_signature: missing webhook-id header");
    const std::string stale = std::to_string(kNow - 301);
    EXPECT_EQ(refusal(headers(sig, stale)),
              "timestamp_out_of_tolerance: webhook-timestamp header is more than 300 seconds from the server's clock");
}

TEST(V1a, AtMostKMaxEd25519SignaturesCandidates) {
    Ed25519Key key = Ed25519Key::generate();
    const std::string one = v1a(key);
    std::string header;
    for (size_t i = 0; i < kMaxSignatures + 5; i++) header += one + " ";
    header += v1();
    ASSERT_LE(header.size(), kMaxSignatureHeader);
    Parsed p = parse_request(standard(), headers(header), kNow);
    ASSERT_EQ(p.verdict, Verdict::ok);
    EXPECT_EQ(p.ed25519.size(), kMaxEd25519Signatures);   // each costs a hash of the body per key
    EXPECT_EQ(p.signatures.size(), 1u);   // v1 has its own kMaxSignatures
    EXPECT_EQ(p.ignored.v1a, 0u);         // past the bound: not decoded, not counted as malformed
}

TEST(V1a, OtherSchemesDoNotReadIt) {
    Ed25519Key key = Ed25519Key::generate();
    SchemeConfig gh;
    gh.scheme = Scheme::github;
    Parsed p = parse_request(gh, headers(v1a(key)), kNow);
    EXPECT_EQ(p.verdict, Verdict::malformed_signature);
    EXPECT_TRUE(p.ed25519.empty());
}

TEST(V1a, SecretKindByText) {
    EXPECT_EQ(secret_kind(Scheme::standard, "whpk_abc"), SecretKind::ed25519_public);
    EXPECT_EQ(secret_kind(Scheme::standard, "whsk_abc"), SecretKind::ed25519_secret);
    EXPECT_EQ(secret_kind(Scheme::standard, kHmacSecret), SecretKind::hmac);
    EXPECT_EQ(secret_kind(Scheme::standard, "raw secret"), SecretKind::hmac);
    EXPECT_EQ(secret_kind(Scheme::standard, "WHPK_abc"), SecretKind::hmac);
    for (Scheme s : {Scheme::github, Scheme::stripe, Scheme::slack, Scheme::shopify, Scheme::hmac}) {
        EXPECT_EQ(secret_kind(s, "whpk_abc"), SecretKind::hmac);
        EXPECT_EQ(secret_kind(s, "whsk_abc"), SecretKind::hmac);
    }
}

TEST(V1a, WhatTheSenderIsTold) {
    HeaderFamily names = header_families(standard())[0];
    EXPECT_EQ(unverifiable_detail(names, false, true),
              "webhook-signature has v1a (Ed25519) signatures only, and this receiver checks v1 (HMAC-SHA256) "
              "signatures");
    EXPECT_EQ(unverifiable_detail(names, true, false),
              "webhook-signature has v1 (HMAC-SHA256) signatures only, and this receiver checks v1a (Ed25519) "
              "signatures");
    EXPECT_EQ(ed25519_too_large_detail(1048576),
              "the body is larger than the 1048576 bytes this receiver checks a v1a (Ed25519) signature over");

    const std::string base = verdict_detail(standard(), names, Verdict::bad_signature);
    EXPECT_EQ(verdict_detail(standard(), names, Verdict::bad_signature, EntryCounts{}), base);
    EXPECT_EQ(verdict_detail(standard(), names, Verdict::bad_signature, EntryCounts{0, 1}),
              base + "; a v1a entry is not the base64 of a 64-byte Ed25519 signature");
    EXPECT_EQ(verdict_detail(standard(), names, Verdict::bad_signature, EntryCounts{2, 3}),
              base + "; 2 v1 entries are not the base64 of a 32-byte HMAC-SHA256; 3 v1a entries are not the base64 "
                     "of a 64-byte Ed25519 signature");
    // Only bad_signature names them.
    EXPECT_EQ(verdict_detail(standard(), names, Verdict::replayed, EntryCounts{0, 1}),
              verdict_detail(standard(), names, Verdict::replayed));
}

TEST(V1a, MessagesNeverEchoASignatureOrKey) {
    Ed25519Key key = Ed25519Key::generate();
    const std::string sig = v1a(key);
    const std::string bad = "v1a," + sig.substr(4, 40);   // base64, too short
    for (const std::string& header : {bad, bad + " v1,zz"}) {
        Parsed p = parse_request(standard(), headers(header), kNow);
        EXPECT_NE(p.verdict, Verdict::ok);
        EXPECT_EQ(p.detail.find(sig.substr(4, 20)), std::string::npos) << p.detail;
    }
    HeaderFamily names = header_families(standard())[0];
    for (const std::string& m : {unverifiable_detail(names, true, true), ed25519_too_large_detail(1)}) {
        EXPECT_EQ(m.find("whpk_"), std::string::npos);
        EXPECT_EQ(m.find(key.public_text().substr(5, 20)), std::string::npos);
    }
}

TEST(V1a, ReplayIdsScopedByThePublicKey) {
    Ed25519Key a = Ed25519Key::generate(), b = Ed25519Key::generate();
    Digest ia = replay_key_id(a.public_text()), ib = replay_key_id(b.public_text());
    EXPECT_NE(ia.view(), ib.view());
    EXPECT_NE(replay_key(Scheme::standard, ia, kId).view(), replay_key(Scheme::standard, ib, kId).view());
    // The same key given without its base64 padding has the same id (the
    // id is of the canonical text).
    std::string unpadded = a.public_text();
    ASSERT_EQ(unpadded.back(), '=');
    unpadded.pop_back();
    std::optional<Ed25519Key> a2 = Ed25519Key::from_public(unpadded);
    ASSERT_TRUE(a2);
    EXPECT_EQ(replay_key_id(a2->public_text()).view(), ia.view());
}
