// Unit tests for src/core/util/rfc3339: the timestamps the API writes and reads.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>

#include "core/util/rfc3339.hpp"

using namespace webhook;

TEST(Rfc3339, Format) {
    EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(format_rfc3339(1893456000), "2030-01-01T00:00:00Z");
    EXPECT_EQ(format_rfc3339(1612325106), "2021-02-03T04:05:06Z");
    EXPECT_EQ(format_rfc3339(951868799), "2000-02-29T23:59:59Z");
    EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59Z");
    EXPECT_EQ(format_rfc3339(253402300799), "9999-12-31T23:59:59Z");
    // Beyond what gmtime can represent: clamped, never an unset struct tm.
    EXPECT_EQ(format_rfc3339(INT64_MAX), "9999-12-31T23:59:59Z");
    EXPECT_EQ(format_rfc3339(INT64_MIN), "0000-01-01T00:00:00Z");
}

TEST(Rfc3339, ParseUtc) {
    EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), std::optional<int64_t>(0));
    EXPECT_EQ(parse_rfc3339("2030-01-01T00:00:00Z"), std::optional<int64_t>(1893456000));
    EXPECT_EQ(parse_rfc3339("2021-02-03T04:05:06Z"), std::optional<int64_t>(1612325106));
    EXPECT_EQ(parse_rfc3339("2000-02-29T23:59:59Z"), std::optional<int64_t>(951868799));
    EXPECT_EQ(parse_rfc3339("1969-12-31T23:59:59Z"), std::optional<int64_t>(-1));
    EXPECT_EQ(parse_rfc3339("9999-12-31T23:59:59Z"), std::optional<int64_t>(253402300799));
    EXPECT_EQ(parse_rfc3339("2021-02-03t04:05:06z"), std::optional<int64_t>(1612325106));
    // Month lengths: the last day of each is accepted.
    EXPECT_EQ(parse_rfc3339("2024-02-29T00:00:00Z"), std::optional<int64_t>(1709164800));
    EXPECT_EQ(parse_rfc3339("2000-02-29T00:00:00Z"), std::optional<int64_t>(951782400));
    EXPECT_EQ(parse_rfc3339("2021-04-30T00:00:00Z"), std::optional<int64_t>(1619740800));
    EXPECT_EQ(parse_rfc3339("2021-12-31T00:00:00Z"), std::optional<int64_t>(1640908800));
    EXPECT_EQ(parse_rfc3339("2021-02-03T04:05:06+23:59"), std::optional<int64_t>(1612325106 - 23 * 3600 - 59 * 60));
}

TEST(Rfc3339, ParseFractionAndOffsets) {
    EXPECT_EQ(parse_rfc3339("2021-02-03T04:05:06.5Z"), std::optional<int64_t>(1612325106));
    EXPECT_EQ(parse_rfc3339("2021-02-03T04:05:06.999999999Z"), std::optional<int64_t>(1612325106));
    EXPECT_EQ(parse_rfc3339("2021-02-03T06:05:06+02:00"), std::optional<int64_t>(1612325106));
    EXPECT_EQ(parse_rfc3339("2021-02-02T22:35:06-05:30"), std::optional<int64_t>(1612325106));
    EXPECT_EQ(parse_rfc3339("2021-02-03T04:05:06.123+00:00"), std::optional<int64_t>(1612325106));
    EXPECT_EQ(parse_rfc3339("2021-02-03T04:05:06-00:00"), std::optional<int64_t>(1612325106));
    EXPECT_EQ(parse_rfc3339("1970-01-01T01:00:00+01:00"), std::optional<int64_t>(0));
}

TEST(Rfc3339, RoundTrip) {
    for (int64_t t : {int64_t(0), int64_t(86399), int64_t(951782400), int64_t(1612325106), int64_t(4102444800)})
        EXPECT_EQ(parse_rfc3339(format_rfc3339(t)), std::optional<int64_t>(t)) << t;
}

TEST(Rfc3339, Rejects) {
    for (const char* bad : {
             "",
             "garbage",
             "2021-02-03",
             "2021-02-03T04:05:06",         // no zone
             "2021-02-03T04:05:06 ",        // trailing space, no zone
             "2021-02-03T04:05:06ZZ",
             "2021-02-03T04:05:06Z ",
             " 2021-02-03T04:05:06Z",
             "2021-13-03T04:05:06Z",        // month 13
             "2021-00-03T04:05:06Z",        // month 0
             "2021-02-00T04:05:06Z",        // day 0
             "2021-02-32T04:05:06Z",        // day 32
             "2021-02-29T04:05:06Z",        // not a leap year
             "2100-02-29T04:05:06Z",        // not a leap year either
             "2021-02-30T04:05:06Z",
             "2021-04-31T04:05:06Z",
             "2021-02-03T04:05:06+24:00",   // offset hour out of range
             "2021-02-03T04:05:06-05:60",   // offset minute out of range
             "2021-02-03T24:05:06Z",        // hour 24
             "2021-02-03T04:60:06Z",        // minute 60
             "2021-02-03T04:05:61Z",        // second 61
             "2021-02-03 04:05:06Z",        // space separator
             "2021/02/03T04:05:06Z",
             "2021-2-03T04:05:06Z",
             "21-02-03T04:05:06Z",
             "2021-02-03T04:05:06.Z",       // empty fraction
             "2021-02-03T04:05:06.12a3Z",
             "2021-02-03T04:05:06+0200",    // offset without colon
             "2021-02-03T04:05:06+02",
             "2021-02-03T04:05:06+2:00",
             "2021-02-03T04:05:06UTC",
             "+021-02-03T04:05:06Z",
             "2021-02-03T04:05:-6Z",
             "2021-0x-03T04:05:06Z",
         })
    {
        EXPECT_FALSE(parse_rfc3339(bad)) << bad;
        EXPECT_FALSE(parse_rfc3339_ms(bad)) << bad;
    }
}

TEST(Rfc3339, Milliseconds) {
    EXPECT_EQ(parse_rfc3339_ms("2021-02-03T04:05:06Z"), std::optional<int64_t>(1612325106000));
    EXPECT_EQ(parse_rfc3339_ms("2021-02-03T04:05:06.5Z"), std::optional<int64_t>(1612325106500));
    EXPECT_EQ(parse_rfc3339_ms("2021-02-03T04:05:06.05Z"), std::optional<int64_t>(1612325106050));
    EXPECT_EQ(parse_rfc3339_ms("2021-02-03T04:05:06.123Z"), std::optional<int64_t>(1612325106123));
    // Past the third digit: dropped, never rounded up into the next second.
    EXPECT_EQ(parse_rfc3339_ms("2021-02-03T04:05:06.999999999Z"), std::optional<int64_t>(1612325106999));
    EXPECT_EQ(parse_rfc3339_ms("2021-02-03T06:05:06.25+02:00"), std::optional<int64_t>(1612325106250));
    EXPECT_EQ(parse_rfc3339_ms("1969-12-31T23:59:59.999Z"), std::optional<int64_t>(-1));
    EXPECT_EQ(parse_rfc3339_ms("1970-01-01T00:00:00.001Z"), std::optional<int64_t>(1));

    EXPECT_EQ(format_rfc3339_ms(1612325106000), "2021-02-03T04:05:06Z");
    EXPECT_EQ(format_rfc3339_ms(1612325106500), "2021-02-03T04:05:06.500Z");
    EXPECT_EQ(format_rfc3339_ms(1612325106007), "2021-02-03T04:05:06.007Z");
    EXPECT_EQ(format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    EXPECT_EQ(format_rfc3339_ms(0), "1970-01-01T00:00:00Z");
    for (int64_t ms : {int64_t(0), int64_t(1), int64_t(999), int64_t(1612325106123), int64_t(-1500), int64_t(4102444800001)})
        EXPECT_EQ(parse_rfc3339_ms(format_rfc3339_ms(ms)), std::optional<int64_t>(ms)) << ms;
}
