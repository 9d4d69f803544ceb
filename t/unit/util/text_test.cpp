// Unit tests for src/core/util/text: header_safe and random_base62.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/util/text.hpp"

using namespace webhook;

namespace {

const std::string kAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

bool all_base62(std::string_view s) {
    for (char c : s)
        if (kAlphabet.find(c) == std::string::npos) return false;
    return true;
}

}  // namespace

// ---- header_safe ------------------------------------------------------------------

TEST(HeaderSafe, Cases) {
    EXPECT_TRUE(header_safe(""));
    EXPECT_TRUE(header_safe("plain label, with spaces ~!@#$%^&*()"));
    EXPECT_TRUE(header_safe("caf\xc3\xa9 \xe2\x9c\x93"));  // UTF-8 passes through
    EXPECT_FALSE(header_safe("a\rb"));
    EXPECT_FALSE(header_safe("a\nb"));
    EXPECT_FALSE(header_safe("a\tb"));
    EXPECT_FALSE(header_safe(std::string("a\0b", 3)));
    EXPECT_FALSE(header_safe("a\x7f"));
    EXPECT_FALSE(header_safe("\x1f"));
    EXPECT_TRUE(header_safe("\x20"));
}

// ---- random_base62 ------------------------------------------------------------------

TEST(RandomBase62, LengthAndAlphabet) {
    EXPECT_EQ(random_base62(0), "");
    for (size_t n : {1u, 7u, 40u, 1000u}) {
        std::string s = random_base62(n);
        EXPECT_EQ(s.size(), n);
        EXPECT_TRUE(all_base62(s)) << s;
    }
    EXPECT_NE(random_base62(40), random_base62(40));
}

TEST(RandomBase62, RoughlyUniform) {
    constexpr size_t kPer = 2000;
    std::string s = random_base62(62 * kPer);
    ASSERT_EQ(s.size(), 62 * kPer);
    std::map<char, size_t> count;
    for (char c : s) count[c]++;
    EXPECT_EQ(count.size(), 62u);
    for (char c : kAlphabet) {
        // Expected 2000 per character, standard deviation ~44: +-300 (~7
        // sigma) is a false alarm about once in 10^9 runs; a plain b % 62
        // without rejection would put '0'..'7' near 2420 (5/256 instead of 4/256).
        EXPECT_GT(count[c], kPer - 300) << c;
        EXPECT_LT(count[c], kPer + 300) << c;
    }
}
