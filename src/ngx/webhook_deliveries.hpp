// Subscriptions, events and deliveries in the zone (SPEC §5, §6): the state
// the dispatcher works from, changed only by journaled mutations
// (endpoint.put, endpoint.del, event.put, attempt.done, delivery.replay),
// and read by the API as copies.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/util/json.hpp"
#include "ngx/webhook_state.hpp"

namespace webhook::ngx {

// Applies a delivery-side mutation under the lock (called by state_apply).
StateResult deliveries_apply_locked(Zone* zone, std::string_view op, const json_t* m, bool enforce_limits);
// Every endpoint, event and delivery as mutations that rebuild them.
void deliveries_capture_locked(Zone* zone, std::vector<Json>& out);
void deliveries_init_shared(ZoneShared* sh);

struct EndpointInfo {
    std::string id, tenant, url, name, description, disabled_reason, last_error;
    std::vector<std::string> events;
    int64_t timeout_ms = 10000;
    bool enabled = true;
    int64_t created_at = 0, updated_at = 0, last_error_at = 0, failing_since = 0;
    std::string secret, old_secret;   // never shown by the API
    int64_t old_secret_until = 0;
    uint64_t revision = 0;            // as read: an update expects it unchanged
};
json_t* endpoint_json(const EndpointInfo& e);
// The endpoint.put mutation that stores e (secrets included: journal only).
json_t* endpoint_mutation(const EndpointInfo& e);

std::optional<EndpointInfo> endpoint_by_id(Zone* zone, std::string_view id);
std::vector<EndpointInfo> endpoints_list(Zone* zone, std::string_view tenant);
// Enabled endpoints of the tenant whose filters match the type.
std::vector<std::string> matching_endpoints(Zone* zone, std::string_view tenant, std::string_view type);

struct DeliveryInfo {
    std::string id, event_id, event, endpoint_id, tenant, status, last_error;
    uint32_t attempts = 0;
    int last_status = 0, last_time_ms = 0;
    int64_t created_at = 0, next_attempt_at = 0;   // ms
    std::string payload, history;                  // detail only
};
json_t* delivery_json(const DeliveryInfo& d, bool detail);

// *cursor_found is false when `after` names no delivery of the list.
std::vector<DeliveryInfo> deliveries_of(Zone* zone, std::string_view endpoint_id, std::string_view status,
                                        size_t limit, std::string_view after, size_t* total, bool* cursor_found);
std::optional<DeliveryInfo> delivery_by_id(Zone* zone, std::string_view id);

struct IdempotentAnswer {
    std::string event_id;
    uint32_t deliveries;
};
std::optional<IdempotentAnswer> idempotent_answer(Zone* zone, std::string_view tenant, std::string_view key,
                                                  int64_t now);

// --- the dispatcher's side ---------------------------------------------------------

struct Claim {
    std::string delivery_id, event_id, endpoint_id, tenant, type, url, payload;
    std::vector<std::string> secrets;   // current, then the previous one during a rotation
    uint32_t attempts = 0;              // made before this one
    int64_t timeout_ms = 10000;
    int64_t failing_since = 0;
    uint32_t token = 0;
};

struct DispatchLimits {
    ngx_uint_t concurrency;
    ngx_uint_t per_endpoint;
    int64_t lease_ms;             // slack added to the attempt's timeout
    int64_t max_type_timeout_ms;  // an event type's timeout= can exceed the endpoint's
    uint32_t max_attempts;        // retries= entries
};

// Takes up to `max` due deliveries (due before now_ms) for this worker, and
// returns expired leases to the queue. A lease is renewed while its attempt
// runs, so one expires only when its worker died: that attempt counts (a
// delivery that kills its worker cannot be retried for ever).
std::vector<Claim> claim_due(Zone* zone, int64_t now_ms, const DispatchLimits& limits, size_t max);

struct LeaseRef {
    std::string delivery_id;
    uint32_t token;
};
// Extends the leases of attempts still running in this worker to `until_ms`.
void renew_leases(Zone* zone, const std::vector<LeaseRef>& leases, int64_t until_ms);
// Pending deliveries, attempts in flight, the oldest pending one's age.
struct QueueStats;
void queue_stats(Zone* zone, int64_t now_ms, QueueStats* out);

// The event's record is durable: its deliveries may go now (until then they
// are held, so nothing is delivered that a crash could take back).
void release_event(Zone* zone, std::string_view event_id, int64_t now_ms);

}  // namespace webhook::ngx
