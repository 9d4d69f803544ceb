// Outbound webhooks (SPEC §5, §6) without I/O: endpoint URLs and the SSRF
// address policy, event-type filters, retry schedules with jitter, the
// payload, and the signatures receivers check.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/api_error.hpp"
#include "core/hmac.hpp"
#include "core/signature.hpp"

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

// --- events -----------------------------------------------------------------

constexpr size_t kMaxEventType = 128;
constexpr size_t kMaxFilters = 64;
// Lowercase letters, digits and . _ - : ; no leading or trailing dot.
bool valid_event_type(std::string_view type);
// "*", an exact type, or a prefix glob "room.*".
bool valid_event_filter(std::string_view filter);
bool event_matches(std::string_view filter, std::string_view type);

// {"type":…,"timestamp":"<RFC 3339>","data":…}; data_json must be JSON text.
std::string build_payload(std::string_view type, int64_t unix_seconds, std::string_view data_json);

// --- retries ------------------------------------------------------------------

// "0s,1m,5m,30m,2h" → delays in ms, one per attempt (the first is usually 0).
std::optional<std::vector<int64_t>> parse_retries(std::string_view text);
// ±20 % jitter; `random` is any uniformly random 32-bit value.
int64_t jittered(int64_t delay_ms, uint32_t random);
// Retry-After (seconds) moves the next attempt, within [scheduled, 2×scheduled].
int64_t apply_retry_after(int64_t scheduled_ms, int64_t retry_after_s);
std::optional<int64_t> parse_retry_after(std::string_view value, int64_t now_s);

// --- signing ------------------------------------------------------------------

// "whsec_" + base64 of 24 random bytes.
std::string generate_endpoint_secret();
// The HMAC key of an endpoint secret (whsec_<base64> decoded, else raw).
std::string endpoint_key(std::string_view secret);

// webhook-signature: "v1,<b64> v1,<b64>" over id.timestamp.body, one per key.
std::string standard_signature(const std::vector<std::string>& keys, std::string_view msg_id, int64_t timestamp,
                               std::string_view body);
// prefix + hex/base64 HMAC of the body (Stairoids-style X-…-Signature).
std::string body_signature(HashAlg alg, std::string_view key, std::string_view body, Encoding enc,
                           std::string_view prefix);

}  // namespace webhook
