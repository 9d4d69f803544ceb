// Timestamps as the API writes and reads them (RFC 3339, UTC).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace webhook {

std::string format_rfc3339(int64_t unix_seconds);
// YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM) → Unix seconds.
std::optional<int64_t> parse_rfc3339(std::string_view text);

// The same to the millisecond (a fraction's digits past the third are
// dropped), and back: ".mmm" is written only when not zero.
std::optional<int64_t> parse_rfc3339_ms(std::string_view text);
std::string format_rfc3339_ms(int64_t unix_ms);

}  // namespace webhook
