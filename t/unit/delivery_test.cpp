// core/delivery: the URL and address policy (SSRF guard), retry schedules,
// jitter and Retry-After.

#include <gtest/gtest.h>

#include "core/deliver/events.hpp"
#include "core/deliver/retry.hpp"
#include "core/deliver/signing.hpp"
#include "core/deliver/url_policy.hpp"

using namespace webhook;

namespace {

bool internal(const char* text) {
    unsigned char addr[16];
    bool v6 = false;
    EXPECT_TRUE(parse_ip(text, addr, &v6)) << text;
    return address_is_internal(addr, v6);
}

std::string url_error(const char* text) {
    auto parsed = parse_webhook_url(text, true);
    auto* e = std::get_if<ApiError>(&parsed);
    return e ? e->code : std::string();
}

}  // namespace

TEST(AddressPolicy, InternalRanges) {
    for (const char* a : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                          "0.0.0.0", "224.0.0.1", "::1", "::", "fc00::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1",
                          "64:ff9b::a00:1"})
        EXPECT_TRUE(internal(a)) << a;
    for (const char* a : {"93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"})
        EXPECT_FALSE(internal(a)) << a;
}

TEST(AddressPolicy, RangesThatReachIPv4OrLocalNetworks) {
    // IPv4-compatible (deprecated), site-local (deprecated), NAT64 local-use,
    // Teredo, documentation.
    for (const char* a : {"::127.0.0.1", "::7f00:1", "::10.0.0.1", "::8.8.8.8", "fec0::1", "feff::1",
                          "64:ff9b:1::a00:1", "2001::1", "2001:db8::1"})
        EXPECT_TRUE(internal(a)) << a;
    // 6to4 carries an IPv4 address: judged by it.
    EXPECT_TRUE(internal("2002:7f00:1::"));
    EXPECT_TRUE(internal("2002:a00:1::1"));
    EXPECT_TRUE(internal("2002:c0a8:101::1"));
    EXPECT_FALSE(internal("2002:808:808::1"));
}

TEST(AddressPolicy, AllowOpensARange) {
    AddressPolicy p;
    unsigned char addr[16];
    bool v6 = false;
    ASSERT_TRUE(parse_ip("10.0.5.1", addr, &v6));
    EXPECT_FALSE(p.permits(addr, v6));
    p.allow.push_back(*parse_cidr("10.0.0.0/16"));
    EXPECT_TRUE(p.permits(addr, v6));
    ASSERT_TRUE(parse_ip("10.1.5.1", addr, &v6));
    EXPECT_FALSE(p.permits(addr, v6));
    p.allow_private = true;
    EXPECT_TRUE(p.permits(addr, v6));
}

TEST(WebhookUrl, HostForms) {
    EXPECT_EQ(url_error("https://hooks.example.com/x"), "");
    EXPECT_EQ(url_error("https://[2606:4700::1111]:8443/x"), "");
    // An IPv6 address needs brackets; 2001:db8::1:8443 is no host:port.
    EXPECT_EQ(url_error("https://2001:db8::1:8443/x"), "invalid_request");
    // Numeric hosts that resolvers read as addresses, with the root dot too.
    EXPECT_EQ(url_error("https://2130706433/"), "url_not_allowed");
    EXPECT_EQ(url_error("https://2130706433./"), "url_not_allowed");
    EXPECT_EQ(url_error("https://0x7f000001/"), "url_not_allowed");
    EXPECT_NE(url_error("https://user:pw@example.com/"), "");
    EXPECT_NE(url_error("https://example.com/#frag"), "");
}

TEST(Retries, ScheduleJitterAndRetryAfter) {
    auto r = parse_retries("0s,1m,5m");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, (std::vector<int64_t>{0, 60000, 300000}));
    EXPECT_FALSE(parse_retries("1m,,2m"));
    EXPECT_FALSE(parse_retries("soon"));
    for (uint32_t rnd : {0u, 1u, 0x7fffffffu, 0xffffffffu}) {
        int64_t d = jittered(60000, rnd);
        EXPECT_GE(d, 48000) << rnd;   // ±20 %
        EXPECT_LE(d, 72000) << rnd;
    }
    EXPECT_EQ(jittered(0, 12345), 0);
    // Retry-After is clamped between the scheduled delay and twice it.
    EXPECT_EQ(apply_retry_after(60000, 10), 60000);
    EXPECT_EQ(apply_retry_after(60000, 90), 90000);
    EXPECT_EQ(apply_retry_after(60000, 3600), 120000);
    EXPECT_EQ(parse_retry_after("120", 1000), 120);
    EXPECT_FALSE(parse_retry_after("-5", 1000));
    EXPECT_FALSE(parse_retry_after("soon", 1000));
}
