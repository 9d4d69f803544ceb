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
    // The URL with the host replaced by a checked address.
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
// Parses an IP literal into 4 or 16 bytes.
bool parse_ip(std::string_view text, unsigned char* out, bool* ipv6);

struct AddressPolicy {
    bool allow_private = false;
    std::vector<Cidr> allow;
    bool permits(const unsigned char* addr, bool ipv6) const;
};

}  // namespace webhook
