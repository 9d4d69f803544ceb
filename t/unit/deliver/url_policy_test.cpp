// Unit tests for src/core/deliver/url_policy: webhook URLs, IP literals and
// CIDRs, and the SSRF address policy.

#include <gtest/gtest.h>

#include <cstring>
#include <string>

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

Url url_ok(std::string_view text, bool allow_http = false) {
    auto parsed = parse_webhook_url(text, allow_http);
    if (auto* e = std::get_if<ApiError>(&parsed)) {
        ADD_FAILURE() << text << " -> " << e->status << " " << e->code << ": " << e->message;
        return {};
    }
    return std::get<Url>(parsed);
}

// Refused with this status and code, and a message containing `words`.
void expect_refused(std::string_view text, int status, std::string_view code, std::string_view words,
                    bool allow_http = true) {
    auto parsed = parse_webhook_url(text, allow_http);
    auto* e = std::get_if<ApiError>(&parsed);
    if (!e) {
        ADD_FAILURE() << "accepted: " << text;
        return;
    }
    EXPECT_EQ(e->status, status) << text;
    EXPECT_EQ(e->code, code) << text;
    EXPECT_NE(e->message.find(words), std::string::npos) << text << " -> " << e->message;
}
#define EXPECT_REFUSED(...)                \
    do {                                   \
        SCOPED_TRACE(#__VA_ARGS__);        \
        expect_refused(__VA_ARGS__);       \
    } while (0)
#define EXPECT_BAD_URL(text, words) EXPECT_REFUSED(text, 400, "invalid_request", words)
#define EXPECT_URL_NOT_ALLOWED(text, words) EXPECT_REFUSED(text, 422, "url_not_allowed", words)

struct Ip {
    unsigned char b[16] = {};
    bool v6 = false;
};

Ip ip(std::string_view text) {
    Ip r;
    EXPECT_TRUE(parse_ip(text, r.b, &r.v6)) << text;
    return r;
}

std::string bytes(const Ip& a) { return std::string(reinterpret_cast<const char*>(a.b), a.v6 ? 16 : 4); }

Cidr cidr(std::string_view text) {
    auto c = parse_cidr(text);
    EXPECT_TRUE(c) << text;
    return c ? *c : Cidr{};
}

bool contains(std::string_view range, std::string_view addr) {
    Ip a = ip(addr);
    return cidr_contains(cidr(range), a.b, a.v6);
}

bool permits(const AddressPolicy& p, std::string_view addr) {
    Ip a = ip(addr);
    return p.permits(a.b, a.v6);
}

// Every range address_is_internal lists, at its edges: the first and last
// address, and the addresses just outside (nullptr where the neighbour is in
// a listed range too).
struct Range {
    const char* cidr;
    const char* first;
    const char* last;
    const char* below;
    const char* above;
};

const Range kV4Ranges[] = {
    {"0.0.0.0/8", "0.0.0.0", "0.255.255.255", nullptr, "1.0.0.0"},
    {"10.0.0.0/8", "10.0.0.0", "10.255.255.255", "9.255.255.255", "11.0.0.0"},
    {"100.64.0.0/10", "100.64.0.0", "100.127.255.255", "100.63.255.255", "100.128.0.0"},
    {"127.0.0.0/8", "127.0.0.0", "127.255.255.255", "126.255.255.255", "128.0.0.0"},
    {"169.254.0.0/16", "169.254.0.0", "169.254.255.255", "169.253.255.255", "169.255.0.0"},
    {"172.16.0.0/12", "172.16.0.0", "172.31.255.255", "172.15.255.255", "172.32.0.0"},
    {"192.0.0.0/24", "192.0.0.0", "192.0.0.255", "191.255.255.255", "192.0.1.0"},
    {"192.168.0.0/16", "192.168.0.0", "192.168.255.255", "192.167.255.255", "192.169.0.0"},
    {"198.18.0.0/15", "198.18.0.0", "198.19.255.255", "198.17.255.255", "198.20.0.0"},
    {"224.0.0.0/4", "224.0.0.0", "239.255.255.255", "223.255.255.255", nullptr},
    {"240.0.0.0/4", "240.0.0.0", "255.255.255.255", nullptr, nullptr},
};

const Range kV6Ranges[] = {
    {"::/96", "::", "::ffff:ffff", nullptr, nullptr},
    {"fc00::/7", "fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
     "fe00::"},
    {"fe80::/10", "fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
     nullptr},
    {"fec0::/10", "fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", nullptr, nullptr},
    {"ff00::/8", "ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", nullptr, nullptr},
    {"64:ff9b::/96", "64:ff9b::", "64:ff9b::ffff:ffff", "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", "64:ff9b::1:0:0"},
    {"64:ff9b:1::/48", "64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "64:ff9b:0:ffff:ffff:ffff:ffff:ffff",
     "64:ff9b:2::"},
    {"100::/64", "100::", "100::ffff:ffff:ffff:ffff", "ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "100:0:0:1::"},
    {"2001::/32", "2001::", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
     "2001:1::"},
    {"2001:db8::/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
     "2001:db9::"},
};

}  // namespace

// ---- parse_webhook_url --------------------------------------------------------------

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

TEST(WebhookUrl, Fields) {
    Url u = url_ok("https://hooks.example.com/x?y=1");
    EXPECT_TRUE(u.https);
    EXPECT_EQ(u.host, "hooks.example.com");
    EXPECT_EQ(u.port, 443);
    EXPECT_FALSE(u.explicit_port);
    EXPECT_EQ(u.path, "/x?y=1");
    EXPECT_FALSE(u.host_is_ip);
}

TEST(WebhookUrl, PathAndQuery) {
    EXPECT_EQ(url_ok("https://example.com").path, "/");
    EXPECT_EQ(url_ok("https://example.com/").path, "/");
    EXPECT_EQ(url_ok("https://example.com?a=1").path, "/?a=1");
    EXPECT_EQ(url_ok("https://example.com/a/b?c=d&e").path, "/a/b?c=d&e");
    Url q = url_ok("https://example.com:8443?a");
    EXPECT_EQ(q.port, 8443);
    EXPECT_EQ(q.path, "/?a");
    // An @ after the authority is part of the path or query.
    Url at = url_ok("https://example.com/a@b?u=x@y");
    EXPECT_EQ(at.host, "example.com");
    EXPECT_EQ(at.path, "/a@b?u=x@y");
    EXPECT_BAD_URL("https://example.com/x#", "fragment");
    EXPECT_BAD_URL("https://example.com#top", "fragment");
}

TEST(WebhookUrl, Schemes) {
    Url u = url_ok("HTTPS://EXAMPLE.com/Path");
    EXPECT_TRUE(u.https);
    EXPECT_EQ(u.host, "example.com");
    EXPECT_EQ(u.path, "/Path");   // only the host is lowercased

    EXPECT_REFUSED("http://example.com/", 422, "url_not_allowed", "https://", false);
    Url h = url_ok("http://example.com/", true);
    EXPECT_FALSE(h.https);
    EXPECT_EQ(h.port, 80);
    EXPECT_FALSE(h.explicit_port);
    Url hp = url_ok("HtTp://example.com:8080/", true);
    EXPECT_FALSE(hp.https);
    EXPECT_EQ(hp.port, 8080);
    EXPECT_TRUE(hp.explicit_port);

    for (const char* bad : {"ftp://example.com/", "ws://example.com/", "httpx://example.com/", "example.com/x",
                            "//example.com/x", "https:/example.com/", "https:example.com", "https//example.com/"}) {
        // The message says what the policy takes: https:// only, or http:// too.
        EXPECT_REFUSED(bad, 400, "invalid_request", "url must be an absolute https:// URL", false);
        EXPECT_BAD_URL(bad, "url must be an absolute https:// or http:// URL");
    }
    EXPECT_BAD_URL("https://", "invalid host");
}

TEST(WebhookUrl, HttpRefusalNamesAllowHttp) {
    EXPECT_REFUSED("http://example.com/", 422, "url_not_allowed", "webhook_delivery allow_http=on", false);
}

TEST(WebhookUrl, Credentials) {
    for (const char* bad : {"https://user@example.com/", "https://:@example.com/", "https://@example.com/",
                            "https://example.com@evil.example/", "https://[::1]@example.com/"})
        EXPECT_BAD_URL(bad, "credentials");
}

TEST(WebhookUrl, IPv6InBrackets) {
    Url u = url_ok("https://[2606:4700::ABCD]/hook");
    EXPECT_EQ(u.host, "2606:4700::abcd");
    EXPECT_TRUE(u.host_is_ip);
    EXPECT_EQ(u.port, 443);
    EXPECT_FALSE(u.explicit_port);
    EXPECT_EQ(u.path, "/hook");

    Url lo = url_ok("https://[::1]");
    EXPECT_EQ(lo.host, "::1");
    EXPECT_EQ(lo.path, "/");

    Url mapped = url_ok("https://[::ffff:127.0.0.1]:1/");
    EXPECT_EQ(mapped.host, "::ffff:127.0.0.1");
    EXPECT_EQ(mapped.port, 1);
    EXPECT_TRUE(mapped.host_is_ip);

    EXPECT_BAD_URL("https://[2606:4700::1111/x", "unterminated");
    EXPECT_BAD_URL("https://[::1]x/", "garbage after the IPv6 address");
    EXPECT_BAD_URL("https://[::1]]/", "garbage after the IPv6 address");
    for (const char* bad : {"https://[127.0.0.1]/", "https://[example.com]/", "https://[]/", "https://[fe80::1%25eth0]/",
                            "https://[1::2::3]/"})
        EXPECT_BAD_URL(bad, "invalid IPv6 address");
}

TEST(WebhookUrl, IPv6WithoutBracketsIsRefused) {
    for (const char* bad : {"https://::1/", "https://2001:db8::1/", "https://::ffff:1.2.3.4/", "https://fe80::1:443/x",
                            "https://example.com:80:80/"})
        EXPECT_BAD_URL(bad, "without brackets");
}

TEST(WebhookUrl, Ports) {
    struct Case {
        const char* url;
        uint16_t port;
    };
    for (Case c : {Case{"https://example.com:1/", 1}, Case{"https://example.com:443/", 443},
                   Case{"https://example.com:65535/", 65535}, Case{"https://example.com:08443/", 8443},
                   Case{"https://1.2.3.4:8443", 8443}, Case{"https://[::1]:65535/x", 65535}}) {
        Url u = url_ok(c.url);
        EXPECT_EQ(u.port, c.port) << c.url;
        EXPECT_TRUE(u.explicit_port) << c.url;
    }
    for (const char* bad : {"https://example.com:0/", "https://example.com:65536/", "https://example.com:99999/",
                            "https://example.com:123456/", "https://example.com:/", "https://example.com:",
                            "https://example.com:-1/", "https://example.com:+80/", "https://example.com:8a/",
                            "https://example.com:0x50/", "https://[::1]:0/", "https://[::1]:65536/", "https://[::1]:/",
                            "https://[::1]:443:1/"})
        EXPECT_BAD_URL(bad, "invalid port");
}

TEST(WebhookUrl, HostNames) {
    EXPECT_EQ(url_ok("https://EXAMPLE.Com/").host, "example.com");
    EXPECT_EQ(url_ok("https://a_b-c.example.com/").host, "a_b-c.example.com");
    EXPECT_EQ(url_ok("https://3com.example/").host, "3com.example");   // only the last label is judged numeric
    EXPECT_EQ(url_ok("https://1e100.net/").host, "1e100.net");
    // The root dot is kept as written.
    EXPECT_EQ(url_ok("https://example.com./").host, "example.com.");
    // The URL parser does not judge names: the address policy judges what they resolve to.
    EXPECT_EQ(url_ok("https://localhost/").host, "localhost");

    std::string l63(63, 'a'), l64(64, 'a');
    EXPECT_EQ(url_ok("https://" + l63 + ".example.com/").host, l63 + ".example.com");
    EXPECT_BAD_URL("https://" + l64 + ".example.com/", "invalid host");
    std::string h253 = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                       std::string(61, 'd');
    ASSERT_EQ(h253.size(), 253u);
    EXPECT_EQ(url_ok("https://" + h253 + "/").host, h253);
    EXPECT_BAD_URL("https://" + h253 + "d/", "invalid host");

    for (const char* bad : {"https://ex!ample.com/", "https://exa%6dple.com/", "https://example..com/",
                            "https://.example.com/", "https://example.com../", "https://./", "https:///x",
                            "https://:443/", "https://?x", "https://exa*mple.com/", "https://example.com\\x/"})
        EXPECT_BAD_URL(bad, "invalid host");
}

TEST(WebhookUrl, NumericHosts) {
    Url v4 = url_ok("https://1.2.3.4/");
    EXPECT_EQ(v4.host, "1.2.3.4");
    EXPECT_TRUE(v4.host_is_ip);
    EXPECT_TRUE(url_ok("https://8.8.8.8:8443/").host_is_ip);
    // Numeric forms other than a dotted quad, with or without the root dot.
    for (const char* bad : {"https://127.1/", "https://0177.0.0.1/", "https://127.0.0.1./", "https://1.2.3.4./",
                            "https://999.1.1.1/", "https://0x7f.0.0.1/", "https://4294967295/",
                            "https://2130706433.:8443/", "https://example.123/", "https://a.b.1com/",
                            "https://example.123./"})
        EXPECT_URL_NOT_ALLOWED(bad, "numeric host");
}

TEST(WebhookUrl, LengthCap) {
    const std::string base = "https://example.com/";
    std::string at = base + std::string(kMaxUrl - base.size(), 'a');
    ASSERT_EQ(at.size(), 2048u);
    EXPECT_EQ(url_ok(at).path.size(), 2048u - 19u);
    EXPECT_BAD_URL(at + "a", "longer than 2048 bytes");
    EXPECT_BAD_URL("", "must not be empty");
}

TEST(WebhookUrl, ControlSpaceAndNonAscii) {
    for (char c : {'\0', '\t', '\n', '\r', ' ', '\x1f', '\x7f', '\x80', '\xff'}) {
        std::string path = "https://example.com/a";
        path += c;
        path += "b";
        EXPECT_BAD_URL(path, "control or non-ASCII");
        std::string host = "https://exa";
        host += c;
        host += "mple.com/";
        EXPECT_BAD_URL(host, "control or non-ASCII");
    }
    EXPECT_BAD_URL(" https://example.com/", "control or non-ASCII");
    EXPECT_BAD_URL("https://example.com/\r\nX-Injected: 1", "control or non-ASCII");
    EXPECT_BAD_URL("https://example.com/caf\xc3\xa9", "control or non-ASCII");
}

TEST(Url, HostHeader) {
    EXPECT_EQ(url_ok("https://example.com/").host_header(), "example.com");
    EXPECT_EQ(url_ok("https://Example.com:8443/").host_header(), "example.com:8443");
    EXPECT_EQ(url_ok("https://example.com:443/").host_header(), "example.com:443");   // as written
    EXPECT_EQ(url_ok("https://[2606:4700::1111]/").host_header(), "[2606:4700::1111]");
    EXPECT_EQ(url_ok("https://[::1]:8443/").host_header(), "[::1]:8443");
    EXPECT_EQ(url_ok("http://1.2.3.4/", true).host_header(), "1.2.3.4");
}

TEST(Url, WithAddress) {
    Url u = url_ok("https://hooks.example.com/x?y=1");
    // Padded: no upstream{} name (proxy_pass https://93.184.216.34 makes one) matches it.
    EXPECT_EQ(u.with_address("93.184.216.34", false), "https://093.184.216.034:443/x?y=1");
    EXPECT_EQ(u.with_address("2606:4700::1111", true), "https://[2606:4700:0000:0000:0000:0000:0000:1111]:443/x?y=1");
    EXPECT_EQ(url_ok("http://example.com:8080", true).with_address("10.0.0.1", false), "http://010.000.000.001:8080/");
    EXPECT_EQ(url_ok("http://example.com", true).with_address("10.0.0.1", false), "http://010.000.000.001:80/");
    EXPECT_EQ(url_ok("https://[::1]:8443/p").with_address("::1", true), "https://[0000:0000:0000:0000:0000:0000:0000:0001]:8443/p");
}

// ---- parse_ip -----------------------------------------------------------------------

TEST(ParseIp, IPv4) {
    Ip a = ip("1.2.3.4");
    EXPECT_FALSE(a.v6);
    EXPECT_EQ(bytes(a), std::string("\x01\x02\x03\x04", 4));
    EXPECT_EQ(bytes(ip("0.0.0.0")), std::string(4, '\0'));
    EXPECT_EQ(bytes(ip("255.255.255.255")), std::string(4, '\xff'));
}

TEST(ParseIp, IPv6) {
    Ip lo = ip("::1");
    EXPECT_TRUE(lo.v6);
    EXPECT_EQ(bytes(lo), std::string(15, '\0') + "\x01");
    EXPECT_EQ(bytes(ip("2001:DB8::A")), std::string("\x20\x01\x0d\xb8", 4) + std::string(11, '\0') + "\x0a");
    Ip mapped = ip("::ffff:1.2.3.4");
    EXPECT_TRUE(mapped.v6);
    EXPECT_EQ(bytes(mapped), std::string(10, '\0') + "\xff\xff\x01\x02\x03\x04");
    // The longest textual form, 45 characters.
    Ip longest = ip("0000:0000:0000:0000:0000:ffff:255.255.255.255");
    EXPECT_TRUE(longest.v6);
    EXPECT_EQ(bytes(longest), std::string(10, '\0') + std::string(6, '\xff'));
}

TEST(ParseIp, Rejects) {
    for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "1.2.3.256", "01.2.3.4", "0x1.2.3.4", "1.2.3.-4", " 1.2.3.4",
                            "1.2.3.4 ", "[::1]", "::1%eth0", "1::2::3", "12345::", ":::", "::g", "example.com",
                            "::1/128", "1.2.3.4/32", "2130706433"}) {
        unsigned char out[16];
        bool v6 = false;
        EXPECT_FALSE(parse_ip(bad, out, &v6)) << bad;
    }
}

// A string_view with a NUL inside: inet_pton would read the copy only up to the
// NUL, so "1.2.3.4\0junk" would parse as 1.2.3.4. The URL parser refuses control
// bytes first, but parse_cidr (allow=) does not.
TEST(ParseIp, EmbeddedNulIsRefused) {
    unsigned char out[16];
    bool v6 = false;
    EXPECT_FALSE(parse_ip(std::string_view("1.2.3.4\0junk", 12), out, &v6));
    EXPECT_FALSE(parse_cidr(std::string_view("10.0.0.0\0/8", 11)));
}

// ---- parse_cidr and cidr_contains ---------------------------------------------------

TEST(ParseCidr, Forms) {
    Cidr a = cidr("10.0.0.0/8");
    EXPECT_FALSE(a.ipv6);
    EXPECT_EQ(a.bits, 8u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(a.addr), 4), std::string("\x0a\x00\x00\x00", 4));

    Cidr host = cidr("192.168.1.1");
    EXPECT_FALSE(host.ipv6);
    EXPECT_EQ(host.bits, 32u);
    Cidr host6 = cidr("::1");
    EXPECT_TRUE(host6.ipv6);
    EXPECT_EQ(host6.bits, 128u);

    Cidr ula = cidr("fc00::/7");
    EXPECT_TRUE(ula.ipv6);
    EXPECT_EQ(ula.bits, 7u);
    EXPECT_EQ(ula.addr[0], 0xfc);

    EXPECT_EQ(cidr("0.0.0.0/0").bits, 0u);
    EXPECT_EQ(cidr("::/0").bits, 0u);
    EXPECT_EQ(cidr("10.0.0.0/32").bits, 32u);
    EXPECT_EQ(cidr("::/128").bits, 128u);
    EXPECT_EQ(cidr("10.0.0.0/008").bits, 8u);
    Cidr mapped = cidr("::ffff:10.0.0.0/104");
    EXPECT_TRUE(mapped.ipv6);
    EXPECT_EQ(mapped.bits, 104u);
}

TEST(ParseCidr, Rejects) {
    for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/99", "10.0.0.0/100", "::/129", "::/200",
                            "::/999", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8a", "10.0.0.0/ 8", "10.0.0.0 /8",
                            "10.0.0.0/0008", "10.0.0.0/8/8", "10.0.0/8", "example.com/8", "10.0.0.0/0x8",
                            "[::1]/128", "10.0.0.0//8"})
        EXPECT_FALSE(parse_cidr(bad)) << bad;
}

TEST(CidrContains, SlashZero) {
    for (const char* a : {"0.0.0.0", "255.255.255.255", "8.8.8.8"}) EXPECT_TRUE(contains("0.0.0.0/0", a)) << a;
    for (const char* a : {"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2606:4700::1111"})
        EXPECT_TRUE(contains("::/0", a)) << a;
    EXPECT_TRUE(contains("1.2.3.4/0", "200.1.1.1"));   // host bits are ignored
    // Never across families, not even for /0.
    EXPECT_FALSE(contains("0.0.0.0/0", "::"));
    EXPECT_FALSE(contains("0.0.0.0/0", "::ffff:8.8.8.8"));
    EXPECT_FALSE(contains("::/0", "0.0.0.0"));
}

TEST(CidrContains, Slash8) {
    for (const char* range : {"10.0.0.0/8", "10.9.9.9/8"}) {
        EXPECT_TRUE(contains(range, "10.0.0.0")) << range;
        EXPECT_TRUE(contains(range, "10.255.255.255")) << range;
        EXPECT_FALSE(contains(range, "9.255.255.255")) << range;
        EXPECT_FALSE(contains(range, "11.0.0.0")) << range;
    }
    EXPECT_TRUE(contains("ff00::/8", "ffff::1"));
    EXPECT_FALSE(contains("ff00::/8", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
}

TEST(CidrContains, Slash32And128) {
    for (const char* range : {"1.2.3.4/32", "1.2.3.4"}) {
        EXPECT_TRUE(contains(range, "1.2.3.4")) << range;
        EXPECT_FALSE(contains(range, "1.2.3.3")) << range;
        EXPECT_FALSE(contains(range, "1.2.3.5")) << range;
        EXPECT_FALSE(contains(range, "129.2.3.4")) << range;
    }
    for (const char* range : {"2001:db8::1/128", "2001:db8::1"}) {
        EXPECT_TRUE(contains(range, "2001:db8::1")) << range;
        EXPECT_FALSE(contains(range, "2001:db8::")) << range;
        EXPECT_FALSE(contains(range, "2001:db8::2")) << range;
        EXPECT_FALSE(contains(range, "2001:db8::1:0:0:1")) << range;
        EXPECT_FALSE(contains(range, "a001:db8::1")) << range;
    }
}

TEST(CidrContains, OddPrefixes) {
    // /1
    EXPECT_TRUE(contains("128.0.0.0/1", "128.0.0.0"));
    EXPECT_TRUE(contains("128.0.0.0/1", "255.255.255.255"));
    EXPECT_FALSE(contains("128.0.0.0/1", "127.255.255.255"));
    // /10 and /12
    EXPECT_TRUE(contains("100.64.0.0/10", "100.64.0.0"));
    EXPECT_TRUE(contains("100.64.0.0/10", "100.127.255.255"));
    EXPECT_FALSE(contains("100.64.0.0/10", "100.63.255.255"));
    EXPECT_FALSE(contains("100.64.0.0/10", "100.128.0.0"));
    EXPECT_TRUE(contains("172.16.0.0/12", "172.31.255.255"));
    EXPECT_FALSE(contains("172.16.0.0/12", "172.32.0.0"));
    EXPECT_FALSE(contains("172.16.0.0/12", "172.15.255.255"));
    // /31
    EXPECT_TRUE(contains("1.2.3.4/31", "1.2.3.4"));
    EXPECT_TRUE(contains("1.2.3.4/31", "1.2.3.5"));
    EXPECT_FALSE(contains("1.2.3.4/31", "1.2.3.3"));
    EXPECT_FALSE(contains("1.2.3.4/31", "1.2.3.6"));
    // /7 and /9
    EXPECT_TRUE(contains("fc00::/7", "fc00::"));
    EXPECT_TRUE(contains("fc00::/7", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_FALSE(contains("fc00::/7", "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_FALSE(contains("fc00::/7", "fe00::"));
    EXPECT_TRUE(contains("fe80::/9", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_FALSE(contains("fe80::/9", "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_FALSE(contains("fe80::/9", "ff00::"));
    // /65: the first bit after a byte boundary
    EXPECT_TRUE(contains("2001:db8::8000:0:0:0/65", "2001:db8::8000:0:0:0"));
    EXPECT_TRUE(contains("2001:db8::8000:0:0:0/65", "2001:db8::ffff:ffff:ffff:ffff"));
    EXPECT_FALSE(contains("2001:db8::8000:0:0:0/65", "2001:db8::7fff:ffff:ffff:ffff"));
    EXPECT_FALSE(contains("2001:db8::8000:0:0:0/65", "2001:db8:0:1:8000::"));
    // /127
    EXPECT_TRUE(contains("::2/127", "::2"));
    EXPECT_TRUE(contains("::2/127", "::3"));
    EXPECT_FALSE(contains("::2/127", "::1"));
    EXPECT_FALSE(contains("::2/127", "::4"));
}

// ---- address_is_internal ------------------------------------------------------------

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

TEST(AddressIsInternal, EveryListedIPv4RangeAtItsEdges) {
    for (const Range& r : kV4Ranges) {
        SCOPED_TRACE(r.cidr);
        EXPECT_TRUE(contains(r.cidr, r.first));
        EXPECT_TRUE(contains(r.cidr, r.last));
        EXPECT_TRUE(internal(r.first));
        EXPECT_TRUE(internal(r.last));
        if (r.below) {
            EXPECT_FALSE(internal(r.below)) << r.below;
        }
        if (r.above) {
            EXPECT_FALSE(internal(r.above)) << r.above;
        }
    }
}

TEST(AddressIsInternal, EveryListedIPv6RangeAtItsEdges) {
    for (const Range& r : kV6Ranges) {
        SCOPED_TRACE(r.cidr);
        EXPECT_TRUE(contains(r.cidr, r.first));
        EXPECT_TRUE(contains(r.cidr, r.last));
        EXPECT_TRUE(internal(r.first));
        EXPECT_TRUE(internal(r.last));
        if (r.below) {
            EXPECT_FALSE(internal(r.below)) << r.below;
        }
        if (r.above) {
            EXPECT_FALSE(internal(r.above)) << r.above;
        }
    }
    // NAT64 (the well-known prefix and local use) is refused whatever IPv4
    // address it carries.
    EXPECT_TRUE(internal("64:ff9b::8.8.8.8"));
    EXPECT_TRUE(internal("64:ff9b:1::808:808"));
}

TEST(AddressIsInternal, IPv4MappedIsJudgedByItsIPv4Address) {
    for (const Range& r : kV4Ranges) {
        SCOPED_TRACE(r.cidr);
        EXPECT_TRUE(internal(("::ffff:" + std::string(r.first)).c_str()));
        EXPECT_TRUE(internal(("::ffff:" + std::string(r.last)).c_str()));
        if (r.below) {
            EXPECT_FALSE(internal(("::ffff:" + std::string(r.below)).c_str()));
        }
        if (r.above) {
            EXPECT_FALSE(internal(("::ffff:" + std::string(r.above)).c_str()));
        }
    }
    EXPECT_TRUE(internal("::ffff:7f00:1"));   // 127.0.0.1 written in hex
    EXPECT_FALSE(internal("::ffff:808:808"));
}

TEST(AddressIsInternal, SixToFourIsJudgedByItsIPv4Address) {
    // 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
    auto six_to_four = [](const char* v4) {
        Ip a = ip(v4);
        unsigned char b[16];
        std::memset(b, 0xab, sizeof b);
        b[0] = 0x20;
        b[1] = 0x02;
        std::memcpy(b + 2, a.b, 4);
        return address_is_internal(b, true);
    };
    for (const Range& r : kV4Ranges) {
        SCOPED_TRACE(r.cidr);
        EXPECT_TRUE(six_to_four(r.first));
        EXPECT_TRUE(six_to_four(r.last));
        if (r.below) {
            EXPECT_FALSE(six_to_four(r.below));
        }
        if (r.above) {
            EXPECT_FALSE(six_to_four(r.above));
        }
    }
    // Only 2002::/16 is 6to4: the same bits under 2003::/16 are a global address.
    EXPECT_TRUE(internal("2002:7f00:1::"));
    EXPECT_FALSE(internal("2003:7f00:1::"));
    EXPECT_FALSE(internal("2002:101:101::1"));
}

TEST(AddressIsInternal, PublicAddresses) {
    for (const char* a : {"1.1.1.1", "8.8.4.4", "11.0.0.1", "126.1.2.3", "172.32.0.1", "192.0.1.1", "198.20.0.1",
                          "223.255.255.254", "2001:4860:4860::8888", "2a00:1450:4001:80b::200e", "2003::1",
                          "::ffff:1.1.1.1"})
        EXPECT_FALSE(internal(a)) << a;
}

// ---- AddressPolicy ------------------------------------------------------------------

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

TEST(AddressPolicy, DefaultRefusesInternalAndPermitsPublic) {
    AddressPolicy p;
    for (const char* a : {"127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fd00::1", "::ffff:192.168.0.1",
                          "2002:a00:1::"})
        EXPECT_FALSE(permits(p, a)) << a;
    for (const char* a : {"8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"}) EXPECT_TRUE(permits(p, a)) << a;
}

TEST(AddressPolicy, AllowPrivatePermitsEveryAddress) {
    AddressPolicy p;
    p.allow_private = true;
    for (const char* a : {"127.0.0.1", "0.0.0.0", "255.255.255.255", "::", "::1", "fe80::1", "ff02::1",
                          "::ffff:10.0.0.1", "8.8.8.8", "2606:4700::1111"})
        EXPECT_TRUE(permits(p, a)) << a;
}

TEST(AddressPolicy, AllowOpensItsRangesOnlyInTheirFamily) {
    AddressPolicy p;
    p.allow = {cidr("10.0.0.0/16"), cidr("fd00::/8")};
    for (const char* a : {"10.0.0.0", "10.0.255.255", "fd00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"})
        EXPECT_TRUE(permits(p, a)) << a;
    for (const char* a : {"10.1.0.0", "10.255.255.255", "127.0.0.1", "fc00::1", "fe80::1", "::1"})
        EXPECT_FALSE(permits(p, a)) << a;

    AddressPolicy v4;
    v4.allow = {cidr("0.0.0.0/0")};
    EXPECT_TRUE(permits(v4, "127.0.0.1"));
    EXPECT_TRUE(permits(v4, "255.255.255.255"));
    EXPECT_FALSE(permits(v4, "::1"));
    EXPECT_FALSE(permits(v4, "fe80::1"));

    AddressPolicy v6;
    v6.allow = {cidr("::/0")};
    EXPECT_TRUE(permits(v6, "::1"));
    EXPECT_TRUE(permits(v6, "ff02::1"));
    EXPECT_FALSE(permits(v6, "127.0.0.1"));
}

// ---- localhost names and check_webhook_url ---------------------------------------------

TEST(Localhost, Names) {
    for (const char* h : {"localhost", "LOCALHOST", "localhost.", "api.localhost", "a.b.localhost."})
        EXPECT_TRUE(is_localhost_name(h)) << h;
    for (const char* h : {"localhost.example.com", "mylocalhost", "notlocalhost.", "localhost..", "", ".localhost2"})
        EXPECT_FALSE(is_localhost_name(h)) << h;
}

namespace {

// fixed_address's text ("none" for a name to resolve), its bytes and family
// checked against the text.
std::string fixed(std::string_view host, const AddressPolicy& p) {
    std::optional<FixedAddress> f = fixed_address(host, p);
    if (!f) return "none";
    Ip a = ip(f->text);
    EXPECT_EQ(f->ipv6, a.v6) << host;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(f->addr), f->ipv6 ? 16 : 4), bytes(a)) << host;
    return f->text;
}

}  // namespace

TEST(Localhost, FixedAddress) {
    AddressPolicy none;
    EXPECT_EQ(fixed("example.com", none), "none");
    EXPECT_EQ(fixed("10.1.2.3", none), "10.1.2.3");
    EXPECT_EQ(fixed("::1", none), "::1");
    // localhost is loopback, never asked of DNS: the loopback address the
    // policy permits, 127.0.0.1 when it permits neither (after trying ::1).
    EXPECT_EQ(fixed("localhost", none), "127.0.0.1");
    AddressPolicy v6;
    v6.allow = {cidr("::1/128")};
    EXPECT_EQ(fixed("api.localhost", v6), "::1");
    AddressPolicy v4;
    v4.allow = {cidr("127.0.0.1/32")};
    EXPECT_EQ(fixed("localhost", v4), "127.0.0.1");
}

namespace {

std::string url_refusal(std::string_view text, bool allow_http, const AddressPolicy& policy) {
    auto e = check_webhook_url(text, allow_http, policy);
    return e ? std::to_string(e->status) + " " + e->code + ": " + e->message : "ok";
}

}  // namespace

TEST(CheckWebhookUrl, ARefusedAddressNamesWhatWouldAllowIt) {
    AddressPolicy p;
    EXPECT_EQ(url_refusal("https://127.0.0.1/x", false, p),
              "422 url_not_allowed: url points to 127.0.0.1, a loopback address: list it with webhook_delivery "
              "allow=127.0.0.1/32 or set allow_private=on");
    EXPECT_EQ(url_refusal("http://[fd12::1]:8080/", true, p),
              "422 url_not_allowed: url points to fd12::1, a private address: list it with webhook_delivery "
              "allow=fd12::1/128 or set allow_private=on");
    EXPECT_EQ(url_refusal("https://169.254.169.254/", false, p),
              "422 url_not_allowed: url points to 169.254.169.254, a link-local address: list it with "
              "webhook_delivery allow=169.254.169.254/32 or set allow_private=on");
    EXPECT_NE(url_refusal("https://0.0.0.0/", false, p).find("an unspecified address"), std::string::npos);
    EXPECT_NE(url_refusal("https://224.0.0.1/", false, p).find("a multicast address"), std::string::npos);
    EXPECT_NE(url_refusal("https://[::ffff:10.0.0.1]/", false, p).find("a private address"), std::string::npos);
    EXPECT_EQ(url_refusal("http://localhost:8080/x", true, p),
              "422 url_not_allowed: url points to localhost, a loopback address: list it with webhook_delivery "
              "allow=127.0.0.1/32 or set allow_private=on");
    EXPECT_EQ(url_refusal("http://example.com/", false, p),
              "422 url_not_allowed: url must use https://: http:// URLs need webhook_delivery allow_http=on");
    // Names are judged at delivery, by what they resolve to.
    EXPECT_EQ(url_refusal("https://internal.example/", false, p), "ok");
    EXPECT_EQ(url_refusal("https://8.8.8.8/", false, p), "ok");
}

TEST(CheckWebhookUrl, LocalhostFollowsThePolicyOfTheLoopbackAddresses) {
    AddressPolicy loopback;
    loopback.allow = {cidr("127.0.0.1/32")};
    EXPECT_EQ(url_refusal("http://localhost:8080/x", true, loopback), "ok");
    EXPECT_EQ(url_refusal("http://api.localhost./x", true, loopback), "ok");
    EXPECT_EQ(url_refusal("http://127.0.0.1/x", true, loopback), "ok");
    EXPECT_NE(url_refusal("http://127.0.0.2/x", true, loopback), "ok");
    AddressPolicy v6;
    v6.allow = {cidr("::1/128")};
    EXPECT_EQ(url_refusal("http://localhost/", true, v6), "ok");
    AddressPolicy open;
    open.allow_private = true;
    EXPECT_EQ(url_refusal("http://localhost/", true, open), "ok");
    AddressPolicy other;
    other.allow = {cidr("10.0.0.0/8")};
    EXPECT_NE(url_refusal("http://localhost/", true, other), "ok");
}

TEST(AddressKind, NamesEachInternalRange) {
    auto kind = [](const char* text) {
        Ip a = ip(text);
        return std::string(address_kind(a.b, a.v6));
    };
    EXPECT_EQ(kind("127.0.0.1"), "loopback");
    EXPECT_EQ(kind("::1"), "loopback");
    EXPECT_EQ(kind("::ffff:127.0.0.1"), "loopback");
    EXPECT_EQ(kind("10.0.0.1"), "private");
    EXPECT_EQ(kind("fc00::1"), "private");
    EXPECT_EQ(kind("169.254.1.1"), "link-local");
    EXPECT_EQ(kind("fe80::1"), "link-local");
    EXPECT_EQ(kind("239.1.1.1"), "multicast");
    EXPECT_EQ(kind("0.0.0.0"), "unspecified");
    EXPECT_EQ(kind("::"), "unspecified");
    EXPECT_EQ(kind("100.64.0.1"), "shared");
    EXPECT_EQ(kind("2001:db8::1"), "reserved");
    EXPECT_EQ(kind("::127.0.0.1"), "reserved");
    EXPECT_EQ(kind("8.8.8.8"), "");
}
