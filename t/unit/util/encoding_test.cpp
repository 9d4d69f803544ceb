// Unit tests for src/core/util/encoding: hex / base64 codecs and constant_time_equal.
#include <gtest/gtest.h>

#include <string>

#include "core/util/encoding.hpp"

using namespace webhook;

namespace {

std::string all_bytes() {
    std::string s;
    for (int i = 0; i < 256; i++) s.push_back(static_cast<char>(i));
    return s;
}

}  // namespace

// ---- hex ----------------------------------------------------------------------

TEST(Hex, EncodeKnownValues) {
    EXPECT_EQ(hex_encode(""), "");
    EXPECT_EQ(hex_encode("f"), "66");
    EXPECT_EQ(hex_encode("foobar"), "666f6f626172");
    EXPECT_EQ(hex_encode(std::string("\x00\xff\x10\xab", 4)), "00ff10ab");
}

TEST(Hex, DecodeKnownValues) {
    EXPECT_EQ(hex_decode(""), std::optional<std::string>(""));
    EXPECT_EQ(hex_decode("666f6f626172"), std::optional<std::string>("foobar"));
    EXPECT_EQ(hex_decode("00FF10aB"), std::optional<std::string>(std::string("\x00\xff\x10\xab", 4)));
}

TEST(Hex, RoundTripAllBytes) {
    std::string b = all_bytes();
    std::string h = hex_encode(b);
    EXPECT_EQ(h.size(), 512u);
    EXPECT_EQ(h.substr(0, 8), "00010203");
    EXPECT_EQ(h.substr(504), "fcfdfeff");
    auto back = hex_decode(h);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, b);
}

TEST(Hex, RejectsOddLength) {
    EXPECT_FALSE(hex_decode("a").has_value());
    EXPECT_FALSE(hex_decode("abc").has_value());
    EXPECT_FALSE(hex_decode("00112").has_value());
}

TEST(Hex, RejectsNonHexCharacters) {
    EXPECT_FALSE(hex_decode("0g").has_value());
    EXPECT_FALSE(hex_decode("g0").has_value());
    EXPECT_FALSE(hex_decode("zz").has_value());
    EXPECT_FALSE(hex_decode("12 4").has_value());
    EXPECT_FALSE(hex_decode("0x12").has_value());
    EXPECT_FALSE(hex_decode("-1").has_value());
    EXPECT_FALSE(hex_decode(std::string("a\0", 2)).has_value());
    EXPECT_FALSE(hex_decode("\xff\xff").has_value());
}

// ---- base64 (RFC 4648 §10) ------------------------------------------------------

TEST(Base64, Rfc4648EncodeVectors) {
    EXPECT_EQ(base64_encode(""), "");
    EXPECT_EQ(base64_encode("f"), "Zg==");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
    EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, Rfc4648DecodeVectors) {
    EXPECT_EQ(base64_decode(""), std::optional<std::string>(""));
    EXPECT_EQ(base64_decode("Zg=="), std::optional<std::string>("f"));
    EXPECT_EQ(base64_decode("Zm8="), std::optional<std::string>("fo"));
    EXPECT_EQ(base64_decode("Zm9v"), std::optional<std::string>("foo"));
    EXPECT_EQ(base64_decode("Zm9vYg=="), std::optional<std::string>("foob"));
    EXPECT_EQ(base64_decode("Zm9vYmE="), std::optional<std::string>("fooba"));
    EXPECT_EQ(base64_decode("Zm9vYmFy"), std::optional<std::string>("foobar"));
}

TEST(Base64, PaddingIsOptional) {
    EXPECT_EQ(base64_decode("Zg"), std::optional<std::string>("f"));
    EXPECT_EQ(base64_decode("Zm8"), std::optional<std::string>("fo"));
    EXPECT_EQ(base64_decode("Zm9vYg"), std::optional<std::string>("foob"));
    EXPECT_EQ(base64_decode("Zm9vYmE"), std::optional<std::string>("fooba"));
}

TEST(Base64, UsesStandardAlphabet) {
    EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
    EXPECT_EQ(base64_decode("+/8="), std::optional<std::string>("\xfb\xff"));
    // URL-safe alphabet is not accepted.
    EXPECT_FALSE(base64_decode("-_8=").has_value());
}

TEST(Base64, RoundTripAllLengths) {
    std::string b = all_bytes();
    for (size_t n = 0; n <= b.size(); n++) {
        std::string in = b.substr(b.size() - n);
        std::string enc = base64_encode(in);
        EXPECT_EQ(enc.size(), (n + 2) / 3 * 4) << "n=" << n;
        auto dec = base64_decode(enc);
        ASSERT_TRUE(dec.has_value()) << "n=" << n;
        EXPECT_EQ(*dec, in) << "n=" << n;
    }
}

TEST(Base64, RejectsBadCharacters) {
    EXPECT_FALSE(base64_decode("Zm9v!mFy").has_value());
    EXPECT_FALSE(base64_decode("Zm9v YmFy").has_value());
    EXPECT_FALSE(base64_decode("Zm9v\nYmFy").has_value());
    EXPECT_FALSE(base64_decode("Zm9v.mFy").has_value());
    EXPECT_FALSE(base64_decode(std::string("Zm9\0", 4)).has_value());
    EXPECT_FALSE(base64_decode("Zm9v\xc3\xa9mFy").has_value());
}

TEST(Base64, RejectsWrongPadding) {
    EXPECT_FALSE(base64_decode("Zg=").has_value());     // one '=' where two are needed
    EXPECT_FALSE(base64_decode("Zm8==").has_value());   // two '=' where one is needed
    EXPECT_FALSE(base64_decode("Zm9v=").has_value());   // padding on a full quantum
    EXPECT_FALSE(base64_decode("Zm9v====").has_value());
    EXPECT_FALSE(base64_decode("Z===").has_value());
    EXPECT_FALSE(base64_decode("====").has_value());
    EXPECT_FALSE(base64_decode("=").has_value());
    EXPECT_FALSE(base64_decode("Zg==Zg==").has_value());  // padding in the middle
    EXPECT_FALSE(base64_decode("Z=g=").has_value());
}

TEST(Base64, RejectsImpossibleLength) {
    EXPECT_FALSE(base64_decode("Z").has_value());
    EXPECT_FALSE(base64_decode("Zm9vY").has_value());
}

TEST(Base64, RejectsNonZeroLeftoverBits) {
    // "Zg==" is the only spelling of "f"; "Zh==" leaves non-zero bits.
    EXPECT_FALSE(base64_decode("Zh==").has_value());
    EXPECT_FALSE(base64_decode("Zh").has_value());
    EXPECT_FALSE(base64_decode("Zm9=").has_value());
    EXPECT_FALSE(base64_decode("Zm9").has_value());
    EXPECT_FALSE(base64_decode("Zm9vYh==").has_value());
    EXPECT_FALSE(base64_decode("Zm9vYmF=").has_value());
}

// ---- constant_time_equal ------------------------------------------------------

TEST(ConstantTimeEqual, EqualInputs) {
    EXPECT_TRUE(constant_time_equal("", ""));
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_TRUE(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
}

TEST(ConstantTimeEqual, UnequalInputsSameLength) {
    EXPECT_FALSE(constant_time_equal("abc", "abd"));
    EXPECT_FALSE(constant_time_equal("abc", "xbc"));
    EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(ConstantTimeEqual, DifferentLengths) {
    EXPECT_FALSE(constant_time_equal("abc", "ab"));
    EXPECT_FALSE(constant_time_equal("ab", "abc"));
    EXPECT_FALSE(constant_time_equal("", "a"));
    EXPECT_FALSE(constant_time_equal(std::string("a\0", 2), "a"));
}
