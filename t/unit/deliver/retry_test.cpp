// Unit tests for src/core/deliver/retry: the retries= schedule, its jitter,
// and a receiver's Retry-After.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/deliver/retry.hpp"

using namespace webhook;

namespace {

using Delays = std::vector<int64_t>;

constexpr int64_t kMaxDelay = 100000000LL * 86400000;   // "100000000d", the largest parse_retries accepts

}  // namespace

// ---- parse_retries ------------------------------------------------------------------

TEST(ParseRetries, Schedules) {
    auto r = parse_retries("0s,1m,5m");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, (Delays{0, 60000, 300000}));
    EXPECT_EQ(parse_retries("0s,1m,5m,30m,2h,1d"), (Delays{0, 60000, 300000, 1800000, 7200000, 86400000}));
    EXPECT_EQ(parse_retries("250ms,1500ms,3"), (Delays{250, 1500, 3000}));
    EXPECT_EQ(parse_retries("5m,1s"), (Delays{300000, 1000}));   // kept in the order written
}

TEST(ParseRetries, Units) {
    EXPECT_EQ(parse_retries("5ms"), Delays{5});
    EXPECT_EQ(parse_retries("5"), Delays{5000});   // no unit: seconds
    EXPECT_EQ(parse_retries("5s"), Delays{5000});
    EXPECT_EQ(parse_retries("5m"), Delays{300000});
    EXPECT_EQ(parse_retries("5h"), Delays{18000000});
    EXPECT_EQ(parse_retries("2d"), Delays{172800000});
    EXPECT_EQ(parse_retries("0"), Delays{0});
    EXPECT_EQ(parse_retries("0ms"), Delays{0});
    EXPECT_EQ(parse_retries("007s"), Delays{7000});
}

TEST(ParseRetries, Limits) {
    // At most 100000000 of a unit, without overflow however many digits.
    EXPECT_EQ(parse_retries("100000000ms"), Delays{100000000});
    EXPECT_EQ(parse_retries("100000000d"), Delays{kMaxDelay});
    EXPECT_FALSE(parse_retries("100000001ms"));
    EXPECT_FALSE(parse_retries("100000001d"));
    EXPECT_FALSE(parse_retries("99999999999999999999999999999s"));

    // At most 50 delays.
    std::string fifty;
    for (int i = 0; i < 50; i++) fifty += (i ? "," : "") + std::to_string(i) + "s";
    auto r = parse_retries(fifty);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 50u);
    EXPECT_EQ(r->front(), 0);
    EXPECT_EQ(r->back(), 49000);
    EXPECT_FALSE(parse_retries(fifty + ",50s"));
}

TEST(ParseRetries, Malformed) {
    EXPECT_FALSE(parse_retries("1m,,2m"));
    EXPECT_FALSE(parse_retries("soon"));
    for (const char* bad : {"", ",", "1s,", ",1s", " 1s", "1s ", "1 s", "1s, 2s", "1s;2s", "1S", "1M", "1H", "1D",
                            "1MS", "1.5s", "-1s", "+1s", "s", "ms", "1sec", "1min", "1w", "1y", "1ms5", "1m1s",
                            "0x10", "1e3"})
        EXPECT_FALSE(parse_retries(bad)) << bad;
}

// ---- jittered -----------------------------------------------------------------------

TEST(Jittered, ExactValues) {
    EXPECT_EQ(jittered(60000, 0), 48000);
    EXPECT_EQ(jittered(60000, 0x80000000u), 60000);
    EXPECT_EQ(jittered(60000, UINT32_MAX), 72000);
    EXPECT_EQ(jittered(1000, 0), 800);
    EXPECT_EQ(jittered(1000, UINT32_MAX), 1200);
    EXPECT_EQ(jittered(5, 0), 4);
    EXPECT_EQ(jittered(5, UINT32_MAX), 6);
    EXPECT_EQ(jittered(1, 0), 0);   // truncated to whole milliseconds
}

TEST(Jittered, StaysWithinTwentyPercentAndGrowsWithRandom) {
    std::vector<uint32_t> randoms;
    for (uint64_t r = 0; r < UINT32_MAX; r += 0x00fedcbau) randoms.push_back(static_cast<uint32_t>(r));
    for (uint32_t r : {1u, 0x7fffffffu, 0x80000000u, 0xfffffffeu, UINT32_MAX}) randoms.push_back(r);
    std::sort(randoms.begin(), randoms.end());
    for (int64_t d : {int64_t(1), int64_t(7), int64_t(999), int64_t(1000), int64_t(60000), int64_t(3600000),
                      int64_t(86400000), int64_t(100000000), int64_t(8640000000)}) {
        int64_t prev = 0;
        std::set<int64_t> seen;
        for (uint32_t r : randoms) {
            int64_t j = jittered(d, r);
            // [0.8, 1.2] × delay, in whole milliseconds (truncated).
            EXPECT_GE(j, d * 8 / 10) << d << " " << r;
            EXPECT_LE(j, d * 12 / 10) << d << " " << r;
            EXPECT_GE(j, prev) << "not monotonic: " << d << " " << r;
            prev = j;
            seen.insert(j);
        }
        EXPECT_EQ(jittered(d, 0), d * 8 / 10) << d;
        EXPECT_EQ(jittered(d, UINT32_MAX), d * 12 / 10) << d;
        if (d >= 60000) {   // the random value is used, not just its ends
            EXPECT_GT(seen.size(), 250u) << d;
        }
    }
}

// The largest delay parse_retries accepts (100000000d = 8.64e15 ms): the
// factor 0.8 + 0.4 * 1.0 is 1.2000000000000002 in double, and at this size
// the product would round 2 ms past 1.2 × delay: it is clamped.
TEST(Jittered, LargestDelayStaysWithinTwentyPercent) {
    EXPECT_EQ(parse_retries("100000000d"), Delays{kMaxDelay});
    EXPECT_GE(jittered(kMaxDelay, 0), kMaxDelay * 8 / 10);
    EXPECT_LE(jittered(kMaxDelay, UINT32_MAX), kMaxDelay * 12 / 10);
}

TEST(Jittered, NonPositiveDelayIsZero) {
    EXPECT_EQ(jittered(0, 12345), 0);
    for (uint32_t r : {0u, 1u, 0x80000000u, UINT32_MAX}) {
        EXPECT_EQ(jittered(0, r), 0) << r;
        EXPECT_EQ(jittered(-1, r), 0) << r;
        EXPECT_EQ(jittered(INT64_MIN, r), 0) << r;
    }
}

// ---- apply_retry_after --------------------------------------------------------------

TEST(ApplyRetryAfter, ClampsToScheduledAndTwiceScheduled) {
    // Retry-After is clamped between the scheduled delay and twice it.
    EXPECT_EQ(apply_retry_after(60000, 10), 60000);
    EXPECT_EQ(apply_retry_after(60000, 90), 90000);
    EXPECT_EQ(apply_retry_after(60000, 3600), 120000);
    EXPECT_EQ(apply_retry_after(60000, 0), 60000);
    EXPECT_EQ(apply_retry_after(60000, -5), 60000);
    EXPECT_EQ(apply_retry_after(60000, 59), 60000);
    EXPECT_EQ(apply_retry_after(60000, 60), 60000);
    EXPECT_EQ(apply_retry_after(60000, 61), 61000);
    EXPECT_EQ(apply_retry_after(60000, 119), 119000);
    EXPECT_EQ(apply_retry_after(60000, 120), 120000);
    EXPECT_EQ(apply_retry_after(60000, 121), 120000);
    EXPECT_EQ(apply_retry_after(60000, 999999999), 120000);
    EXPECT_EQ(apply_retry_after(1500, 1), 1500);
    EXPECT_EQ(apply_retry_after(1500, 2), 2000);
    EXPECT_EQ(apply_retry_after(1500, 3), 3000);
    EXPECT_EQ(apply_retry_after(1500, 4), 3000);
    // An immediate attempt stays immediate.
    EXPECT_EQ(apply_retry_after(0, 30), 0);
}

// ---- parse_retry_after --------------------------------------------------------------

TEST(ParseRetryAfter, Seconds) {
    EXPECT_EQ(parse_retry_after("120", 1000), 120);
    EXPECT_EQ(parse_retry_after("0", 1000), 0);
    EXPECT_EQ(parse_retry_after(" 120 ", 1000), 120);
    EXPECT_EQ(parse_retry_after("  7", 1000), 7);
    EXPECT_EQ(parse_retry_after("000000120", 1000), 120);
    EXPECT_EQ(parse_retry_after("999999999", 1000), 999999999);
}

TEST(ParseRetryAfter, HttpDate) {
    const int64_t t = 784111777;   // Sun, 06 Nov 1994 08:49:37 GMT
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", t - 100), 100);
    EXPECT_EQ(parse_retry_after(" Sun, 06 Nov 1994 08:49:37 GMT ", t - 5), 5);
    // Now or in the past: retry now.
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", t), 0);
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", t + 1), 0);
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 1893456000), 0);
    // In the future.
    EXPECT_EQ(parse_retry_after("Tue, 01 Jan 2030 00:00:00 GMT", 1893456000 - 3600), 3600);
    EXPECT_EQ(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", 0), 253402300799);
}

TEST(ParseRetryAfter, Garbage) {
    EXPECT_FALSE(parse_retry_after("-5", 1000));
    EXPECT_FALSE(parse_retry_after("soon", 1000));
    for (const char* bad : {"", " ", "   ", "+5", "1.5", "5s", "1e3", "0x10", "\t120", "120\t", "12 0",
                            "Sun, 06 Nov 1994", "06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37",
                            "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 32 Nov 1994 08:49:37 GMT",
                            "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
                            "1994-11-06T08:49:37Z"})
        EXPECT_FALSE(parse_retry_after(bad, 1000)) << '"' << bad << '"';
}

TEST(ParseRetryAfter, Overlong) {
    EXPECT_FALSE(parse_retry_after("1000000000", 1000));   // 10 digits
    EXPECT_FALSE(parse_retry_after("12345678901234567890123", 1000));
    EXPECT_FALSE(parse_retry_after(std::string(64, '0'), 1000));
    EXPECT_FALSE(parse_retry_after(std::string(65, '1'), 1000));
    // 64 bytes is the cap, whatever the value: an HTTP-date padded inside
    // (strptime lets a space in the format match several).
    const int64_t t = 784111777;
    std::string date = "Sun, 06 Nov 1994 08:49:37 GMT";
    std::string at64 = "Sun," + std::string(64 - date.size() + 1, ' ') + date.substr(5);
    ASSERT_EQ(at64.size(), 64u);
    EXPECT_EQ(parse_retry_after(at64, t - 100), 100);
    EXPECT_FALSE(parse_retry_after("Sun, " + at64.substr(4), t - 100));
}

// An HTTP-date followed by anything else is not an HTTP-date, but the
// return value of strptime (where parsing stopped) says so.
TEST(ParseRetryAfter, TrailingGarbageAfterHttpDate) {
    EXPECT_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT garbage", 0));
    EXPECT_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMTX", 0));
    EXPECT_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT, 120", 0));
}
