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
// "*" matches every type but the module's own (operational events are
// subscribed to by name or "webhook.*").
bool event_matches(std::string_view filter, std::string_view type);
// Any of the filters, one per line (as an endpoint keeps them), matches the
// type. No allocation: it runs under the zone lock for every endpoint of a
// tenant on each publish.
bool any_filter_matches(std::string_view filters, std::string_view type);

// Operational events: what the module publishes itself, about one endpoint,
// as ordinary events of the endpoint's tenant. The "webhook." types are the
// module's (these and webhook.test): an application cannot publish or
// declare them.
struct OperationalType {
    std::string_view type, description;
};
constexpr std::string_view kEndpointDisabled = "webhook.endpoint.disabled";
constexpr std::string_view kEndpointEnabled = "webhook.endpoint.enabled";
constexpr std::string_view kEndpointFailing = "webhook.endpoint.failing";
constexpr std::string_view kDeliveryFailed = "webhook.delivery.failed";
constexpr OperationalType kOperationalTypes[] = {
    {kEndpointDisabled, "An endpoint was disabled (every attempt failed for disable_after, 410 Gone, or the API)"},
    {kEndpointEnabled, "A disabled endpoint was enabled again"},
    {kEndpointFailing, "An endpoint's first failed attempt after a success"},
    {kDeliveryFailed, "A delivery failed for good (its attempts are exhausted, or the receiver aborted it)"},
};
bool reserved_event_type(std::string_view type);

// `count` ids, each `prefix` and `chars` base62 characters (as
// random_base62 makes them: uniform, from RAND_bytes), from one draw of
// random bytes: a publish names its event and every delivery, and a
// RAND_bytes call per id cost a steady run more than its JSON.
std::vector<std::string> random_ids(std::string_view prefix, size_t chars, size_t count);

// {"type":…,"timestamp":"<RFC 3339>","data":…}; data_json must be JSON text.
std::string build_payload(std::string_view type, int64_t unix_seconds, std::string_view data_json);

}  // namespace webhook
