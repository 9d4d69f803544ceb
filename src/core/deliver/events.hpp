// Event types, the filters endpoints subscribe with, and the payload an
// event is delivered as.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace webhook {

constexpr size_t kMaxEventType = 128;
constexpr size_t kMaxFilters = 64;
// Lowercase letters, digits and . _ - : ; no leading or trailing dot.
bool valid_event_type(std::string_view type);
// "*", an exact type, or a prefix glob "room.*".
bool valid_event_filter(std::string_view filter);
bool event_matches(std::string_view filter, std::string_view type);
// Any of the filters, one per line (as an endpoint keeps them), matches the
// type. No allocation: it runs under the zone lock for every endpoint of a
// tenant on each publish.
bool any_filter_matches(std::string_view filters, std::string_view type);

// `count` ids, each `prefix` and `chars` base62 characters (as
// random_base62 makes them: uniform, from RAND_bytes), from one draw of
// random bytes: a publish names its event and every delivery, and a
// RAND_bytes call per id cost a steady run more than its JSON.
std::vector<std::string> random_ids(std::string_view prefix, size_t chars, size_t count);

// {"type":…,"timestamp":"<RFC 3339>","data":…}; data_json must be JSON text.
std::string build_payload(std::string_view type, int64_t unix_seconds, std::string_view data_json);

}  // namespace webhook
