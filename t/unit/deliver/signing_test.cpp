// Unit tests for src/core/deliver/signing: endpoint secrets and the
// signatures of outbound requests (Standard Webhooks, single-header HMAC).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/deliver/signing.hpp"
#include "core/util/encoding.hpp"
#include "core/util/ed25519.hpp"
#include "core/util/hmac.hpp"

using namespace webhook;

namespace {

// TEST-VECTORS.md: Standard Webhooks / Svix.
const std::string kStdSecret = "whsec_plJ3nmyCDGBKInavdOK15jsl";
const std::string kStdId = "msg_loFOjxBNrRLzqYUf";
constexpr int64_t kStdTimestamp = 1731705121;
const std::string kStdBody = R"({"event_type":"ping","data":{"success":true}})";
const std::string kStdSignature = "v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0=";
// The same message signed with the raw key "second-key" (Python hmac).
const std::string kSecondSignature = "v1,kczl903vovcn+Nuw23muhhFWNsXpPOgz8tCoVIieDVA=";

// TEST-VECTORS.md: GitHub X-Hub-Signature-256.
const std::string kGitHubKey = "It's a Secret to Everybody";
const std::string kGitHubBody = "Hello, World!";

}  // namespace

// ---- endpoint secrets ---------------------------------------------------------------

TEST(EndpointKey, WhsecIsBase64Decoded) {
    EXPECT_EQ(hex_encode(endpoint_key(kStdSecret)), "a652779e6c820c604a2276af74e2b5e63b25");
}

TEST(EndpointKey, OtherSecretsAreUsedAsTheyAre) {
    EXPECT_EQ(endpoint_key("my endpoint secret"), "my endpoint secret");
    EXPECT_EQ(endpoint_key("WHSEC_plJ3nmyCDGBKInavdOK15jsl"), "WHSEC_plJ3nmyCDGBKInavdOK15jsl");   // prefix is case-sensitive
    EXPECT_EQ(endpoint_key(""), "");
    // "whsec_" with nothing or no valid base64 after it: the literal (the
    // header's "else raw").
    EXPECT_EQ(endpoint_key("whsec_"), "whsec_");
    EXPECT_EQ(endpoint_key("whsec_not*base64"), "whsec_not*base64");
}

TEST(GenerateEndpointSecret, Shape) {
    std::string a = generate_endpoint_secret(), b = generate_endpoint_secret();
    ASSERT_EQ(a.size(), 6u + 32u);
    EXPECT_EQ(a.substr(0, 6), "whsec_");
    auto raw = base64_decode(a.substr(6));
    ASSERT_TRUE(raw) << a;
    EXPECT_EQ(raw->size(), 24u);
    EXPECT_EQ(endpoint_key(a), *raw);
    EXPECT_NE(a, b);
}

// ---- standard_signature -------------------------------------------------------------

TEST(StandardSignature, MatchesTheStandardWebhooksVector) {
    EXPECT_EQ(standard_signature({endpoint_key(kStdSecret)}, kStdId, kStdTimestamp, kStdBody), kStdSignature);
}

TEST(StandardSignature, OneEntryPerKeyInOrder) {
    std::vector<std::string> keys = {endpoint_key(kStdSecret), "second-key"};
    EXPECT_EQ(standard_signature(keys, kStdId, kStdTimestamp, kStdBody), kStdSignature + " " + kSecondSignature);
    std::vector<std::string> reversed = {"second-key", endpoint_key(kStdSecret)};
    EXPECT_EQ(standard_signature(reversed, kStdId, kStdTimestamp, kStdBody), kSecondSignature + " " + kStdSignature);
    EXPECT_EQ(standard_signature({}, kStdId, kStdTimestamp, kStdBody), "");
}

TEST(StandardSignature, SignsIdTimestampAndBody) {
    std::vector<std::string> keys = {endpoint_key(kStdSecret)};
    EXPECT_NE(standard_signature(keys, "msg_other", kStdTimestamp, kStdBody), kStdSignature);
    EXPECT_NE(standard_signature(keys, kStdId, kStdTimestamp + 1, kStdBody), kStdSignature);
    EXPECT_NE(standard_signature(keys, kStdId, kStdTimestamp, kStdBody + " "), kStdSignature);
    // The signed text is id.timestamp.body with the timestamp in decimal.
    // base64(HMAC-SHA256("k", "id.42.b")), from Python's hmac.
    EXPECT_EQ(standard_signature({"k"}, "id", 42, "b"), "v1,wyzTms+/8SiF2XnGZmtYaMT9ws822wowyzX/17AR/ig=");
}

// ---- body_signature -----------------------------------------------------------------

TEST(BodySignature, HexWithPrefixMatchesGitHubVector) {
    EXPECT_EQ(body_signature(HashAlg::sha256, kGitHubKey, kGitHubBody, Encoding::hex, "sha256="),
              "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    EXPECT_EQ(body_signature(HashAlg::sha256, kGitHubKey, kGitHubBody, Encoding::hex, ""),
              "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
}

TEST(BodySignature, Base64AndOtherAlgorithms) {
    EXPECT_EQ(body_signature(HashAlg::sha256, kGitHubKey, kGitHubBody, Encoding::base64, ""),
              "dXEH6g6yUJ/CESIczphLijdXC211hsIsRvQ3nIsEPhc=");
    EXPECT_EQ(body_signature(HashAlg::sha1, kGitHubKey, kGitHubBody, Encoding::hex, "sha1="),
              "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59");
    EXPECT_EQ(body_signature(HashAlg::sha1, kGitHubKey, kGitHubBody, Encoding::base64, "v1="),
              "v1=AdwQ0Mg+cu0kYhnN2RZpZn/iylk=");
    EXPECT_EQ(body_signature(HashAlg::sha512, kGitHubKey, kGitHubBody, Encoding::base64, "v1="),
              "v1=Ee01WmF+mBNOhCASp5RMz1nBAlbLGCNXvX46QgE/8Hw3b4wUz1zBkj2iC1HWQlay+4678QCqZ6YTJvYf6oERvA==");
    EXPECT_EQ(body_signature(HashAlg::sha256, "key", "", Encoding::hex, ""),
              "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0");
}

// ---- Ed25519 endpoints (v1a) ---------------------------------------------------------

TEST(Signing, KindFollowsTheSecret) {
    EXPECT_EQ(signing_of(kStdSecret), Signing::hmac);
    EXPECT_EQ(signing_of("raw secret bytes"), Signing::hmac);
    std::string sk = generate_endpoint_secret(Signing::ed25519);
    EXPECT_EQ(sk.substr(0, 5), "whsk_");
    EXPECT_EQ(signing_of(sk), Signing::ed25519);
    EXPECT_EQ(signing_from_name("ed25519"), Signing::ed25519);
    EXPECT_EQ(signing_from_name("hmac"), Signing::hmac);
    EXPECT_FALSE(signing_from_name("ED25519"));
    EXPECT_EQ(signing_name(Signing::ed25519), "ed25519");
    auto pk = endpoint_public_key(sk);
    ASSERT_TRUE(pk);
    EXPECT_EQ(pk->substr(0, 5), "whpk_");
    EXPECT_FALSE(endpoint_public_key(kStdSecret));
    EXPECT_FALSE(endpoint_public_key("whsk_notakey"));
}

TEST(Signing, EndpointSignatureMixesV1AndV1a) {
    std::string sk = generate_endpoint_secret(Signing::ed25519);
    auto key = Ed25519Key::from_public(*endpoint_public_key(sk));
    ASSERT_TRUE(key);
    auto sig = endpoint_signature({sk, kStdSecret}, kStdId, kStdTimestamp, kStdBody);
    ASSERT_TRUE(sig);
    size_t space = sig->find(' ');
    ASSERT_NE(space, std::string::npos);
    EXPECT_EQ(sig->substr(space + 1), kStdSignature);   // the HMAC entry as before
    std::string v1a = sig->substr(0, space);
    ASSERT_EQ(v1a.substr(0, 4), "v1a,");
    auto raw = base64_decode(v1a.substr(4));
    ASSERT_TRUE(raw);
    ASSERT_EQ(raw->size(), 64u);
    std::string msg = kStdId + "." + std::to_string(kStdTimestamp) + "." + kStdBody;
    EXPECT_TRUE(key->verify(msg, reinterpret_cast<const unsigned char*>(raw->data()), raw->size()));
    EXPECT_FALSE(key->verify(msg + " ", reinterpret_cast<const unsigned char*>(raw->data()), raw->size()));
    EXPECT_EQ(endpoint_signature({kStdSecret}, kStdId, kStdTimestamp, kStdBody), kStdSignature);
    EXPECT_FALSE(endpoint_signature({"whsk_AAAA"}, kStdId, kStdTimestamp, kStdBody));   // not a key: no signature
}
