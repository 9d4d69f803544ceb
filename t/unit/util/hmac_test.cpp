// Unit tests for src/core/util/hmac: published HMAC vectors, streaming, copies, keys around the block size, helpers.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/util/encoding.hpp"
#include "core/util/hmac.hpp"

#include <openssl/evp.h>

using namespace webhook;

namespace {

struct Vector {
    std::string key;
    std::string data;
    const char* sha256;
    const char* sha512;
};

// RFC 4231 test cases 1-4, 6, 7 (case 5 is a truncated output and is left out).
std::vector<Vector> rfc4231() {
    return {
        {std::string(20, '\x0b'), "Hi There",
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
         "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
         "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
        {"Jefe", "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
         "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
         "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
        {std::string(20, '\xaa'), std::string(50, '\xdd'),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
         "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
         "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb"},
        {"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19",
         std::string(50, '\xcd'),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
         "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
         "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd"},
        {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
         "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
         "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"},
        {std::string(131, '\xaa'),
         "This is a test using a larger than block-size key and a larger than block-size data. "
         "The key needs to be hashed before being used by the HMAC algorithm.",
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
         "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
         "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58"},
    };
}

}  // namespace

namespace {

// OpenSSL's one-call HMAC, as an independent reference.
std::string openssl_hmac(HashAlg alg, const std::string& key, const std::string& msg) {
    const char* name = alg == HashAlg::sha1 ? "SHA1" : alg == HashAlg::sha512 ? "SHA512" : "SHA256";
    unsigned char out[EVP_MAX_MD_SIZE];
    size_t len = 0;
    static const unsigned char empty = 0;
    const unsigned char* k = key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data());
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, name, nullptr, k, key.size(),
                  reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out, sizeof(out), &len) == nullptr)
        return "EVP_Q_mac failed";
    return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

TEST(HashAlg, NamesAndSizes) {
    EXPECT_EQ(hash_alg_from_name("sha1"), HashAlg::sha1);
    EXPECT_EQ(hash_alg_from_name("sha256"), HashAlg::sha256);
    EXPECT_EQ(hash_alg_from_name("sha512"), HashAlg::sha512);
    EXPECT_FALSE(hash_alg_from_name("md5").has_value());
    EXPECT_FALSE(hash_alg_from_name("SHA256").has_value());
    EXPECT_FALSE(hash_alg_from_name("").has_value());
    EXPECT_EQ(hash_alg_name(HashAlg::sha1), "sha1");
    EXPECT_EQ(hash_alg_name(HashAlg::sha256), "sha256");
    EXPECT_EQ(hash_alg_name(HashAlg::sha512), "sha512");
    EXPECT_EQ(hash_alg_size(HashAlg::sha1), 20u);
    EXPECT_EQ(hash_alg_size(HashAlg::sha256), 32u);
    EXPECT_EQ(hash_alg_size(HashAlg::sha512), 64u);
}

TEST(Hmac, Rfc4231Sha256) {
    int i = 0;
    for (const auto& v : rfc4231()) {
        SCOPED_TRACE(i++);
        EXPECT_EQ(hex_encode(hmac(HashAlg::sha256, v.key, v.data)), v.sha256);
    }
}

TEST(Hmac, Rfc4231Sha512) {
    int i = 0;
    for (const auto& v : rfc4231()) {
        SCOPED_TRACE(i++);
        EXPECT_EQ(hex_encode(hmac(HashAlg::sha512, v.key, v.data)), v.sha512);
    }
}

TEST(Hmac, Rfc2202Sha1) {
    EXPECT_EQ(hex_encode(hmac(HashAlg::sha1, std::string(20, '\x0b'), "Hi There")),
              "b617318655057264e28bc0b6fb378c8ef146be00");
    EXPECT_EQ(hex_encode(hmac(HashAlg::sha1, "Jefe", "what do ya want for nothing?")),
              "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    EXPECT_EQ(hex_encode(hmac(HashAlg::sha1, std::string(20, '\xaa'), std::string(50, '\xdd'))),
              "125d7342b9ac11cd91a39af48aa17b4f63f175d3");
    EXPECT_EQ(hex_encode(hmac(HashAlg::sha1, std::string(80, '\xaa'),
                              "Test Using Larger Than Block-Size Key - Hash Key First")),
              "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}

TEST(Hmac, OutputSizeMatchesAlg) {
    EXPECT_EQ(hmac(HashAlg::sha1, "k", "m").size(), 20u);
    EXPECT_EQ(hmac(HashAlg::sha256, "k", "m").size(), 32u);
    EXPECT_EQ(hmac(HashAlg::sha512, "k", "m").size(), 64u);
    Hmac h(HashAlg::sha512, "k");
    EXPECT_EQ(h.alg(), HashAlg::sha512);
}

TEST(Hmac, EmptyKeyAndEmptyMessage) {
    EXPECT_EQ(hex_encode(hmac(HashAlg::sha256, "", "")),
              "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    EXPECT_EQ(hex_encode(hmac(HashAlg::sha1, "", "")), "fbdb1d1b18aa6c08324b7d64b71fb76370690e1d");
    EXPECT_EQ(hex_encode(hmac(HashAlg::sha512, "", "")),
              "b936cee86c9f87aa5d3c6f2e84cb5a4239a5fe50480a6ec66b70ab5b1f4ac673"
              "0c6c515421b327ec1d69402e53dfb49ad7381eb067b338fd7b0cb22247225d47");
    // Empty key with a message and a key with an empty message both work.
    Hmac h(HashAlg::sha256, "");
    h.update("", 0);
    h.update(std::string_view());
    EXPECT_EQ(hex_encode(h.finish()), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    EXPECT_NE(hmac(HashAlg::sha256, "", "x"), hmac(HashAlg::sha256, "", ""));
    EXPECT_NE(hmac(HashAlg::sha256, "k", ""), hmac(HashAlg::sha256, "", ""));
}

TEST(Hmac, StreamingEqualsOneShot) {
    std::string key = "streaming key";
    std::string msg;
    for (int i = 0; i < 1000; i++) msg.push_back(static_cast<char>((i * 37 + 11) & 0xff));
    for (HashAlg alg : {HashAlg::sha1, HashAlg::sha256, HashAlg::sha512}) {
        std::string expected = hmac(alg, key, msg);
        // Every single split point.
        for (size_t split = 0; split <= msg.size(); split += 7) {
            Hmac h(alg, key);
            h.update(msg.substr(0, split));
            h.update(msg.data() + split, msg.size() - split);
            ASSERT_EQ(h.finish().str(), expected) << "split=" << split;
        }
        // Byte by byte.
        Hmac b(alg, key);
        for (char c : msg) b.update(&c, 1);
        EXPECT_EQ(b.finish().str(), expected);
        // Uneven chunks, with empty updates mixed in.
        Hmac u(alg, key);
        size_t pos = 0, step = 1;
        while (pos < msg.size()) {
            size_t n = std::min(step, msg.size() - pos);
            u.update(msg.data() + pos, n);
            u.update("", 0);
            pos += n;
            step = step * 3 + 1;
        }
        EXPECT_EQ(u.finish().str(), expected);
    }
}

TEST(Hmac, StreamingRfcVector) {
    Hmac h(HashAlg::sha256, "Jefe");
    h.update("what do ya ");
    h.update("want ");
    h.update("for nothing?");
    EXPECT_EQ(hex_encode(h.finish()), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Hmac, CopiesAreIndependentComputations) {
    const Hmac keyed(HashAlg::sha256, "Jefe");
    Hmac a = keyed;
    Hmac b = keyed;
    a.update("what do ya want for nothing?");
    b.update("something else");
    EXPECT_EQ(hex_encode(a.finish()), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(b.finish().str(), hmac(HashAlg::sha256, "Jefe", "something else"));

    // The template is unaffected by its copies and can be copied again.
    Hmac c = keyed;
    c.update("what do ya want for nothing?");
    EXPECT_EQ(hex_encode(c.finish()), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(c.alg(), HashAlg::sha256);

    // A copy made mid-stream carries the state so far.
    Hmac d(HashAlg::sha512, "Jefe");
    d.update("what do ya ");
    Hmac e = d;
    d.update("want for nothing?");
    e.update("want for something?");
    EXPECT_EQ(d.finish().str(), hmac(HashAlg::sha512, "Jefe", "what do ya want for nothing?"));
    EXPECT_EQ(e.finish().str(), hmac(HashAlg::sha512, "Jefe", "what do ya want for something?"));
}

TEST(Hmac, CopyOfUnusedTemplateWithEmptyMessage) {
    Hmac keyed(HashAlg::sha256, "");
    Hmac c = keyed;
    EXPECT_EQ(hex_encode(c.finish()), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

// Keys at, just under and over each hash's block size (64 bytes; 128 for
// SHA-512): over it the key is hashed first (RFC 2104). Checked against
// OpenSSL's own HMAC (EVP_Q_mac), which shares no code with ours.
TEST(Hmac, KeysAroundTheBlockSizeMatchOpenSsl) {
    std::string msg = "The quick brown fox jumps over the lazy dog";
    for (HashAlg alg : {HashAlg::sha1, HashAlg::sha256, HashAlg::sha512}) {
        for (size_t len : {0, 1, 63, 64, 65, 127, 128, 129, 200, 1000}) {
            std::string key;
            for (size_t i = 0; i < len; i++) key.push_back(static_cast<char>((i * 131 + 7) & 0xff));
            EXPECT_EQ(hmac(alg, key, msg), openssl_hmac(alg, key, msg)) << hash_alg_name(alg) << " key " << len;
        }
    }
}

TEST(Sha256, KnownValues) {
    EXPECT_EQ(hex_encode(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(hex_encode(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256("abc").size(), 32u);
}

TEST(RandomBytes, LengthAndDistinct) {
    EXPECT_EQ(random_bytes(0), "");
    EXPECT_EQ(random_bytes(1).size(), 1u);
    EXPECT_EQ(random_bytes(16).size(), 16u);
    EXPECT_EQ(random_bytes(1000).size(), 1000u);
    std::string a = random_bytes(32);
    std::string b = random_bytes(32);
    EXPECT_EQ(a.size(), 32u);
    EXPECT_NE(a, b);
    EXPECT_NE(a, std::string(32, '\0'));
}
