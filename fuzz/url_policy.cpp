// Fuzz target: endpoint URLs and the SSRF address policy (core/deliver/url_policy.hpp).
//
// Input: lines (up to 16); each is tried as a webhook URL, an IP literal, a
// CIDR (webhook_delivery allow=), and, when 4 or 16 bytes long, a raw address.
//
// Checks:
//  - parse_webhook_url: an accepted URL is https unless http was allowed, has a
//    port > 0 and a path starting with '/', a host_header made only of
//    host characters (no CR/LF/NUL, no '/', '@', space: nothing that could
//    split or redirect the request), and with_address(host) of an IP-literal
//    URL is read by NGINX as the same address, port and path.
//  - An address in a loopback/private/link-local/unspecified/multicast range
//    (reference list below, IPv4-mapped IPv6 included) is never permitted by a
//    default AddressPolicy, whether it comes as an IP literal, a URL host or
//    raw bytes; allow_private permits everything; allow=CIDR permits what the
//    CIDR contains.
#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "core/deliver/events.hpp"
#include "core/deliver/retry.hpp"
#include "core/deliver/signing.hpp"
#include "core/deliver/url_policy.hpp"
#include "fuzz_util.hpp"

using namespace webhook;

namespace {

// The reference: never a public receiver.
bool internal_v4(const unsigned char* a) {
    return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 100 && (a[1] & 0xc0) == 64) ||
           (a[0] == 169 && a[1] == 254) || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
           a[0] >= 224;
}

bool internal_v6(const unsigned char* a) {
    static const unsigned char zero[16] = {};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a, zero, 16) == 0) return true;                          // ::
    if (std::memcmp(a, zero, 15) == 0 && a[15] == 1) return true;            // ::1
    if ((a[0] & 0xfe) == 0xfc) return true;                                  // fc00::/7
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return true;                  // fe80::/10
    if (a[0] == 0xff) return true;                                           // ff00::/8
    if (std::memcmp(a, mapped, 12) == 0) return internal_v4(a + 12);         // ::ffff:a.b.c.d
    return false;
}

// How NGINX reads an address in a URL (ngx_inet_addr: decimal octets,
// leading zeros allowed; ngx_inet6_addr in brackets: up to 4 hex digits a
// group, as inet_pton).
bool nginx_reads_address(std::string_view host, bool v6, unsigned char* out) {
    if (v6) {
        if (host.size() < 3 || host.front() != '[' || host.back() != ']' || host.size() > 64) return false;
        std::string text(host.substr(1, host.size() - 2));
        return inet_pton(AF_INET6, text.c_str(), out) == 1;
    }
    unsigned octet = 0, n = 0;
    bool digit = false;
    for (char c : host) {
        if (c >= '0' && c <= '9') {
            octet = octet * 10 + static_cast<unsigned>(c - '0');
            if (octet > 255) return false;
            digit = true;
        } else if (c == '.' && digit && n < 3) {
            out[n++] = static_cast<unsigned char>(octet);
            octet = 0;
            digit = false;
        } else {
            return false;
        }
    }
    if (n != 3 || !digit) return false;
    out[3] = static_cast<unsigned char>(octet);
    return true;
}

void check_address(const unsigned char* addr, bool v6, const char* what, std::string_view text) {
    AddressPolicy deflt;
    bool internal = v6 ? internal_v6(addr) : internal_v4(addr);
    if (internal)
        FUZZ_CHECK(!deflt.permits(addr, v6), "default policy permits internal %s \"%.*s\"", what,
                   static_cast<int>(text.size()), text.data());
    if (internal) FUZZ_CHECK(address_is_internal(addr, v6), "address_is_internal false for %s", what);
    AddressPolicy open;
    open.allow_private = true;
    FUZZ_CHECK(open.permits(addr, v6), "allow_private refused an address");
}

bool host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == ':' || c == '[' || c == ']';
}

void check_url(std::string_view text, bool allow_http) {
    auto r = parse_webhook_url(text, allow_http);
    if (auto* e = std::get_if<ApiError>(&r)) {
        FUZZ_CHECK(e->status == 400 || e->status == 422, "status %d", e->status);
        return;
    }
    const Url& u = std::get<Url>(r);
    FUZZ_CHECK(u.https || allow_http, "http accepted without allow_http");
    FUZZ_CHECK(u.port > 0, "port 0");
    FUZZ_CHECK(!u.path.empty() && u.path[0] == '/', "path \"%s\"", u.path.c_str());
    FUZZ_CHECK(!u.host.empty(), "empty host");
    std::string hh = u.host_header();
    for (char c : hh)
        FUZZ_CHECK(host_char(c), "host_header \"%s\" has byte 0x%02x", hh.c_str(), static_cast<unsigned char>(c));
    FUZZ_CHECK(hh.find_first_of(std::string("\r\n\0", 3)) == std::string::npos, "CR/LF/NUL in host_header");
    for (char c : u.path) FUZZ_CHECK(c > 0x20 && c < 0x7f, "path byte 0x%02x", static_cast<unsigned char>(c));

    unsigned char addr[16];
    bool v6 = false;
    bool is_ip = parse_ip(u.host, addr, &v6);
    FUZZ_CHECK(is_ip == u.host_is_ip, "host_is_ip %d for \"%s\"", u.host_is_ip, u.host.c_str());
    if (!is_ip) return;
    check_address(addr, v6, "URL host", text);

    // What the dispatcher sends: the same URL with the checked address,
    // padded so that no upstream{} name matches it; NGINX (ngx_parse_url)
    // must read the same address, port and path from it.
    std::string direct = u.with_address(u.host, v6);
    std::string_view rest = direct;
    std::string_view scheme = u.https ? "https://" : "http://";
    FUZZ_CHECK(rest.substr(0, scheme.size()) == scheme, "with_address changed the scheme: %s", direct.c_str());
    rest.remove_prefix(scheme.size());
    size_t host_end = v6 ? rest.find("]:") + 1 : rest.find(':');
    FUZZ_CHECK(host_end != std::string_view::npos && host_end > 0 && host_end < rest.size(),
               "with_address wrote no host:port: %s", direct.c_str());
    unsigned char back[16];
    FUZZ_CHECK(nginx_reads_address(rest.substr(0, host_end), v6, back) && std::memcmp(back, addr, v6 ? 16 : 4) == 0,
               "with_address wrote an address NGINX reads otherwise: %s", direct.c_str());
    rest.remove_prefix(host_end + 1);
    size_t path_at = rest.find('/');
    FUZZ_CHECK(path_at != std::string_view::npos && rest.substr(0, path_at) == std::to_string(u.port) &&
                   rest.substr(path_at) == u.path,
               "with_address changed the port or path: %s", direct.c_str());
}

void check_line(std::string_view line) {
    check_url(line, false);
    check_url(line, true);

    unsigned char addr[16];
    bool v6 = false;
    if (parse_ip(line, addr, &v6)) {
        // The reference parser must agree.
        unsigned char ref[16];
        std::string s(line);
        bool ok = inet_pton(v6 ? AF_INET6 : AF_INET, s.c_str(), ref) == 1;
        FUZZ_CHECK(ok && std::memcmp(ref, addr, v6 ? 16 : 4) == 0, "parse_ip disagrees with inet_pton");
        check_address(addr, v6, "IP literal", line);
    }
    if (auto c = parse_cidr(line)) {
        FUZZ_CHECK(c->bits <= (c->ipv6 ? 128u : 32u), "prefix length %u", c->bits);
        FUZZ_CHECK(cidr_contains(*c, c->addr, c->ipv6), "a CIDR does not contain its own address");
        FUZZ_CHECK(!cidr_contains(*c, c->addr, !c->ipv6), "a CIDR contains the other family");
        AddressPolicy p;
        p.allow.push_back(*c);
        FUZZ_CHECK(p.permits(c->addr, c->ipv6), "allow=%.*s does not permit its address", static_cast<int>(line.size()),
                   line.data());
        // Flip a bit past the prefix: still inside.
        if (c->bits < (c->ipv6 ? 128u : 32u)) {
            unsigned char other[16];
            std::memcpy(other, c->addr, 16);
            unsigned bit = (c->ipv6 ? 127u : 31u);
            other[bit / 8] ^= static_cast<unsigned char>(0x80 >> (bit % 8));
            FUZZ_CHECK(cidr_contains(*c, other, c->ipv6), "a host bit changed membership");
        }
        // Flip the last bit of the prefix: outside.
        if (c->bits > 0) {
            unsigned char other[16];
            std::memcpy(other, c->addr, 16);
            unsigned bit = c->bits - 1;
            other[bit / 8] ^= static_cast<unsigned char>(0x80 >> (bit % 8));
            FUZZ_CHECK(!cidr_contains(*c, other, c->ipv6), "a prefix bit did not change membership");
        }
    }
    if (line.size() == 4 || line.size() == 16) {
        bool raw_v6 = line.size() == 16;
        unsigned char raw[16] = {};
        std::memcpy(raw, line.data(), line.size());
        check_address(raw, raw_v6, "raw address", "(raw)");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto lines = fuzz::split_lines(fuzz::as_view(data, size), 16);
    for (std::string_view line : lines) check_line(line);
    return 0;
}
