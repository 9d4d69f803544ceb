// Where outbound webhooks may go: endpoint URLs and the SSRF address policy
// (which addresses a delivery may connect to).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/util/api_error.hpp"

struct sockaddr;

namespace webhook {

// --- URLs -------------------------------------------------------------------

constexpr size_t kMaxUrl = 2048;

struct Url {
    bool https = true;
    std::string host;        // as written (IPv6 without brackets)
    uint16_t port = 443;
    bool explicit_port = false;
    std::string path;        // path and query, at least "/"
    bool host_is_ip = false;

    // host[:port] as the Host header carries it (brackets for IPv6)
    std::string host_header() const;
    // The URL with the host replaced by a checked address, written so that
    // no upstream{} name matches it (see url_policy.cpp).
    std::string with_address(std::string_view ip_text, bool ipv6) const;
};

std::variant<Url, ApiError> parse_webhook_url(std::string_view text, bool allow_http);

// --- the SSRF address policy -------------------------------------------------

struct Cidr {
    bool ipv6 = false;
    unsigned char addr[16] = {};
    unsigned bits = 0;
};
std::optional<Cidr> parse_cidr(std::string_view text);
bool cidr_contains(const Cidr& c, const unsigned char* addr, bool ipv6);

// Loopback, private (RFC 1918, fc00::/7), link-local, multicast, unspecified,
// and the like: never a public receiver.
bool address_is_internal(const unsigned char* addr, bool ipv6);
// What kind of internal address it is ("loopback", "private", "link-local",
// "multicast", "unspecified", "shared", "reserved"); empty for a public one.
std::string_view address_kind(const unsigned char* addr, bool ipv6);
// Parses an IP literal into 4 or 16 bytes.
bool parse_ip(std::string_view text, unsigned char* out, bool* ipv6);

struct AddressPolicy {
    bool allow_private = false;
    std::vector<Cidr> allow;
    bool permits(const unsigned char* addr, bool ipv6) const;
};

// localhost and its subdomains, with or without the root dot (RFC 6761:
// always loopback, never sent to DNS).
bool is_localhost_name(std::string_view host);

// The address a host stands for without DNS: an IP literal itself, and for
// a localhost name the loopback address the policy permits (127.0.0.1, else
// ::1; 127.0.0.1 when it permits neither). nullopt: a name to resolve.
struct FixedAddress {
    std::string text;            // as a URL or allow= writes it (IPv6 without brackets)
    unsigned char addr[16] = {};  // 4 or 16 bytes, as parse_ip
    bool ipv6 = false;
};
std::optional<FixedAddress> fixed_address(std::string_view host, const AddressPolicy& policy);

// The registration check of an endpoint URL: its form and scheme, and the
// policy for hosts that need no DNS (fixed_address). Other names are judged
// at delivery, by the addresses they resolve to. A refusal names what
// would allow it (allow_http=on, allow=CIDR, allow_private=on).
std::optional<ApiError> check_webhook_url(std::string_view text, bool allow_http, const AddressPolicy& policy);

}  // namespace webhook
