// Regressions found by the libFuzzer targets in fuzz/ (fuzz/README.md); each
// input is also kept in that target's seed corpus.
#include <gtest/gtest.h>

#include <string>

#include "core/util/json.hpp"

using namespace webhook;

namespace {

std::string dump_set_str(std::string_view value) {
    Json o = json_take(json_object());
    json_set_str(o.get(), "v", value);
    return json_dump(o.get());
}

std::string roundtrip(std::string_view value) {
    std::string err;
    Json back = json_parse(dump_set_str(value), &err);
    EXPECT_TRUE(back) << err;
    return back ? std::string(json_str_field(back.get(), "v")) : std::string();
}

}  // namespace

// fuzz/corpus/api_json/latin1_excerpt, truncated_utf8, invalid_utf8: json_set_str
// of bytes that are not UTF-8 (a receiver's response excerpt in Latin-1 or cut
// at 1024 bytes mid-character, an Idempotency-Key or tenant with a byte >= 0x80)
// made json_dump throw std::bad_alloc, uncaught in the NGINX handlers.
TEST(FuzzRegressions, JsonSetStrInvalidUtf8DumpsAsReplacementCharacter) {
    EXPECT_NO_THROW(dump_set_str("donn\xe9" "es"));
    EXPECT_EQ(roundtrip("donn\xe9" "es"), "donn\xef\xbf\xbd" "es");
    EXPECT_EQ(roundtrip("caf\xc3"), "caf\xef\xbf\xbd");                // cut mid-character
    EXPECT_EQ(roundtrip("\xc3\x28"), "\xef\xbf\xbd(");
    EXPECT_EQ(roundtrip("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");      // overlong
    EXPECT_EQ(roundtrip("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
    EXPECT_EQ(roundtrip("\xf4\x90\x80\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // > U+10FFFF
    EXPECT_EQ(roundtrip("acme\x1f\xff"), "acme\x1f\xef\xbf\xbd");
    // Well-formed text is kept byte for byte.
    EXPECT_EQ(roundtrip("B\xc3\xbcro \xe2\x82\xac \xf0\x9f\x98\x80"), "B\xc3\xbcro \xe2\x82\xac \xf0\x9f\x98\x80");
    // NUL becomes U+FFFD too: json_parse refuses \u0000, and a journal
    // record or attempt log set here must parse again (a receiver's "a\0b").
    EXPECT_EQ(roundtrip(std::string_view("a\0b", 3)), "a\xef\xbf\xbd" "b");
}
