// When a failed delivery is attempted again: the retries= schedule, its
// jitter, and a receiver's Retry-After.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace webhook {

// "0s,1m,5m,30m,2h" → delays in ms, one per attempt (the first is usually 0).
std::optional<std::vector<int64_t>> parse_retries(std::string_view text);
// ±20 % jitter; `random` is any uniformly random 32-bit value.
int64_t jittered(int64_t delay_ms, uint32_t random);
// Retry-After (seconds) moves the next attempt, within [scheduled, 2×scheduled].
int64_t apply_retry_after(int64_t scheduled_ms, int64_t retry_after_s);
std::optional<int64_t> parse_retry_after(std::string_view value, int64_t now_s);

}  // namespace webhook
