// Unit tests for src/core/util/ed25519: RFC 8032 vectors, key texts, generated keys.
#include <gtest/gtest.h>

#include "core/util/ed25519.hpp"
#include "core/util/encoding.hpp"

using namespace webhook;

namespace {

std::string unhex(std::string_view h) { return *hex_decode(h); }
std::string pk_text(std::string_view hex) { return "whpk_" + base64_encode(unhex(hex)); }
std::string sk_text(std::string_view hex) { return "whsk_" + base64_encode(unhex(hex)); }

// RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte).
struct Vector {
    const char *secret, *pub, *message, *signature;
};
const Vector kRfc8032[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
};

}  // namespace

TEST(Ed25519, Rfc8032Vectors) {
    for (const Vector& v : kRfc8032) {
        auto sk = Ed25519Key::from_secret(sk_text(v.secret));
        ASSERT_TRUE(sk);
        EXPECT_EQ(sk->public_text(), pk_text(v.pub));
        EXPECT_EQ(sk->secret_text(), sk_text(v.secret));
        Ed25519Signature sig;
        std::string msg = unhex(v.message);
        ASSERT_TRUE(sk->sign(msg, &sig));
        EXPECT_EQ(hex_encode(std::string_view(reinterpret_cast<const char*>(sig.data()), sig.size())), v.signature);

        auto pk = Ed25519Key::from_public(pk_text(v.pub));
        ASSERT_TRUE(pk);
        EXPECT_FALSE(pk->has_secret());
        EXPECT_TRUE(pk->verify(msg, sig.data(), sig.size()));
        EXPECT_FALSE(pk->verify(msg + "x", sig.data(), sig.size()));
        EXPECT_FALSE(pk->verify(msg, sig.data(), sig.size() - 1));
        sig[10] ^= 1;
        EXPECT_FALSE(pk->verify(msg, sig.data(), sig.size()));
        EXPECT_FALSE(pk->sign(msg, &sig));   // a public key cannot sign
    }
}

TEST(Ed25519, SixtyFourByteSecretMustNameItsOwnPublicKey) {
    const Vector& v = kRfc8032[0];
    EXPECT_TRUE(Ed25519Key::from_secret(sk_text(std::string(v.secret) + v.pub)));
    EXPECT_FALSE(Ed25519Key::from_secret(sk_text(std::string(v.secret) + kRfc8032[1].pub)));
}

TEST(Ed25519, RejectsMalformedKeyText) {
    const Vector& v = kRfc8032[0];
    EXPECT_FALSE(Ed25519Key::from_public(""));
    EXPECT_FALSE(Ed25519Key::from_public("whpk_"));
    EXPECT_FALSE(Ed25519Key::from_public(sk_text(v.pub)));              // wrong prefix
    EXPECT_FALSE(Ed25519Key::from_public("whpk_" + base64_encode(unhex(v.pub).substr(1))));  // 31 bytes
    EXPECT_FALSE(Ed25519Key::from_public("whpk_" + base64_encode(unhex(v.pub) + "x")));      // 33 bytes
    EXPECT_FALSE(Ed25519Key::from_public(pk_text(v.pub) + "!"));        // not base64
    EXPECT_FALSE(Ed25519Key::from_secret(pk_text(v.secret)));
    EXPECT_FALSE(Ed25519Key::from_secret("whsk_" + base64_encode(std::string(48, 'a'))));
    EXPECT_TRUE(is_ed25519_public_text(pk_text(v.pub)));
    EXPECT_TRUE(is_ed25519_secret_text(sk_text(v.secret)));
    EXPECT_FALSE(is_ed25519_public_text("whsec_abc"));
}

TEST(Ed25519, GeneratedKeysDifferAndRoundTrip) {
    Ed25519Key a = Ed25519Key::generate(), b = Ed25519Key::generate();
    EXPECT_NE(a.public_text(), b.public_text());
    auto again = Ed25519Key::from_secret(a.secret_text());
    ASSERT_TRUE(again);
    EXPECT_EQ(again->public_text(), a.public_text());
    Ed25519Signature sig;
    ASSERT_TRUE(a.sign("msg_1.1700000000.{}", &sig));
    EXPECT_TRUE(Ed25519Key::from_public(a.public_text())->verify("msg_1.1700000000.{}", sig.data(), sig.size()));
    EXPECT_FALSE(Ed25519Key::from_public(b.public_text())->verify("msg_1.1700000000.{}", sig.data(), sig.size()));
}
