#include "core/deliver/url_policy.hpp"

#include <arpa/inet.h>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "core/util/text.hpp"

namespace webhook {

namespace {

bool valid_hostname(std::string_view h) {
    if (h.empty() || h.size() > 253) return false;
    size_t label = 0;
    for (char c : h) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok || ++label > 63) return false;
    }
    return label > 0 || h.back() == '.';
}

}  // namespace

std::string Url::host_header() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (explicit_port) h += ":" + std::to_string(port);
    return h;
}

namespace {

// The address in a form no configuration writes: every IPv4 octet in three
// digits, every IPv6 group in four hex digits (NGINX parses both as the same
// address). A variable proxy_pass looks its host up among the upstream{}
// names first, and `proxy_pass https://ADDR:PORT` anywhere makes one: an
// attempt would use that upstream's peer, resuming a TLS session (with the
// client certificate of another endpoint or location) kept there. Written
// so, each attempt gets a peer of its own.
std::string unmatched_form(std::string_view ip, bool ipv6) {
    char text[64];
    if (ip.size() >= sizeof text) return std::string(ip);
    std::memcpy(text, ip.data(), ip.size());
    text[ip.size()] = '\0';
    unsigned char a[16];
    char out[48];
    if (!ipv6) {
        if (inet_pton(AF_INET, text, a) != 1) return std::string(ip);
        std::snprintf(out, sizeof out, "%03u.%03u.%03u.%03u", a[0], a[1], a[2], a[3]);
        return out;
    }
    if (inet_pton(AF_INET6, text, a) != 1) return "[" + std::string(ip) + "]";
    std::snprintf(out, sizeof out, "[%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x]", a[0], a[1],
                  a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]);
    return out;
}

}  // namespace

std::string Url::with_address(std::string_view ip, bool ipv6) const {
    std::string out = https ? "https://" : "http://";
    out += unmatched_form(ip, ipv6);
    out += ":" + std::to_string(port);
    out += path;
    return out;
}

std::variant<Url, ApiError> parse_webhook_url(std::string_view text, bool allow_http) {
    auto bad = [](const std::string& why) { return invalid_request("url " + why); };
    if (text.empty()) return bad("must not be empty");
    if (text.size() > kMaxUrl) return bad("is longer than 2048 bytes");
    for (unsigned char c : text)
        if (c <= 0x20 || c >= 0x7f) return bad("contains spaces, control or non-ASCII characters");

    Url u;
    std::string_view rest;
    if (ascii_iequals(text.substr(0, 8), "https://")) {
        rest = text.substr(8);
    } else if (ascii_iequals(text.substr(0, 7), "http://")) {
        if (!allow_http)
            return unprocessable("url_not_allowed",
                                 "url must use https://: http:// URLs need webhook_delivery allow_http=on");
        u.https = false;
        u.port = 80;
        rest = text.substr(7);
    } else {
        return bad(allow_http ? "must be an absolute https:// or http:// URL" : "must be an absolute https:// URL");
    }
    if (text.find('#') != std::string_view::npos) return bad("must not contain a fragment");

    size_t end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, end);
    u.path = end == std::string_view::npos ? "/" : std::string(rest.substr(end));
    if (!u.path.empty() && u.path[0] == '?') u.path = "/" + u.path;
    if (authority.find('@') != std::string_view::npos) return bad("must not contain credentials");

    std::string_view host = authority, port;
    if (starts_with(authority, "[")) {
        size_t close = authority.find(']');
        if (close == std::string_view::npos) return bad("has an unterminated IPv6 address");
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') return bad("has garbage after the IPv6 address");
            port = after.substr(1);
        }
        unsigned char buf[16];
        bool v6;
        if (!parse_ip(host, buf, &v6) || !v6) return bad("has an invalid IPv6 address");
        u.host_is_ip = true;
    } else {
        size_t colon = authority.rfind(':');
        if (colon != std::string_view::npos) {
            host = authority.substr(0, colon);
            port = authority.substr(colon + 1);
        }
        // An IPv6 address is written in brackets: 2001:db8::1:8443 is not a
        // host and a port.
        if (host.find(':') != std::string_view::npos) return bad("has an IPv6 address without brackets");
        unsigned char buf[16];
        bool v6;
        u.host_is_ip = parse_ip(host, buf, &v6);
        if (!u.host_is_ip && !valid_hostname(host)) return bad("has an invalid host");
        // 2130706433, 0x7f000001, 127.1: numeric forms of addresses that
        // resolvers and libraries read differently. No real TLD starts with a
        // digit, so a name whose last label does is refused.
        std::string_view name = host;
        if (!name.empty() && name.back() == '.') name.remove_suffix(1);   // the root: 2130706433. is numeric too
        std::string_view last = name.substr(name.rfind('.') == std::string_view::npos ? 0 : name.rfind('.') + 1);
        if (!u.host_is_ip && !last.empty() && last[0] >= '0' && last[0] <= '9')
            return unprocessable("url_not_allowed",
                                 "url has a numeric host that is not a dotted IPv4 address: write it as a.b.c.d");
    }
    if (!port.empty() || authority.back() == ':') {
        if (port.empty() || port.size() > 5) return bad("has an invalid port");
        unsigned p = 0;
        for (char c : port) {
            if (c < '0' || c > '9') return bad("has an invalid port");
            p = p * 10 + (c - '0');
        }
        if (p == 0 || p > 65535) return bad("has an invalid port");
        u.port = static_cast<uint16_t>(p);
        u.explicit_port = true;
    }
    u.host = std::string(host);
    for (char& c : u.host)
        if (c >= 'A' && c <= 'Z') c += 32;
    return u;
}

bool parse_ip(std::string_view text, unsigned char* out, bool* ipv6) {
    // inet_pton reads a C string: a NUL inside would end the text early.
    if (text.empty() || text.size() > 45 || text.find('\0') != std::string_view::npos) return false;
    std::string s(text);
    if (inet_pton(AF_INET, s.c_str(), out) == 1) {
        *ipv6 = false;
        return true;
    }
    if (inet_pton(AF_INET6, s.c_str(), out) == 1) {
        *ipv6 = true;
        return true;
    }
    return false;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
    Cidr c;
    size_t slash = text.find('/');
    if (!parse_ip(text.substr(0, slash), c.addr, &c.ipv6)) return std::nullopt;
    unsigned max = c.ipv6 ? 128 : 32;
    c.bits = max;
    if (slash != std::string_view::npos) {
        std::string_view b = text.substr(slash + 1);
        if (b.empty() || b.size() > 3) return std::nullopt;
        unsigned v = 0;
        for (char ch : b) {
            if (ch < '0' || ch > '9') return std::nullopt;
            v = v * 10 + (ch - '0');
        }
        if (v > max) return std::nullopt;
        c.bits = v;
    }
    return c;
}

bool cidr_contains(const Cidr& c, const unsigned char* addr, bool ipv6) {
    if (c.ipv6 != ipv6) return false;
    unsigned full = c.bits / 8, rest = c.bits % 8;
    if (std::memcmp(c.addr, addr, full) != 0) return false;
    if (rest == 0) return true;
    unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
    return (c.addr[full] & mask) == (addr[full] & mask);
}

std::string_view address_kind(const unsigned char* a, bool ipv6) {
    struct Range {
        Cidr cidr;
        const char* kind;
    };
    // Parsed once: the dispatcher asks for every address of every attempt.
    auto parse = [](std::initializer_list<std::pair<const char*, const char*>> table) {
        std::vector<Range> out;
        for (const auto& [cidr, kind] : table) out.push_back({*parse_cidr(cidr), kind});
        return out;
    };
    static const std::vector<Range> v4 = parse({
        {"0.0.0.0/8", "unspecified"},   {"10.0.0.0/8", "private"},      {"100.64.0.0/10", "shared"},
        {"127.0.0.0/8", "loopback"},    {"169.254.0.0/16", "link-local"}, {"172.16.0.0/12", "private"},
        {"192.0.0.0/24", "reserved"},   {"192.168.0.0/16", "private"},  {"198.18.0.0/15", "reserved"},
        {"224.0.0.0/4", "multicast"},   {"240.0.0.0/4", "reserved"},
    });
    // Besides the ranges that are internal by definition: ::/96 (IPv4-
    // compatible, deprecated), fec0::/10 (site-local, deprecated), NAT64
    // (64:ff9b::/96 and the local-use 64:ff9b:1::/48), Teredo (2001::/32)
    // and the documentation prefix all reach, or pretend to reach, an IPv4
    // or local network.
    static const std::vector<Range> v6 = parse({
        {"::/128", "unspecified"},  {"::1/128", "loopback"},      {"::/96", "reserved"},   {"fc00::/7", "private"},
        {"fe80::/10", "link-local"}, {"fec0::/10", "reserved"},   {"ff00::/8", "multicast"},
        {"64:ff9b::/96", "reserved"}, {"64:ff9b:1::/48", "reserved"}, {"100::/64", "reserved"},
        {"2001::/32", "reserved"},  {"2001:db8::/32", "reserved"},
    });
    if (ipv6) {
        // IPv4-mapped (::ffff:a.b.c.d): judge the IPv4 address.
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(a, mapped, 12) == 0) return address_kind(a + 12, false);
        // 6to4 (2002:a.b.c.d::/48): judge the IPv4 address it carries.
        if (a[0] == 0x20 && a[1] == 0x02) return address_kind(a + 2, false);
    }
    for (const Range& r : ipv6 ? v6 : v4)
        if (cidr_contains(r.cidr, a, ipv6)) return r.kind;
    return {};
}

bool address_is_internal(const unsigned char* a, bool ipv6) { return !address_kind(a, ipv6).empty(); }

namespace {

// The policy for an address whose address_kind is known already.
bool permits_kind(const AddressPolicy& policy, const unsigned char* addr, bool ipv6, std::string_view kind) {
    if (policy.allow_private || kind.empty()) return true;
    for (const Cidr& c : policy.allow)
        if (cidr_contains(c, addr, ipv6)) return true;
    return false;
}

}  // namespace

bool AddressPolicy::permits(const unsigned char* addr, bool ipv6) const {
    return allow_private || permits_kind(*this, addr, ipv6, address_kind(addr, ipv6));
}

bool is_localhost_name(std::string_view host) {
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    auto is = [](std::string_view label) { return ascii_iequals(label, "localhost"); };
    return is(host) || (host.size() > 10 && host[host.size() - 10] == '.' && is(host.substr(host.size() - 9)));
}

std::optional<FixedAddress> fixed_address(std::string_view host, const AddressPolicy& policy) {
    FixedAddress f;
    if (parse_ip(host, f.addr, &f.ipv6)) {
        f.text = std::string(host);
        return f;
    }
    if (!is_localhost_name(host)) return std::nullopt;
    for (const char* loopback : {"127.0.0.1", "::1"}) {
        parse_ip(loopback, f.addr, &f.ipv6);
        if (policy.permits(f.addr, f.ipv6)) {
            f.text = loopback;
            return f;
        }
    }
    f.text = "127.0.0.1";
    parse_ip(f.text, f.addr, &f.ipv6);
    return f;
}

std::optional<ApiError> check_webhook_url(std::string_view text, bool allow_http, const AddressPolicy& policy) {
    auto parsed = parse_webhook_url(text, allow_http);
    if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
    const Url& url = std::get<Url>(parsed);
    std::optional<FixedAddress> fixed = fixed_address(url.host, policy);
    if (!fixed) return std::nullopt;
    std::string_view kind = address_kind(fixed->addr, fixed->ipv6);
    if (permits_kind(policy, fixed->addr, fixed->ipv6, kind)) return std::nullopt;
    bool vowel = !kind.empty() && std::strchr("aeiou", kind[0]) != nullptr;
    return unprocessable("url_not_allowed", "url points to " + url.host + (vowel ? ", an " : ", a ") +
                                                std::string(kind) + " address: list it with webhook_delivery allow=" +
                                                fixed->text + (fixed->ipv6 ? "/128" : "/32") +
                                                " or set allow_private=on");
}

}  // namespace webhook
