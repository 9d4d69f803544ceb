// Unit tests for src/core/util/json: strict parsing, compact dumps, byte-exact strings.
#include <gtest/gtest.h>

#include <string>

#include "core/util/json.hpp"

using namespace webhook;

TEST(JsonParse, ObjectsAndScalars) {
    std::string err;
    Json j = json_parse(R"( {"a": [1, 2.5, "x"], "b": {"c": null}} )", &err);
    ASSERT_TRUE(j) << err;
    EXPECT_TRUE(json_is_object(j.get()));
    EXPECT_EQ(json_dump(j.get()), R"({"a":[1,2.5,"x"],"b":{"c":null}})");

    // Any single value is accepted (the callers check the type).
    Json s = json_parse(R"("just a string")", &err);
    ASSERT_TRUE(s) << err;
    EXPECT_EQ(json_sv(s.get()), "just a string");
    Json n = json_parse("42", &err);
    ASSERT_TRUE(n) << err;
    EXPECT_EQ(json_integer_value(n.get()), 42);
}

TEST(JsonParse, Rejections) {
    for (std::string bad : {std::string(""), std::string("   "), std::string("{"), std::string(R"({"a":1} x)"),
                            std::string(R"({"a":1}{"b":2})"), std::string("{'a':1}"), std::string("[1,]"),
                            std::string(R"({"a":1,"a":2})"),           // duplicate key
                            std::string("\"\xff\xfe\""),              // invalid UTF-8
                            std::string("\"\xc0\xaf\""),              // overlong encoding
                            std::string("\"\xed\xa0\x80\""),          // UTF-16 surrogate as UTF-8
                            std::string("NaN")}) {
        std::string err;
        Json j = json_parse(bad, &err);
        EXPECT_FALSE(j) << bad;
        EXPECT_FALSE(err.empty()) << bad;
    }
}

TEST(JsonParse, DuplicateKeyReasonAndNullErrorPointer) {
    std::string err;
    EXPECT_FALSE(json_parse(R"({"k":1,"k":1})", &err));
    EXPECT_NE(err.find("duplicate"), std::string::npos) << err;
    EXPECT_FALSE(json_parse("{", nullptr));  // no crash without an error sink
    EXPECT_TRUE(json_parse("{}", nullptr));
}

TEST(JsonParse, LengthBounded) {
    // Only the given bytes are read: a view into a larger buffer.
    std::string buf = R"({"a":1}garbage)";
    std::string err;
    Json j = json_parse(std::string_view(buf).substr(0, 7), &err);
    ASSERT_TRUE(j) << err;
    EXPECT_EQ(json_dump(j.get()), R"({"a":1})");
}

TEST(JsonParse, EscapedNulIsRejected) {
    // jansson's default: no NUL inside strings from callers, so C-string
    // consumers downstream cannot be cut short.
    std::string err;
    EXPECT_FALSE(json_parse(R"("a\u0000b")", &err));
    EXPECT_NE(err.find("u0000"), std::string::npos) << err;
    Json j = json_parse(R"("a\u0001b")", &err);
    ASSERT_TRUE(j) << err;
    EXPECT_EQ(json_sv(j.get()), std::string_view("a\x01" "b", 3));
}

TEST(JsonDump, CompactAndEscapes) {
    Json o = json_take(json_object());
    json_set_str(o.get(), "s", std::string_view("q\"\\\n\0z", 6));
    json_object_set_new(o.get(), "n", json_integer(-7));
    std::string out = json_dump(o.get());
    // NUL is set as U+FFFD (json_parse refuses \u0000: what we dump must parse).
    EXPECT_EQ(out, "{\"s\":\"q\\\"\\\\\\n\xef\xbf\xbdz\",\"n\":-7}");
    // What we dump parses back to the same bytes.
    json_set_str(o.get(), "s", "q\"\\\n\x01z");
    std::string err;
    Json back = json_parse(json_dump(o.get()), &err);
    ASSERT_TRUE(back) << err;
    EXPECT_EQ(json_sv(json_object_get(back.get(), "s")), "q\"\\\n\x01z");
    Json scalar = json_take(json_string("x"));
    EXPECT_EQ(json_dump(scalar.get()), R"("x")");
}

TEST(JsonSetStr, Replaces) {
    Json o = json_take(json_object());
    json_set_str(o.get(), "k", "one");
    json_set_str(o.get(), "k", "two");
    EXPECT_EQ(json_object_size(o.get()), 1u);
    EXPECT_EQ(json_sv(json_object_get(o.get(), "k")), "two");
    json_set_str(o.get(), "e", "");
    EXPECT_EQ(json_dump(o.get()), R"({"k":"two","e":""})");
}
