// core/deliver/trace_context: traceparent and tracestate as W3C Trace Context
// level 1 defines them, with the specification's examples and the cases of
// its test suite (w3c/trace-context test/test.py), and hostile input.
#include <gtest/gtest.h>

#include <string>

#include "core/deliver/trace_context.hpp"

using namespace webhook;

namespace {

const char* kExample = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";   // the specification's

using Parser = std::optional<std::string> (*)(std::string_view, const char**);

// What the parser keeps; a refusal has a reason.
std::optional<std::string> kept(Parser parse, std::string_view v) {
    const char* why = nullptr;
    auto out = parse(v, &why);
    if (!out) {
        EXPECT_NE(why, nullptr) << v;
    }
    return out;
}

// Why the parser refuses v (which it must).
std::string refused(Parser parse, std::string_view v) {
    const char* why = nullptr;
    EXPECT_FALSE(parse(v, &why).has_value()) << v;
    return why ? why : "";
}

std::optional<std::string> tp(std::string_view v) { return kept(parse_traceparent, v); }
std::string tp_why(std::string_view v) { return refused(parse_traceparent, v); }
std::optional<std::string> ts(std::string_view v) { return kept(parse_tracestate, v); }
std::string ts_why(std::string_view v) { return refused(parse_tracestate, v); }

}  // namespace

TEST(Traceparent, Version00IsKeptAsReceived) {
    EXPECT_EQ(tp(kExample), kExample);
    EXPECT_EQ(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
              "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    // Flags other than sampled are passed on as they are (level 2 defines
    // one, random-trace-id).
    EXPECT_EQ(tp("00-12345678901234567890123456789012-1234567890123456-03"),
              "00-12345678901234567890123456789012-1234567890123456-03");
    EXPECT_TRUE(traceparent_kept_form(kExample));
}

TEST(Traceparent, OptionalWhiteSpaceAround) {
    for (const char* v : {" 00-12345678901234567890123456789012-1234567890123456-01",
                          "\t00-12345678901234567890123456789012-1234567890123456-01",
                          "00-12345678901234567890123456789012-1234567890123456-01 ",
                          "00-12345678901234567890123456789012-1234567890123456-01\t",
                          "\t 00-12345678901234567890123456789012-1234567890123456-01 \t"})
        EXPECT_EQ(tp(v), "00-12345678901234567890123456789012-1234567890123456-01") << v;
}

TEST(Traceparent, LaterVersionsAreReadByTheFirst55Characters) {
    // test_traceparent_version_0xcc
    EXPECT_EQ(tp("cc-12345678901234567890123456789012-1234567890123456-01"),
              "00-12345678901234567890123456789012-1234567890123456-01");
    EXPECT_EQ(tp("cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like"),
              "00-12345678901234567890123456789012-1234567890123456-01");
    tp_why("cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like");
    // Only the sampled bit of a later version's flags is kept.
    EXPECT_EQ(tp("01-12345678901234567890123456789012-1234567890123456-ff"),
              "00-12345678901234567890123456789012-1234567890123456-01");
    EXPECT_EQ(tp("fe-12345678901234567890123456789012-1234567890123456-fe-x"),
              "00-12345678901234567890123456789012-1234567890123456-00");
    // A later version is still held to the layout it shares with 00.
    tp_why("cc-12345678901234567890123456789012-1234567890123456-0");
    tp_why("cc-1234567890123456789012345678901X-1234567890123456-01");
    EXPECT_FALSE(traceparent_kept_form("cc-12345678901234567890123456789012-1234567890123456-01"));
}

TEST(Traceparent, InvalidOnesAreRefused) {
    // The invalid cases of the W3C test suite, each refused.
    const char* invalid[] = {
        "00-12345678901234567890123456789012-1234567890123456-01.",
        "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        "ff-12345678901234567890123456789012-1234567890123456-01",
        ".0-12345678901234567890123456789012-1234567890123456-01",
        "0.-12345678901234567890123456789012-1234567890123456-01",
        "000-12345678901234567890123456789012-1234567890123456-01",
        "0000-12345678901234567890123456789012-1234567890123456-01",
        "0-12345678901234567890123456789012-1234567890123456-01",
        "00-00000000000000000000000000000000-1234567890123456-01",
        "00-.2345678901234567890123456789012-1234567890123456-01",
        "00-1234567890123456789012345678901.-1234567890123456-01",
        "00-123456789012345678901234567890123-1234567890123456-01",
        "00-1234567890123456789012345678901-1234567890123456-01",
        "00-12345678901234567890123456789012-0000000000000000-01",
        "00-12345678901234567890123456789012-.234567890123456-01",
        "00-12345678901234567890123456789012-123456789012345.-01",
        "00-12345678901234567890123456789012-12345678901234567-01",
        "00-12345678901234567890123456789012-123456789012345-01",
        "00-12345678901234567890123456789012-1234567890123456-.0",
        "00-12345678901234567890123456789012-1234567890123456-0.",
        "00-12345678901234567890123456789012-1234567890123456-001",
        "00-12345678901234567890123456789012-1234567890123456-1",
        // Upper-case hex: W3C asks for lower case (two spellings of one id
        // would be two ids to a tracer).
        "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0A",
        "",
        "   ",
        "00",
    };
    for (const char* v : invalid) tp_why(v);
    EXPECT_EQ(tp_why("ff-12345678901234567890123456789012-1234567890123456-01"), "version ff is invalid");
    EXPECT_EQ(tp_why("00-00000000000000000000000000000000-1234567890123456-01"), "the trace-id is all zeros");
    EXPECT_EQ(tp_why("00-12345678901234567890123456789012-0000000000000000-01"), "the parent-id is all zeros");
    EXPECT_EQ(tp_why("00-12345678901234567890123456789012-1234567890123456-01-x"),
              "longer than the 55 characters of version 00");
}

TEST(Traceparent, HostileInput) {
    // Bytes a header may carry, none of which may pass or be echoed: the
    // reason is one of the constant phrases.
    std::string nul = kExample;
    nul[20] = '\0';
    tp_why(nul);
    std::string crlf = std::string(kExample) + "\r\nX-Injected: 1";
    tp_why(crlf);
    std::string high = kExample;
    high[10] = static_cast<char>(0xe9);
    tp_why(high);
    std::string huge(1 << 20, 'a');
    std::string why = tp_why(huge);
    EXPECT_LT(why.size(), 100u);
    EXPECT_EQ(why.find('a' + std::string(10, 'a')), std::string::npos);
    // A later version's tail is never looked at, whatever it holds.
    std::string tail = "cc-12345678901234567890123456789012-1234567890123456-01-" + std::string(1 << 16, '\x01');
    EXPECT_EQ(tp(tail), "00-12345678901234567890123456789012-1234567890123456-01");
    EXPECT_FALSE(traceparent_kept_form(""));
    EXPECT_FALSE(traceparent_kept_form(std::string(kExample) + " "));
    EXPECT_FALSE(traceparent_kept_form(" " + std::string(kExample).substr(1)));
}

TEST(Tracestate, ValidListsAreKeptWithoutWhiteSpace) {
    EXPECT_EQ(ts("congo=t61rcWkgMzE"), "congo=t61rcWkgMzE");   // the specification's
    EXPECT_EQ(ts("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    EXPECT_EQ(ts("foo=1 \t , \t bar=2, \t baz=3"), "foo=1,bar=2,baz=3");
    EXPECT_EQ(ts("foo=1\t \t,\t \tbar=2,\t \tbaz=3"), "foo=1,bar=2,baz=3");
    EXPECT_EQ(ts("\t foo=1 \t"), "foo=1");
    // Several fields, joined by the caller with ",", keep their order.
    EXPECT_EQ(ts("foo=1,bar=2,rojo=1,congo=2,baz=3"), "foo=1,bar=2,rojo=1,congo=2,baz=3");
    // Empty members are allowed and dropped; no member at all: "".
    EXPECT_EQ(ts(""), "");
    EXPECT_EQ(ts(" , ,,\t"), "");
    EXPECT_EQ(ts("foo=1,"), "foo=1");
    EXPECT_EQ(ts(",foo=1"), "foo=1");
    // Multi-tenant keys; values with inner and leading spaces.
    EXPECT_EQ(ts("fw529a3039@dt=FW4;0;0;0;0;0;0;0;0"), "fw529a3039@dt=FW4;0;0;0;0;0;0;0;0");
    EXPECT_EQ(ts("a= b c"), "a= b c");
    EXPECT_EQ(ts("0tenant@vendor=x"), "0tenant@vendor=x");
}

TEST(Tracestate, AllAllowedCharacters) {
    // test_tracestate_all_allowed_characters
    std::string key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    std::string value;
    for (int c = 0x20; c <= 0x7e; c++)
        if (c != ',' && c != '=') value.push_back(static_cast<char>(c));
    EXPECT_EQ(ts(key + "=" + value), key + "=" + value);
    EXPECT_EQ(ts(key + "@a-z0-9_-*/=" + value), key + "@a-z0-9_-*/=" + value);
}

TEST(Tracestate, Limits) {
    // 32 members pass, 33 do not.
    std::string list;
    for (int i = 1; i <= 32; i++) list += (i > 1 ? "," : "") + std::string("bar") + (i < 10 ? "0" : "") + std::to_string(i) + "=1";
    EXPECT_EQ(ts(list), list);
    EXPECT_EQ(ts_why(list + ",bar33=1"), "more than 32 list members");
    // Key lengths: 256 / 257; tenant 241 / 242; system 14 / 15.
    EXPECT_TRUE(ts("foo=1," + std::string(256, 'z') + "=1"));
    ts_why("foo=1," + std::string(257, 'z') + "=1");
    EXPECT_TRUE(ts("foo=1," + std::string(241, 't') + "@" + std::string(14, 'v') + "=1"));
    ts_why("foo=1," + std::string(242, 't') + "@v=1");
    ts_why("foo=1,t@" + std::string(15, 'v') + "=1");
    // Values up to 256 characters.
    EXPECT_TRUE(ts("k=" + std::string(256, 'v')));
    ts_why("k=" + std::string(257, 'v'));
    // 512 bytes as received, white space included.
    std::string at_limit = "a=" + std::string(254, 'v') + ",b=" + std::string(253, 'v');
    ASSERT_EQ(at_limit.size(), 512u);
    EXPECT_TRUE(ts(at_limit));
    EXPECT_EQ(ts_why(at_limit + " "), "longer than 512 bytes");
}

TEST(Tracestate, InvalidListsAreDropped) {
    const char* invalid[] = {
        "foo=1,foo=1", "foo=1,foo=2",           // duplicated keys
        "foo =1", "FOO=1", "foo.bar=1",         // illegal key characters
        "foo@=1,bar=2", "@foo=1,bar=2", "foo@@bar=1,bar=2", "foo@bar@baz=1,bar=2",   // vendor format
        "foo=bar=baz", "foo=,bar=3",            // illegal values
        "foo", "=1", "_foo=1", "9foo=1", "foo@9v=1",
        "foo=1\t2", "foo=\x7f", "foo=caf\xc3\xa9", "foo=a\r\nX-Injected: 1",
    };
    for (const char* v : invalid) ts_why(v);
    ts_why(std::string("foo=a\0b", 7));
    EXPECT_EQ(ts_why("foo=1,foo=2"), "a key appears twice");
    EXPECT_EQ(ts_why("foo=bar=baz"), "a value is not of the specification's grammar");
    EXPECT_EQ(ts_why("FOO=1"), "a key is not of the specification's grammar");
    EXPECT_EQ(ts_why("foo"), "a list member is not key=value");
    // Huge input is refused by its size, before any parsing.
    EXPECT_EQ(ts_why(std::string(1 << 20, ',')), "longer than 512 bytes");
}
